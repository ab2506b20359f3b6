"""Batch task files (JSONL): parse, validate every line, sanitize output names. Runs without weights.

One task per line, the GLM-TTS format plus greentts' own optional fields::

    {"input_text": "Hello.", "output_name": "hello", "prompt_audio": "ref.wav", "prompt_text": "..."}
    {"input_text": "你好。", "output_name": "zh/001.mp3", "voice": "zf_xiaoxiao", "speed": 1.1}

``prompt_audio`` (a path, relative to the task file's folder) clones the voice of that clip through the
voice cache (each distinct clip is enrolled once); ``prompt_text`` is what the clip says. Without a
prompt, ``voice`` names a stock or enrolled voice (or a blend). ``meta`` is copied to the manifest.
Every line is checked before anything runs; each problem is reported with its line number.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GreenTTSError, InputError
from ..models.kokoro import SAMPLE_RATE as KOKORO_RATE
from ..runtime.audio import EXTENSIONS, FORMATS, check_format, default_rate
from ..settings import SynthesisSettings, validated
from ..text.lexicon import Lexicon
from ..text.normalize import is_han
from ..voices.store import VoiceStore, parse_blend

__all__ = ["Task", "BadLine", "TaskDefaults", "load_tasks", "safe_output_name", "prompt_voice_name"]

FIELDS = ("input_text", "output_name", "prompt_text", "prompt_audio", "voice", "language", "speed", "format",
          "sample_rate", "pronunciations", "tier", "meta")
MAX_TEXT_CHARS = 100_000
JOB_FILES = frozenset({"manifest.jsonl", "batch-report.json"})  # written by the job beside the outputs
MAX_NAME_BYTES = 200
_FORMAT_EXT = {"wav": ".wav", "flac": ".flac", "mp3": ".mp3", "ogg": ".ogg", "opus": ".opus", "pcm": ".pcm",
               "mulaw": ".ulaw"}
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f\\:*?"<>|]')
KEY_VERSION = 1  # bump when the same task would render differently (invalidates finished items on resume)


@dataclass(frozen=True)
class TaskDefaults:
    """Command-line defaults for fields a task leaves out."""

    voice: str | None = None
    language: str = "auto"
    format: str = "wav"
    sample_rate: int | None = None
    tier: str = "standard"
    speed: float = 1.0
    enroll_steps: int | None = None  # refinement steps for prompt clips (None: the enroller's default)


@dataclass(frozen=True)
class Task:
    line: int
    output: str  # relative POSIX path under the output folder, extension included
    text: str
    format: str
    settings: SynthesisSettings  # validated once, at loading (the voice of a prompt is set at run time)
    key: str  # identity of the request: same key = same audio
    prompt_audio: Path | None = None
    prompt_text: str | None = None
    meta: Any = None
    enroll_steps: int | None = None

    @property
    def prompt(self) -> tuple[str, str | None, str, int | None] | None:
        """(clip path, transcript, language, enrollment steps) when this task clones a voice from a clip."""
        if self.prompt_audio is None:
            return None
        return str(self.prompt_audio), self.prompt_text, self.settings.lang, self.enroll_steps


@dataclass(frozen=True)
class BadLine:
    line: int
    error: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.error}"


def safe_output_name(name: Any, format: str | None) -> tuple[str, str]:
    """A relative output path that stays inside the output folder, and its format.

    Refuses absolute paths, ``..``, hidden or empty parts (the job's own files are hidden or end in
    .jsonl/.json, so an output can never replace them), control and shell-special characters and
    names too long for a file system. A missing extension is added from ``format``; an extension that
    contradicts ``format`` is an error.
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError("output_name must be a non-empty string")
    if name != name.strip():
        raise InputError(f"output_name {name!r} starts or ends with white space")
    if name.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", name):
        raise InputError(f"output_name {name!r} must be a relative path inside --out-dir (no absolute paths)")
    bad = _BAD_CHARS.search(name)
    if bad:
        raise InputError(f"output_name {name!r} contains {bad[0]!r}; use letters, digits, '-', '_', '.', '/'")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InputError(f"output_name {name!r} may not contain '..', '.' or empty path parts")
    if any(p.startswith(".") for p in parts):
        raise InputError(f"output_name {name!r} may not contain hidden names (starting with '.')")
    ext = Path(parts[-1]).suffix.lower()
    implied = EXTENSIONS.get(ext)
    if implied is None:
        fmt = format or "wav"
        name = name + _FORMAT_EXT[fmt]
    elif format is not None and format != implied:
        raise InputError(f"output_name {name!r} has the extension of {implied}, but format is {format!r}")
    else:
        fmt = implied
    if parts[0] in JOB_FILES:
        raise InputError(f"output_name {name!r} would put audio inside the job's own file {parts[0]!r}")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES or any(len(p.encode("utf-8")) > 120 for p in parts):
        raise InputError(f"output_name is too long (at most {MAX_NAME_BYTES} bytes, 120 per path part)")
    return name, fmt


