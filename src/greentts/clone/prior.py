"""What enrollment knows about a clip (:class:`Reference`) and the shipped preview model (:class:`Prior`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files

import numpy as np

from ..errors import ModelError
from ..voices.clip import Clip
from .analysis import PitchStats

__all__ = ["Reference", "Prior", "voice_language"]


@dataclass
class Reference:
    """What enrollment needs to know about the clip."""

    clip: Clip
    embedding: np.ndarray  # CAM++ (192), unit length
    pitch: PitchStats
    lang: str  # "en" | "zh"
    lang_source: str  # "given" | "text" | "asr" | "default"
    text: str | None
    text_source: str | None  # "given" | "asr" | None
    ge2e: np.ndarray | None = None  # GE2E (256), unit length, pauses trimmed
    pitch_source: str = "clip"  # "clip" | "recording" (:meth:`Enroller.recording_pitch`)


@dataclass
class Prior:
    """The shipped preview model (``data/clone_prior.npz``)."""

    voices: list[str]
    emb: np.ndarray  # (V, 192) unit-length mean embedding of each stock voice
    logf0: np.ndarray  # (V,) ln median F0 of each stock voice
    spread: np.ndarray  # (256,)
    weights: np.ndarray  # (194, 256) ridge map [emb diff (192), logf0 diff, 1] -> delta
    held_out: list[str] = field(default_factory=list)  # voices the map was not fitted on (for tests)
    ge2e: dict[str, np.ndarray] = field(default_factory=dict)  # stock voice -> mean GE2E embedding

    @classmethod
    def load(cls) -> Prior:
        data = files("greentts") / "data"
        path = data / "clone_prior.npz"
        try:
            with np.load(str(path)) as z:
                prior = cls([str(v) for v in z["voices"]], z["emb"], z["logf0"], z["spread"], z["weights"],
                            [str(v) for v in z["held_out"]])
            with np.load(str(data / "stock_ge2e.npz")) as z:
                prior.ge2e = {str(v): e for v, e in zip(z["voices"], z["emb"])}
        except (OSError, KeyError) as exc:
            raise ModelError(f"the cloning prior in {data} is missing or damaged ({exc}); reinstall greentts") from exc
        return prior

    def features(self, emb: np.ndarray, logf0: float, base: int) -> np.ndarray:
        return np.concatenate([emb - self.emb[base], [logf0 - self.logf0[base], 1.0]]).astype(np.float32)

def voice_language(name: str) -> str | None:
    """"en" or "zh" for stock voices that speak it (Kokoro's a*/b* and z* voices), else None."""
    if len(name) > 2 and name[2] == "_" and name[1] in "fm":
        return {"a": "en", "b": "en", "z": "zh"}.get(name[0])
    return None
