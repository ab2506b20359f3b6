"""The windowed Kokoro graph renders only the speech (greentts.models.windowing): same timing, same
sound as the whole graph within a measured margin, the whole graph's audio bit for bit when nothing is cut."""

import json
import statistics

import numpy as np
import pytest

from greentts.models.assets import kokoro_window_paths, sha256_file
from greentts.models.kokoro import SILENT_IDS, KokoroBackend
from greentts.models.windowing import FRONT_OUTPUTS, SAMPLES_PER_FRAME, Window, decoder_feed, plan_window
from greentts.text.frontend import Frontend
from greentts.voices.store import VoiceStore

CASES = [("The quick brown fox jumps over the lazy dog.", "af_heart"), ("今天天气很好，我们一起去公园散步吧。", "zf_xiaoxiao"),
         ("Yes.", "am_michael"), ("Welcome back, everyone!", "bf_emma"), ("好的。", "zm_yunxi"),
         ("Call me at five", "af_heart")]


def test_plan_window_cuts_only_the_boundary_padding():
    d = np.array([18, 2, 3, 4, 12, 7, 1])  # pad, 4 phonemes, a full stop, pad
    w = plan_window(d, trailing_silent=2, lead=8, trail=8)
    assert (w.start, w.end) == (10, 47) and w.lead_ref == (1, 4) and w.trail_ref == (0, 0)  # end: < 8 to cut
    w = plan_window(np.array([18, 5, 20, 30, 1]), trailing_silent=2, lead=8, trail=6)
    assert (w.start, w.end) == (10, 49) and w.trail_ref == (1, 3)
    assert plan_window(np.array([2, 5, 1]), trailing_silent=1, lead=8, trail=6) == Window(0, 8)


@pytest.fixture(scope="module")
def sessions(cache_dir):
    windowed = KokoroBackend(cache_dir, "windowed").new_session(1)
    whole = KokoroBackend(cache_dir, "im2col").new_session(1)
    frontend, voices = Frontend(), VoiceStore()
    cases = []
    for text, name in CASES:
        ids = frontend.phonemize(text, first_max_ids=510)[0].ids
        cases.append((text, ids, voices.get(name)))
    return windowed, whole, cases


def _front(session, ids, voice):
    feed = {"tokens": np.array([[0, *ids, 0]], np.int64), "style": voice.style(len(ids)),
            "speed": np.array([1.0], np.float32)}
    return session._front.run(list(FRONT_OUTPUTS), feed), feed["style"]


@pytest.mark.model
def test_whole_window_is_the_im2col_graph_bit_for_bit(sessions):
    windowed, whole, cases = sessions
    for _, ids, voice in cases[:3]:
        front, style = _front(windowed, ids, voice)
        frames = front[1].shape[2]
        audio = windowed._decoder.run(["audio"], decoder_feed(front, Window(0, frames), style,
                                                              np.zeros_like(windowed._zeros)))[0]
        assert np.array_equal(audio.reshape(-1), whole.synthesize(ids, voice, 1.0))


@pytest.mark.model
def test_windowed_audio_keeps_timing_and_sound(sessions):
    from greentts.quality.spectral import mel_distance_db

    windowed, whole, cases = sessions
    distances, saved = [], []
    for text, ids, voice in cases:
        a, d = windowed.synthesize_timed(ids, voice, 1.0)
        b, e = whole.synthesize_timed(ids, voice, 1.0)
        assert a.shape == b.shape and np.array_equal(d, e), text  # same length, same frames per token
        w = plan_window(d, 2 if ids[-1] in SILENT_IDS else 1)
        assert w.start > 0 and not a[: w.start * SAMPLES_PER_FRAME].any(), text  # the leading pad: not rendered
        speech = slice(int(d[0]) * SAMPLES_PER_FRAME, int(d[:-1].sum()) * SAMPLES_PER_FRAME)
        distances.append(mel_distance_db(b[speech], a[speech], 24000))
        assert 0.8 < np.sqrt(np.mean(a[speech] ** 2)) / np.sqrt(np.mean(b[speech] ** 2)) < 1.25, text
        saved.append(1 - (w.end - w.start) / d.sum())
    # measured 0.8-2.6 dB; the whole int8 graph is ~3.5 dB from the fp32 torch rebuild (bench/window_quality.py)
    assert max(distances) < 3.5 and statistics.median(distances) < 2.0, distances
    assert statistics.median(saved) > 0.15, saved  # these short sentences: a fifth of the frames or more


@pytest.mark.model
def test_restoring_the_cut_frames_statistics_brings_the_window_closer(sessions):
    """The instance norms see the cut frames (``virtual``); without that the window sounds further off."""
    from greentts.quality.spectral import mel_distance_db

    windowed, whole, cases = sessions
    gains = []
    for _, ids, voice in cases:
        front, style = _front(windowed, ids, voice)
        d = front[0].reshape(-1).astype(np.int64)
        w = plan_window(d, 2 if ids[-1] in SILENT_IDS else 1)
        reference = whole.synthesize(ids, voice, 1.0)[w.start * SAMPLES_PER_FRAME:w.end * SAMPLES_PER_FRAME]
        feed = decoder_feed(front, w, style, np.zeros_like(windowed._zeros))
        restored = windowed._decoder.run(["audio"], feed)[0].reshape(-1)
        plain = windowed._decoder.run(["audio"], {**feed, "virtual": np.zeros_like(feed["virtual"])})[0].reshape(-1)
        gains.append(mel_distance_db(reference, plain, 24000) - mel_distance_db(reference, restored, 24000))
    assert statistics.median(gains) > 0.1, gains


@pytest.mark.model
def test_tampered_split_graph_is_rebuilt(cache_dir):
    front, decoder = kokoro_window_paths(cache_dir)
    meta = json.loads(front.with_name(front.name.replace(".front.onnx", ".json")).read_text())
    assert meta["norms"] == 108 and meta["decoder"] == sha256_file(decoder)
    with open(decoder, "r+b") as f:
        f.seek(1_000_000)
        f.write(b"\xff" * 32)
    _, rebuilt = kokoro_window_paths(cache_dir)
    assert sha256_file(rebuilt) == meta["decoder"]


@pytest.mark.model
def test_the_windowed_decoder_computes_bounds_once_per_resolution(cache_dir):
    """What depends only on a layer's resolution (1, 2, 20 and 120 x the frames, +1 sample at the last)
    is computed once per resolution, each mean adds 11 nodes: with all of it per mean the decoder had
    ~3,500 more nodes and took ~15x longer to open, for bit-identical audio (docs/benchmarks.md)."""
    import onnx

    _, decoder = kokoro_window_paths(cache_dir)
    nodes = onnx.load(str(decoder), load_external_data=False).graph.node
    lengths = {n.name[len("__r"):-len("_t")] for n in nodes if n.name.startswith("__r") and n.name.endswith("_t")}
    assert lengths == {"1_0", "2_0", "20_0", "120_1"}, lengths
    assert sum(n.op_type == "Where" and n.name.startswith("__vm") for n in nodes) == 108
    assert sum(n.name.startswith("__vm") for n in nodes) == 11 * 108
