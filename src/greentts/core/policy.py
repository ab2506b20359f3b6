"""How a request is decided: its voice, its tier, whether the tier can speak it, its plan.

Pure decisions over the engine's parts (config, voice store, backends, frontend), kept apart from
the engine that runs requests; :meth:`greentts.core.engine.EngineCore.prepare` calls them in order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..energy.card import choose_tier
from ..errors import GreenTTSError, InputError, VoiceError
from ..models.base import Backend
from ..settings import TIER_BACKENDS, EngineConfig, SynthesisSettings
from ..text.frontend import Frontend, Plan
from ..text.lexicon import Lexicon
from ..text.normalize import is_han
from ..text.ssml import is_ssml, parse_ssml
from ..voice import Voice
from ..voices.prosody import apply_preset, with_prosody_half
from ..voices.store import VoiceStore

__all__ = ["AUDIO_SUFFIXES", "RequestPolicy"]

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".m4a"})


class RequestPolicy:
    """Decisions for one engine. ``clip_prosody(voice, path)`` gives ``voice`` the prosody of a clip
    (``prosody_from=clip.wav``; enrollment's work, supplied by the engine above the core)."""

    def __init__(self, config: EngineConfig, voices: VoiceStore, backends: dict[str, Backend], frontend: Frontend,
                 clip_prosody: Callable[[Voice, Path], Voice]) -> None:
        self.config, self.voices, self.backends, self.frontend = config, voices, backends, frontend
        self.clip_prosody = clip_prosody

    def check_ssml_voices(self, text: str, s: SynthesisSettings, tier: str) -> None:
        """Every SSML <voice> must exist and be speakable by the tier (raised before any audio)."""
        if not (s.input_format == "ssml" or (s.input_format == "auto" and is_ssml(text))):
            return
        chunks, _ = parse_ssml(text, s.ssml_strict)
        backend = self.backends[TIER_BACKENDS[tier]]
        for name in {c.controls.voice for c in chunks if c.controls.voice}:
            voice = self.voices.get(name)
            if backend.name not in voice.backends:
                raise VoiceError(f"SSML <voice name={name!r}> is not available in the {tier} tier")

    def voice(self, text: str, s: SynthesisSettings) -> Voice:
        if s.voice:
            voice = self.voices.get(s.voice)
        elif self.frontend.primary_language(text, s.lang, s.input_format) == "zh":
            voice = self.voices.get(self.config.default_voice_zh)
        else:
            voice = self.voices.get(self.config.default_voice_en)
        if s.prosody_from:
            voice = self.prosody_from(voice, s.prosody_from)
        if s.prosody:
            voice = apply_preset(voice, s.prosody)
        return voice

    def prosody_from(self, voice: Voice, source: str) -> Voice:
        """``voice`` with the prosody half of another voice (by name) or of a reference clip (by path)."""
        path = Path(source).expanduser()
        is_path = path.suffix.lower() in AUDIO_SUFFIXES or "/" in source or os.sep in source
        if not is_path:
            other = self.voices.get(source)  # VoiceError names unknown voices
            return with_prosody_half(voice, other.table[:, 128:], other.name)
        return self.clip_prosody(voice, path)

    def cannot_speak(self, tier: str, text: str, s: SynthesisSettings, voice: Voice) -> GreenTTSError | None:
        """Why ``tier`` cannot speak this request (an error to raise), or None if it can."""
        backend = self.backends[TIER_BACKENDS[tier]]
        if "zh" not in backend.languages and (s.lang == "zh" or any(is_han(c) for c in text)):
            return InputError(f"the {tier} tier ({backend.name}) speaks English only; this text contains "
                              "Chinese characters (use tier='standard')")
        if backend.name not in voice.backends:
            names = [v["name"] for v in self.voices.list() if backend.name in v["backends"]]
            return VoiceError(f"voice {voice.name!r} is not available in the {tier} tier; "
                              f"{tier} voices: {', '.join(map(str, names))}")
        return None

    def tier(self, text: str, s: SynthesisSettings, voice: Voice) -> tuple[str, str]:
        """The tier to use and why. ``auto``: the cheapest (energy card) of the tiers that can speak it."""
        if s.tier != "auto":
            return s.tier, "requested"
        able = [t for t in TIER_BACKENDS if self.cannot_speak(t, text, s, voice) is None]
        if not able:
            raise VoiceError(f"no tier can speak voice {voice.name!r} for this text")
        return choose_tier(able, s.max_first_audio_s)

    def plan(self, text: str, s: SynthesisSettings, voice: Voice, backend: Backend,
              low_latency: bool = False) -> Plan:
        lexicon = Lexicon.from_entries(list(s.pronunciations)) if s.pronunciations else Lexicon()
        for path in s.dictionaries:
            lexicon = lexicon + Lexicon.load(path)
        return self.frontend.plan(text, lang=s.lang, british=voice.british, lexicon=lexicon,
                                  max_ids=backend.max_ids,
                                  first_max_ids=None if low_latency else backend.max_ids,
                                  input_format=s.input_format, ssml_strict=s.ssml_strict,
                                  british_of=lambda name: self.voices.get(name).british)
