"""Running totals of LLM calls under one prefix: llm.total_input_tokens, llm.total_output_tokens
and llm.total_cost_usd become llm.cumulative_input_tokens, llm.cumulative_output_tokens and
llm.cumulative_cost_usd (llm.total_tokens is a call's own total), in stored metrics.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen here (migrations are history): the names as this revision renamed them.
_RENAMED = {
    "llm.total_input_tokens": "llm.cumulative_input_tokens",
    "llm.total_output_tokens": "llm.cumulative_output_tokens",
    "llm.total_cost_usd": "llm.cumulative_cost_usd",
}


def _rename(pairs: dict[str, str]) -> None:
    for table in ("metrics", "latest_metrics"):
        for old, new in pairs.items():
            op.execute(
                sa.text(f'UPDATE {table} SET "key" = :new WHERE "key" = :old').bindparams(
                    old=old, new=new
                )
            )


def upgrade() -> None:
    _rename(_RENAMED)


def downgrade() -> None:
    _rename({new: old for old, new in _RENAMED.items()})
