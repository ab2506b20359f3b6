"""What Speech Dispatcher sends, made into what the engine reads: its SSML messages with the reader's
settings applied (punctuation mode, spelling, pitch), its CHAR and KEY messages, its voice types.

Pure functions, no protocol and no model: tested on their own."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

__all__ = ["ReaderSettings", "message_ssml", "char_ssml", "key_ssml", "speed_of", "gain_of", "voice_for",
           "language_of"]

# Spoken names of punctuation, by the punctuation mode that first speaks them (Speech Dispatcher's
# none < some < most < all). Sentence punctuation is spoken only in "all".
_SOME = {"@": "at", "#": "hash", "%": "percent", "^": "caret", "&": "and", "*": "star", "_": "underscore",
         "+": "plus", "=": "equals", "<": "less than", ">": "greater than", "|": "bar", "\\": "backslash",
         "/": "slash", "~": "tilde", "`": "backtick", "$": "dollar"}
_MOST = {"(": "left paren", ")": "right paren", "[": "left bracket", "]": "right bracket", "{": "left brace",
         "}": "right brace", '"': "quote", "'": "apostrophe", "-": "dash", ":": "colon", ";": "semicolon"}
_ALL = {".": "dot", ",": "comma", "!": "bang", "?": "question", "…": "ellipsis", "，": "逗号", "。": "句号",
        "！": "感叹号", "？": "问号", "、": "顿号", "；": "分号", "：": "冒号"}
PUNCTUATION = {"none": {}, "some": _SOME, "most": {**_SOME, **_MOST}, "all": {**_SOME, **_MOST, **_ALL}}

# Speech Dispatcher's voice types -> stock voices, by language
VOICE_TYPES = {
    "en": {"female1": "af_heart", "female2": "af_bella", "female3": "bf_emma", "male1": "am_michael",
           "male2": "am_fenrir", "male3": "bm_george", "child_female": "af_sky", "child_male": "am_puck"},
    "zh": {"female1": "zf_xiaoxiao", "female2": "zf_xiaoyi", "female3": "zf_xiaobei", "male1": "zm_yunjian",
           "male2": "zm_yunxi", "male3": "zm_yunyang", "child_female": "zf_xiaoni", "child_male": "zm_yunxia"},
}
_TAG = re.compile(r"(<[^>]*>)")
_SPEAK = re.compile(r"^\s*<speak[^>]*>(.*)</speak>\s*$", re.S)


@dataclass
class ReaderSettings:
    """The settings Speech Dispatcher SETs before each message (its ranges: -100..100)."""

    rate: int = 0
    pitch: int = 0
    volume: int = 100  # 100: full level (Speech Dispatcher's DefaultVolume)
    punctuation_mode: str = "some"
    spelling_mode: str = "off"
    voice: str = ""  # a voice type: male1 .. child_female
    language: str = ""
    synthesis_voice: str = ""  # a voice name from LIST VOICES

    def set(self, name: str, value: str) -> None:
        """One ``name=value`` line of SET; unknown names and values that do not parse are ignored."""
        value = "" if value == "NULL" else value
        if name in ("rate", "pitch", "volume"):
            try:
                setattr(self, name, max(-100, min(100, int(value))))
            except ValueError:
                pass
        elif name in ("punctuation_mode", "spelling_mode", "voice", "language", "synthesis_voice"):
            setattr(self, name, value)


def speed_of(rate: int) -> float:
    """-100..100 -> 0.5..2.0, 0 = 1.0 (each 100 steps is twice or half as fast)."""
    return round(2.0 ** (max(-100, min(100, rate)) / 100), 4)


def gain_of(volume: int) -> float:
    """-100..100 -> 0..1 (100: the voice as rendered)."""
    return (max(-100, min(100, volume)) + 100) / 200


def language_of(tag: str) -> str:
    t = tag.lower().replace("_", "-")
    return "en" if t.startswith("en") else "zh" if t.startswith(("zh", "cmn")) else "auto"


def voice_for(settings: ReaderSettings, defaults: dict[str, str], known: set[str]) -> str:
    """The voice of a message: the synthesis voice if it is one of ours, else the voice type's stock voice
    in the message's language, else the language's default."""
    if settings.synthesis_voice in known:
        return settings.synthesis_voice
    lang = language_of(settings.language)
    lang = "zh" if lang == "zh" else "en"
    return VOICE_TYPES[lang].get(settings.voice.lower(), defaults[lang])


def _speak_punctuation(text: str, mode: str) -> str:
    names = PUNCTUATION.get(mode, _SOME)
    if not names:
        return text
    return "".join(f" {names[c]} " if c in names else c for c in text)


def message_ssml(ssml: str, settings: ReaderSettings) -> str:
    """A SPEAK message (always SSML: ``<speak>`` around escaped text and ``__spd_N`` marks) with the
    punctuation mode, spelling mode and pitch applied; marks are kept."""
    m = _SPEAK.match(ssml)
    body = m.group(1) if m else escape(ssml)
    parts = []
    for part in _TAG.split(body):
        if part.startswith("<"):
            parts.append(part)
        elif part:
            text = _speak_punctuation(html.unescape(part), settings.punctuation_mode)
            text = escape(text)
            if settings.spelling_mode == "on" and text.strip():
                text = f'<say-as interpret-as="characters">{text}</say-as>'
            parts.append(text)
    inner = "".join(parts)
    if settings.pitch:
        inner = f'<prosody pitch="{settings.pitch * 0.06:+.2f}st">{inner}</prosody>'
    return f"<speak>{inner}</speak>"


def char_ssml(char: str) -> str:
    """CHAR: one character (Speech Dispatcher sends ``space`` for " ")."""
    if char == "space":
        return "<speak>space</speak>"
    name = {**_SOME, **_MOST, **_ALL}.get(char)
    if name:
        return f"<speak>{escape(name)}</speak>"
    return f'<speak><say-as interpret-as="characters">{escape(char)}</say-as></speak>'


def key_ssml(key: str) -> str:
    """KEY: an SSIP key name (``a``, ``shift_a``, ``control_alt_delete``, ``f5``, ``kp-enter``, ``space``)."""
    words = [w for w in re.split(r"[_\s]+", key) if w]
    spoken = [char_ssml(w)[7:-8] if len(w) == 1 else escape(w.replace("-", " ")) for w in words]
    return "<speak>" + " ".join(spoken) + "</speak>"
