"""LLM calls: one row per call with its metrics as columns (spanrun.store._llm_calls).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "llm_calls",
        sa.Column("id", _BigIntId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("input_tokens", sa.Float(precision=53)),
        sa.Column("output_tokens", sa.Float(precision=53)),
        sa.Column("total_tokens", sa.Float(precision=53)),
        sa.Column("latency_ms", sa.Float(precision=53)),
        sa.Column("time_to_first_token_ms", sa.Float(precision=53)),
        sa.Column("cost_usd", sa.Float(precision=53)),
        sa.Column("calls", sa.Float(precision=53)),
        sa.Column("total_input_tokens", sa.Float(precision=53)),
        sa.Column("total_output_tokens", sa.Float(precision=53)),
        sa.Column("cumulative_tokens", sa.Float(precision=53)),
        sa.Column("total_cost_usd", sa.Float(precision=53)),
    )
    op.create_index("ix_llm_calls_run_step", "llm_calls", ["run_id", "step"])


def downgrade() -> None:
    op.drop_index("ix_llm_calls_run_step", table_name="llm_calls")
    op.drop_table("llm_calls")
