"""Run inputs: the datasets runs used (MLflow's log_input), kept once per experiment and
(name, digest), with each run's use of one and that use's tags.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("dataset_uuid", sa.String(32), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("dataset_source_type", sa.String(36), nullable=False),
        sa.Column("dataset_source", sa.Text, nullable=False),
        sa.Column("dataset_schema", sa.Text),
        sa.Column("dataset_profile", sa.Text),
        sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_experiment_name"),
    )
    op.create_table(
        "run_inputs",
        sa.Column("id", _BigIntId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), nullable=False),
        sa.Column(
            "dataset_uuid",
            sa.String(32),
            sa.ForeignKey("datasets.dataset_uuid"),
            nullable=False,
        ),
        sa.UniqueConstraint("run_id", "dataset_uuid", name="uq_run_inputs_run_dataset"),
    )
    op.create_table(
        "run_input_tags",
        sa.Column("input_id", _BigIntId, sa.ForeignKey("run_inputs.id"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(500), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_input_tags")
    op.drop_table("run_inputs")
    op.drop_table("datasets")
