"""Stock voices: Kokoro v1.0's 54 style tables (from kokoro-js 1.2.1, Apache-2.0), with metadata.

A :class:`~greentts.voice.Voice` is plain data (name, language, gender, which backends can speak it, its
style table); it lives outside the model objects so any worker session can use any voice.

Enrolled voices (made from a reference clip) live on disk in ``enrolled_dir``: ``NAME.npz`` (the style
table) plus ``NAME.json`` (metadata: clip hash, language, pitch statistics, similarity reached, time
and energy spent). They are found by name like stock voices, and by clip hash for the enrollment cache.

Blends are voices too: ``"af_heart:0.6,af_bella:0.4"`` is the weighted mean of the two style tables
(weights are normalized to sum to 1; ``"af_heart,af_bella"`` weighs them equally). A blend speaks the
language of its heaviest component.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from importlib.resources import files
from typing import Any

import numpy as np

from ..errors import VoiceError
from ..runtime.files import write_atomic
from ..voice import ADAIN_DIM, TABLE_SHAPE, Voice

__all__ = ["VoiceStore", "default_voices_dir", "check_voice_name", "valid_voice_name", "parse_blend"]

_DATA = files("greentts") / "data"
# Voices the eco tier (hibari) can speak: hibari's bundled model is a student of af_heart.
ECO_VOICES = frozenset({"af_heart"})
MAX_BLEND_PARTS = 8
_BLEND_CACHE = 64  # blends kept in memory (each table is 510 x 256 float32, about 0.5 MB)
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")  # used with fullmatch ("$" would accept a final newline)


class VoiceStore:
    """Looks voices up by name; stock tables are read from the packaged archive on first use."""

    def __init__(self, enrolled_dir: str | Path | None = None) -> None:
        self.enrolled_dir = Path(enrolled_dir).expanduser() if enrolled_dir is not None else None
        self._meta: dict[str, dict[str, str]] = json.loads(
            (_DATA / "kokoro_v1_0_voices.json").read_text(encoding="utf-8"))
        self._loaded: dict[str, Voice] = {}
        self._stamps: dict[str, tuple[int, ...]] = {}  # enrolled voices: their files' mtime and size when read
        self._blends: OrderedDict[str, Voice] = OrderedDict()
        self._lock = threading.Lock()

    def names(self, lang: str | None = None) -> list[str]:
        """Voice names, optionally only those whose language starts with ``lang`` ("en", "zh", "en-gb")."""
        return [n for n, m in sorted(self._meta.items()) if lang is None or m["language"].startswith(lang)]

    def get(self, name: str) -> Voice:
        """A stock voice by name, or a blend such as ``"af_heart:0.6,af_bella:0.4"``."""
        if not isinstance(name, str) or not name.strip():
            raise VoiceError("a voice name must be a non-empty string")
        if "," in name or ":" in name:
            return self.blend(name)
        return self._single(name.strip())

    def _single(self, name: str) -> Voice:
        """A stock or enrolled voice by name (no blends)."""
        if name not in self._meta and self._enrolled_path(name, ".json") is not None:
            return self._enrolled(name)
        return self._stock(name)

    def blend(self, spec: str) -> Voice:
        """The weighted mean of voices' (stock or enrolled) style tables (``name:weight`` parts joined by commas)."""
        parts = parse_blend(spec)
        key = ",".join(f"{n}:{w:.4g}" for n, w in parts)
        with self._lock:
            if key in self._blends:
                self._blends.move_to_end(key)
                return self._blends[key]
        voices = [(self._single(n), w) for n, w in parts]
        table = sum(v.table.astype(np.float64) * w for v, w in voices)
        table = np.ascontiguousarray(table, dtype=np.float32)
        table.setflags(write=False)
        adain = None
        if any(v.adain is not None for v, _ in voices):  # stock parts contribute zeros
            adain = sum(v.adain.astype(np.float64) * w for v, w in voices if v.adain is not None)
            adain = np.ascontiguousarray(adain, dtype=np.float32)
            adain.setflags(write=False)
        main = max(voices, key=lambda vw: vw[1])[0]
        genders = {v.gender for v, _ in voices}
        backends = main.backends if all(v.name == main.name for v, _ in voices) else ("kokoro",)
        voice = Voice(key, main.language, main.language_name, genders.pop() if len(genders) == 1 else "mixed",
                      backends, table, adain)
        with self._lock:
            self._blends[key] = voice
            while len(self._blends) > _BLEND_CACHE:
                self._blends.popitem(last=False)
        return voice

    def _stock(self, name: str) -> Voice:
        with self._lock:
            voice = self._loaded.get(name)
            if voice is None:
                meta = self._meta.get(name)
                if meta is None:
                    known = [*self._meta, *(str(m.get("name")) for m in self.enrolled())]
                    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
                    hint = f"; did you mean {', '.join(close)}?" if close else ""
                    raise VoiceError(f"unknown voice {name!r}{hint} (greentts voices lists all {len(self._meta)})")
                with np.load(str(_DATA / "kokoro_v1_0_voices.npz")) as archive:
                    table = np.ascontiguousarray(archive[name], dtype=np.float32)
                table.setflags(write=False)
                backends = ("kokoro", "hibari") if name in ECO_VOICES else ("kokoro",)
                voice = Voice(name, meta["language"], meta["language_name"], meta["gender"], backends, table)
                self._loaded[name] = voice
            return voice

    def list(self, lang: str | None = None) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for name in self.names(lang):
            m = self._meta[name]
            backends = ["kokoro", "hibari"] if name in ECO_VOICES else ["kokoro"]
            out.append({"name": name, **m, "backends": backends, "enrolled": False})
        for meta in self.enrolled(broken=True):
            if "error" in meta:
                out.append({**meta, "language": "unknown", "backends": [], "enrolled": True})
            elif lang is None or str(meta.get("language", "")).startswith(lang):
                out.append({**meta, "backends": ["kokoro"], "enrolled": True})
        return out

    # -- enrolled voices --------------------------------------------------------------------------

    def enrolled(self, broken: bool = False) -> list[dict[str, Any]]:
        """Metadata of every usable enrolled voice, by name. ``broken``: also the voices whose files are
        unreadable or incomplete, as ``{"name", "error"}`` (``greentts voices`` and the server list them)."""
        if self.enrolled_dir is None or not self.enrolled_dir.is_dir():
            return []
        out = []
        for path in sorted(self.enrolled_dir.glob("*.json")):
            if not valid_voice_name(path.stem):
                continue  # not a file this store wrote
            error = None
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(meta, dict) or meta.get("name") != path.stem:
                    error = "its metadata file is not a greentts voice's"
            except (OSError, ValueError) as exc:
                error = f"its metadata file cannot be read ({type(exc).__name__})"
            if error is None and not (self.enrolled_dir / f"{path.stem}.npz").is_file():
                error = "its style table file is missing"
            if error is None:
                out.append(meta)
            elif broken:
                out.append({"name": path.stem, "error": error})
        return out

    def enrolled_meta(self, name: str) -> dict[str, Any]:
        """The metadata of one enrolled voice."""
        path = self._enrolled_path(name, ".json")
        if path is None:
            raise VoiceError(f"no enrolled voice named {name!r}")
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise VoiceError(f"enrolled voice {name!r} cannot be read: {exc}") from None

    def find_clip(self, clip_sha256: str, **settings: Any) -> dict[str, Any] | None:
        """The enrolled voice made from this clip (with the same enrollment settings), if any."""
        for meta in self.enrolled():
            if meta.get("clip_sha256") == clip_sha256 and all(meta.get(k) == v for k, v in settings.items()):
                return meta
        return None

    def check_new_name(self, name: str) -> None:
        """Raise VoiceError unless ``name`` may name an enrolled voice (allowed characters, not stock)."""
        check_voice_name(name)
        if name in self._meta:
            raise VoiceError(f"{name!r} is a stock voice; choose another name for the enrolled voice")

    def save(self, name: str, table: np.ndarray, meta: dict[str, Any], overwrite: bool = False,
             adain: np.ndarray | None = None) -> Voice:
        """Store an enrolled voice (atomically: table (and AdaIN offsets) first, then metadata, each via rename)."""
        self.check_new_name(name)
        if self.enrolled_dir is None:
            raise VoiceError("this voice store has no directory for enrolled voices")
        table = np.asarray(table, dtype=np.float32)
        if table.shape != TABLE_SHAPE or not np.all(np.isfinite(table)):
            raise VoiceError(f"a style table must be finite and {TABLE_SHAPE[0]}x{TABLE_SHAPE[1]}, got {table.shape}")
        if adain is not None:
            adain = np.asarray(adain, dtype=np.float32).reshape(-1)
            if adain.shape != (ADAIN_DIM,) or not np.all(np.isfinite(adain)):
                raise VoiceError(f"AdaIN offsets must be {ADAIN_DIM} finite values, got {adain.shape}")
        if not overwrite and self._enrolled_path(name, ".json") is not None:
            raise VoiceError(f"an enrolled voice named {name!r} exists; delete it or choose another name")
        self.enrolled_dir.mkdir(parents=True, exist_ok=True)
        meta = {"language": "en-us", "language_name": "enrolled", "gender": "unknown", **meta, "name": name}
        arrays = {"table": table} if adain is None else {"table": table, "adain": adain.astype(np.float16)}
        write_atomic(self.enrolled_dir / f"{name}.npz", lambda f: np.savez(f, **arrays))
        write_atomic(self.enrolled_dir / f"{name}.json", json.dumps(meta, ensure_ascii=False, indent=1))
        with self._lock:
            self._loaded.pop(name, None)
            self._blends.clear()  # blends may contain this voice
        return self._enrolled(name)

    def delete(self, name: str) -> None:
        """Remove an enrolled voice, also one whose files are broken."""
        if name in self._meta:
            raise VoiceError(f"{name!r} is a stock voice and cannot be deleted")
        if self._enrolled_path(name, ".json") is None and self._enrolled_path(name, ".npz") is None:
            raise VoiceError(f"no enrolled voice named {name!r}")
        for ext in (".json", ".npz"):  # metadata first: a voice without it is invisible, never half-usable
            path = self._enrolled_path(name, ext)
            if path is not None:
                path.unlink()
        with self._lock:
            self._loaded.pop(name, None)
            self._blends.clear()  # blends may contain this voice

    def _enrolled_path(self, name: str, ext: str) -> Path | None:
        if self.enrolled_dir is None or not valid_voice_name(name):
            return None
        path = self.enrolled_dir / f"{name}{ext}"
        return path if path.is_file() else None

    def _enrolled(self, name: str) -> Voice:
        meta_path, table_path = self._enrolled_path(name, ".json"), self._enrolled_path(name, ".npz")
        if meta_path is None or table_path is None:
            raise VoiceError(f"enrolled voice {name!r} is incomplete on disk ({self.enrolled_dir})")
        # another process sharing the folder (a Ray Serve replica) may have enrolled it again since
        stamp = _stamp(meta_path, table_path)
        with self._lock:
            if name in self._loaded and self._stamps.get(name) == stamp:
                return self._loaded[name]
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("the metadata is not a JSON object")
            with np.load(table_path, allow_pickle=False) as archive:
                table = np.ascontiguousarray(archive["table"], dtype=np.float32)
                adain = (np.ascontiguousarray(archive["adain"], dtype=np.float32).reshape(-1)
                         if "adain" in archive.files else None)
        except Exception as exc:  # noqa: BLE001 - zipfile.BadZipFile, EOFError, OSError, ValueError ...
            raise VoiceError(f"enrolled voice {name!r} cannot be read ({type(exc).__name__}: {exc}); delete it "
                             "and enroll it again") from None
        if table.shape != TABLE_SHAPE or not np.all(np.isfinite(table)):
            raise VoiceError(f"enrolled voice {name!r} has a broken style table ({table.shape}, expected a finite "
                             f"{TABLE_SHAPE}); delete it and enroll it again")
        if adain is not None:
            if adain.shape != (ADAIN_DIM,) or not np.all(np.isfinite(adain)):
                raise VoiceError(f"enrolled voice {name!r} has broken AdaIN offsets ({adain.shape}, expected "
                                 f"{ADAIN_DIM} finite values); delete it and enroll it again")
            adain.setflags(write=False)
        table.setflags(write=False)
        voice = Voice(name, str(meta.get("language", "en-us")), str(meta.get("language_name", "enrolled")),
                      str(meta.get("gender", "unknown")), ("kokoro",), table, adain)
        with self._lock:
            self._loaded[name], self._stamps[name] = voice, stamp
        return voice


