"""Audio out: formats, sample rates, loudness (synthetic signals; no model)."""

import io

import numpy as np
import pytest
import soundfile as sf

from greentts import FormatError
from greentts.runtime import audio


def tone(sr=24000, seconds=1.0, amp=0.3):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize(("fmt", "subtype", "sr"), [
    ("wav", None, 24000), ("wav", "pcm24", 44100), ("wav", "float", 48000), ("wav", "ulaw", 8000),
    ("flac", None, 16000), ("flac", "pcm24", 22050), ("mp3", None, 24000), ("mp3", None, 44100),
    ("ogg", None, 32000), ("opus", None, 48000), ("opus", None, 16000),
])
def test_container_round_trip(fmt, subtype, sr):
    x = tone(sr)
    data = audio.encode(x, sr, fmt, subtype)
    y, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == sr
    assert abs(len(y) - len(x)) <= 0.08 * sr  # codecs may pad a little
    n = min(len(x), len(y))
    if fmt in ("wav", "flac"):
        tol = {"ulaw": 0.02, "float": 1e-7, "pcm24": 1e-5}.get(subtype, 1e-4)
        assert np.max(np.abs(x[:n] - y[:n])) < tol
    else:  # lossy: check energy survived
        assert 0.5 < np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(x ** 2)) < 1.5


@pytest.mark.parametrize(("fmt", "subtype", "width"), [("pcm", None, 2), ("mulaw", None, 1)])
def test_raw_formats(fmt, subtype, width):
    x = tone(8000)
    data = audio.encode(x, 8000, fmt, subtype)
    assert len(data) == len(x) * width
    kind = "PCM_16" if fmt == "pcm" else "ULAW"
    y, _ = sf.read(io.BytesIO(data), samplerate=8000, channels=1, format="RAW", subtype=kind, dtype="float32")
    assert np.max(np.abs(x - y)) < 0.02


def test_format_errors_are_clear():
    x = tone()
    with pytest.raises(FormatError, match="unknown format 'aac'"):
        audio.encode(x, 24000, "aac")
    with pytest.raises(FormatError, match="supported rates"):
        audio.encode(x, 22050, "opus")
    with pytest.raises(FormatError, match="subtype"):
        audio.encode(x, 24000, "mp3", "pcm24")
    with pytest.raises(FormatError, match="extension"):
        audio.format_for_path("out.xyz")


def test_stream_resampler_matches_one_shot_length():
    x = tone(24000, 2.0)
    rs = audio.StreamResampler(24000, 16000)
    parts = [rs(x[i:i + 5000], last=i + 5000 >= len(x)) for i in range(0, len(x), 5000)]
    y = np.concatenate(parts)
    assert abs(len(y) - 2 * 16000) <= 2


def test_loudness_gain_reaches_target():
    import pyloudnorm

    x = tone(amp=0.05)
    g = audio.loudness_gain(x, 24000, -20.0)
    level = pyloudnorm.Meter(24000).integrated_loudness((x * g).astype(np.float64))
    assert abs(level - -20.0) < 0.5
    assert audio.loudness_gain(np.zeros(100, np.float32), 24000, -20) == 1.0
    loud = tone(amp=0.9)
    assert np.max(np.abs(loud * audio.loudness_gain(loud, 24000, -5.0))) < 1.0


def test_atomic_write(tmp_path):
    path = audio.write(tmp_path / "a" / "b.flac", tone(), 24000)
    assert path.is_file() and not list(path.parent.glob(".*tmp"))
    with pytest.raises(FormatError):
        audio.write(tmp_path / "bad.opus", tone(), 22050)
    assert not (tmp_path / "bad.opus").exists()


@pytest.mark.parametrize("fmt,rate", [("wav", 24000), ("pcm", 24000), ("mp3", 24000), ("opus", 48000),
                                      ("ogg", 22050), ("flac", 16000), ("mulaw", 8000)])
def test_stream_encoder_pieces_make_one_valid_file(fmt, rate):
    import io

    import soundfile as sf

    from greentts.runtime.audio import StreamEncoder

    t = np.arange(2 * rate) / rate
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    enc = StreamEncoder(fmt, rate)
    pieces = [enc.feed(audio[i: i + rate // 5]) for i in range(0, len(audio), rate // 5)] + [enc.finish()]
    data = b"".join(pieces)
    if fmt in ("pcm", "wav", "mp3"):
        assert sum(1 for p in pieces[:-1] if p) >= 5  # progressive: bytes come out as audio goes in
    if fmt == "pcm":
        decoded = np.frombuffer(data, "<i2") / 32767
    elif fmt == "mulaw":
        decoded, _ = sf.read(io.BytesIO(data), format="RAW", subtype="ULAW", samplerate=rate, channels=1)
    else:
        decoded, got = sf.read(io.BytesIO(data))
        assert got == rate
    assert abs(len(decoded) - len(audio)) <= 0.1 * rate  # codec padding at most (mp3: 88 ms)
    assert 0.15 < np.abs(decoded).max() < 0.5  # lossy codecs overshoot a little


def test_stream_encoder_rejects_unsupported_rates():
    from greentts.runtime.audio import StreamEncoder

    with pytest.raises(FormatError, match="opus cannot be written at 22050"):
        StreamEncoder("opus", 22050)
