"""The G2P dictionaries as on-disk tables (greentts.text.compact): same phonemes, safe files, less memory.

No model weights: the frontend only."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from pathlib import Path

import pytest

from greentts.text.compact import Table, table_file
from greentts.text.frontend import Frontend

ROOT = Path(__file__).resolve().parents[1]


def _written(path: Path, column: int) -> list[str]:
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    return [r[column] for r in rows if len(r) > column and not r[0].startswith("#")]


def _corpus(lang: str) -> list[str]:
    plain = (ROOT / "bench" / f"corpus_{lang}.txt").read_text(encoding="utf-8").splitlines()
    return [*_written(ROOT / "bench" / "corpus" / f"hard_{lang}.tsv", 1),
            *_written(ROOT / "tests" / "data" / f"normalize_{lang}.tsv", 1), *filter(None, plain)]


def _plan_ids(frontend: Frontend, text: str, **kwargs: object) -> list[tuple[int, ...]]:
    return [tuple(seg.ids) for seg in frontend.phonemize(text, first_max_ids=510, **kwargs)]


@pytest.fixture(scope="module")
def frontends(tmp_path_factory: pytest.TempPathFactory) -> tuple[Frontend, Frontend]:
    return Frontend(compact=False), Frontend(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("lang", ["en", "zh", "mixed", "british"])
def test_the_tables_give_the_same_phoneme_ids_as_the_libraries_own_dicts(
        frontends: tuple[Frontend, Frontend], lang: str) -> None:
    stock, compact = frontends
    if lang == "mixed":
        texts, kwargs = _written(ROOT / "bench" / "corpus" / "mixed.tsv", 1), {}
    else:
        texts = _corpus("en" if lang == "british" else lang)
        kwargs = {"lang": "en", "british": True} if lang == "british" else {"lang": lang}
    assert len(texts) > 50
    differ = [t for t in texts if _plan_ids(stock, t, **kwargs) != _plan_ids(compact, t, **kwargs)]
    assert differ == []


def test_the_compact_g2p_has_what_hibari_builds(frontends: tuple[Frontend, Frontend]) -> None:
    stock, compact = frontends
    for british in (False, True):
        real, ours = stock.en._get(british), compact.en._get(british)
        assert type(ours) is type(real) and set(vars(ours)) == set(vars(real))
        for part in ("lexicon", "tagger", "tokenizer"):
            assert set(vars(getattr(ours, part))) == set(vars(getattr(real, part))), part
        assert isinstance(ours.lexicon.golds.d, Table) and isinstance(ours.tagger.weights, Table)
        assert ours.tagger.tagdict == real.tagger.tagdict and ours.tagger.tags == real.tagger.tags
    assert isinstance(compact.zh._segmenter().FREQ, Table)
    assert compact.zh._segmenter().total == stock.zh._segmenter().total


def _build_counting(folder: Path, data: dict, calls: Path) -> Path:
    def build() -> dict:
        with open(calls, "a", encoding="utf-8") as f:
            f.write("built\n")
        return data
    return table_file(folder, "t", [calls.with_name("source.txt")], build)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.txt"
    path.write_text("v1", encoding="utf-8")
    return path


def test_a_table_is_a_read_only_mapping(tmp_path: Path, source: Path) -> None:
    data = {"a": "x", "b": {"NN": 1.5}, "c": 0, "ü": ["中", 2]}
    path = _build_counting(tmp_path / "tables", {"words": data}, tmp_path / "calls")
    table = Table(path, "words")
    assert dict(table.items()) == data and len(table) == 4 and sorted(table) == sorted(data)
    assert table["b"] == {"NN": 1.5} and table.get("c") == 0 and "c" in table  # a falsy value is present
    assert table.get("missing") is None and table.get("missing", 7) == 7 and "missing" not in table
    assert table.get(3) is None and 3 not in table  # keys are strings
    with pytest.raises(KeyError):
        table["missing"]


def test_a_table_file_is_built_once_and_again_when_damaged_or_its_source_changes(tmp_path: Path,
                                                                                  source: Path) -> None:
    folder, calls = tmp_path / "tables", tmp_path / "calls"
    first = _build_counting(folder, {"w": {"k": "v1"}}, calls)
    assert _build_counting(folder, {"w": {"k": "v1"}}, calls) == first
    assert calls.read_text().count("built") == 1
    data = bytearray(first.read_bytes())  # damage a page of the file: its stamp no longer matches
    data[-100] ^= 0xFF
    first.write_bytes(bytes(data))
    assert Table(_build_counting(folder, {"w": {"k": "v1"}}, calls), "w")["k"] == "v1"
    assert calls.read_text().count("built") == 2
    source.write_text("v2", encoding="utf-8")  # another source: another file
    second = _build_counting(folder, {"w": {"k": "v2"}}, calls)
    assert second != first and Table(second, "w")["k"] == "v2" and Table(first, "w")["k"] == "v1"
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_build_leaves_no_file_behind(tmp_path: Path, source: Path) -> None:
    def build() -> dict:
        raise RuntimeError("the source cannot be read")
    with pytest.raises(RuntimeError):
        table_file(tmp_path / "tables", "t", [source], build)
    assert not [p for p in (tmp_path / "tables").iterdir() if p.suffix in (".sqlite", ".json", ".tmp")]


def _race(folder: str, calls: str) -> str:
    return str(_build_counting(Path(folder), {"w": {str(i): i for i in range(20000)}}, Path(calls)))


def test_processes_building_at_once_build_once(tmp_path: Path, source: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        paths = pool.starmap(_race, [(str(tmp_path / "tables"), str(tmp_path / "calls"))] * 3)
    assert len(set(paths)) == 1 and (tmp_path / "calls").read_text().count("built") == 1
    assert len(Table(Path(paths[0]), "w")) == 20000


def test_an_unusable_cache_folder_falls_back_to_the_libraries_dicts(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="greentts.text"):
        ids = _plan_ids(Frontend(cache_dir=blocker), "Hello there. 你好。")
    assert ids == _plan_ids(Frontend(compact=False), "Hello there. 你好。")
    assert caplog.text.count("loaded into memory") == 2  # English and Mandarin


def test_stamp_holds_the_files_sha256(tmp_path: Path, source: Path) -> None:
    path = _build_counting(tmp_path / "tables", {"w": {"k": 1}}, tmp_path / "calls")
    meta = json.loads(path.with_suffix(".json").read_text())
    from greentts.runtime.files import sha256_file
    assert meta["sha256"] == sha256_file(path) and meta["key"]["label"] == "t"


def _lookup_in_child(table: Table, key: str, out: "multiprocessing.Queue[object]") -> None:
    out.put(table.get(key))


def test_a_forked_child_reads_a_table_on_a_connection_of_its_own(tmp_path: Path, source: Path) -> None:
    path = _build_counting(tmp_path / "tables", {"w": {"a": 1, "b": 2}}, tmp_path / "calls")
    table = Table(path, "w", cache=1)
    assert table["a"] == 1 and table._pid == os.getpid()
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_lookup_in_child, args=(table, "b", out))
    child.start()
    child.join(30)
    assert child.exitcode == 0 and out.get(timeout=5) == 2
    assert table["b"] == 2 and table._pid == os.getpid()  # the parent's connection is untouched


def test_built_tables_are_read_without_taking_the_lock(tmp_path: Path, source: Path) -> None:
    """A cache that cannot be written (a read-only image with the tables built) still serves them."""
    path = _build_counting(tmp_path / "tables", {"w": {"k": 1}}, tmp_path / "calls")
    lock = path.with_suffix(".lock")
    lock.unlink()
    lock.mkdir()  # opening the lock file now fails, as on a read-only file system
    assert Table(_build_counting(tmp_path / "tables", {"w": {"k": 1}}, tmp_path / "calls"), "w")["k"] == 1
    assert (tmp_path / "calls").read_text().count("built") == 1
    path.with_suffix(".json").unlink()  # unverified now: building needs the lock, and the error says so
    with pytest.raises(OSError):
        _build_counting(tmp_path / "tables", {"w": {"k": 1}}, tmp_path / "calls")


def test_a_warm_frontend_holds_far_less_than_the_dicts_did() -> None:
    """Fresh process, the tables already built: importing the frontend and warming it up (English and
    Mandarin G2P) adds ~115 MB with the tables (~55 of it pypinyin's) against ~206 MB with the libraries'
    dicts (measured 2026-12-08)."""
    import subprocess
    import sys

    Frontend().warm_up()  # build the tables in the default cache if this machine has none yet
    code = ("import numpy, onnxruntime\n"
            "rss = lambda: next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS'))\n"
            "base = rss()\nfrom greentts.text.frontend import Frontend\nFrontend().warm_up()\n"
            "print((rss() - base) / 1024)\n")
    added_mb = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.split()[-1])
    assert added_mb < 160, added_mb
