"""Prosody presets and prosody transfer: changing the prosody half of a style table (torch-free).

Kokoro's 256-d style splits in two: dims 0-127 drive the decoder (timbre), dims 128-255 the duration
and pitch predictor (prosody). A preset is a 128-d vector added to the prosody half of any voice;
the vectors were fitted on the predictor (``tools/fit_prosody_presets.py``) and checked on real
synthesis (``bench/clone.py`` measures F0 range and speaking rate per preset).

``prosody_from`` takes the prosody half from elsewhere and keeps the voice's timbre half: from another
voice (stock or enrolled, by name), or from a reference clip (encoded by :mod:`greentts.clone`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files

import numpy as np

from ..errors import InputError
from ..voice import Voice

__all__ = ["PRESETS", "preset_vector", "with_prosody_half", "apply_preset"]

PRESETS = ("neutral", "news", "storytelling", "cheerful", "calm", "serious")
HALF = 128


@lru_cache(maxsize=1)
def _archive() -> dict[str, np.ndarray]:
    path = files("greentts") / "data" / "prosody_presets.npz"
    with np.load(str(path)) as z:
        return {k: np.asarray(z[k]) for k in z.files}


def preset_vector(name: str) -> np.ndarray:
    """The 128-d vector a preset adds to the prosody half (zeros for ``neutral``)."""
    if name not in PRESETS:
        raise InputError(f"unknown prosody preset {name!r}; choose from {', '.join(PRESETS)}")
    if name == "neutral":
        return np.zeros(HALF, np.float32)
    return np.asarray(_archive()[name], dtype=np.float32).reshape(HALF)


def preset_targets() -> dict[str, object]:
    """What each preset was fitted to do (pitch level, range and rate relative to neutral)."""
    raw = _archive().get("targets")
    return json.loads(str(raw)) if raw is not None else {}


def _derived(voice: Voice, suffix: str, table: np.ndarray) -> Voice:
    table = np.ascontiguousarray(table, dtype=np.float32)
    table.setflags(write=False)
    return Voice(f"{voice.name}+{suffix}", voice.language, voice.language_name, voice.gender,
                 ("kokoro",), table, voice.adain)


def apply_preset(voice: Voice, name: str) -> Voice:
    """``voice`` with preset ``name`` added to its prosody half (neutral returns ``voice`` itself)."""
    if name == "neutral":
        preset_vector(name)
        return voice
    table = voice.table.copy()
    table[:, HALF:] += preset_vector(name)[None, :]
    return _derived(voice, name, table)


def with_prosody_half(voice: Voice, half: np.ndarray, label: str) -> Voice:
    """``voice``'s timbre half with another prosody half (a (510, 128) table or one (128,) row for all)."""
    half = np.asarray(half, dtype=np.float32)
    table = voice.table.copy()
    table[:, HALF:] = half if half.ndim == 2 else half[None, :]
    return _derived(voice, f"prosody:{label}", table)
