"""Multi-speaker dialogue: a script -> one mixed recording, per-turn timestamps, subtitles, stems.

    with Engine() as engine:
        dialogue = engine.dialogue(load_script("show.txt"), voices={"S1": "af_heart", "S2": "am_michael"})
        report = dialogue.save("show.mp3", stems=True)        # + show.srt, show.vtt, show.turns.json

Turns are rendered a few ahead of the one being written (their segments share the engine's scheduler
with every core) and written in order, so memory stays constant however long the script is. Each
turn is loudness-normalized (BS.1770, the same target for every speaker), gets 5 ms fades at both
ends (no clicks at joins) and is followed by a gap chosen by turn-taking rules (configurable).
Voices are stateless style vectors, so a speaker sounds the same in minute 1 and minute 90.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..energy.accounting import EnergySum
from ..errors import GreenTTSError, InputError, VoiceError
from ..serving.client import EngineClient
from ..runtime import audio as audio_io
from ..runtime.files import write_atomic
from ..settings import DialogueSettings, SynthesisSettings, validated
from ..text.normalize import language_of
from .script import Script, Turn

__all__ = ["DialogueSettings", "DialogueStream", "TurnAudio", "DialogueReport", "auto_voices", "gap_after"]

FADE_S = 0.005
AUTO_VOICES = {"en": ("af_heart", "am_michael", "bf_emma", "am_fenrir", "af_bella", "bm_george", "af_nicole",
                      "am_puck", "bf_isabella", "bm_fable"),
               "zh": ("zf_xiaoxiao", "zm_yunxi", "zf_xiaoyi", "zm_yunjian", "zf_xiaobei", "zm_yunyang", "zf_xiaoni",
                      "zm_yunxia")}


@dataclass
class TurnAudio:
    """One rendered turn: its audio (with fades, without the gap after it) and where its segments are."""

    turn: Turn
    voice: str
    audio: np.ndarray
    sample_rate: int
    segments: list[tuple[float, float, str]]  # (start, end of speech, text) relative to the turn
    gap_s: float
    energy: dict[str, Any] = field(default_factory=dict)
    words: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, word) in the turn

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass
class DialogueReport:
    path: Path
    duration_s: float
    turns: int
    speakers: dict[str, str]
    files: list[Path]
    wall_s: float
    energy: dict[str, Any]

    @property
    def rtf(self) -> float:
        return self.wall_s / self.duration_s if self.duration_s else 0.0


def gap_after(settings: DialogueSettings, turn: Turn, following: Turn | None) -> float:
    """Seconds of silence after ``turn``: its own pause if the script gives one, else by turn-taking rules."""
    if following is None:
        return 0.0
    if turn.pause_after_s is not None:
        return turn.pause_after_s
    end = turn.text.rstrip()
    if end.endswith(("—", "--", "...", "…", "-")):
        gap = settings.gap_interrupted_s
    elif following.speaker == turn.speaker:
        gap = settings.gap_same_s
    elif end.endswith(("?", "？")):
        gap = settings.gap_question_s
    else:
        gap = settings.gap_change_s
    return gap * settings.gap_scale


def auto_voices(script: Script, taken: dict[str, str]) -> dict[str, str]:
    """Distinct stock voices for speakers without one, by each speaker's main language, female/male alternating."""
    used = set(taken.values())
    out = dict(taken)
    for name in script.speakers:
        if name in out:
            continue
        text = " ".join(t.text for t in script.turns if t.speaker == name)
        lang = language_of(text)  # the frontend's rule for a primary language
        pick = next((v for v in AUTO_VOICES[lang] if v not in used), None)
        if pick is None:
            raise VoiceError(f"--auto-voices ran out of distinct {lang} voices at speaker {name!r}; map it with --voice")
        out[name] = pick
        used.add(pick)
    return out


