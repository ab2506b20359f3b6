"""Front ends that speak other programs' protocols, each a thin adapter over the HTTP server's
:class:`~greentts.server.serving.SpeechService` (the same admission, voices, dictionaries, energy
record and metrics as ``POST /v1/audio/speech``):

- :mod:`.wyoming`: Home Assistant's Wyoming protocol (``greentts wyoming``; extra ``greentts[wyoming]``).
"""

from __future__ import annotations

__all__: list[str] = []
