"""Audio out: resampling (soxr), loudness (pyloudnorm, ITU-R BS.1770), encoding (libsndfile via soundfile).

Both models produce 24 kHz mono float32; any output rate from 8 to 48 kHz is made with soxr.

Formats (``format`` argument, or the file extension):

=========  ==========================  =======================================================
format     container / codec           notes
=========  ==========================  =======================================================
wav        RIFF WAVE                   subtype ``pcm16`` (default), ``pcm24``, ``float``, ``ulaw``
flac       FLAC                        subtype ``pcm16`` (default) or ``pcm24``
mp3        MPEG-1/2 Layer III          rates 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000
ogg        Ogg Vorbis
opus       Ogg Opus                    rates 8000, 12000, 16000, 24000, 48000
pcm        raw signed 16-bit LE        no header
mulaw      raw G.711 mu-law            no header; 8 kHz telephony (the engine defaults to 8000 Hz)
=========  ==========================  =======================================================
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatError
from .files import AtomicFile, write_atomic

__all__ = ["FORMATS", "encode", "write", "FileWriter", "EXTENSIONS", "format_for_path", "StreamResampler", "StreamEncoder", "loudness_gain",
           "silence", "default_rate", "MEDIA_TYPES", "check_format"]

MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "ogg": "audio/ogg",
               "opus": "audio/ogg; codecs=opus", "pcm": "audio/L16", "mulaw": "audio/basic"}

_SUBTYPES = {"pcm16": "PCM_16", "pcm24": "PCM_24", "float": "FLOAT", "ulaw": "ULAW"}
FORMATS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # name: (libsndfile major format, default subtype, allowed subtypes)
    "wav": ("WAV", "pcm16", ("pcm16", "pcm24", "float", "ulaw")),
    "flac": ("FLAC", "pcm16", ("pcm16", "pcm24")),
    "mp3": ("MP3", "MPEG_LAYER_III", ()),
    "ogg": ("OGG", "VORBIS", ()),
    "opus": ("OGG", "OPUS", ()),
    "pcm": ("RAW", "pcm16", ("pcm16",)),
    "mulaw": ("RAW", "ulaw", ("ulaw",)),
}
_RATES = {
    "mp3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
    "opus": (8000, 12000, 16000, 24000, 48000),
}
EXTENSIONS = _EXTENSIONS = {".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".ogg": "ogg", ".opus": "opus", ".pcm": "pcm",
               ".raw": "pcm", ".ulaw": "mulaw", ".mulaw": "mulaw", ".ul": "mulaw"}


def default_rate(format: str | None) -> int | None:
    """The output rate a format implies when none is asked for (mu-law is telephony: 8 kHz)."""
    return 8000 if format == "mulaw" else None


def format_for_path(path: str | Path) -> str:
    ext = Path(path).suffix.lower()
    if ext not in _EXTENSIONS:
        raise FormatError(f"cannot tell the audio format from the extension of {str(path)!r}; use one of "
                          f"{', '.join(sorted(_EXTENSIONS))} or pass format=")
    return _EXTENSIONS[ext]


def _check(format: str, subtype: str | None, sample_rate: int) -> tuple[str, str]:
    if format not in FORMATS:
        raise FormatError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    major, default, allowed = FORMATS[format]
    sub = subtype or default
    if subtype and subtype not in allowed:
        choices = ", ".join(allowed) if allowed else "none (the codec is fixed)"
        raise FormatError(f"format {format!r} does not take subtype {subtype!r}; allowed: {choices}")
    if format in _RATES and sample_rate not in _RATES[format]:
        raise FormatError(f"{format} cannot be written at {sample_rate} Hz; "
                          f"supported rates: {', '.join(map(str, _RATES[format]))}")
    if not 8000 <= sample_rate <= 48000:
        raise FormatError(f"sample rate must be 8000..48000 Hz, got {sample_rate}")
    return major, _SUBTYPES.get(sub, sub)


def check_format(format: str, sample_rate: int, subtype: str | None = None) -> None:
    """Raise :class:`FormatError` (naming the problem) unless ``format`` can be written at ``sample_rate``."""
    _check(format, subtype, sample_rate)


def encode(audio: np.ndarray, sample_rate: int, format: str = "wav", subtype: str | None = None) -> bytes:
    """Encode mono float32 audio to bytes in ``format``."""
    import soundfile as sf

    major, sub = _check(format, subtype, sample_rate)
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    buf = io.BytesIO()
    kwargs = {"endian": "LITTLE"} if major == "RAW" else {}
    sf.write(buf, data, sample_rate, format=major, subtype=sub, **kwargs)
    return buf.getvalue()


def write(path: str | Path, audio: np.ndarray, sample_rate: int, format: str | None = None,
          subtype: str | None = None) -> Path:
    """Encode and write atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    return write_atomic(path, encode(audio, sample_rate, format or format_for_path(path), subtype))


