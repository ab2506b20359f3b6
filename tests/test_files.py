"""runtime/files.py: the one atomic-write helper, and a check that nothing else writes files its own way."""

import os
import re
from pathlib import Path

import pytest

from greentts.runtime.files import AtomicFile, write_atomic

SRC = Path(__file__).resolve().parents[1] / "src" / "greentts"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_atomic_takes_bytes_text_or_a_writer(tmp_path):
    write_atomic(tmp_path / "a.bin", b"\x00\x01")
    write_atomic(tmp_path / "sub" / "b.txt", "héllo")  # the folder is created
    write_atomic(tmp_path / "c.bin", lambda f: f.write(b"xyz"))
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "héllo"
    assert (tmp_path / "c.bin").read_bytes() == b"xyz"
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert _leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "keep.json"
    write_atomic(path, "old")

    def broken(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, broken)
    with pytest.raises(RuntimeError):
        write_atomic(path, "new", before_rename=lambda: (_ for _ in ()).throw(RuntimeError("manifest")))
    assert path.read_text() == "old" and _leftovers(tmp_path) == []


def test_before_rename_runs_after_the_data_is_complete_and_before_the_file_appears(tmp_path):
    path = tmp_path / "out.wav"
    seen = []
    write_atomic(path, b"data", before_rename=lambda: seen.append(path.exists()))
    assert seen == [False] and path.read_bytes() == b"data"


def test_atomic_file_streams_and_discards_unless_committed(tmp_path):
    path = tmp_path / "long.txt"
    with AtomicFile(path) as af:
        with af.open("w", encoding="utf-8") as f:
            f.write("part one")
    assert not path.exists() and _leftovers(tmp_path) == []  # no commit: nothing appears
    with AtomicFile(path) as af:
        with af.open("w", encoding="utf-8") as f:
            f.write("whole")
        af.sync()
        assert af.commit() == path
    assert path.read_text() == "whole" and _leftovers(tmp_path) == []


def test_atomic_folder_replaces_the_old_one_whole(tmp_path):
    dest = tmp_path / "model"
    dest.mkdir()
    (dest / "stale.bin").write_bytes(b"old")
    with AtomicFile(dest, directory=True) as af:
        (af.tmp / "model.bin").write_bytes(b"new")
        af.commit()
    assert sorted(p.name for p in dest.iterdir()) == ["model.bin"] and _leftovers(tmp_path) == []
    with pytest.raises(ValueError), AtomicFile(dest, directory=True) as af:
        (af.tmp / "x").write_bytes(b"")
        raise ValueError("interrupted")
    assert sorted(p.name for p in dest.iterdir()) == ["model.bin"] and _leftovers(tmp_path) == []


def test_only_the_helper_creates_temporary_files_and_renames_them():
    pattern = re.compile(r"\b(mkstemp|os\.replace|os\.rename)\b")
    users = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8")))
    assert users == ["runtime/files.py"]
