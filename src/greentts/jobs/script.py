"""Dialogue scripts: parse and validate (no weights). Errors name the line.

Text scripts, one turn per line (a line that is neither a turn nor a comment continues the turn above)::

    # voices: Host=af_heart, Guest=am_michael, S3=zf_xiaoxiao
    [S1] Welcome back to the show.
    [S1] {cheerful, speed=1.1} Today we have two guests. [pause 600ms] Let's begin.
    Host: (calm) Thank you for coming.
    Guest：谢谢邀请。{lang=zh}

Tags: ``{style, speed=1.1, lang=zh, pause=400ms}`` anywhere in a turn (unknown tags are errors);
``(style)`` at the start of a turn when it names a known style or emotion (else it is spoken text).
Styles are the prosody presets (neutral, news, storytelling, cheerful, calm, serious) or emotions
mapped onto them (happy, excited -> cheerful; sad, gentle, soft -> calm; angry, stern -> serious;
narrating -> storytelling). ``[pause 800ms]`` / ``[pause 1.5s]`` / ``[pause]`` insert silence.

JSON or YAML scripts::

    {"speakers": {"Host": {"voice": "af_heart", "style": "calm"}, "Guest": {"voice": "am_michael"}},
     "turns": [{"speaker": "Host", "text": "Welcome.", "pause_after_ms": 300}, ...]}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..text.ssml import parse_seconds
from ..voices.prosody import PRESETS

__all__ = ["Script", "Speaker", "Turn", "Piece", "parse_script", "load_script", "STYLE_ALIASES", "ScriptError"]

STYLE_ALIASES = {"happy": "cheerful", "excited": "cheerful", "joyful": "cheerful", "sad": "calm", "gentle": "calm",
                 "soft": "calm", "angry": "serious", "stern": "serious", "narrating": "storytelling",
                 "formal": "news", **{p: p for p in PRESETS}}
DEFAULT_PAUSE_S = 0.5
MAX_PAUSE_S = 30.0
_BRACKET_TURN = re.compile(r"^\[([^\[\]\s]{1,32})\]\s*(.*)$")
_NAME_TURN = re.compile(r"^([^\W\d_][\w .'\-]{0,31}?)\s*[:：]\s*(.+)$")
_PAUSE = re.compile(r"\[pause(?:\s+([^\]]*))?\]", re.IGNORECASE)
_TAGS = re.compile(r"\{([^{}]*)\}")
_LEAD_STYLE = re.compile(r"^\(\s*([A-Za-z]+)\s*\)\s*")
_DIRECTIVE = re.compile(r"^#\s*voices?\s*:\s*(.+)$", re.IGNORECASE)


class ScriptError(InputError):
    """A malformed script; the message starts with ``SOURCE:LINE:``."""


@dataclass(frozen=True)
class Piece:
    """Part of a turn: text to speak, or a pause (``text`` empty, ``pause_s`` > 0)."""

    text: str = ""
    pause_s: float = 0.0


@dataclass(frozen=True)
class Speaker:
    name: str
    voice: str | None = None
    lang: str | None = None
    speed: float | None = None
    style: str | None = None
    first_line: int = 0


@dataclass(frozen=True)
class Turn:
    index: int
    speaker: str
    pieces: tuple[Piece, ...]
    line: int
    lang: str | None = None
    speed: float | None = None
    style: str | None = None
    pause_after_s: float | None = None

    @property
    def text(self) -> str:
        return " ".join(p.text for p in self.pieces if p.text)


@dataclass(frozen=True)
class Script:
    speakers: dict[str, Speaker]
    turns: tuple[Turn, ...]
    source: str = "script"

    def with_voices(self, voices: dict[str, str]) -> Script:
        """Map speakers to voices (overriding the script's own mapping); unknown speaker names are errors."""
        unknown = sorted(set(voices) - set(self.speakers))
        if unknown:
            raise ScriptError(f"{self.source}: --voice names speaker(s) not in the script: {', '.join(unknown)} "
                              f"(speakers: {', '.join(self.speakers)})")
        speakers = {n: replace(s, voice=voices.get(n, s.voice)) for n, s in self.speakers.items()}
        return Script(speakers, self.turns, self.source)


def load_script(path: str | Path) -> Script:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the script {path}: {exc}") from None
    fmt = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower(), "text")
    return parse_script(text, fmt, str(path))


def parse_script(text: str | dict[str, Any], fmt: str | None = None, source: str = "script") -> Script:
    """Parse a script given as text (``fmt``: text | json | yaml; None guesses) or as a dict."""
    if isinstance(text, dict):
        return _from_data(text, source, {})
    if not isinstance(text, str) or not text.strip():
        raise ScriptError(f"{source}: the script is empty")
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "text"
    if fmt == "text":
        return _from_text(text, source)
    if fmt not in ("json", "yaml"):
        raise InputError(f"unknown script format {fmt!r}; use text, json or yaml")
    data, lines = _load_structured(text, fmt, source)
    return _from_data(data, source, lines)


