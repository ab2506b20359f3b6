"""Kokoro sessions that memory-map their weights and pre-packed copies (EngineConfig.map_weights, default):
the same audio as sessions holding them on the heap, far less private memory per session, and a damaged
file rebuilt, never loaded."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from greentts.models.assets import kokoro_graph_paths, sha256_file
from greentts.text.frontend import Frontend

pytestmark = pytest.mark.model


# Each kind of session is measured in a fresh process: in a long one (the whole suite), memory freed by
# earlier tests is reused without growing the process, and CI once measured 0.3 MB vs 0.0 MB.
_MEASURE = """
import json, sys
import numpy as np
from greentts.models.kokoro import KokoroBackend
from greentts.voices.store import VoiceStore

cache_dir, mapped, ids, out = sys.argv[1], sys.argv[2] == "mapped", json.loads(sys.argv[3]), sys.argv[4]
def private_mb():  # anonymous (private, not file-backed) memory of this process
    with open("/proc/self/smaps_rollup", encoding="ascii") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("Anonymous:"))
voice = VoiceStore().get("af_heart")
backend = KokoroBackend(cache_dir, "windowed", mapped=mapped)
backend.load()
before = private_mb()
audio = backend.new_session(1).synthesize(ids, voice, 1.0)
grown = private_mb() - before
lanes = [audio, backend.new_session(2).synthesize(ids, voice, 1.0)]  # the fast lane's too
np.save(out, np.stack(lanes))
print(json.dumps({"grown_mb": grown}))
"""


def _measure(cache_dir: Path, kind: str, ids: list[int], tmp_path: Path) -> tuple[float, np.ndarray]:
    out = tmp_path / f"{kind}.npy"
    res = subprocess.run([sys.executable, "-c", _MEASURE, str(cache_dir), kind, json.dumps(ids), str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])["grown_mb"], np.load(out)


@pytest.fixture(scope="module")
def case():
    return list(Frontend().phonemize("The committee will publish its findings on the fourth of June.")[0].ids)


def test_mapped_sessions_speak_bit_for_bit_like_heap_sessions_in_less_private_memory(cache_dir, case, tmp_path):
    kokoro_graph_paths(cache_dir, "windowed")  # build the files once, outside the measures
    grown, audio = {}, {}
    for kind in ("mapped", "heap"):
        grown[kind], audio[kind] = _measure(cache_dir, kind, case, tmp_path)
    assert np.array_equal(audio["mapped"], audio["heap"])  # both lanes, both kinds: the same samples
    assert np.array_equal(audio["mapped"][0], audio["mapped"][1])
    # a heap session holds the weights and onnxruntime's pre-packed copies itself (~140 MB measured); a
    # mapped one shares them from the page cache (~50 MB of its own: graph, kernels, arena)
    print(f"private memory a session adds, MB: {grown}")
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
