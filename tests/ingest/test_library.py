"""The library's doors for paths and names: nothing outside a root, nothing the file system chokes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import PathRefusedError
from ingest.library import resolve_library_path, safe_filename


def test_a_file_inside_a_root_resolves(tmp_path: Path) -> None:
    (tmp_path / "talk.mp3").write_bytes(b"x")
    assert resolve_library_path("talk.mp3", [tmp_path]) == (tmp_path / "talk.mp3").resolve()
    assert resolve_library_path(str(tmp_path / "talk.mp3"), [tmp_path]) == (tmp_path / "talk.mp3").resolve()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("../x.mp3", "outside the library roots"),
        ("/etc/passwd", "outside the library roots"),
        ("missing.mp3", "no such file"),
        ("a\0b", "invalid path"),
        ("n" * 600 + ".mp4", "too long"),  # the file system refuses the name: a clear refusal, not a crash
        ("d/" * 3000 + "x.mp4", "too long|no such file"),
    ],
)
def test_refused_paths_say_why(tmp_path: Path, raw: str, message: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(PathRefusedError, match=message):
        resolve_library_path(raw, [root])


def test_no_roots_means_path_ingest_is_off(tmp_path: Path) -> None:
    with pytest.raises(PathRefusedError, match="MOMENTS_LIBRARY_ROOTS"):
        resolve_library_path(str(tmp_path), [])


def test_safe_filename() -> None:
    assert safe_filename("../../etc/pass wd.mp4") == "pass wd.mp4"
    assert safe_filename("a<b>|c.wav") == "a_b_c.wav"
    assert safe_filename(None) == "upload"
    assert len(safe_filename("x" * 500 + ".mp3")) == 120
