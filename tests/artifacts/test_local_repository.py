from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from spanrun.artifacts import ArtifactRepository, LocalArtifactRepository, get_artifact_repository
from spanrun.core.entities import FileInfo
from spanrun.errors import InvalidInputError, NotFoundError


def test_write_read_and_list(repo: LocalArtifactRepository, artifact_root: Path) -> None:
    repo.write_bytes("a.txt", b"hello")
    repo.write_bytes("dir/sub/b.bin", b"\x00\x01")
    assert repo.read_bytes("a.txt") == b"hello"
    assert (artifact_root / "dir" / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    assert repo.list_artifacts() == [
        FileInfo("a.txt", False, 5),
        FileInfo("dir", True, None),
    ]
    assert repo.list_artifacts("dir") == [FileInfo("dir/sub", True, None)]
    assert repo.list_artifacts("dir/sub/") == [FileInfo("dir/sub/b.bin", False, 2)]
    assert repo.list_artifacts("missing") == []
    assert repo.exists("a.txt") and not repo.exists("nope.txt")


def test_write_replaces_and_leaves_no_temp_files(
    repo: LocalArtifactRepository, artifact_root: Path
) -> None:
    repo.write_bytes("a.txt", b"one")
    repo.write_bytes("a.txt", b"two")
    assert repo.read_bytes("a.txt") == b"two"
    assert sorted(os.listdir(artifact_root)) == ["a.txt"]


def test_missing_artifact_is_not_found(repo: LocalArtifactRepository) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        repo.read_bytes("nope.txt")
    with pytest.raises(NotFoundError):
        repo.download_artifacts("nope.txt")
    repo.write_bytes("d/x", b"")
    with pytest.raises(NotFoundError):
        repo.read_bytes("d")  # a directory is not a file


def test_log_artifact_and_artifacts(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    (src / "top.txt").write_text("top")
    (src / "nested" / "deep.txt").write_text("deep")
    repo.log_artifact(src / "top.txt")
    repo.log_artifact(str(src / "top.txt"), artifact_path="copies/one")
    repo.log_artifacts(src, artifact_path="tree")
    assert repo.read_bytes("top.txt") == b"top"
    assert repo.read_bytes("copies/one/top.txt") == b"top"
    assert repo.read_bytes("tree/nested/deep.txt") == b"deep"
    assert [f.path for f in repo.list_artifacts("tree")] == ["tree/nested", "tree/top.txt"]
    with pytest.raises(NotFoundError):
        repo.log_artifact(tmp_path / "absent.txt")
    with pytest.raises(NotFoundError):
        repo.log_artifacts(tmp_path / "absent-dir")


def test_download_file_and_directory(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    repo.write_bytes("a.txt", b"A")
    repo.write_bytes("d/b.txt", b"B")
    repo.write_bytes("d/e/c.txt", b"C")
    dst = tmp_path / "dst"
    path = repo.download_artifacts("d/b.txt", dst_path=str(dst))
    assert path == str(dst / "d" / "b.txt") and Path(path).read_bytes() == b"B"
    whole = repo.download_artifacts("", dst_path=str(tmp_path / "all"))
    assert Path(whole, "a.txt").read_bytes() == b"A"
    assert Path(whole, "d", "e", "c.txt").read_bytes() == b"C"
    temp = repo.download_artifacts("d")
    assert Path(temp, "e", "c.txt").read_bytes() == b"C"
    assert not temp.startswith(str(repo.root))


def test_append_bytes_creates_and_appends(repo: LocalArtifactRepository) -> None:
    repo.append_bytes("log/x.csv", b"a\n")
    repo.append_bytes("log/x.csv", b"b\n")
    assert repo.read_bytes("log/x.csv") == b"a\nb\n"


def test_concurrent_appends_from_threads_keep_every_line(repo: LocalArtifactRepository) -> None:
    def work(i: int) -> None:
        for j in range(50):
            repo.append_bytes("x.log", f"{i}-{j}\n".encode())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = repo.read_bytes("x.log").decode().splitlines()
    assert sorted(lines) == sorted(f"{i}-{j}" for i in range(4) for j in range(50))


def test_locked_handle_replace_then_append(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("t.json", b"0123456789")
    with repo.locked("t.json") as handle:
        assert handle.size() == 10
        assert handle.read(2, 3) == b"234"
        handle.write_at(8, b"XYZ")
        assert handle.read() == b"01234567XYZ"
        handle.truncate(4)
    assert repo.read_bytes("t.json") == b"0123"
    with repo.locked("t.json") as handle:
        handle.replace(b"new")
    repo.append_bytes("t.json", b"+")  # lands in the replaced file, not the old inode
    assert repo.read_bytes("t.json") == b"new+"


def test_plain_path_and_file_uri_roots(tmp_path: Path) -> None:
    by_path = get_artifact_repository(str(tmp_path / "p"))
    by_uri = get_artifact_repository((tmp_path / "p").as_uri())
    assert isinstance(by_path, LocalArtifactRepository)
    by_path.write_bytes("f", b"1")
    assert by_uri.read_bytes("f") == b"1"
    with_space = get_artifact_repository((tmp_path / "with space").as_uri())
    with_space.write_bytes("f", b"2")
    assert (tmp_path / "with space" / "f").read_bytes() == b"2"


def test_unknown_scheme_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="s3://bucket"):
        get_artifact_repository("s3://bucket/x")
    with pytest.raises(InvalidInputError):
        get_artifact_repository("file://remotehost/x")


def test_log_artifacts_of_a_parent_directory_skips_the_artifact_root(tmp_path: Path) -> None:
    # Like log_artifacts(".") with the default ./spanrun-artifacts below the working directory.
    (tmp_path / "data.txt").write_text("d")
    repo = LocalArtifactRepository(str(tmp_path / "spanrun-artifacts" / "0" / "r" / "artifacts"))
    repo.write_bytes("existing.txt", b"e")
    repo.log_artifacts(tmp_path, artifact_path="snapshot")
    assert repo.read_bytes("snapshot/data.txt") == b"d"
    copied = repo.list_artifacts("snapshot/spanrun-artifacts/0/r")
    assert copied == []  # the run's own artifact directory was not copied into itself


def test_download_into_itself_is_refused(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("d/x.txt", b"x")
    with pytest.raises(InvalidInputError, match="into itself"):
        repo.download_artifacts("", dst_path=str(Path(repo.root, "d")))


def test_non_string_path_is_a_typed_error(repo: LocalArtifactRepository) -> None:
    with pytest.raises(InvalidInputError):
        repo.read_bytes(123)  # type: ignore[arg-type]


def test_default_locked_handle_of_the_interface(repo: LocalArtifactRepository) -> None:
    # The buffered fallback that repositories without file locking inherit.
    with ArtifactRepository.locked(repo, "f.txt") as handle:
        assert handle.size() == 0
        handle.append(b"hello world")
        handle.write_at(6, b"there")
        assert handle.read(0, 5) == b"hello"
    assert repo.read_bytes("f.txt") == b"hello there"
    with ArtifactRepository.locked(repo, "f.txt") as handle:
        handle.truncate(5)
    assert repo.read_bytes("f.txt") == b"hello"
    with ArtifactRepository.locked(repo, "f.txt") as handle:
        handle.replace(b"new")
    assert repo.read_bytes("f.txt") == b"new"
    with ArtifactRepository.locked(repo, "untouched.txt") as handle:
        assert handle.read() == b""
    assert not repo.exists("untouched.txt")  # nothing written when nothing changed


def test_register_artifact_repository_for_a_new_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanrun.artifacts import _registry, register_artifact_repository

    monkeypatch.setattr(_registry, "_factories", dict(_registry._factories))  # no leak

    def factory(uri: str) -> LocalArtifactRepository:
        return LocalArtifactRepository(str(tmp_path / uri.removeprefix("box:/")))

    register_artifact_repository("box", factory)
    repo = get_artifact_repository("box:/run1/artifacts")
    repo.write_bytes("x.txt", b"boxed")
    assert (tmp_path / "run1" / "artifacts" / "x.txt").read_bytes() == b"boxed"
    with pytest.raises(InvalidInputError, match="supported schemes: box, file"):
        get_artifact_repository("nope://x")


def test_locks_work_in_a_forked_child(repo: LocalArtifactRepository) -> None:
    import multiprocessing

    repo.append_bytes("f.log", b"parent\n")
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=repo.append_bytes, args=("f.log", b"child\n"))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert repo.read_bytes("f.log") == b"parent\nchild\n"
