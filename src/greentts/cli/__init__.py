"""The ``greentts`` command line: say, voices, enroll, phonemize, demo, batch, narrate, dialogue,
serve, energy report.

Every synthesis command prints a one-line energy summary (joules, kWh, gCO2e, measured or estimated).
Options shared by several commands are defined once, in :mod:`.options`; each command builds its
settings object (:class:`~greentts.settings.SynthesisSettings`, :class:`~greentts.settings.EngineConfig`)
there, at the edge, and passes it down whole.
"""

from __future__ import annotations

# each module registers its commands on ``app``; the import order is the order of ``greentts --help``
from . import speak  # noqa: F401, I001
from . import jobs  # noqa: F401, E402
from . import serve  # noqa: F401, E402
from .app import app, energy_app

__all__ = ["app", "energy_app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
