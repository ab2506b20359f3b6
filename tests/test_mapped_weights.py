"""Kokoro sessions that memory-map their weights and pre-packed copies (EngineConfig.map_weights, default):
the same audio as sessions holding them on the heap, far less private memory per session, and a damaged
file rebuilt, never loaded."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from greentts.models.assets import kokoro_graph_paths, sha256_file
from greentts.models.kokoro import KokoroBackend
from greentts.text.frontend import Frontend
from greentts.voices.store import VoiceStore

pytestmark = pytest.mark.model


def _private_mb() -> float:
    """Anonymous (private, not file-backed) memory of this process."""
    with open("/proc/self/smaps_rollup", encoding="ascii") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("Anonymous:"))


@pytest.fixture(scope="module")
def case():
    ids = Frontend().phonemize("The committee will publish its findings on the fourth of June.")[0].ids
    return ids, VoiceStore().get("af_heart")


def test_mapped_sessions_speak_bit_for_bit_like_heap_sessions_in_less_private_memory(cache_dir, case):
    ids, voice = case
    mapped, heap = KokoroBackend(cache_dir, "windowed", mapped=True), KokoroBackend(cache_dir, "windowed", mapped=False)
    mapped.load(), heap.load()
    grown = {}
    audio = {}
    for name, backend in (("mapped", mapped), ("heap", heap)):
        before = _private_mb()
        session = backend.new_session(1)
        audio[name] = session.synthesize(ids, voice, 1.0)
        grown[name] = _private_mb() - before
        del session
    assert np.array_equal(audio["mapped"], audio["heap"])
    assert np.array_equal(mapped.new_session(2).synthesize(ids, voice, 1.0), audio["heap"])  # the fast lane's
    # a heap session holds the weights and onnxruntime's pre-packed copies itself (~140 MB measured); a
    # mapped one shares them from the page cache (~50 MB of its own: graph, kernels, arena)
    assert grown["mapped"] < 0.6 * grown["heap"], grown


def test_a_damaged_mapped_file_is_rebuilt_not_loaded(cache_dir, tmp_path):
    front, decoder = kokoro_graph_paths(cache_dir, "windowed")
    stamp = json.loads((decoder.parent / "stamp.json").read_text())
    assert set(stamp["files"]) == {"front.onnx", "front.bin", "decoder.onnx", "decoder.bin"}
    assert stamp["key"]["graph"] == "windowed" and len(stamp["key"]["cpu"]) == 16
    # damage a copy: the session engine maps these very files, and a mapped page changed in place would
    # change its audio (greentts itself only ever replaces files by renaming)
    for path in Path(cache_dir).iterdir():
        if path.is_file():
            shutil.copy2(path, tmp_path / path.name)
    shutil.copytree(decoder.parent, tmp_path / decoder.parent.name)
    data = tmp_path / decoder.parent.name / "decoder.bin"
    with open(data, "r+b") as f:
        f.seek(4096)
        f.write(b"\xff" * 64)
    again = kokoro_graph_paths(tmp_path, "windowed")
    assert again[1] == data.with_suffix(".onnx") and sha256_file(data) == stamp["files"]["decoder.bin"]