class FileWriter:
    """Write a long recording chunk by chunk in constant memory, atomically.

    Samples go to a temporary file beside ``path`` (libsndfile encodes as they arrive, so memory does
    not grow with the length); ``commit()`` fsyncs and renames it into place. If the writer is closed
    without ``commit()`` (an error, Ctrl-C), the temporary file is removed and ``path`` is untouched.
    """

    def __init__(self, path: str | Path, sample_rate: int, format: str | None = None,
                 subtype: str | None = None) -> None:
        import soundfile as sf

        self.path = Path(path)
        self.format = format or format_for_path(self.path)
        if self.format in ("pcm", "mulaw"):
            raise FormatError(f"{self.format} has no container; write wav, flac, mp3, ogg or opus")
        major, sub = _check(self.format, subtype, sample_rate)
        self.sample_rate = sample_rate
        self.frames = 0
        self._target = AtomicFile(self.path)
        extra: dict[str, Any] = {"bitrate_mode": "CONSTANT", "compression_level": 0.5} if self.format == "mp3" else {}
        try:
            self._file = sf.SoundFile(self._target.tmp, mode="w", samplerate=sample_rate, channels=1,
                                      format=major, subtype=sub, **extra)
        except BaseException:
            self._target.discard()
            raise

    def write(self, audio: np.ndarray) -> None:
        data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        if len(data):
            self._file.write(data)
            self.frames += len(data)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def finish(self) -> None:
        """Close the encoder and flush the file to disk (``commit`` then only renames)."""
        if not self._file.closed:
            self._file.close()
            self._target.sync()

    def commit(self) -> Path:
        self.finish()
        return self._target.commit()

    def close(self) -> None:
        """Discard the recording unless committed."""
        if not self._file.closed:
            self._file.close()
        self._target.discard()

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def silence(seconds: float, sample_rate: int) -> np.ndarray:
    return np.zeros(max(0, round(seconds * sample_rate)), dtype=np.float32)


