"""Voices: stock lookup and weighted blends (``af_heart:0.6,am_michael:0.4``)."""

import numpy as np
import pytest
from scipy.signal import welch

from greentts import VoiceError
from greentts.quality.asr import char_error_rate, word_error_rate
from greentts.text.normalize import normalize_en, normalize_zh
from greentts.voices.store import VoiceStore, parse_blend


def test_blend_is_the_normalized_weighted_mean():
    store = VoiceStore()
    v = store.get("af_heart:3, am_michael:1")
    assert v.name == "af_heart:0.75,am_michael:0.25"
    expected = 0.75 * store.get("af_heart").table + 0.25 * store.get("am_michael").table
    assert np.allclose(v.table, expected, atol=1e-6) and v.table.dtype == np.float32
    assert v.language == "en-us" and v.gender == "mixed" and v.backends == ("kokoro",)
    assert store.get("af_heart:0.75,am_michael:0.25") is v  # cached under its canonical name
    equal = store.get("zf_xiaoxiao,zm_yunxi")
    assert equal.name == "zf_xiaoxiao:0.5,zm_yunxi:0.5" and equal.lang == "zh"
    assert store.get("bf_emma:0.2,af_heart:0.8").british is False  # the heaviest part decides
    assert store.get("bf_emma:0.8,af_heart:0.2").british is True


@pytest.mark.parametrize("spec, message", [
    ("af_heart:x,af_bella", "is not a number"),
    ("af_heart:0,af_bella", "must be a positive number"),
    ("af_heart:-1,af_bella", "must be a positive number"),
    ("af_heart:nan,af_bella", "must be a positive number"),
    ("af_heart,,af_bella", "empty part"),
    ("af_heart,af_heart:2", "names a voice twice"),
    ("af_heart:0.5,af_hart:0.5", "did you mean af_heart"),
    (",".join(f"v{i}" for i in range(9)), "at most 8"),
])
def test_bad_blends_are_clear_errors(spec, message):
    with pytest.raises(VoiceError, match=message):
        VoiceStore().get(spec)


def test_parse_blend():
    assert parse_blend("a:1,b:3") == [("a", 0.25), ("b", 0.75)]


def _ltas(audio, sr):
    """Long-term average log spectrum (dB), a coarse timbre fingerprint."""
    _, p = welch(audio, sr, nperseg=1024)
    return 10 * np.log10(p[:400] + 1e-12)


@pytest.mark.model
def test_a_blend_speaks_clearly_and_sits_between_its_voices(engine, asr):
    text = "Please remember to turn off the lights when you leave the office tonight."
    a, b = engine.synthesize(text, voice="af_heart"), engine.synthesize(text, voice="am_michael")
    mix = engine.synthesize(text, voice="af_heart:0.5,am_michael:0.5")
    assert mix.voice == "af_heart:0.5,am_michael:0.5"
    assert word_error_rate(text, normalize_en(asr.transcribe(mix.audio, mix.sample_rate, "en"))) <= 0.1
    la, lb, lm = (_ltas(r.audio, r.sample_rate) for r in (a, b, mix))
    apart = np.linalg.norm(la - lb)
    assert np.linalg.norm(lm - la) < apart and np.linalg.norm(lm - lb) < apart
    zh = engine.synthesize("今天天气很好，我们一起去公园散步吧。", voice="zf_xiaoxiao:0.7,zm_yunxi:0.3")
    assert char_error_rate("今天天气很好，我们一起去公园散步吧。",
                           normalize_zh(asr.transcribe(zh.audio, zh.sample_rate, "zh"))) <= 0.15
    with pytest.raises(VoiceError, match="not available in the eco tier"):
        engine.synthesize("Hello.", voice="af_heart:0.5,am_michael:0.5", tier="eco")


