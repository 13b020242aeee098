"""SQLite, the embedded default: everything that is SQLite's alone.

- ``_connect``: how every connection is configured (WAL, ``synchronous=NORMAL``, busy timeout);
- ``_engine``: the SQLAlchemy engine on a SQLite file (``BEGIN IMMEDIATE`` for writes);
- ``_write_connection``: the process's one write connection per file, WAL checkpoints off the
  hot path;
- ``_ddl``: the schema as static DDL (checked against the Alembic migrations by the tests);
- ``_database``: ``SqliteDatabase``, transactions on the stdlib ``sqlite3`` for the run writer
  of autolog's exporter (no SQLAlchemy in the user's process).
"""