# -- text scripts -------------------------------------------------------------------------------------

def _from_text(text: str, source: str) -> Script:
    speakers: dict[str, Speaker] = {}
    directive: dict[str, str] = {}
    raw: list[list[Any]] = []  # [speaker, line, [text lines]]
    for number, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        d = _DIRECTIVE.match(s)
        if d:
            directive.update(_voice_map(d[1], f"{source}:{number}"))
            continue
        if s.startswith("#"):
            continue
        m = _BRACKET_TURN.match(s) or _NAME_TURN.match(s)
        if m:
            name = m[1].strip()
            speakers.setdefault(name, Speaker(name, first_line=number))
            raw.append([name, number, [m[2]]])
        elif raw:
            raw[-1][2].append(s)  # a continuation of the turn above
        else:
            raise ScriptError(f"{source}:{number}: no speaker: start a turn with [S1] or 'Name:' (got {s[:40]!r})")
    if not raw:
        raise ScriptError(f"{source}: the script has no turns")
    turns = tuple(_turn(i, name, " ".join(parts), number, source, {}) for i, (name, number, parts) in enumerate(raw))
    unknown = sorted(set(directive) - set(speakers))
    if unknown:
        raise ScriptError(f"{source}: '# voices:' names speaker(s) with no turn: {', '.join(unknown)}")
    speakers = {n: replace(sp, voice=directive.get(n)) for n, sp in speakers.items()}
    return Script(speakers, turns, source)


def _voice_map(spec: str, where: str) -> dict[str, str]:
    out = {}
    for part in spec.split(";" if ";" in spec else ","):
        name, sep, voice = part.partition("=")
        if not sep or not name.strip() or not voice.strip():
            raise ScriptError(f"{where}: write voices as Name=voice, Name2=voice2 (got {part.strip()!r})")
        out[name.strip()] = voice.strip()
    return out


def _turn(index: int, speaker: str, text: str, line: int, source: str, opts: dict[str, Any]) -> Turn:
    where = f"{source}:{line}"
    style = opts.get("style")
    lead = _LEAD_STYLE.match(text)
    if lead and lead[1].lower() in STYLE_ALIASES:
        style, text = STYLE_ALIASES[lead[1].lower()], text[lead.end():]
    tags: dict[str, Any] = {}
    for m in _TAGS.finditer(text):
        tags.update(_tags(m[1], where))
    text = _TAGS.sub(" ", text)
    style = tags.pop("style", style)
    pieces: list[Piece] = []
    pos = 0
    for m in _PAUSE.finditer(text):
        _add_text(pieces, text[pos:m.start()])
        pieces.append(Piece(pause_s=_duration(m[1], where) if m[1] and m[1].strip() else DEFAULT_PAUSE_S))
        pos = m.end()
    _add_text(pieces, text[pos:])
    if not any(p.text for p in pieces):
        raise ScriptError(f"{where}: the turn of {speaker!r} has no text to speak")
    return Turn(index, speaker, tuple(pieces), line, tags.get("lang", opts.get("lang")),
                tags.get("speed", opts.get("speed")), style, tags.get("pause", opts.get("pause_after_s")))


def _add_text(pieces: list[Piece], text: str) -> None:
    text = " ".join(text.split())
    if text:
        pieces.append(Piece(text=text))


