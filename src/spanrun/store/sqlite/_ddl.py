"""The tracking database's schema as plain SQLite text, for paths that must not load SQLAlchemy.

``_models.py`` (SQLAlchemy Core) and the Alembic migrations stay the source of truth; this is
the SQLite DDL they produce, written out so that ``SqliteDatabase`` can build a new database
with the stdlib ``sqlite3`` module alone. ``tests/store/test_sqlite_run_writer.py`` checks that it
builds exactly the schema the migrations build. Change it together with a new migration.
"""

from __future__ import annotations

__all__ = [
    "PLANNER_STATS",
    "SCHEMA_VERSION",
    "SPAN_COLUMNS",
    "SQLITE_DDL",
    "TRACE_COLUMNS",
]

# The Alembic head revision this code expects; opening a store migrates when the database is behind.
SCHEMA_VERSION = "0005"

#: Every table and index of the current schema on SQLite, then the Alembic version table (as
#: ``_migrate._create_fresh`` creates it), one statement per item.
SQLITE_DDL: tuple[str, ...] = (
    """CREATE TABLE experiments (
	experiment_id INTEGER NOT NULL,
	name VARCHAR(256) NOT NULL,
	artifact_location TEXT NOT NULL,
	lifecycle_stage VARCHAR(32) NOT NULL,
	creation_time BIGINT,
	last_update_time BIGINT,
	deleted_time BIGINT,
	PRIMARY KEY (experiment_id),
	UNIQUE (name)
)""",
    """CREATE TABLE spans (
	trace_id VARCHAR(32) NOT NULL,
	span_id VARCHAR(16) NOT NULL,
	parent_span_id VARCHAR(16),
	name TEXT NOT NULL,
	kind VARCHAR(16) NOT NULL,
	start_time_ns BIGINT NOT NULL,
	end_time_ns BIGINT NOT NULL,
	status_code VARCHAR(16) NOT NULL,
	status_message TEXT NOT NULL,
	attributes TEXT NOT NULL,
	events TEXT NOT NULL,
	resource TEXT NOT NULL,
	run_id VARCHAR(32),
	experiment_id VARCHAR(32),
	PRIMARY KEY (trace_id, span_id)
)""",
    """CREATE TABLE traces (
	trace_id VARCHAR(32) NOT NULL,
	experiment_id VARCHAR(32),
	run_id VARCHAR(32),
	name TEXT NOT NULL,
	start_time_ns BIGINT NOT NULL,
	end_time_ns BIGINT NOT NULL,
	status VARCHAR(16) NOT NULL,
	span_count INTEGER NOT NULL,
	PRIMARY KEY (trace_id)
)""",
    "CREATE INDEX ix_traces_experiment_start ON traces (experiment_id, start_time_ns)",
    "CREATE INDEX ix_traces_run_start ON traces (run_id, start_time_ns)",
    "CREATE INDEX ix_traces_start ON traces (start_time_ns)",
    """CREATE TABLE experiment_tags (
	experiment_id INTEGER NOT NULL,
	"key" VARCHAR(250) NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (experiment_id, "key"),
	FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id)
)""",
    """CREATE TABLE runs (
	run_id VARCHAR(32) NOT NULL,
	experiment_id INTEGER NOT NULL,
	run_name VARCHAR(250) NOT NULL,
	user_id VARCHAR(256) NOT NULL,
	status VARCHAR(20) NOT NULL,
	start_time BIGINT,
	end_time BIGINT,
	lifecycle_stage VARCHAR(20) NOT NULL,
	artifact_uri TEXT NOT NULL,
	deleted_time BIGINT,
	PRIMARY KEY (run_id),
	FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id)
)""",
    "CREATE INDEX ix_runs_experiment_start ON runs (experiment_id, lifecycle_stage, start_time)",
    """CREATE TABLE latest_metrics (
	run_id VARCHAR(32) NOT NULL,
	"key" VARCHAR(250) NOT NULL,
	value FLOAT,
	timestamp BIGINT NOT NULL,
	step BIGINT NOT NULL,
	is_nan BOOLEAN NOT NULL,
	PRIMARY KEY (run_id, "key"),
	FOREIGN KEY(run_id) REFERENCES runs (run_id)
) WITHOUT ROWID""",
    'CREATE INDEX ix_latest_metrics_key ON latest_metrics ("key", run_id)',
    """CREATE TABLE llm_calls (
	id INTEGER NOT NULL,
	run_id VARCHAR(32) NOT NULL,
	step BIGINT NOT NULL,
	timestamp BIGINT NOT NULL,
	input_tokens FLOAT,
	output_tokens FLOAT,
	total_tokens FLOAT,
	latency_ms FLOAT,
	time_to_first_token_ms FLOAT,
	cost_usd FLOAT,
	calls FLOAT,
	total_input_tokens FLOAT,
	total_output_tokens FLOAT,
	cumulative_tokens FLOAT,
	total_cost_usd FLOAT,
	PRIMARY KEY (id),
	FOREIGN KEY(run_id) REFERENCES runs (run_id)
)""",
    "CREATE INDEX ix_llm_calls_run_step ON llm_calls (run_id, step)",
    """CREATE TABLE metrics (
	id INTEGER NOT NULL,
	run_id VARCHAR(32) NOT NULL,
	"key" VARCHAR(250) NOT NULL,
	value FLOAT,
	timestamp BIGINT NOT NULL,
	step BIGINT NOT NULL,
	is_nan BOOLEAN NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(run_id) REFERENCES runs (run_id)
)""",
    'CREATE INDEX ix_metrics_run_key_step ON metrics (run_id, "key", step, timestamp)',
    """CREATE TABLE params (
	run_id VARCHAR(32) NOT NULL,
	"key" VARCHAR(250) NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (run_id, "key"),
	FOREIGN KEY(run_id) REFERENCES runs (run_id)
)""",
    'CREATE INDEX ix_params_key_value ON params ("key", value, run_id)',
    """CREATE TABLE tags (
	run_id VARCHAR(32) NOT NULL,
	"key" VARCHAR(250) NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (run_id, "key"),
	FOREIGN KEY(run_id) REFERENCES runs (run_id)
)""",
    'CREATE INDEX ix_tags_key_value ON tags ("key", value, run_id)',
    """CREATE TABLE datasets (
	dataset_uuid VARCHAR(32) NOT NULL,
	experiment_id INTEGER NOT NULL,
	name VARCHAR(500) NOT NULL,
	digest VARCHAR(36) NOT NULL,
	dataset_source_type VARCHAR(36) NOT NULL,
	dataset_source TEXT NOT NULL,
	dataset_schema TEXT,
	dataset_profile TEXT,
	PRIMARY KEY (dataset_uuid),
	CONSTRAINT uq_datasets_experiment_name UNIQUE (experiment_id, name, digest),
	FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id)
)""",
    """CREATE TABLE run_inputs (
	id INTEGER NOT NULL,
	run_id VARCHAR(32) NOT NULL,
	dataset_uuid VARCHAR(32) NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_run_inputs_run_dataset UNIQUE (run_id, dataset_uuid),
	FOREIGN KEY(run_id) REFERENCES runs (run_id),
	FOREIGN KEY(dataset_uuid) REFERENCES datasets (dataset_uuid)
)""",
    """CREATE TABLE run_input_tags (
	input_id INTEGER NOT NULL,
	"key" VARCHAR(255) NOT NULL,
	value VARCHAR(500) NOT NULL,
	PRIMARY KEY (input_id, "key"),
	FOREIGN KEY(input_id) REFERENCES run_inputs (id)
)""",
    """CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL,
	PRIMARY KEY (version_num)
)""",
)

