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

A test session shares one server between its test folders: inside ``shared_postgres_server()``
each ``postgres_server()`` call gets a fresh database on one server started at the first call.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "PostgresNotAvailableError",
    "find_postgres_bin",
    "postgres_server",
    "shared_postgres_server",
]

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


class _Server:
    """One running private server: ``initdb`` into a temporary folder, ``postgres`` on a free
    loopback port (its unix socket in that folder)."""

    def __init__(self, *, durable: bool) -> None:
        bindir = find_postgres_bin()
        # /tmp rather than $TMPDIR: a unix socket path must stay under ~100 characters, and the
        # postgres user must be able to reach the folder when we run as root.
        self.root = Path(
            tempfile.mkdtemp(prefix="spanrun-pg-", dir="/tmp" if Path("/tmp").is_dir() else None)
        )
        self._data, log = self.root / "data", self.root / "server.log"
        self._started = False
        self.port = 0
        try:
            self._runner = _Runner(bindir, self.root)
            self._runner.run(
                "initdb",
                *("-D", str(self._data), "-U", _USER, "-A", "trust", "-E", "UTF8", "--no-sync"),
            )
            options = f"-c listen_addresses=127.0.0.1 -k {self.root}"
            if not durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            for attempt in range(3):
                port = _free_port()
                try:
                    self._runner.run(
                        "pg_ctl",
                        *("-D", str(self._data), "-l", str(log), "-w", "-t", "60"),
                        *("-o", f"-p {port} {options}", "start"),
                    )
                    self._started = True
                    self.port = port
                    break
                except RuntimeError:
                    if attempt == 2:
                        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                        raise RuntimeError(f"postgres did not start:\n{tail}") from None
        except BaseException:
            self.stop()
            raise

    def _client(self, tool: str, *args: str) -> None:
        self._runner.run(tool, "-h", "127.0.0.1", "-p", str(self.port), "-U", _USER, *args)

    def create_database(self, database: str) -> str:
        """Create ``database``; return its ``postgresql://`` URI."""
        self._client("createdb", database)
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def drop_database(self, database: str) -> None:
        """Drop ``database``, closing the connections still open to it."""
        self._client("dropdb", "--force", database)

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        if self._started:
            self._started = False
            with contextlib.suppress(Exception):
                self._runner.run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class _SharedServer:
    """The server that ``postgres_server()`` calls share inside ``shared_postgres_server()``:
    started at the first call, each call getting a database of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._numbers = itertools.count()

    def server(self) -> _Server:
        with self._lock:
            if self._server is None:
                self._server = _Server(durable=False)
            return self._server

    def database_name(self, database: str) -> str:
        return f"{database}_{os.getpid()}_{next(self._numbers)}"

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()


_shared: _SharedServer | None = None


@contextlib.contextmanager
def shared_postgres_server() -> Iterator[None]:
    """Within the block, ``postgres_server()`` calls of this process share one server, started
    at the first call and stopped when the block ends; each call still gets a fresh database of
    its own (named ``<database>_<pid>_<n>``), dropped when its own block ends. A test session
    wraps itself in this, so its test folders start one server between them, not one each."""
    global _shared
    if _shared is not None:  # already sharing: the outer block owns the server
        yield
        return
    shared = _shared = _SharedServer()
    try:
        yield
    finally:
        _shared = None
        shared.stop()


@contextlib.contextmanager
def postgres_server(
    database: str = "spanrun", *, durable: bool = False, private: bool = False
) -> Iterator[str]:
    """Start a private PostgreSQL server; yield a ``postgresql://`` URI of a fresh database.

    Inside ``shared_postgres_server()`` the database is created on the shared server instead,
    unless ``durable`` or ``private`` asks for a server of its own.
    """
    shared = _shared
    if shared is not None and not durable and not private:
        server = shared.server()
        name = shared.database_name(database)
        uri = server.create_database(name)
        try:
            yield uri
        finally:
            with contextlib.suppress(Exception):  # best effort: the server goes at the end
                server.drop_database(name)
        return
    own = _Server(durable=durable)
    try:
        yield own.create_database(database)
    finally:
        own.stop()
