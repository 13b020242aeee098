"""Table definitions (SQLAlchemy Core) of the tracking database.

These mirror the schema the Alembic migrations build; a test checks the two agree. Change the
schema only through a new migration, then update these tables to match.
"""

from __future__ import annotations

import sqlalchemy as sa

from spanrun.store.sqlite._ddl import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "datasets",
    "experiment_tags",
    "experiments",
    "latest_metrics",
    "llm_calls",
    "metadata",
    "metrics",
    "params",
    "run_input_tags",
    "run_inputs",
    "runs",
    "spans",
    "tags",
    "traces",
]

metadata = sa.MetaData()

# An auto-incrementing 64-bit key; SQLite only auto-increments a column declared INTEGER.
_BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("artifact_location", sa.Text, nullable=False),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False),
    sa.Column("creation_time", sa.BigInteger),
    sa.Column("last_update_time", sa.BigInteger),
    sa.Column("deleted_time", sa.BigInteger),
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column(
        "experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False
    ),
    sa.Column("run_name", sa.String(250), nullable=False),
    sa.Column("user_id", sa.String(256), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("start_time", sa.BigInteger),
    sa.Column("end_time", sa.BigInteger),
    sa.Column("lifecycle_stage", sa.String(20), nullable=False),
    sa.Column("artifact_uri", sa.Text, nullable=False),
    sa.Column("deleted_time", sa.BigInteger),
    sa.Index("ix_runs_experiment_start", "experiment_id", "lifecycle_stage", "start_time"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    # Long values cannot be in a PostgreSQL b-tree (about 2.7 kB per entry at most).
    sa.Index("ix_params_key_value", "key", "value", "run_id").ddl_if(dialect="sqlite"),
    sa.Index("ix_params_key", "key", "run_id").ddl_if(dialect="postgresql"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    # Long values cannot be in a PostgreSQL b-tree (about 2.7 kB per entry at most).
    sa.Index("ix_tags_key_value", "key", "value", "run_id").ddl_if(dialect="sqlite"),
    sa.Index("ix_tags_key", "key", "run_id").ddl_if(dialect="postgresql"),
)

# Full history. NaN is stored as value NULL with is_nan true (SQLite turns NaN into NULL anyway,
# so both backends keep it the same way); +/-inf are stored as they are.
metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", _BigIntId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value", sa.Float(precision=53)),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Index("ix_metrics_run_key_step", "run_id", "key", "step", "timestamp"),
)

# One row per LLM call counted by the exporter: its per-call metrics and running totals as
# columns (see _llm_calls.py), instead of a history row per metric. NULL: the call has no
# such value.
# Values are doubles, as metric values are (token counts are exact up to 2**53).
llm_calls = sa.Table(
    "llm_calls",
    metadata,
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
    sa.Index("ix_llm_calls_run_step", "run_id", "step"),
)

# One row per (run, key): the value with the greatest (step, timestamp), kept up to date on insert.
# Deliberately no (key, value) index: the value changes on nearly every log_metric, and keeping
# such an index current cost ~40% of a log_metric call; filters find rows by (run_id, key).
# (key, run_id) is indexed: it changes only on a run's first value of a key, and it lets an
# experiment's distinct keys be found by walking the keys (migration 0005).
latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Float(precision=53)),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Index("ix_latest_metrics_key", "key", "run_id"),
    # Small rows always reached by (run_id, key): on SQLite one b-tree lookup instead of two.
    sqlite_with_rowid=False,
)

# No foreign keys on traces/spans: spans may arrive before (or without) their run, and an
# exporter batch must never be rejected for that.
traces = sa.Table(
    "traces",
    metadata,
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("experiment_id", sa.String(32)),
    sa.Column("run_id", sa.String(32)),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("start_time_ns", sa.BigInteger, nullable=False),
    sa.Column("end_time_ns", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("span_count", sa.Integer, nullable=False),
    sa.Index("ix_traces_experiment_start", "experiment_id", "start_time_ns"),
    sa.Index("ix_traces_run_start", "run_id", "start_time_ns"),
    sa.Index("ix_traces_start", "start_time_ns"),
)

spans = sa.Table(
    "spans",
    metadata,
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("span_id", sa.String(16), primary_key=True),
    sa.Column("parent_span_id", sa.String(16)),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("start_time_ns", sa.BigInteger, nullable=False),
    sa.Column("end_time_ns", sa.BigInteger, nullable=False),
    sa.Column("status_code", sa.String(16), nullable=False),
    sa.Column("status_message", sa.Text, nullable=False),
    sa.Column("attributes", sa.Text, nullable=False),  # JSON
    sa.Column("events", sa.Text, nullable=False),  # JSON list
    sa.Column("resource", sa.Text, nullable=False),  # JSON
    sa.Column("run_id", sa.String(32)),
    sa.Column("experiment_id", sa.String(32)),
)

# Datasets runs used (MLflow's run inputs, migration 0004). A dataset is kept once per
# experiment and (name, digest), as MLflow dedupes it; each run that used it has a run_inputs
# row (once per run and dataset: the first use's tags are kept), with its tags (e.g.
# mlflow.data.context) in run_input_tags. Lengths are MLflow's limits.
datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("dataset_uuid", sa.String(32), primary_key=True),
    sa.Column(
        "experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False
    ),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("digest", sa.String(36), nullable=False),
    sa.Column("dataset_source_type", sa.String(36), nullable=False),
    sa.Column("dataset_source", sa.Text, nullable=False),
    sa.Column("dataset_schema", sa.Text),
    sa.Column("dataset_profile", sa.Text),
    sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_experiment_name"),
)

run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("id", _BigIntId, primary_key=True, autoincrement=True),  # the order of logging
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), nullable=False),
    sa.Column(
        "dataset_uuid", sa.String(32), sa.ForeignKey("datasets.dataset_uuid"), nullable=False
    ),
    sa.UniqueConstraint("run_id", "dataset_uuid", name="uq_run_inputs_run_dataset"),
)

run_input_tags = sa.Table(
    "run_input_tags",
    metadata,
    sa.Column("input_id", _BigIntId, sa.ForeignKey("run_inputs.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(500), nullable=False),
)
