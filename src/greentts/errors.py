"""The greentts error hierarchy.

Every error the library raises on purpose derives from :class:`GreenTTSError`::

    GreenTTSError
    ├── InputError            bad text, settings or files supplied by the caller
    │   ├── EmptyTextError    nothing speakable in the input
    │   ├── DictionaryError   a pronunciation entry is malformed (names file and line)
    │   └── FormatError       unknown/unsupported output format or sample rate
    ├── VoiceError            unknown voice, or a voice that cannot speak the language
    ├── ModelError            model assets missing, corrupt or failing at run time
    │   └── AssetError        assembling or verifying weights failed
    ├── Overloaded            the scheduler queue is full (retry later)
    └── EngineClosed          the engine was closed

Errors raised in worker threads travel with their result and are re-raised in the caller.
"""

from __future__ import annotations

__all__ = [
    "GreenTTSError",
    "InputError",
    "EmptyTextError",
    "DictionaryError",
    "FormatError",
    "VoiceError",
    "ModelError",
    "AssetError",
    "Overloaded",
    "EngineClosed",
]


class GreenTTSError(Exception):
    """Base class of all greentts errors."""


class InputError(GreenTTSError, ValueError):
    """The caller supplied text, settings or files that cannot be used."""


class EmptyTextError(InputError):
    """The text contains nothing that can be spoken."""


class DictionaryError(InputError):
    """A pronunciation dictionary entry is malformed."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        where = f"{source}:{line}: " if source and line is not None else (f"{source}: " if source else "")
        super().__init__(where + message)
        self.source = source
        self.line = line


class FormatError(InputError):
    """Unsupported output format, subtype or sample rate."""


class VoiceError(GreenTTSError, LookupError):
    """Unknown voice, or a voice/backend that cannot speak the requested language."""


class ModelError(GreenTTSError, RuntimeError):
    """A model failed to load or to run."""


class AssetError(ModelError):
    """Model weights could not be located, assembled or verified."""


class Overloaded(GreenTTSError, RuntimeError):
    """The scheduler queue is full; retry later."""


class EngineClosed(GreenTTSError, RuntimeError):
    """The engine has been closed."""
