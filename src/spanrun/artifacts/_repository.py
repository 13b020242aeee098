"""The ArtifactRepository interface: where a run's files live.

A repository is rooted at one artifact URI (a run's ``artifact_uri``). Every path passed to it
is relative to that root, '/'-separated, and checked by :mod:`spanrun.artifacts._paths`.
"""

from __future__ import annotations

import abc
import contextlib
import os
import threading
from collections.abc import Iterator

from spanrun.core.entities import FileInfo
from spanrun.errors import NotFoundError

__all__ = ["ArtifactFileHandle", "ArtifactRepository"]


class ArtifactFileHandle(abc.ABC):
    """Exclusive access to one artifact file for a read-check-write sequence.

    Obtained from :meth:`ArtifactRepository.locked`; other writers of the same file wait.
    A file that did not exist reads as empty (``size() == 0``).
    """

    @abc.abstractmethod
    def size(self) -> int: ...

    @abc.abstractmethod
    def read(self, offset: int = 0, size: int = -1) -> bytes:
        """Read ``size`` bytes from ``offset`` (all the rest when ``size`` is negative)."""

    @abc.abstractmethod
    def append(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def write_at(self, offset: int, data: bytes) -> None:
        """Overwrite from ``offset`` (may extend the file)."""

    @abc.abstractmethod
    def truncate(self, size: int) -> None: ...

    @abc.abstractmethod
    def replace(self, data: bytes) -> None:
        """Replace the whole content atomically (readers see the old or the new file)."""


class ArtifactRepository(abc.ABC):
    """Files of one run (or any artifact root), addressed by relative paths."""

    def __init__(self, artifact_uri: str) -> None:
        self.artifact_uri = artifact_uri

    @abc.abstractmethod
    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy one local file into the directory ``artifact_path`` (the root when None)."""

    @abc.abstractmethod
    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy the content of a local directory into ``artifact_path``."""

    @abc.abstractmethod
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """Direct children of the directory ``path``, sorted; ``[]`` when it does not exist."""

    @abc.abstractmethod
    def download_artifacts(self, artifact_path: str = "", dst_path: str | None = None) -> str:
        """Copy a file or directory to ``dst_path/artifact_path`` (a temp dir when None).

        Return the local path of the copy. NotFoundError when the artifact does not exist.
        """

    @abc.abstractmethod
    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        """Create or replace a file atomically."""

    @abc.abstractmethod
    def read_bytes(self, artifact_file: str) -> bytes:
        """The content of a file; NotFoundError when missing."""

    def append_bytes(self, artifact_file: str, data: bytes) -> None:
        """Append to a file (created when missing), under the file's lock."""
        with self.locked(artifact_file) as handle:
            handle.append(data)

    def exists(self, artifact_file: str) -> bool:
        """True when ``artifact_file`` is an existing file."""
        try:
            self.read_bytes(artifact_file)
        except NotFoundError:
            return False
        return True

    def locked(self, artifact_file: str) -> contextlib.AbstractContextManager[ArtifactFileHandle]:
        """Exclusive access to one file; this default serialises within the process only."""
        return _buffered_locked(self, artifact_file)


# A fixed pool of striped locks: bounded memory however many runs a process touches.
_process_locks = tuple(threading.Lock() for _ in range(64))


def _renew_locks() -> None:
    # A lock held by another thread at fork() would stay held forever in the child.
    global _process_locks
    _process_locks = tuple(threading.Lock() for _ in range(64))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_locks)


@contextlib.contextmanager
def _buffered_locked(repo: ArtifactRepository, artifact_file: str) -> Iterator[ArtifactFileHandle]:
    lock = _process_locks[hash((repo.artifact_uri, artifact_file)) % len(_process_locks)]
    with lock:
        try:
            initial = repo.read_bytes(artifact_file)
        except NotFoundError:
            initial = b""
        handle = _BufferedHandle(initial)
        yield handle
        if handle.changed:
            repo.write_bytes(artifact_file, bytes(handle.buffer))


class _BufferedHandle(ArtifactFileHandle):
    """In-memory handle written back on exit (for repositories without file locking)."""

    def __init__(self, data: bytes) -> None:
        self.buffer = bytearray(data)
        self.changed = False

    def size(self) -> int:
        return len(self.buffer)

    def read(self, offset: int = 0, size: int = -1) -> bytes:
        end = len(self.buffer) if size < 0 else offset + size
        return bytes(self.buffer[offset:end])

    def append(self, data: bytes) -> None:
        self.buffer += data
        self.changed = True

    def write_at(self, offset: int, data: bytes) -> None:
        self.buffer[offset : offset + len(data)] = data
        self.changed = True

    def truncate(self, size: int) -> None:
        del self.buffer[size:]
        self.changed = True

    def replace(self, data: bytes) -> None:
        self.buffer = bytearray(data)
        self.changed = True
