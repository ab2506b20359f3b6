"""Front ends that speak other programs' protocols, each a thin adapter over the HTTP server's
:class:`~greentts.server.serving.SpeechService` (the same admission, voices, dictionaries, energy
record and metrics as ``POST /v1/audio/speech``):

- :mod:`.wyoming`: Home Assistant's Wyoming protocol (``greentts wyoming``; extra ``greentts[wyoming]``);
- :mod:`.speechd`: a Speech Dispatcher output module (``sd_greentts``: screen readers, ``spd-say``), with
  :mod:`.speechd_text` (the reader's settings applied to its messages; no protocol, no model).
"""

from __future__ import annotations

__all__: list[str] = []
