"""The im2col rewrite of Kokoro's graph is lossless: same audio, bit for bit, from both graphs."""

import json

import numpy as np
import pytest

from greentts.models.assets import kokoro_fast_model_path, kokoro_model_path, sha256_file
from greentts.models.base import ort_session
from greentts.models.optimize import ADAIN_DIM
from greentts.text.frontend import Frontend
from greentts.voices.store import VoiceStore

pytestmark = pytest.mark.model


def test_rewritten_graph_gives_identical_audio(cache_dir):
    original = ort_session(str(kokoro_model_path(cache_dir)), 1)
    fast = ort_session(str(kokoro_fast_model_path(cache_dir)), 1)
    frontend, voices = Frontend(), VoiceStore()
    cases = [("The quick brown fox jumps over the lazy dog.", "af_heart"),
             ("今天天气很好，我们一起去公园散步吧。", "zf_xiaoxiao"), ("Short.", "bm_george")]
    for text, name in cases:
        ids = frontend.phonemize(text, first_max_ids=510)[0].ids
        feed = {"tokens": np.array([[0, *ids, 0]], np.int64), "style": voices.get(name).style(len(ids)),
                "speed": np.array([1.0], np.float32)}
        a = original.run(None, feed)[0]
        b = fast.run(None, {**feed, "adain": np.zeros(ADAIN_DIM, np.float32)})[0]  # stock voices: zeros
        assert a.shape == b.shape and np.array_equal(a, b)


def test_adain_offsets_change_the_voice_not_the_length(cache_dir):
    fast = ort_session(str(kokoro_fast_model_path(cache_dir)), 1)
    assert {i.name: i.shape for i in fast.get_inputs()}["adain"] == [ADAIN_DIM]
    ids = Frontend().phonemize("The quick brown fox jumps over the lazy dog.", first_max_ids=510)[0].ids
    feed = {"tokens": np.array([[0, *ids, 0]], np.int64), "style": VoiceStore().get("am_michael").style(len(ids)),
            "speed": np.array([1.0], np.float32)}
    rng = np.random.default_rng(0)
    a = fast.run(None, {**feed, "adain": np.zeros(ADAIN_DIM, np.float32)})[0]
    b = fast.run(None, {**feed, "adain": rng.normal(0, 0.05, ADAIN_DIM).astype(np.float32)})[0]
    assert a.shape == b.shape  # the decoder's offsets never touch durations
    assert not np.allclose(a, b, atol=1e-3) and np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.999


def test_tampered_fast_graph_is_rebuilt(cache_dir):
    path = kokoro_fast_model_path(cache_dir)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["convs"] >= 80 and meta["sha256"] == sha256_file(path)
    with open(path, "r+b") as f:
        f.seek(2_000_000)
        f.write(b"\xff" * 32)
    rebuilt = kokoro_fast_model_path(cache_dir)
    assert sha256_file(rebuilt) == meta["sha256"]
