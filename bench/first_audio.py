"""First audio over a set of 5-sentence paragraphs (short, medium and long first sentences; English and
Mandarin) on a warm, idle default engine: the time from ``Engine.stream`` to its first chunk.

Each paragraph is spoken ``--reps`` times (the engine idle before each); medians are reported.
``--compare-spinning`` runs the same on a second engine whose onnxruntime sessions spin-wait (the
setting before issue 20), ``--compare-frontend`` on one whose G2P dictionaries are held in memory
(``compact_frontend=False``, the setting before 2026-12-08), one after the other in the same process.

    python bench/first_audio.py --reps 3 --compare-spinning
"""

from __future__ import annotations

import argparse
import statistics
import time

PARAGRAPHS = {
    "en, short first": "Hi. The weather turned cold overnight. Schools opened late. Buses ran on the winter "
                       "timetable. Most people stayed home.",
    "en, medium first": "The quarterly report shows revenue up twelve percent. Costs rose too. Margins held. "
                        "The board was pleased. Shares rose.",
    "en, long first": "When the committee finally met on the third floor of the old library, nobody could remember "
                      "who had first suggested the idea. It was late. We left. The rain stopped. Then the lights "
                      "came on.",
    "zh, short first": "你好。今天天气很冷。学校推迟开门。公交车按冬季时刻表运行。大多数人待在家里。",
    "zh, long first": "委员会终于在老图书馆三楼开会的时候，已经没有人记得最初是谁提出了这个想法。天很晚了。我们走了。雨停了。灯亮了。",
}


def measure(reps: int, spinning: bool, compact: bool = True) -> dict[str, float]:
    import greentts.models.base as base
    import greentts.models.kokoro as kokoro
    from greentts import Engine

    def session(path: str, threads: int, spinning: bool = False, optimized: bool = False):  # noqa: ANN202, ARG001
        return base.ort_session(path, threads, spinning=spin, optimized=optimized)

    spin = spinning
    kokoro.ort_session = session  # type: ignore[assignment]
    times: dict[str, list[float]] = {}
    with Engine(compact_frontend=compact) as engine:
        engine.warm_up()
        for _ in range(reps):
            for name, text in PARAGRAPHS.items():
                engine.wait_idle()
                time.sleep(0.3)
                t = time.perf_counter()
                with engine.stream(text) as stream:
                    next(iter(stream))
                    times.setdefault(name, []).append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--compare-spinning", action="store_true")
    ap.add_argument("--compare-frontend", action="store_true")
    args = ap.parse_args()
    now = measure(args.reps, False)
    before, title = {}, ""
    if args.compare_spinning:
        before, title = measure(args.reps, True), " with spinning (s) |"
    elif args.compare_frontend:
        before, title = measure(args.reps, False, compact=False), " G2P dicts in memory (s) |"
    print("| paragraph | first audio (s) |" + title)
    print("|---|---|" + ("---|" if before else ""))
    for name in PARAGRAPHS:
        print(f"| {name} | {now[name]:.3f} |" + (f" {before[name]:.3f} |" if before else ""))


if __name__ == "__main__":
    main()
