"""The Engine: the core's request path plus enrollment and dialogue. Streaming is the primitive.

    with Engine() as engine:
        result = engine.synthesize("Hello there.")            # Result: audio, timings, phonemes, rules
        for chunk in engine.stream("长文本……", voice="zf_xiaoxiao"):
            play(chunk.audio)

:class:`~greentts.core.engine.EngineCore` decides and runs requests (frontend, voices, scheduler,
backends, energy); this class adds what sits above it: cloning a voice from a clip
(:mod:`greentts.serving.enrollment`), prosody taken from a clip, multi-speaker dialogue
(:mod:`greentts.jobs.dialogue`). Thread-safe, like the core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .core.engine import EngineCore, Prepared
from .core.stream import SynthesisStream
from .errors import EngineClosed
from .jobs.dialogue import DialogueStream
from .jobs.script import Script, parse_script
from .models.assets import default_cache_dir, kokoro_model_path
from .serving.enrollment import EnrollmentService
from .settings import DialogueSettings, EngineConfig, validated
from .voice import Voice
from .voices.enrollment import Enrollment, ProgressFn
from .voices.prosody import with_prosody_half

__all__ = ["Engine", "Prepared", "SynthesisStream"]


class Engine(EngineCore):
    """Offline bilingual (en + zh) speech synthesis on packaged models, with voice cloning and dialogue."""

    def __init__(self, config: EngineConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.enrollment = EnrollmentService(self.voices, self.accountant, self.startup_energy, self._load_enroller)

    def enroll(self, audio: str | Path | np.ndarray, name: str, text: str | None = None, lang: str | None = None,
               *, sample_rate: int | None = None, steps: int | None = None, background: bool = False,
               overwrite: bool = False, progress: ProgressFn | None = None,
               exclude_voices: tuple[str, ...] = ()) -> Enrollment:
        """Clone a voice from a reference clip (3 s or more; longer ones are cut to their cleanest 5-8 s) and save it as ``name`` (usable like a stock voice).

        ``audio``: a path (wav, flac, ogg, mp3) or a float array with ``sample_rate``. ``text``: what the
        clip says (else Whisper transcribes it when the ``asr`` extra is installed); it lets the speaking
        rate be matched like for like. ``lang``: "en" or "zh" (else from the text or ASR, else "en").
        The same clip with the same settings is a cache hit (instant, no model loaded). The preview is
        saved first; ``background=True`` returns right after it while refinement continues
        (``Enrollment.wait()``). Needs the ``clone`` extra unless it is a cache hit.
        """
        if self.closed:
            raise EngineClosed("the engine is closed")
        return self.enrollment.enroll(audio, name, text, lang, sample_rate=sample_rate, steps=steps,
                                      background=background, overwrite=overwrite, progress=progress,
                                      exclude_voices=exclude_voices)

    def enroller(self) -> Any:
        """The shared :class:`greentts.clone.enroll.Enroller` (loaded on first use; needs the clone extra)."""
        return self.enrollment.enroller()

    def dialogue(self, script: Any, voices: dict[str, str] | None = None, settings: DialogueSettings | None = None,
                 *, auto_voices: bool = False, **overrides: Any) -> DialogueStream:
        """A multi-speaker script -> a :class:`~greentts.jobs.dialogue.DialogueStream` of rendered turns.

        ``script``: a parsed :class:`~greentts.jobs.script.Script`, script text (``[S1] ...`` or
        ``Name: ...`` lines, or JSON), or a dict (``{"speakers": ..., "turns": [...]}``). ``voices`` maps
        speakers to voices (stock, blend or enrolled); ``auto_voices`` assigns distinct stock voices to
        speakers left unmapped (otherwise they are an error). ``settings``: a
        :class:`~greentts.settings.DialogueSettings` (gaps, loudness, sample_rate, tier); ``overrides``
        replace its fields.
        Iterate it for turns, ``.save(path)`` to write the mix, subtitles, timestamps and stems in
        constant memory, or ``.collect()`` for short scripts.
        """
        if self.closed:
            raise EngineClosed("the engine is closed")
        if not isinstance(script, Script):
            script = parse_script(script)
        config = validated(DialogueSettings, settings, keep_none=True, **overrides)
        return DialogueStream(self, script, voices, auto_assign=auto_voices, settings=config)

    def _clip_prosody(self, voice: Voice, path: Path) -> Voice:
        half, label = self.enrollment.prosody_half(voice, path)
        return with_prosody_half(voice, half, label)

    def _load_enroller(self) -> Any:
        """Build the enroller: the torch rebuild reads the original graph (node names map the weights),
        and it speaks through an ONNX session of this engine's Kokoro backend (the real path)."""
        from .clone.enroll import Enroller

        onnx = kokoro_model_path(self.config.cache_dir)
        session = self.backends["kokoro"].new_session(self.latency_threads)

        def synth(table: np.ndarray, ids: list[int], adain: np.ndarray | None = None) -> np.ndarray:
            voice = Voice("_enrolling", "en-us", "enrolling", "unknown", ("kokoro",), table, adain)
            return session.synthesize(ids, voice, 1.0, 0)

        return Enroller(onnx, self._cache_dir(), self.frontend, self.voices, threads=self.latency_threads, synth=synth)

    def _cache_dir(self) -> Path:
        return Path(self.config.cache_dir) if self.config.cache_dir else default_cache_dir()