class DialogueStream:
    """Iterate for :class:`TurnAudio` in script order; ``save`` writes the mix and its side files."""

    def __init__(self, engine: EngineClient, script: Script, voices: dict[str, str] | None = None, *,
                 auto_assign: bool = False, settings: DialogueSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings or DialogueSettings()
        self.energy = EnergySum()  # of the turns rendered by the last iteration
        script = script.with_voices(voices or {})
        mapping = {n: s.voice for n, s in script.speakers.items() if s.voice}
        if auto_assign:
            mapping = auto_voices(script, mapping)
        missing = [s for n, s in script.speakers.items() if n not in mapping]
        if missing:
            listed = ", ".join(f"{s.name!r} (first at line {s.first_line})" for s in missing)
            raise VoiceError(f"{script.source}: speaker(s) without a voice: {listed}; map them with "
                             "--voice NAME=VOICE (or '# voices: NAME=VOICE' in the script) or pass --auto-voices")
        for name, voice in mapping.items():
            try:
                engine.phonemize("Hi.", voice=voice, tier=self.settings.tier)  # unknown voice, tier mismatch
            except GreenTTSError as exc:
                raise type(exc)(f"speaker {name!r}: {exc}") from None
        self.script = script
        self.voices = mapping
        self.sample_rate = self.settings.sample_rate or engine.native_rate(self.settings.tier)
        self._checked: set[int] = set()

    def _settings(self, turn: Turn) -> SynthesisSettings:
        """The turn's synthesis settings (its own, else its speaker's, else the dialogue's), validated once."""
        sp = self.script.speakers[turn.speaker]
        style = turn.style or sp.style
        try:
            return validated(SynthesisSettings, None, keep_none=True, voice=self.voices[turn.speaker],
                             lang=turn.lang or sp.lang or "auto", speed=turn.speed or sp.speed or 1.0,
                             prosody=None if style in (None, "neutral") else style,
                             loudness_lufs=self.settings.loudness_lufs, sample_rate=self.sample_rate,
                             tier=self.settings.tier)
        except GreenTTSError as exc:
            raise type(exc)(f"{self.script.source}:{turn.line}: {exc}") from None

    def _render(self, turn: Turn, following: Turn | None) -> TurnAudio:
        settings = self._settings(turn)
        rate = self.sample_rate
        parts: list[np.ndarray] = []
        segments: list[tuple[float, float, str]] = []
        words: list[tuple[float, float, str]] = []
        energy = EnergySum()
        pos = 0
        for piece in turn.pieces:
            if not piece.text:
                parts.append(audio_io.silence(piece.pause_s, rate))
                pos += len(parts[-1])
                continue
            try:
                stream = self.engine.stream(piece.text, settings, low_latency=False, priority="bulk")
            except GreenTTSError as exc:
                raise type(exc)(f"{self.script.source}:{turn.line}: {exc}") from None
            with stream:
                for chunk in stream:
                    speech_end = pos + len(chunk.audio) - round(chunk.segment.pause_s * rate)
                    segments.append((pos / rate, max(pos, speech_end) / rate, chunk.segment.text))
                    shift = pos / rate - chunk.segment.start_s
                    words += [(w["start"] + shift, w["end"] + shift, w["word"]) for w in chunk.words]
                    parts.append(chunk.audio)
                    pos += len(chunk.audio)
            energy.add(stream.energy)
        audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        _fade(audio, rate)
        return TurnAudio(turn, settings.voice or "", audio.astype(np.float32, copy=False), rate, segments,
                         gap_after(self.settings, turn, following), energy.as_dict(), words)

    def __iter__(self) -> Iterator[TurnAudio]:
        turns = self.script.turns
        ahead = self.settings.lookahead_turns
        self.energy = EnergySum()
        with ThreadPoolExecutor(ahead, thread_name_prefix="greentts-dialogue") as pool:
            window: deque[Future[TurnAudio]] = deque()
            nxt = 0
            try:
                while nxt < len(turns) or window:
                    while nxt < len(turns) and len(window) < ahead:
                        following = turns[nxt + 1] if nxt + 1 < len(turns) else None
                        window.append(pool.submit(self._render, turns[nxt], following))
                        nxt += 1
                    turn = window.popleft().result()
                    self.energy.add(turn.energy)
                    yield turn
            finally:
                for fut in window:
                    fut.cancel()

    def collect(self) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """The whole mix in memory and the turns' timestamps (for short scripts; ``save`` streams)."""
        parts, turns, pos = [], [], 0.0
        for t in self:
            turns.append(_turn_record(t, pos))
            parts += [t.audio, audio_io.silence(t.gap_s, t.sample_rate)]
            pos += t.duration_s + t.gap_s
        return np.concatenate(parts), turns

    def save(self, out: str | Path, *, format: str | None = None, subtype: str | None = None,
             subtitles: tuple[str, ...] = ("srt", "vtt"), timestamps: bool = True, stems: bool = False,
             progress: Any = None) -> DialogueReport:
        """Write the mix (constant memory), ``OUT.turns.json``, subtitles with speaker labels and, with
        ``stems``, one aligned file per speaker (``OUT.NAME.ext``). Files appear only when all are done."""
        from .longform import SUBTITLE_FORMATS, CueWriter

        out = Path(out)
        fmt = format or audio_io.format_for_path(out)
        for kind in subtitles:
            if kind not in SUBTITLE_FORMATS:
                raise InputError(f"unknown subtitle format {kind!r}; choose from {', '.join(SUBTITLE_FORMATS)}")
        rate = self.sample_rate
        audio_io.check_format(fmt, rate, subtype)
        t0 = time.perf_counter()
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = audio_io.FileWriter(out, rate, fmt, subtype)
        stem_writers = {name: audio_io.FileWriter(_stem_path(out, name), rate, fmt, subtype)
                        for name in self.script.speakers} if stems else {}
        cues = [CueWriter(out.with_suffix(f".{k}"), k) for k in subtitles]
        records: list[dict[str, Any]] = []
        try:
            for t in self:
                start = writer.frames / rate
                gap = audio_io.silence(t.gap_s, rate)
                writer.write(t.audio)
                writer.write(gap)
                for name, w in stem_writers.items():
                    w.write(t.audio if name == t.turn.speaker else np.zeros(len(t.audio), np.float32))
                    w.write(gap)
                words = [(start + a, start + b, w) for a, b, w in t.words]
                for s, e, text in t.segments:
                    for c in cues:
                        c.add(start + s, start + e, text, t.turn.speaker, words=words)
                records.append(_turn_record(t, start))
                if progress:
                    progress(t.turn.index + 1, len(self.script.turns), writer.frames / rate)
            for w in [writer, *stem_writers.values()]:
                w.finish()
            for c in cues:
                c.finish()
            files = [writer.commit(), *(w.commit() for w in stem_writers.values()), *(c.commit() for c in cues)]
            if timestamps:
                path = out.with_suffix(".turns.json")
                data = json.dumps({"audio": out.name, "duration_s": round(writer.frames / rate, 3),
                                   "speakers": self.voices, "turns": records}, ensure_ascii=False, indent=1)
                write_atomic(path, data)
                files.append(path)
        finally:
            for w in [writer, *stem_writers.values()]:
                w.close()
            for c in cues:
                c.discard()
        return DialogueReport(out, writer.frames / rate, len(records), dict(self.voices), files,
                              time.perf_counter() - t0, self.energy.as_dict())


def _turn_record(t: TurnAudio, start: float) -> dict[str, Any]:
    speech_end = start + (t.segments[-1][1] if t.segments else t.duration_s)
    return {"index": t.turn.index, "speaker": t.turn.speaker, "voice": t.voice, "line": t.turn.line,
            "start_s": round(start, 3), "end_s": round(speech_end, 3), "text": t.turn.text,
            "style": t.turn.style, "energy_j": round(t.energy.get("joules", 0.0), 4)}


def _stem_path(out: Path, speaker: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in speaker) or "speaker"
    return out.with_name(f"{out.stem}.{safe}{out.suffix}")


def _fade(audio: np.ndarray, rate: int) -> None:
    n = min(len(audio) // 2, int(FADE_S * rate))
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        audio[:n] *= ramp
        audio[-n:] *= ramp[::-1]
