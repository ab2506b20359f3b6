"""greentts' English normalizer against nemo-text-processing's, on the normalization data file.

Both normalizers read every case of tests/data/normalize_en.tsv (class, written, spoken); a case counts
as right when the output says the same words as the expected spoken form, compared either as the
data file's test compares (case, punctuation, spacing aside) or the way the intelligibility bench
scores speech (greentts.quality.scoring.en_words: spelled letters, "oh"/"zero" and "hundred and
five"/"hundred five" aside too), so that a convention the data file happens to prefer is not counted
against NeMo. Reports per-class and overall accuracy and the median
and 90th-percentile time per case. The by-ear comparison is ``bench/intelligibility.py --nemo``.

    pip install nemo-text-processing   # pynini WFSTs; the grammars compile on first use (minutes)
    python bench/normalizers.py [--json FILE] [--show-wrong CLASS]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from greentts.quality.scoring import best_errors, en_words
from greentts.text.normalize import clean, normalize_en

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "normalize_en.tsv"
sys.path.insert(0, str(ROOT / "tests"))
from test_normalize_data import canonical  # noqa: E402


def cases() -> list[tuple[str, str, str]]:
    rows = [line.split("\t") for line in DATA.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    return [(c.strip(), w, s) for c, w, s in rows]


def greentts(text: str) -> str:
    return normalize_en(clean(text)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--show-wrong", default="", help="print NeMo's and greentts' wrong cases of this class")
    ap.add_argument("--grammars", type=Path, default=Path("/tmp/greentts-nemo-grammars"))
    args = ap.parse_args()
    from nemo_text_processing.text_normalization.normalize import Normalizer

    t0 = time.perf_counter()
    nemo = Normalizer(input_case="cased", lang="en", cache_dir=str(args.grammars))
    build_s = time.perf_counter() - t0
    normalizers = {"greentts": greentts, "nemo": lambda t: nemo.normalize(t, punct_post_process=True)}
    right: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    seconds: dict[str, list[float]] = defaultdict(list)
    for cls, written, spoken in cases():
        for name, normalize in normalizers.items():
            t1 = time.perf_counter()
            out = normalize(written)
            seconds[name].append(time.perf_counter() - t1)
            ok = canonical(out) == canonical(spoken) or best_errors(spoken, out, en_words)[0] == 0
            for key in (cls, "ALL"):
                right[(key, name)][0] += ok
                right[(key, name)][1] += 1
            if not ok and cls == args.show_wrong:
                print(f"{name}: {written!r}\n  expected {spoken!r}\n  got      {out!r}")
    classes = sorted({c for c, _ in right if c != "ALL"}) + ["ALL"]
    table = {c: {n: round(right[(c, n)][0] / right[(c, n)][1], 3) for n in normalizers} for c in classes}
    timing = {n: {"median_ms": round(1000 * statistics.median(s), 2),
                  "p90_ms": round(1000 * sorted(s)[int(0.9 * len(s))], 2)} for n, s in seconds.items()}
    print("| class | cases | greentts | nemo |\n|---|---|---|---|")
    for c in classes:
        print(f"| {c} | {right[(c, 'nemo')][1]} | {table[c]['greentts']:.3f} | {table[c]['nemo']:.3f} |")
    print(json.dumps({"timing_per_case": timing, "nemo_grammar_build_s": round(build_s, 1)}))
    if args.json:
        args.json.write_text(json.dumps({"accuracy": table, "timing_per_case": timing,
                                         "nemo_grammar_build_s": round(build_s, 1)}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