def prompt_voice_name(clip_sha256: str, prompt_text: str | None, lang: str, steps: int | None = None) -> str:
    """The enrolled voice's name for a prompt clip (+ transcript, language, steps: they change the result)."""
    from ..clone.enroll import ENROLL_VERSION

    extra = hashlib.sha256(json.dumps([prompt_text, lang, steps, ENROLL_VERSION]).encode()).hexdigest()[:6]
    return f"prompt-{clip_sha256[:12]}-{extra}"


def load_tasks(path: str | Path, defaults: TaskDefaults | None = None,
               voices: VoiceStore | None = None) -> tuple[list[Task], list[BadLine]]:
    """Read and validate every line of a JSONL task file: (valid tasks, bad lines). Blank lines are ignored.

    Raises InputError only when the file itself cannot be read.
    """
    path = Path(path)
    defaults = defaults or TaskDefaults()
    voices = voices or VoiceStore()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the task file {path}: {exc.strerror or exc}") from None
    tasks: list[Task] = []
    bad: list[BadLine] = []
    used: dict[str, int] = {}
    checker = _LineChecker(path.parent, defaults, voices)
    folders: dict[str, int] = {}  # every parent folder of an output -> the first line that needs it
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            task = checker.task(number, line)
        except GreenTTSError as exc:
            bad.append(BadLine(number, str(exc)))
            continue
        except (ValueError, OSError, RecursionError) as exc:  # bad Unicode, an unreadable clip, absurd nesting
            bad.append(BadLine(number, f"cannot be used: {type(exc).__name__}: {exc}"))
            continue
        out = task.output.lower()
        parents = ["/".join(out.split("/")[:i]) for i in range(1, out.count("/") + 1)]
        clash = used.get(out) or folders.get(out) or next((used[p] for p in parents if p in used), None)
        if clash is not None:
            bad.append(BadLine(number, f"output_name {task.output!r} clashes with the output of line {clash} "
                                       "(the same file, or a file where a folder must be)"))
            continue
        used[out] = number
        for p in parents:
            folders.setdefault(p, number)
        tasks.append(task)
    if not tasks and not bad:
        bad.append(BadLine(0, f"{path} contains no tasks"))
    return tasks, bad


