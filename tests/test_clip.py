"""Reference-clip preparation for enrollment: every bad clip gets a clear error; good ones are normalized."""

import numpy as np
import pytest
import soundfile as sf

from greentts import InputError
from greentts.voices.clip import CLIP_RATE, prepare_clip


def voiced(seconds, rate=CLIP_RATE, f0=140.0, level=0.3, seed=0):
    """A speech-like test signal: a few harmonics with a syllable-rate envelope, plus a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    return (level * tone / 2.3 * envelope + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def test_trims_resamples_mixes_down_and_normalizes(tmp_path):
    rate = 44100
    speech = voiced(5.0, rate)
    padded = np.concatenate([np.zeros(rate), speech, np.zeros(2 * rate)])
    stereo = np.stack([padded, 0.5 * padded], axis=1)
    path = tmp_path / "ref.flac"
    sf.write(path, stereo, rate)
    clip = prepare_clip(path)
    assert clip.sample_rate == CLIP_RATE and clip.audio.ndim == 1 and clip.audio.dtype == np.float32
    assert 5.0 <= clip.duration_s <= 5.3 and clip.trimmed_s > 2.7
    import pyloudnorm

    assert pyloudnorm.Meter(CLIP_RATE).integrated_loudness(clip.audio) == pytest.approx(-20.0, abs=0.5)
    # the cache key is the prepared audio: other audio differs, the same samples in a wav do not
    other = tmp_path / "ref.wav"
    sf.write(other, voiced(5.0, 48000), 48000)
    assert prepare_clip(other).sha256 != clip.sha256  # different audio, different hash
    again = tmp_path / "again.wav"
    sf.write(again, sf.read(path)[0], rate, subtype="PCM_16")  # what the flac holds, in another container
    assert prepare_clip(again).sha256 == clip.sha256


def test_arrays_are_accepted_with_their_rate():
    clip = prepare_clip(voiced(4.0, 16000), 16000)
    assert clip.source == "the audio array" and 3.9 < clip.duration_s < 4.3
    with pytest.raises(InputError, match="needs its sample_rate"):
        prepare_clip(voiced(4.0))


@pytest.mark.parametrize("make, message", [
    (lambda: np.zeros(CLIP_RATE * 5, np.float32), "silent"),
    (lambda: voiced(2.0), r"2\.\d s of speech after trimming silence; at least 3 s"),
    (lambda: np.clip(voiced(5.0, level=3.0), -1, 1), "clipped"),
    (lambda: np.full(CLIP_RATE * 4, np.nan, np.float32), "NaN"),
    (lambda: np.zeros((2, 3, 4), np.float32), "must be 1-D"),
])
def test_bad_clips_are_refused_with_the_reason(make, message):
    with pytest.raises(InputError, match=message):
        prepare_clip(make(), CLIP_RATE)


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    with pytest.raises(InputError, match="cannot read .*notes.wav as audio"):
        prepare_clip(bad)
    with pytest.raises(InputError, match="does not exist"):
        prepare_clip(tmp_path / "missing.wav")


def test_long_clips_need_window_selection_or_at_most_30_s():
    with pytest.raises(InputError, match=r"at most 30 s without window selection"):
        prepare_clip(voiced(31.0), CLIP_RATE, window=False)
    clip = prepare_clip(voiced(31.0), CLIP_RATE)
    assert clip.window is not None and 5.0 <= clip.duration_s <= 8.0
    assert clip.recording_s == pytest.approx(31.0, abs=0.3) and clip.transcript_s == clip.recording_s
    # 30 s of the recording around the window stay with the clip, for the speaker's pitch statistics
    assert clip.context is not None and len(clip.context) == 30 * CLIP_RATE
    assert prepare_clip(voiced(6.0), CLIP_RATE).context is None  # nothing was cut away


def test_the_context_of_a_window_is_centred_on_it_inside_the_recording():
    from greentts.voices.clip import _around

    x = np.arange(100, dtype=np.float32)
    assert np.array_equal(_around(x, 40, 50, 20), x[35:55])
    assert np.array_equal(_around(x, 0, 5, 20), x[:20]) and np.array_equal(_around(x, 95, 100, 20), x[80:])
    assert np.array_equal(_around(x, 10, 20, 200), x)


def test_the_cleanest_window_is_chosen_and_reported():
    """18 s: 6 s under loud noise, 6 s clean speech with pauses, 6 s clipped; the window is the clean part."""
    rng = np.random.default_rng(1)
    pause = np.zeros(CLIP_RATE // 2, np.float32)
    noisy = voiced(6.0, seed=2) + 0.08 * rng.standard_normal(6 * CLIP_RATE).astype(np.float32)
    clean = np.concatenate([voiced(2.5, f0=120.0), pause, voiced(2.5, f0=130.0), pause])
    clipped = np.clip(voiced(6.0, level=2.0, seed=3), -1.0, 1.0)
    rec = np.concatenate([noisy, clean, clipped])
    clip = prepare_clip(rec, CLIP_RATE)
    w = clip.window
    assert w is not None and w.candidates > 50
    assert 5.0 <= clip.duration_s <= 8.0 and w.end_s - w.start_s == pytest.approx(clip.duration_s, abs=0.05)
    assert 5.5 <= w.start_s and w.end_s <= 12.6  # inside the clean part (6-12 s), give or take a frame
    assert w.clipped == 0.0 and w.voiced > 0.5 and w.snr_db > 20
    assert set(w.as_dict()) == {"start_s", "end_s", "snr_db", "voiced", "clipped", "candidates"}
    # the same recording without window selection is refused for its clipping
    with pytest.raises(InputError, match="clipped"):
        prepare_clip(rec, CLIP_RATE, window=False)