def _blend_items(spec: str) -> list[tuple[str, str, str]]:
    """The blend syntax, read in this one place: ``"a:0.6, b"`` -> [("a", ":", "0.6"), ("b", "", "")]."""
    items = []
    for raw in spec.split(","):
        name, sep, weight = raw.strip().partition(":")
        items.append((name.strip(), sep, weight.strip()))
    return items


def rename_blend(spec: str, rename: Callable[[str], str]) -> str:
    """``spec`` (one voice or a blend) with each voice name replaced by ``rename(name)``, the weights as
    written. Validation is :func:`parse_blend`'s, when the voice is used."""
    return ",".join(rename(name) + (sep + weight if sep else "") for name, sep, weight in _blend_items(spec))


def parse_blend(spec: str) -> list[tuple[str, float]]:
    """``"a:0.6,b:0.4"`` -> [("a", 0.6), ("b", 0.4)], weights normalized; clear errors for bad specs."""
    parts: list[tuple[str, float]] = []
    for name, sep, weight in _blend_items(spec):
        if not name and not sep:
            raise VoiceError(f"voice blend {spec!r} has an empty part; write e.g. af_heart:0.6,af_bella:0.4")
        try:
            w = float(weight) if sep else 1.0
        except ValueError:
            raise VoiceError(f"voice blend {spec!r}: weight {weight.strip()!r} of {name!r} is not a number") from None
        if not math.isfinite(w) or w <= 0:
            raise VoiceError(f"voice blend {spec!r}: the weight of {name!r} must be a positive number, got {w:g}")
        parts.append((name, w))
    names = [n for n, _ in parts]
    if len(set(names)) != len(names):
        raise VoiceError(f"voice blend {spec!r} names a voice twice")
    if len(parts) > MAX_BLEND_PARTS:
        raise VoiceError(f"voice blend {spec!r} has {len(parts)} parts; at most {MAX_BLEND_PARTS}")
    total = sum(w for _, w in parts)
    return [(n, w / total) for n, w in parts]


def _stamp(*paths: Path) -> tuple[int, ...]:
    out: list[int] = []
    for p in paths:
        st = p.stat()
        out += [st.st_mtime_ns, st.st_size]
    return tuple(out)


def default_voices_dir() -> Path:
    """Where enrolled voices live unless configured: ``$XDG_DATA_HOME/greentts/voices``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "greentts" / "voices"


def valid_voice_name(name: object) -> bool:
    """1-48 characters a-z, 0-9, '_' or '-', starting with a letter or digit (the whole string)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def check_voice_name(name: str) -> None:
    if not valid_voice_name(name):
        raise VoiceError(f"voice name {name!r} is not allowed: use 1-48 characters a-z, 0-9, '_' or '-', "
                         "starting with a letter or digit")
