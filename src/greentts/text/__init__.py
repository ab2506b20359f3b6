"""Text frontend (normalization, segmentation, G2P, pronunciation dictionaries); needs no model weights."""

from .frontend import Frontend, Plan, Segment
from .lexicon import Lexicon, RuleHit
from .normalize import Skipped, clean, normalize_en, normalize_zh

__all__ = ["Frontend", "Plan", "Segment", "Lexicon", "RuleHit", "Skipped", "clean", "normalize_en", "normalize_zh"]