def _tags(spec: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in (x.strip() for x in spec.split(",")):
        if not item:
            continue
        key, sep, value = (x.strip() for x in item.partition("="))
        if not sep:
            if key.lower() not in STYLE_ALIASES:
                raise ScriptError(f"{where}: unknown style {key!r}; styles: {', '.join(sorted(STYLE_ALIASES))}")
            out["style"] = STYLE_ALIASES[key.lower()]
        elif key == "speed":
            out["speed"] = _number(value, "speed", 0.5, 2.0, where)
        elif key == "lang":
            if value not in ("en", "zh", "auto"):
                raise ScriptError(f"{where}: lang must be en, zh or auto, not {value!r}")
            out["lang"] = value
        elif key == "pause":
            out["pause"] = _duration(value, where)
        elif key == "style":
            out.update(_tags(value, where))
        else:
            raise ScriptError(f"{where}: unknown tag {key!r}; tags: a style, speed=, lang=, pause=")
    return out


def _number(value: Any, what: str, lo: float, hi: float, where: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ScriptError(f"{where}: {what} must be a number, not {value!r}") from None
    if not lo <= x <= hi:
        raise ScriptError(f"{where}: {what} must be between {lo:g} and {hi:g}, got {x:g}")
    return x


def _duration(value: str, where: str) -> float:
    try:
        return parse_seconds(value, MAX_PAUSE_S, unit_required=False)
    except ValueError as exc:
        raise ScriptError(f"{where}: {exc}") from None


# -- JSON / YAML scripts ------------------------------------------------------------------------------

def _load_structured(text: str, fmt: str, source: str) -> tuple[Any, dict[str, int]]:
    """The data, and the line of each turn / speaker ("turns[3]", "speakers.Host") where it can be told."""
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScriptError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    try:
        import yaml
    except ImportError:
        if fmt == "yaml":
            raise InputError("YAML scripts need PyYAML: pip install pyyaml") from None
        return data, {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if fmt == "yaml":
            data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        if fmt == "json":
            return data, {}
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ScriptError(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return data, _lines(node)


def _lines(node: Any) -> dict[str, int]:
    import yaml

    out: dict[str, int] = {}
    if not isinstance(node, yaml.MappingNode):
        return out
    for key, value in node.value:
        if key.value == "turns" and isinstance(value, yaml.SequenceNode):
            for i, item in enumerate(value.value):
                out[f"turns[{i}]"] = item.start_mark.line + 1
        elif key.value == "speakers" and isinstance(value, yaml.MappingNode):
            for k, v in value.value:
                out[f"speakers.{k.value}"] = k.start_mark.line + 1
    return out


def _from_data(data: Any, source: str, lines: dict[str, int]) -> Script:
    def where(key: str) -> str:
        return f"{source}:{lines[key]}" if key in lines else f"{source}: {key}"

    if not isinstance(data, dict):
        raise ScriptError(f"{source}: a script must be an object with 'turns' (and optionally 'speakers')")
    extra = sorted(set(data) - {"speakers", "turns", "title"})
    if extra:
        raise ScriptError(f"{source}: unknown key(s) {', '.join(extra)}; allowed: speakers, turns, title")
    turns_data = data.get("turns")
    if not isinstance(turns_data, list) or not turns_data:
        raise ScriptError(f"{source}: 'turns' must be a non-empty list")
    speakers: dict[str, Speaker] = {}
    for name, spec in (data.get("speakers") or {}).items():
        speakers[str(name)] = _speaker(str(name), spec, where(f"speakers.{name}"), lines.get(f"speakers.{name}", 0))
    turns = []
    for i, item in enumerate(turns_data):
        w = where(f"turns[{i}]")
        if not isinstance(item, dict):
            raise ScriptError(f"{w}: a turn must be an object like {{\"speaker\": \"Host\", \"text\": \"...\"}}")
        bad = sorted(set(item) - {"speaker", "text", "lang", "speed", "style", "pause_after_ms"})
        if bad:
            raise ScriptError(f"{w}: unknown key(s) {', '.join(bad)}; allowed: speaker, text, lang, speed, style, "
                              "pause_after_ms")
        name, text = item.get("speaker"), item.get("text")
        if not isinstance(name, str) or not name.strip():
            raise ScriptError(f"{w}: 'speaker' must be a non-empty string")
        if not isinstance(text, str) or not text.strip():
            raise ScriptError(f"{w}: 'text' must be a non-empty string")
        speakers.setdefault(name, Speaker(name, first_line=lines.get(f"turns[{i}]", 0)))
        opts: dict[str, Any] = {}
        if item.get("style") is not None:
            opts.update(_tags(str(item["style"]), w))
        if item.get("speed") is not None:
            opts["speed"] = _number(item["speed"], "speed", 0.5, 2.0, w)
        if item.get("lang") is not None:
            opts.update(_tags(f"lang={item['lang']}", w))
        if item.get("pause_after_ms") is not None:
            opts["pause_after_s"] = _number(item["pause_after_ms"], "pause_after_ms", 0, MAX_PAUSE_S * 1000, w) / 1000
        turns.append(_turn(i, name, text, lines.get(f"turns[{i}]", i + 1), source, opts))
    return Script(speakers, tuple(turns), source)


def _speaker(name: str, spec: Any, where: str, line: int) -> Speaker:
    if isinstance(spec, str):
        spec = {"voice": spec}
    if not isinstance(spec, dict):
        raise ScriptError(f"{where}: speaker {name!r} must be a voice name or an object with 'voice'")
    bad = sorted(set(spec) - {"voice", "lang", "speed", "style"})
    if bad:
        raise ScriptError(f"{where}: unknown key(s) {', '.join(bad)} for speaker {name!r}; allowed: voice, lang, "
                          "speed, style")
    opts = _tags(str(spec["style"]), where) if spec.get("style") else {}
    if spec.get("lang") is not None:
        opts.update(_tags(f"lang={spec['lang']}", where))
    speed = _number(spec["speed"], "speed", 0.5, 2.0, where) if spec.get("speed") is not None else None
    voice = spec.get("voice")
    if voice is not None and (not isinstance(voice, str) or not voice.strip()):
        raise ScriptError(f"{where}: the voice of {name!r} must be a voice name")
    return Speaker(name, voice, opts.get("lang"), speed, opts.get("style"), line)
