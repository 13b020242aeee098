"""A throwaway PostgreSQL server for tests and benchmarks.

Usage::

    with postgres_server() as uri:   # postgresql://spanrun@127.0.0.1:PORT/spanrun
        store = get_store(uri)

It runs ``initdb`` into a temporary folder, starts ``postgres`` on a free loopback port (its
unix socket also in that folder), creates a database, and stops and deletes everything on exit.
Binaries are taken from ``PATH``, else from ``/usr/lib/postgresql/*/bin``. PostgreSQL refuses to
run as root, so under euid 0 the server runs as the ``postgres`` user (via ``runuser``).
Durability is turned off (``fsync=off``) unless ``durable=True``: fine for tests, and say so
when quoting benchmark figures.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PostgresNotAvailableError", "find_postgres_bin", "postgres_server"]

_USER = "spanrun"


class PostgresNotAvailableError(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl) were found."""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))


def find_postgres_bin() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``; raise PostgresNotAvailableError if none."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=_version_key,
    )
    if not candidates:
        raise PostgresNotAvailableError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql)"
        )
    return candidates[-1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Runner:
    """Runs server binaries, as the ``postgres`` user when we are root."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresNotAvailableError(
                    "Running as root, but there is no 'postgres' user to run the server as"
                ) from None
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresNotAvailableError("Running as root, but 'runuser' is missing")
            os.chown(root, pw.pw_uid, pw.pw_gid)
            self.prefix = [runuser, "-u", "postgres", "--"]

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*self.prefix, str(self.bindir / tool), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({result.returncode}): {result.stderr.strip() or result.stdout}"
            )
        return result


@contextlib.contextmanager
def postgres_server(database: str = "spanrun", *, durable: bool = False) -> Iterator[str]:
    """Start a private PostgreSQL server; yield a ``postgresql://`` URI of a fresh database."""
    bindir = find_postgres_bin()
    # /tmp rather than $TMPDIR: a unix socket path must stay under ~100 characters, and the
    # postgres user must be able to reach the folder when we run as root.
    root = Path(
        tempfile.mkdtemp(prefix="spanrun-pg-", dir="/tmp" if Path("/tmp").is_dir() else None)
    )
    data, log = root / "data", root / "server.log"
    started = False
    try:
        runner = _Runner(bindir, root)
        runner.run("initdb", "-D", str(data), "-U", _USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -k {root}"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        for attempt in range(3):
            port = _free_port()
            try:
                runner.run(
                    "pg_ctl",
                    *("-D", str(data), "-l", str(log), "-w", "-t", "60"),
                    *("-o", f"-p {port} {options}", "start"),
                )
                started = True
                break
            except RuntimeError:
                if attempt == 2:
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise RuntimeError(f"postgres did not start:\n{tail}") from None
        runner.run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", _USER, database)
        yield f"postgresql://{_USER}@127.0.0.1:{port}/{database}"
    finally:
        if started:
            with contextlib.suppress(Exception):
                runner.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
