"""The client protocol: everything above the core (HTTP, CLI, jobs, later Wyoming) talks to an engine
through this, and through nothing else (as vLLM's ``EngineClient``). :class:`greentts.Engine` is the
implementation; a test checks that it provides every member.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..core.engine import Prepared
from ..core.stream import SynthesisStream
from ..energy.accounting import EnergyTotals
from ..result import Result
from ..settings import DialogueSettings, EngineConfig, SynthesisSettings
from ..text.frontend import Segment
from ..voices.enrollment import Enrollment, ProgressFn

__all__ = ["EngineClient"]


@runtime_checkable
class EngineClient(Protocol):
    config: EngineConfig
    workers: int

    # requests
    def prepare(self, text: str, settings: SynthesisSettings | None = None, *, low_latency: bool = True,
                priority: str = "interactive", **overrides: Any) -> Prepared: ...

    def stream(self, text: str | Prepared, settings: SynthesisSettings | None = None, *, low_latency: bool = True,
               priority: str = "interactive", plan_ahead: bool = False, **overrides: Any) -> SynthesisStream: ...

    def synthesize(self, text: str, settings: SynthesisSettings | None = None, *, priority: str = "interactive",
                   **overrides: Any) -> Result: ...

    def phonemize(self, text: str, **settings: Any) -> list[Segment]: ...

    def native_rate(self, tier: str = "standard") -> int: ...

    def dialogue(self, script: Any, voices: dict[str, str] | None = None, settings: DialogueSettings | None = None,
                 *, auto_voices: bool = False, **overrides: Any) -> Any: ...

    # voices
    def enroll(self, audio: str | Path | np.ndarray, name: str, text: str | None = None, lang: str | None = None,
               *, sample_rate: int | None = None, steps: int | None = None, background: bool = False,
               overwrite: bool = False, progress: ProgressFn | None = None,
               exclude_voices: tuple[str, ...] = ()) -> Enrollment: ...

    def list_voices(self, lang: str | None = None) -> list[dict[str, object]]: ...

    def stock_voice_names(self, lang: str | None = None) -> list[str]: ...

    def check_new_voice_name(self, name: str) -> None: ...

    def delete_voice(self, name: str) -> None: ...

    def install_voice(self, name: str, table: Any, meta: dict[str, Any], adain: Any = None) -> None: ...

    # state
    def stats(self) -> dict[str, int]: ...

    def energy(self) -> EnergyTotals: ...

    def audio_cache_stats(self) -> dict[str, Any] | None: ...

    def warm_up(self, tiers: tuple[str, ...] = ("standard",)) -> float: ...

    def wait_idle(self, timeout: float = 60.0) -> bool: ...

    def close(self) -> None: ...