class StreamResampler:
    """Chunk-by-chunk resampling with state carried across chunks (no clicks at chunk joins)."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._rs = None
        if in_rate != out_rate:
            import soxr

            self._rs = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")

    def __call__(self, chunk: np.ndarray, last: bool = False) -> np.ndarray:
        if self._rs is None:
            return chunk
        return self._rs.resample_chunk(np.ascontiguousarray(chunk, dtype=np.float32), last=last)


def loudness_gain(audio: np.ndarray, sample_rate: int, target_lufs: float) -> float:
    """Linear gain that brings ``audio`` to ``target_lufs`` (integrated, BS.1770), limited so peaks stay < 1.

    Audio shorter than BS.1770's 400 ms block is measured by RMS instead.
    """
    if not len(audio) or not np.any(audio):
        return 1.0
    if len(audio) >= int(0.4 * sample_rate):
        import pyloudnorm

        level = pyloudnorm.Meter(sample_rate).integrated_loudness(audio.astype(np.float64))
    else:
        level = 20 * np.log10(float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) + 1e-12) - 0.691
    if not np.isfinite(level):
        return 1.0
    gain = 10 ** ((target_lufs - level) / 20)
    peak = float(np.max(np.abs(audio)))
    return float(min(gain, 0.989 / peak)) if peak > 0 else float(gain)


class _Sink:
    """A seekable byte sink for libsndfile that hands out each byte once, in order.

    Encoders that go back to patch a header at the end (FLAC's STREAMINFO, MP3's Info frame) patch bytes
    that were already sent: those rewrites are dropped, which leaves valid streams with "length unknown".
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._sent = 0

    def write(self, data: bytes) -> int:
        end = self._pos + len(data)
        if end > len(self._buf):
            self._buf.extend(b"\0" * (end - len(self._buf)))
        start = max(self._pos, self._sent)  # already-sent bytes cannot change any more
        if start < end:
            self._buf[start:end] = data[start - self._pos:]
        self._pos = end
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = offset if whence == 0 else (self._pos + offset if whence == 1 else len(self._buf) + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:  # libsndfile may read back what it wrote (headers)
        data = bytes(self._buf[self._pos: None if n < 0 else self._pos + n])
        self._pos += len(data)
        return data

    def take(self) -> bytes:
        out = bytes(self._buf[self._sent:])
        self._sent = len(self._buf)
        return out


class StreamEncoder:
    """Encode audio progressively: ``feed(chunk)`` returns the bytes ready so far, ``finish()`` the rest.

    pcm and mulaw are headerless; wav gets a header whose sizes say "unknown length" (0xFFFFFFFF, as
    streaming servers send it; players read to the end); mp3 (constant bitrate), ogg and opus come from
    libsndfile as it encodes. flac is held back and sent whole by ``finish()``: its header carries the
    length, which common decoders (libsndfile among them) need. Concatenating everything returned is a
    valid file of the format.
    """

    PROGRESSIVE = frozenset({"wav", "pcm", "mulaw", "mp3", "ogg", "opus"})

    def __init__(self, format: str, sample_rate: int, subtype: str | None = None) -> None:
        self.format, self.sample_rate = format, sample_rate
        major, sub = _check(format, subtype, sample_rate)
        self._header = b""
        self._file = None
        self._held: list[np.ndarray] | None = None if format in self.PROGRESSIVE else []
        self._subtype = subtype
        if self._held is not None:
            return
        if major in ("RAW", "WAV"):
            self._raw_sub = "ULAW" if sub == "ULAW" else sub
            if major == "WAV":
                self._header = _wav_stream_header(sample_rate, sub)
                if sub not in ("PCM_16",):
                    raise FormatError("streamed wav is 16-bit PCM; use a non-streamed request for other subtypes")
        else:
            import soundfile as sf

            self._sink = _Sink()
            # constant bitrate (~80 kb/s at 24 kHz): a decoder can tell the length from the size
            extra: dict[str, Any] = {"bitrate_mode": "CONSTANT", "compression_level": 0.5} if format == "mp3" else {}
            self._file = sf.SoundFile(self._sink, mode="w", samplerate=sample_rate, channels=1, format=major,
                                      subtype=sub, **extra)

    def feed(self, audio: np.ndarray) -> bytes:
        data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        if self._held is not None:
            self._held.append(data)
            return b""
        head, self._header = self._header, b""
        if self._file is None:
            return head + _raw(data, self._raw_sub)
        if len(data):
            self._file.write(data)
        return head + self._sink.take()

    def finish(self) -> bytes:
        if self._held is not None:
            whole = np.concatenate(self._held) if self._held else np.zeros(0, np.float32)
            self._held = []
            return encode(whole, self.sample_rate, self.format, self._subtype)
        head, self._header = self._header, b""
        if self._file is None:
            return head
        self._file.close()
        return head + self._sink.take()


def _raw(data: np.ndarray, sub: str) -> bytes:
    if sub == "ULAW":
        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, data, 8000, format="RAW", subtype="ULAW")
        return buf.getvalue()
    return (np.round(data * 32767.0).astype("<i2")).tobytes()


def _wav_stream_header(sample_rate: int, sub: str) -> bytes:
    import struct

    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE" + b"fmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16) + b"data" +
            struct.pack("<I", unknown))
