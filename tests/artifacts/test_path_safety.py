from __future__ import annotations

import os
from pathlib import Path

import pytest

from spanrun.artifacts import (
    LocalArtifactRepository,
    normalize_artifact_path,
    normalize_untrusted_path,
    parse_runs_uri,
)
from spanrun.errors import UnsafePathError

UNSAFE = [
    "../x",
    "..",
    "a/../../x",
    "a/b/../../../x",
    "/etc/passwd",
    "\\\\server\\share\\x",
    "..\\..\\x",
    "C:\\windows\\x",
    "C:x",
    "a\x00b",
]


@pytest.mark.parametrize("path", UNSAFE)
def test_unsafe_paths_are_rejected(path: str) -> None:
    with pytest.raises(UnsafePathError):
        normalize_artifact_path(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (None, ""),
        ("", ""),
        (".", ""),
        ("a/b", "a/b"),
        ("a//b/./c/", "a/b/c"),
        ("a/../b", "b"),
        ("a\\b", "a/b"),
        ("..name/x", "..name/x"),
        ("ünï cödé.txt", "ünï cödé.txt"),
    ],
)
def test_safe_paths_are_normalised(path: str | None, expected: str) -> None:
    assert normalize_artifact_path(path) == expected


@pytest.mark.parametrize("path", ["../escape.txt", "/tmp/abs.txt", "a/../../x", "x\x00y"])
def test_every_repository_method_rejects_traversal(
    repo: LocalArtifactRepository, tmp_path: Path, path: str
) -> None:
    local = tmp_path / "local.txt"
    local.write_text("x")
    calls = [
        lambda: repo.write_bytes(path, b"x"),
        lambda: repo.read_bytes(path),
        lambda: repo.append_bytes(path, b"x"),
        lambda: repo.list_artifacts(path),
        lambda: repo.download_artifacts(path, dst_path=str(tmp_path / "dl")),
        lambda: repo.log_artifact(local, artifact_path=path),
        lambda: repo.log_artifacts(tmp_path, artifact_path=path),
        lambda: repo.exists(path),
    ]
    for call in calls:
        with pytest.raises(UnsafePathError):
            call()
    assert not (tmp_path / "exp" / "run" / "escape.txt").exists()
    assert not (tmp_path / "exp" / "run" / "x").exists()


def test_symlink_escape_is_rejected(
    repo: LocalArtifactRepository, artifact_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    artifact_root.mkdir(parents=True)
    os.symlink(outside, artifact_root / "link")
    os.symlink(outside / "secret.txt", artifact_root / "secret-link.txt")
    with pytest.raises(UnsafePathError):
        repo.read_bytes("link/secret.txt")
    with pytest.raises(UnsafePathError):
        repo.read_bytes("secret-link.txt")
    with pytest.raises(UnsafePathError):
        repo.write_bytes("link/planted.txt", b"x")
    with pytest.raises(UnsafePathError):
        repo.download_artifacts("link", dst_path=str(tmp_path / "dl"))
    assert not (outside / "planted.txt").exists()
    # Listing and whole-tree downloads skip links that lead outside.
    repo.write_bytes("ok.txt", b"ok")
    assert [f.path for f in repo.list_artifacts()] == ["ok.txt"]
    whole = Path(repo.download_artifacts("", dst_path=str(tmp_path / "all")))
    assert sorted(p.name for p in whole.iterdir()) == ["ok.txt"]


def test_symlink_inside_the_root_is_fine(
    repo: LocalArtifactRepository, artifact_root: Path
) -> None:
    repo.write_bytes("real/f.txt", b"inside")
    os.symlink(artifact_root / "real", artifact_root / "alias")
    assert repo.read_bytes("alias/f.txt") == b"inside"


@pytest.mark.parametrize(
    "uri",
    ["runs:/abc/../../etc/passwd", "runs:/abc//etc/passwd", "runs:/abc/..", "runs:/abc/a\x00"],
)
def test_runs_uri_traversal_is_rejected(uri: str) -> None:
    with pytest.raises(UnsafePathError):
        parse_runs_uri(uri)


def test_runs_uri_parsing() -> None:
    assert parse_runs_uri("runs:/abc123/dir/file.txt") == ("abc123", "dir/file.txt")
    assert parse_runs_uri("runs:/abc123") == ("abc123", "")
    assert parse_runs_uri("runs:/abc123/") == ("abc123", "")


@pytest.mark.parametrize(
    "path",
    [
        *UNSAFE,
        "a/../b",  # stays inside, but a network path has no business climbing
        "%2e%2e/x",
        "%252e%252e/x",
        "%25252e%25252e%25252fx",
        "..%2fx",
        "a%5cb",
        "a#b",
        "a%23b",
        "a%3fb",
        "a\nb",
        "%c0%ae%c0%ae/x",
        "\ufffd",
        "%2fetc",
    ],
)
def test_untrusted_paths_are_refused(path: str) -> None:
    with pytest.raises(UnsafePathError):
        normalize_untrusted_path(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [(None, ""), ("", ""), ("a/b", "a/b"), ("a%20b/c", "a b/c"), ("50%.txt", "50%.txt")],
)
def test_untrusted_paths_that_are_fine(path: str | None, expected: str) -> None:
    assert normalize_untrusted_path(path) == expected
