"""An index of latest_metrics by key: an experiment's distinct metric keys (the UI's column
chooser) are found by walking the keys instead of reading every run's metrics. Its columns
(key, run_id) never change when a metric is logged again (only the value does), so it costs a
write only for a run's first value of a key.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_INDEX = "ix_latest_metrics_key"
# SQLite planner statistics (as in sqlite/_ddl.py PLANNER_STATS) for databases that have them:
# without a row, SQLite would take ten rows per key and prefer this index in metric filters.
_STAT = "50000 5000 1"


def upgrade() -> None:
    op.create_index(_INDEX, "latest_metrics", ["key", "run_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        has_stats = bind.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
        ).first()
        if has_stats:
            bind.execute(
                sa.text(
                    "INSERT INTO sqlite_stat1 (tbl, idx, stat) SELECT 'latest_metrics', :idx, "
                    ":stat WHERE NOT EXISTS (SELECT 1 FROM sqlite_stat1 WHERE idx = :idx)"
                ).bindparams(idx=_INDEX, stat=_STAT)
            )


def downgrade() -> None:
    op.drop_index(_INDEX, "latest_metrics")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        has_stats = bind.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
        ).first()
        if has_stats:
            bind.execute(
                sa.text("DELETE FROM sqlite_stat1 WHERE idx = :idx").bindparams(idx=_INDEX)
            )
