"""greentts: fast, frugal speech synthesis that is honest about what it costs.

The public API is exactly what ``__all__`` lists (pinned by ``tests/test_public_api.py``)::

    from greentts import Engine
    with Engine() as engine:
        engine.synthesize("Hello!").save("hello.wav")

Importing greentts has no side effects: no model loads, no threads start, no logging changes.
"""

from ._version import __version__
from .energy.accounting import EnergyReport, EnergyTotals
from .engine import Engine, SynthesisStream
from .errors import (
    AssetError,
    DictionaryError,
    EmptyTextError,
    EngineClosed,
    FormatError,
    GreenTTSError,
    InputError,
    ModelError,
    Overloaded,
    VoiceError,
)
from .result import AudioChunk, Result, SegmentInfo
from .settings import EngineConfig, SynthesisSettings
from .text.lexicon import Lexicon, RuleHit
from .voices.enrollment import Enrollment

__all__ = [
    "Engine",
    "EngineConfig",
    "SynthesisSettings",
    "SynthesisStream",
    "Result",
    "AudioChunk",
    "SegmentInfo",
    "Enrollment",
    "EnergyReport",
    "EnergyTotals",
    "Lexicon",
    "RuleHit",
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
    "__version__",
]
