"""Model backends behind one protocol (see :mod:`greentts.models.base`)."""

from .base import Backend, BackendSession
from .hibari import HibariBackend
from .kokoro import KokoroBackend

__all__ = ["Backend", "BackendSession", "KokoroBackend", "HibariBackend"]
