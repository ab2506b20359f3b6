"""Development sweep of enrollment settings on real speakers, judged on the torch path (nothing saved).

For each speaker: the enroller's own analysis, preview and refinement under each configuration
(``NAME=VALUE;NAME=VALUE`` overriding ``greentts.clone.enroll`` constants; ``ADAIN=0``/``1`` switches
the AdaIN offsets), then the torch Kokoro reads four held-out sentences. Prints, per speaker and
configuration, CAM++, GE2E and ECAPA cosines to the clip, the same-speaker ceiling, Whisper WER/CER and
the refinement time; then, per configuration, the mean share of the gap closed from the start voice to
the ceiling. Faster than ``bench/clone.py`` (no ONNX scoring, no saving); shipped numbers come from
``bench/clone.py``.

    .venv/bin/python tools/clone_torch_sweep.py lj,atkins,s4,narrator "ADAIN=0" "ADAIN=1;W_REG_ADAIN=0.01"
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from real_voices import SPEAKERS, fetch  # noqa: E402

import greentts.clone.enroll as enroll  # noqa: E402
from greentts import Engine  # noqa: E402
from greentts.clone.evaluate import HELD_OUT_SENTENCES, SpeakerJudges  # noqa: E402
from greentts.models.assets import default_cache_dir  # noqa: E402
from greentts.voices.clip import prepare_clip  # noqa: E402

N_SENTENCES = 4


def parse(config: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in filter(None, config.split(";")):
        key, value = item.split("=", 1)
        current = getattr(enroll, key)  # AttributeError names an unknown constant
        out[key] = value == "1" if isinstance(current, bool) else type(current)(float(value))
    return out


def main() -> None:
    names = set(sys.argv[1].split(","))
    configs = [parse(c) for c in sys.argv[2:]] or [{}]
    cache = default_cache_dir()
    paths = fetch(cache)
    eng = Engine(voices_dir=tempfile.mkdtemp())
    enr = eng.enroller()
    judges = SpeakerJudges(cache)

    def speak(table: np.ndarray, adain: np.ndarray | None, lang: str) -> list[np.ndarray]:
        out = []
        for text in HELD_OUT_SENTENCES[lang][:N_SENTENCES]:
            ids = [i for s in enr.frontend.phonemize(text, lang=lang) for i in s.ids][:510]
            prep = enr.kokoro.prepare(ids)
            out.append(enr.kokoro.synthesize(prep, table[prep.n_ids - 1], adain=adain))
        return out

    def scores(audio: list[np.ndarray], ref: dict, lang: str) -> dict[str, float]:
        embs = [judges.embed(a) for a in audio]
        out = {j: round(float(np.mean([judges.cos(e[j], ref[j]) for e in embs])), 4) for j in judges.names}
        out["asr"] = round(judges.error_rate(audio, lang, len(audio)), 4)
        return out

    rows = []
    for sp in [s for s in SPEAKERS if s.name in names]:
        ref_path, second_path = paths[sp.name]
        clip = prepare_clip(ref_path)
        ref, second = judges.embed(clip.audio), judges.embed(prepare_clip(second_path).audio)
        reference = enr.reference(clip, text=sp.transcript, lang=sp.lang)
        base, delta0 = enr.preview(reference)
        row: dict[str, Any] = {"speaker": sp.name, "lang": sp.lang,
                               "ceiling": {j: round(judges.cos(second[j], ref[j]), 4) for j in judges.names},
                               "start": scores(speak(enr.table(base, np.zeros(256, np.float32)), None, sp.lang),
                                               ref, sp.lang)}
        for i, config in enumerate(configs):
            saved = {k: getattr(enroll, k) for k in config}
            for k, v in config.items():
                setattr(enroll, k, v)
            try:
                t = time.perf_counter()
                delta, stats = enr.refine(reference, base, delta0, steps=enroll.STEPS)
                row[f"c{i}_refine_s"] = round(time.perf_counter() - t, 1)
            finally:
                for k, v in saved.items():
                    setattr(enroll, k, v)
            row[f"c{i}"] = scores(speak(enr.table(base, delta), stats["adain"], sp.lang), ref, sp.lang)
        print(json.dumps(row), flush=True)
        rows.append(row)
    for key in ["start"] + [f"c{i}" for i in range(len(configs))]:
        for j in judges.names:
            gap = np.mean([(r[key][j] - r["start"][j]) / (r["ceiling"][j] - r["start"][j]) for r in rows])
            print(key, j, round(float(np.mean([r[key][j] for r in rows])), 4), "gap closed", round(float(gap), 3))
        for lang in ("en", "zh"):
            v = [r[key]["asr"] for r in rows if r["lang"] == lang]
            if v:
                print(key, "asr", lang, round(float(np.mean(v)), 4))


if __name__ == "__main__":
    main()
