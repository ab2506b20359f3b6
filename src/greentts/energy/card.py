"""The energy card's figures, as shipped in the package, and the energy-aware tier choice built on them.

``data/tier_energy.json`` is written by ``bench/energy_card.py`` (``--update-package``) from its
measured medians: per tier, joules per audio second and time to first audio at the default settings.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from ..errors import InputError, ModelError

__all__ = ["tier_figures", "choose_tier"]


@cache
def tier_figures() -> dict[str, Any]:
    path = files("greentts") / "data" / "tier_energy.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError("the package has no energy-card figures (data/tier_energy.json); "
                         "run bench/energy_card.py --update-package") from None


def choose_tier(able: list[str], max_first_audio_s: float | None = None) -> tuple[str, str]:
    """The cheapest tier (measured J per audio second) among ``able``, within the latency bound if given."""
    card = tier_figures()
    rows = {t: card["tiers"][t] for t in able if t in card["tiers"]}
    if not rows:
        raise ModelError(f"the energy card has no figures for tiers {able}")
    fast = {t: r for t, r in rows.items()
            if max_first_audio_s is None or r["first_audio_s"] <= max_first_audio_s}
    if not fast:
        seen = ", ".join(f"{t} {r['first_audio_s']:.3g} s" for t, r in sorted(rows.items()))
        raise InputError(f"no tier that can speak this request reaches first audio within "
                         f"{max_first_audio_s:g} s (energy card: {seen}); raise max_first_audio_s")
    best = min(fast, key=lambda t: fast[t]["j_per_audio_s"])
    others = ", ".join(f"{t} {r['j_per_audio_s']:.3g}" for t, r in sorted(rows.items()) if t != best)
    return best, (f"auto: {best} uses {fast[best]['j_per_audio_s']:.3g} J per audio second"
                  + (f" (vs {others})" if others else " (the only tier that can speak this)")
                  + f" [{card['source']}]")
