"""How far can enrollment's voice representation go towards a real speaker? An upper bound.

Runs ``bench/clone.py`` with an extra loss term that optimises the **judge itself** (ECAPA, which no
shipped loss uses): ``W * (1 - cos(ECAPA(synthesis), ECAPA(reference)))``. The ECAPA score this reaches
on held-out sentences bounds what any loss can reach with the same representation (a style table of
stock voice + 256-d offset) and the same steps; its share of the gap to the same-speaker ceiling says
whether the loss or the representation is the limit. A measurement, never a way to enroll.

    .venv/bin/python tools/clone_oracle.py --speakers lj,atkins,s4,narrator --out /tmp/oracle
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import torch

import greentts.clone.enroll as enroll
from greentts.clone.ecapa import EcapaEncoder, fetch_ecapa_weights
from greentts.models.assets import default_cache_dir

W = 2.0


def main() -> None:
    enc = EcapaEncoder(fetch_ecapa_weights(default_cache_dir()))
    targets: dict[str, torch.Tensor] = {}

    def oracle(ref, audio):  # type: ignore[no-untyped-def]
        key = ref.clip.sha256
        if key not in targets:
            targets[key] = torch.from_numpy(enc.embed(np.asarray(ref.clip.audio, np.float32), 24000))
        return W * (1 - enc.embed_torch(audio) @ targets[key])

    enroll.EXTRA_LOSS = oracle
    bench = Path(__file__).resolve().parents[1] / "bench" / "clone.py"
    sys.argv = [str(bench), *sys.argv[1:]]
    runpy.run_path(str(bench), run_name="__main__")


if __name__ == "__main__":
    main()