@dataclass
class _LineChecker:
    base: Path
    defaults: TaskDefaults
    voices: VoiceStore
    _clip_hashes: dict[Path, str] = field(default_factory=dict)

    def task(self, number: int, line: bytes) -> Task:
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise InputError(f"a task must be a JSON object, not {type(obj).__name__}")
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InputError("contains invalid Unicode (an unpaired surrogate escape such as \\ud800)") from None
        unknown = sorted(set(obj) - set(FIELDS))
        if unknown:
            raise InputError(f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(FIELDS)}")
        text = obj.get("input_text")
        if not isinstance(text, str) or not text.strip():
            raise InputError("input_text must be a non-empty string")
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"input_text has {len(text)} characters; at most {MAX_TEXT_CHARS} per task "
                             "(use greentts narrate for books)")
        fmt = obj.get("format")
        if fmt is not None and fmt not in FORMATS:
            raise InputError(f"format {fmt!r} is unknown; choose from {', '.join(FORMATS)}")
        if "output_name" not in obj:
            raise InputError("output_name is missing")
        output, fmt = safe_output_name(obj["output_name"], fmt or (None if _has_ext(obj["output_name"])
                                                                   else self.defaults.format))
        prompt_audio, prompt_text = self._prompt(obj)
        if prompt_audio is not None and obj.get("voice"):
            raise InputError("give either voice or prompt_audio, not both")
        settings = self._settings(obj, fmt, clone=prompt_audio is not None)
        if settings.tier == "eco" and any(is_han(c) for c in text):
            raise InputError("the eco tier speaks English only; this text contains Chinese characters")
        identity = {"v": KEY_VERSION, "text": text, "format": fmt, "settings": _identity(settings),
                    "prompt": [self._clip_hash(prompt_audio), prompt_text, self.defaults.enroll_steps]
                    if prompt_audio else None}
        key = hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
        return Task(number, output, text, fmt, settings, key, prompt_audio, prompt_text, obj.get("meta"),
                    self.defaults.enroll_steps if prompt_audio else None)

    def _prompt(self, obj: dict[str, Any]) -> tuple[Path | None, str | None]:
        audio, text = obj.get("prompt_audio"), obj.get("prompt_text")
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise InputError("prompt_text must be a non-empty string")
        if audio is None or audio == "":
            if text is not None:
                raise InputError("prompt_text is given without prompt_audio")
            return None, None
        if not isinstance(audio, str):
            raise InputError("prompt_audio must be a path (string)")
        path = Path(audio).expanduser()
        path = path if path.is_absolute() else self.base / path
        if not path.is_file():
            raise InputError(f"prompt_audio {audio!r} not found (looked for {path})")
        return path, text

    def _settings(self, obj: dict[str, Any], fmt: str, clone: bool) -> SynthesisSettings:
        d = self.defaults
        voice = None if clone else (obj.get("voice") or d.voice)
        lang = obj.get("language", d.language)
        rate = obj.get("sample_rate", d.sample_rate) or default_rate(fmt)
        pron = obj.get("pronunciations") or ()
        if not isinstance(pron, (list, tuple)):
            raise InputError("pronunciations must be a list of entries like "
                             '{"grapheme": "Nguyen", "phoneme": "/wˈɪn/"}')
        Lexicon.from_entries(list(pron), "pronunciations")  # DictionaryError names the entry
        s = validated(SynthesisSettings, None, voice=voice, lang=lang, speed=obj.get("speed", d.speed),
                      sample_rate=rate, pronunciations=tuple(pron), tier=obj.get("tier", d.tier))
        if voice:
            for name, _ in parse_blend(voice):
                self.voices.get(name)  # VoiceError names an unknown voice
        check_format(fmt, s.sample_rate or KOKORO_RATE)  # both tiers render at the Kokoro rate
        return s

    def _clip_hash(self, path: Path) -> str:
        if path not in self._clip_hashes:
            self._clip_hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._clip_hashes[path]


def _identity(s: SynthesisSettings) -> dict[str, Any]:
    """The fields of a task's settings that its key hashes (the form of KEY_VERSION 1: only fields a task
    line can set, unset ones left out, so keys of earlier runs still match)."""
    out: dict[str, Any] = {"lang": s.lang, "speed": s.speed, "tier": s.tier}
    if s.voice:
        out["voice"] = s.voice
    if s.sample_rate:
        out["sample_rate"] = s.sample_rate
    if s.pronunciations:
        out["pronunciations"] = [dict(p) for p in s.pronunciations]
    return out


def _has_ext(name: Any) -> bool:
    return isinstance(name, str) and Path(name).suffix.lower() in EXTENSIONS
