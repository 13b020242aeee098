"""LocalArtifactRepository: artifacts in a local directory (``file://`` URIs and plain paths).

Writes go to a temporary file in the target directory and are renamed into place, so readers
never see half-written files. Appends and read-check-write sequences hold an exclusive
``flock`` on the file (POSIX), so several processes can append to one CSV safely.
Durability: what a call has written survives a crash of the process; it is not fsync'ed, so a
power loss may lose the last writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from urllib.parse import urlparse
from urllib.request import url2pathname

from spanrun.artifacts._paths import is_within, resolve_under
from spanrun.artifacts._repository import ArtifactFileHandle, ArtifactRepository
from spanrun.core.entities import FileInfo
from spanrun.errors import InvalidInputError, NotFoundError, StoreError

try:  # POSIX only; elsewhere locking falls back to in-process locks
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LocalArtifactRepository", "local_path_from_uri"]

_TMP_PREFIX = ".spanrun-tmp-"
_fallback_locks = tuple(threading.Lock() for _ in range(64))


def _renew_locks() -> None:
    # A lock held by another thread at fork() would stay held forever in the child.
    global _fallback_locks
    _fallback_locks = tuple(threading.Lock() for _ in range(64))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_locks)
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def local_path_from_uri(uri: str) -> str:
    """The absolute local path of a ``file:`` URI or a plain path."""
    # urlparse drops tab, CR and LF anywhere in a URL; in a file name they are characters, so
    # they are percent-encoded first (url2pathname decodes them back).
    parsed = urlparse(uri.replace("\t", "%09").replace("\r", "%0D").replace("\n", "%0A"))
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidInputError(f"Only local file URIs are supported, got host in {uri!r}")
        return os.path.abspath(url2pathname(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter is a Windows drive
        raise InvalidInputError(f"Not a local artifact location: {uri!r}")
    return os.path.abspath(uri)


class LocalArtifactRepository(ArtifactRepository):
    """Artifacts below one local directory, created on first write."""

    def __init__(self, artifact_uri: str) -> None:
        super().__init__(artifact_uri)
        self.root = local_path_from_uri(artifact_uri)
        self._root_real: str | None = None

    # -- path helpers ----------------------------------------------------------------------
    def _real_root(self) -> str:
        # Cached once the directory exists (the root itself is chosen by the store, not users).
        if self._root_real is not None:
            return self._root_real
        real = os.path.realpath(self.root)
        if os.path.isdir(real):
            self._root_real = real
        return real

    def _resolve(self, path: str | None) -> tuple[str, str]:
        return resolve_under(self.root, path, self._real_root())

    def _file_path(self, artifact_file: str) -> str:
        relative, absolute = self._resolve(artifact_file)
        if not relative:
            raise InvalidInputError("An artifact file path is required, got the root")
        return absolute

    def _ensure_parent(self, absolute: str) -> None:
        try:
            os.makedirs(os.path.dirname(absolute), exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create artifact directory: {exc}") from exc

    # -- writing ---------------------------------------------------------------------------
    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        absolute = self._file_path(artifact_file)
        self._ensure_parent(absolute)
        _atomic_write(absolute, data)

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        source = os.fspath(local_file)
        if not os.path.isfile(source):
            raise NotFoundError(f"Local file not found: {source}")
        relative, _ = self._resolve(artifact_path)
        target = f"{relative}/{os.path.basename(source)}" if relative else os.path.basename(source)
        absolute = self._file_path(target)
        self._ensure_parent(absolute)
        _atomic_copy(source, absolute)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        source_root = os.fspath(local_dir)
        if not os.path.isdir(source_root):
            raise NotFoundError(f"Local directory not found: {source_root}")
        relative, absolute_dir = self._resolve(artifact_path)
        self._ensure_parent(os.path.join(absolute_dir, "_"))
        root_real = self._real_root()
        for dirpath, dirnames, filenames in os.walk(source_root):
            # Never copy the artifact root into itself (log_artifacts(".") with the default
            # ./spanrun-artifacts would otherwise recurse forever).
            dirnames[:] = [
                d for d in dirnames if not is_within(root_real, os.path.join(dirpath, d))
            ]
            if is_within(root_real, dirpath):
                continue
            sub = os.path.relpath(dirpath, source_root)
            parts = [] if sub == "." else sub.split(os.sep)
            for name in filenames:
                target = "/".join([p for p in (relative, *parts, name) if p])
                absolute = self._file_path(target)
                self._ensure_parent(absolute)
                _atomic_copy(os.path.join(dirpath, name), absolute)

    # -- reading ---------------------------------------------------------------------------
    def read_bytes(self, artifact_file: str) -> bytes:
        absolute = self._file_path(artifact_file)
        try:
            with open(absolute, "rb") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFoundError(f"Artifact not found: {artifact_file!r}") from None
        except OSError as exc:
            raise StoreError(f"Cannot read artifact {artifact_file!r}: {exc}") from exc

    def exists(self, artifact_file: str) -> bool:
        return os.path.isfile(self._file_path(artifact_file))

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        relative, absolute = self._resolve(path)
        if not os.path.isdir(absolute):
            return []
        root_real = self._real_root()
        infos = []
        try:
            for entry in os.scandir(absolute):
                if entry.name.startswith(_TMP_PREFIX) or not is_within(root_real, entry.path):
                    continue  # leftovers of an interrupted write; links leading outside the root
                child = f"{relative}/{entry.name}" if relative else entry.name
                if entry.is_dir():
                    infos.append(FileInfo(path=child, is_dir=True, file_size=None))
                else:
                    size = entry.stat().st_size
                    infos.append(FileInfo(path=child, is_dir=False, file_size=size))
        except OSError as exc:
            raise StoreError(f"Cannot list artifacts {path!r}: {exc}") from exc
        return sorted(infos, key=lambda info: info.path)

    def download_artifacts(self, artifact_path: str = "", dst_path: str | None = None) -> str:
        relative, source = self._resolve(artifact_path)
        if not os.path.exists(source):
            raise NotFoundError(f"Artifact not found: {artifact_path!r}")
        try:
            destination_root = os.path.abspath(dst_path) if dst_path else tempfile.mkdtemp()
        except OSError as exc:
            raise StoreError(f"Cannot create a temporary directory: {exc}") from exc
        destination = (
            os.path.join(destination_root, *relative.split("/")) if relative else destination_root
        )
        if os.path.isdir(source) and is_within(os.path.realpath(source), destination):
            raise InvalidInputError(
                f"Cannot download {artifact_path!r} into itself ({destination})"
            )
        try:
            if os.path.isdir(source):
                self._copy_tree(source, destination)
            else:
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                shutil.copyfile(source, destination)
        except OSError as exc:
            raise StoreError(f"Cannot download artifact {artifact_path!r}: {exc}") from exc
        return destination

    def _copy_tree(self, source: str, destination: str) -> None:
        root_real = self._real_root()
        os.makedirs(destination, exist_ok=True)
        for entry in os.scandir(source):
            if entry.name.startswith(_TMP_PREFIX) or not is_within(root_real, entry.path):
                continue
            target = os.path.join(destination, entry.name)
            if entry.is_dir():
                self._copy_tree(entry.path, target)
            else:
                shutil.copyfile(entry.path, target)

    # -- locking ---------------------------------------------------------------------------
    def locked(self, artifact_file: str) -> contextlib.AbstractContextManager[ArtifactFileHandle]:
        return self._locked(artifact_file)

    @contextlib.contextmanager
    def _locked(self, artifact_file: str) -> Iterator[ArtifactFileHandle]:
        absolute = self._file_path(artifact_file)
        self._ensure_parent(absolute)
        fallback = _fallback_locks[hash(absolute) % len(_fallback_locks)]
        with fallback:  # threads of this process; flock covers other processes
            fd = _open_locked(absolute)
            try:
                yield _LocalHandle(fd, absolute)
            finally:
                os.close(fd)  # closing releases the flock


def _open_locked(absolute: str) -> int:
    """Open (creating) and flock ``absolute``, retrying when it was replaced meanwhile."""
    while True:
        try:
            fd = os.open(absolute, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as exc:
            raise StoreError(f"Cannot open artifact {absolute}: {exc}") from exc
        if fcntl is None:
            return fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(absolute)
        except FileNotFoundError:
            current = None
        if current is not None and current.st_ino == os.fstat(fd).st_ino:
            return fd
        os.close(fd)  # another process replaced the file while we waited: lock the new one


class _LocalHandle(ArtifactFileHandle):
    def __init__(self, fd: int, absolute: str) -> None:
        self._fd = fd
        self._absolute = absolute

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def read(self, offset: int = 0, size: int = -1) -> bytes:
        if size < 0:
            size = max(self.size() - offset, 0)
        os.lseek(self._fd, offset, os.SEEK_SET)
        chunks = []
        while size > 0:
            chunk = os.read(self._fd, size)
            if not chunk:
                break
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def append(self, data: bytes) -> None:
        self.write_at(self.size(), data)

    def write_at(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        try:
            os.lseek(self._fd, offset, os.SEEK_SET)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise StoreError(f"Cannot write artifact {self._absolute}: {exc}") from exc

    def truncate(self, size: int) -> None:
        try:
            os.ftruncate(self._fd, size)
        except OSError as exc:
            raise StoreError(f"Cannot truncate artifact {self._absolute}: {exc}") from exc

    def replace(self, data: bytes) -> None:
        _atomic_write(self._absolute, data)


def _atomic_write(absolute: str, data: bytes) -> None:
    directory = os.path.dirname(absolute)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, absolute)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise StoreError(f"Cannot write artifact {absolute}: {exc}") from exc


def _atomic_copy(source: str, absolute: str) -> None:
    directory = os.path.dirname(absolute)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=directory)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, absolute)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise StoreError(f"Cannot copy {source} to the artifact store: {exc}") from exc