def test_enrolled_voices_live_on_disk(tmp_path):
    store = VoiceStore(tmp_path / "voices")
    base = store.get("af_heart").table
    v = store.save("my-voice", base * 0.9, {"language": "en-gb", "clip_sha256": "abc", "steps": 30})
    assert v.name == "my-voice" and v.british and v.backends == ("kokoro",)
    fresh = VoiceStore(tmp_path / "voices")  # another process sees it
    assert np.allclose(fresh.get("my-voice").table, base * 0.9)
    assert fresh.find_clip("abc", steps=30)["name"] == "my-voice"
    assert fresh.find_clip("abc", steps=10) is None and fresh.find_clip("zzz") is None
    assert [x["name"] for x in fresh.list() if x["enrolled"]] == ["my-voice"]
    assert fresh.get("my-voice:0.5,af_heart:0.5").name == "my-voice:0.5,af_heart:0.5"
    assert not list((tmp_path / "voices").glob(".*tmp"))  # atomic writes leave nothing behind
    with pytest.raises(VoiceError, match="exists"):
        fresh.save("my-voice", base, {})
    fresh.save("my-voice", base, {}, overwrite=True)
    assert np.allclose(fresh.get("my-voice").table, base)
    with pytest.raises(VoiceError, match="did you mean my-voice"):
        fresh.get("my-voise")
    fresh.delete("my-voice")
    with pytest.raises(VoiceError, match="unknown voice"):
        fresh.get("my-voice")


@pytest.mark.parametrize("name, table, message", [
    ("af_heart", np.zeros((510, 256)), "stock voice"),
    ("Bad Name", np.zeros((510, 256)), "not allowed"),
    ("../escape", np.zeros((510, 256)), "not allowed"),
    ("ok", np.zeros((10, 256)), "510x256"),
    ("ok", np.full((510, 256), np.nan), "finite"),
])
def test_bad_enrollments_are_refused(tmp_path, name, table, message):
    with pytest.raises(VoiceError, match=message):
        VoiceStore(tmp_path).save(name, table, {})


def test_a_corrupt_enrolled_file_is_a_clear_error(tmp_path):
    store = VoiceStore(tmp_path)
    store.save("v1", VoiceStore().get("af_heart").table, {})
    (tmp_path / "v1.npz").write_bytes(b"garbage")
    with pytest.raises(VoiceError, match="cannot be read"):
        VoiceStore(tmp_path).get("v1")
    with pytest.raises(VoiceError, match="stock voice and cannot be deleted"):
        store.delete("af_heart")


def test_enrolled_adain_offsets_round_trip_and_blend(tmp_path):
    from greentts.voice import ADAIN_DIM

    store = VoiceStore(tmp_path)
    table = store.get("af_heart").table
    offsets = np.linspace(-0.5, 0.5, ADAIN_DIM, dtype=np.float32)
    store.save("rich", table, {}, adain=offsets)
    fresh = VoiceStore(tmp_path)
    v = fresh.get("rich")
    assert v.adain is not None and np.allclose(v.adain, offsets, atol=1e-3)  # stored as float16
    assert fresh.get("af_heart").adain is None  # stock voices: zeros
    half = fresh.get("rich:0.5,af_heart:0.5")  # a stock part contributes zeros
    assert np.allclose(half.adain, 0.5 * v.adain, atol=1e-6)
    assert fresh.get("af_heart:0.5,am_michael:0.5").adain is None
    from greentts.voices.prosody import apply_preset

    assert np.array_equal(apply_preset(v, "calm").adain, v.adain)  # presets change prosody, keep timbre
    with pytest.raises(VoiceError, match="AdaIN offsets must be"):
        store.save("bad", table, {}, adain=np.zeros(10))
    with pytest.raises(VoiceError, match="AdaIN offsets must be"):
        store.save("bad", table, {}, adain=np.full(ADAIN_DIM, np.inf))
    assert not (tmp_path / "bad.json").exists()


def test_store_and_graph_agree_on_the_adain_width():
    from greentts.models.optimize import ADAIN_DIM as GRAPH
    from greentts.voice import ADAIN_DIM as STORE

    assert GRAPH == STORE