#: Columns of the spans and traces tables, in table order (the bulk writer's row tuples).
SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time_ns",
    "end_time_ns",
    "status_code",
    "status_message",
    "attributes",
    "events",
    "resource",
    "run_id",
    "experiment_id",
)
TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "experiment_id",
    "run_id",
    "name",
    "start_time_ns",
    "end_time_ns",
    "status",
    "span_count",
)

# Typical-shape statistics for SQLite's query planner ("table", "index", "stat" rows as ANALYZE
# would write them). Without any statistics SQLite may scan a metric range before an exact
# param match, several times slower on 10k runs. Real ANALYZE results replace these.
PLANNER_STATS: tuple[tuple[str, str, str], ...] = (
    ("runs", "sqlite_autoindex_runs_1", "10000 1"),
    ("runs", "ix_runs_experiment_start", "10000 2000 2000 1"),
    ("params", "sqlite_autoindex_params_1", "50000 5 1"),
    ("params", "ix_params_key_value", "50000 5000 50 1"),
    ("tags", "sqlite_autoindex_tags_1", "50000 5 1"),
    ("tags", "ix_tags_key_value", "50000 5000 50 1"),
    ("latest_metrics", "latest_metrics", "50000 5 1"),  # WITHOUT ROWID: the table is its key
    ("latest_metrics", "ix_latest_metrics_key", "50000 5000 1"),
    ("metrics", "ix_metrics_run_key_step", "500000 50 10 2 1"),
    ("llm_calls", "ix_llm_calls_run_step", "100000 100 1"),
)
