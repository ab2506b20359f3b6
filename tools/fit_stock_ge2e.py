"""Mean GE2E (Resemblyzer) embedding of every English and Mandarin stock voice, shipped as
``src/greentts/data/stock_ge2e.npz``: enrollment picks its start voice by CAM++ and GE2E together.

Each voice reads the four sentences of its language that ``tools/fit_clone_prior.py`` uses (never the
held-out sentences of tests or benchmarks) on the real synthesis path; each reading is embedded as
references are (``Ge2eEncoder.embed_numpy``: pauses trimmed), the mean is normalised. About 2 minutes on 2 vCPUs:

    .venv/bin/python tools/fit_stock_ge2e.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_clone_prior import SENTENCES  # noqa: E402

from greentts import Engine  # noqa: E402
from greentts.clone.enroll import voice_language  # noqa: E402
from greentts.clone.ge2e import Ge2eEncoder, fetch_ge2e_weights  # noqa: E402
from greentts.models.assets import default_cache_dir  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "src" / "greentts" / "data" / "stock_ge2e.npz"


def main() -> None:
    ge2e = Ge2eEncoder(fetch_ge2e_weights(default_cache_dir()))
    names, embs = [], []
    with Engine(workers=1, threads_per_worker=2) as eng:
        for name in eng.voices.names():
            lang = voice_language(name)
            if lang is None:
                continue
            es = [ge2e.embed_numpy(eng.synthesize(t, voice=name, lang=lang).audio) for t in SENTENCES[lang]]
            m = np.mean(es, axis=0)
            names.append(name)
            embs.append(m / np.linalg.norm(m))
            print(name, lang, flush=True)
    np.savez(OUT, voices=np.array(names), emb=np.stack(embs).astype(np.float32))
    print(f"wrote {OUT} ({len(names)} voices)")


if __name__ == "__main__":
    main()
