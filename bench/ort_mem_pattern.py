"""onnxruntime memory patterns on or off: Kokoro synthesis time side by side in one process.

Two single-thread sessions of the same int8 (im2col) graph, one with ``enable_mem_pattern`` (onnxruntime's
default), one without (greentts' choice: patterns are planned per input shape, and every segment length is
a new shape, so a server's memory kept growing). The same corpus segments run through both, in alternating
order, for several rounds; the median time ratio is reported. The memory side is measured under load by
``bench/serve_load.py --soak``.

    python bench/ort_mem_pattern.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sentences", type=int, default=12)
    args = ap.parse_args()
    import onnxruntime as ort

    from greentts import Engine
    from greentts.models.assets import kokoro_fast_model_path
    from greentts.models.optimize import ADAIN_DIM

    with Engine() as engine:
        voice = engine.voices.get("af_heart")
        texts = [s for s in (HERE / "corpus_en.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
        segments = [seg.ids for t in texts[: args.sentences] for seg in engine.phonemize(t)]
    path = str(kokoro_fast_model_path(None))

    def session(pattern: bool):  # noqa: ANN202
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.enable_mem_pattern = pattern
        return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    sessions = {True: session(True), False: session(False)}

    def run(sess, ids) -> None:  # noqa: ANN001
        sess.run(None, {"tokens": np.asarray([[0, *ids, 0]], np.int64), "style": voice.style(len(ids)),
                        "speed": np.asarray([1.0], np.float32), "adain": np.zeros(ADAIN_DIM, np.float32)})

    for sess in sessions.values():
        run(sess, segments[0])
    ratios = []
    for r in range(args.rounds):
        times = {}
        for pattern in ((True, False) if r % 2 == 0 else (False, True)):
            t = time.perf_counter()
            for ids in segments:
                run(sessions[pattern], ids)
            times[pattern] = time.perf_counter() - t
        ratios.append(times[False] / times[True])
        print(f"round {r}: patterns on {times[True]:.2f} s, off {times[False]:.2f} s ({ratios[-1]:.3f}x)", flush=True)
    print(f"{len(segments)} segments; time without / with memory patterns, median of {args.rounds}: "
          f"{statistics.median(ratios):.3f}x")


if __name__ == "__main__":
    main()
