"""The energy card: what greentts costs per audio second and per 1000 sentences, by configuration.

Corpus: ``bench/energy_corpus_en.txt`` + ``bench/energy_corpus_zh.txt`` (500 + 500 fixed sentences),
interleaved en, zh, en, zh ... Kokoro speaks all of it (af_heart / zf_xiaoxiao); hibari speaks English
only, so its rows use the English half (its per-1000-sentence figures are for English sentences).

Each configuration runs in its own subprocess (so peak RSS is its own): build the engine, warm up,
measure idle power, measure time to first audio (median of 5 ``stream()`` calls on an idle engine), then
``--reps`` windows. A window sends one request per sentence from ``concurrency`` client threads, from
the corpus start, until ``--min-seconds`` have passed; it ends when the last request finishes. Every
request's audio is encoded to the configuration's format and rate, as a user would.

Per window: RTF (wall / audio), CPU-RTF (process CPU seconds / audio), joules from the engine's meter
over the whole window (requests + idle floor: what the machine really spent), the part attributed to
requests, kWh and gCO2e per 1000 sentences, and — where codecarbon is installed — CodeCarbon's
``OfflineEmissionsTracker`` figure for the same window with the same coefficients. Medians and spread
(min-max) over the windows go into ``docs/energy-card.{md,json,png}``.

    python bench/energy_card.py                    # the full card (about 30 minutes on 2 vCPUs)
    python bench/energy_card.py --quick            # a smoke run: 2 configs, 1 window of 10 s
    python bench/energy_card.py --update-package   # also refresh src/greentts/data/tier_energy.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = (HERE / "energy_corpus_en.txt", HERE / "energy_corpus_zh.txt")
VOICES = {"en": "af_heart", "zh": "zf_xiaoxiao"}
COUNTRY = "DEU"  # the card's carbon figures use one stated grid; J and kWh do not depend on it
FIRST_AUDIO_TEXT = "The library opens at nine. Please bring your card, and return books on time."


@dataclass(frozen=True)
class Config:
    name: str
    tier: str  # standard (kokoro) | eco (hibari)
    workers: int
    threads: int
    concurrency: int
    format: str
    sample_rate: int
    prompts: int = 0  # >0: a repeated-prompt workload, cycling through this many sentences of the corpus
    audio_cache: bool = False  # the engine's audio cache on (a fresh folder per run)

    @property
    def backend(self) -> str:
        return {"standard": "kokoro", "eco": "hibari"}[self.tier]


CONFIGS = [
    Config("kokoro 2x1 c4 wav24k", "standard", 2, 1, 4, "wav", 24000),
    Config("kokoro 2x1 c1 wav24k", "standard", 2, 1, 1, "wav", 24000),
    Config("kokoro 1x2 c4 wav24k", "standard", 1, 2, 4, "wav", 24000),
    Config("kokoro 1x1 c1 wav24k", "standard", 1, 1, 1, "wav", 24000),
    Config("kokoro 2x1 c4 mp3-22k", "standard", 2, 1, 4, "mp3", 22050),
    Config("kokoro 2x1 c4 opus-48k", "standard", 2, 1, 4, "opus", 48000),
    Config("hibari 2x1 c4 wav24k", "eco", 2, 1, 4, "wav", 24000),
    Config("hibari 1x1 c1 wav24k", "eco", 1, 1, 1, "wav", 24000),
    Config("hibari 2x1 c4 mp3-22k", "eco", 2, 1, 4, "mp3", 22050),
    # customer-service / IVR prompts: the same 40 sentences (20 en + 20 zh) again and again
    Config("kokoro 2x1 c4 wav24k 40 prompts", "standard", 2, 1, 4, "wav", 24000, prompts=40),
    Config("kokoro 2x1 c4 wav24k 40 prompts cached", "standard", 2, 1, 4, "wav", 24000, prompts=40,
           audio_cache=True),
]
TIER_ROWS = {"standard": "kokoro 2x1 c4 wav24k", "eco": "hibari 2x1 c4 wav24k"}  # each tier's default setup


def corpus(tier: str) -> list[tuple[str, str]]:
    en, zh = ([s for s in p.read_text(encoding="utf-8").splitlines() if s.strip()] for p in CORPUS)
    if tier == "eco":
        return [("en", s) for s in en]
    return [pair for a, b in zip(en, zh) for pair in (("en", a), ("zh", b))]


# -- one configuration, in a subprocess ---------------------------------------------------------------

def _tracker(engine):
    """CodeCarbon's offline tracker set to our CPU-time model's coefficients, or None if not installed.

    Process mode charges force_cpu_power / vCPUs per CPU second (so vCPUs x 2.76 W gives our active
    term exactly) and a fixed RAM wattage (set from the current RSS); it has no idle share, so it is
    compared with our total minus the idle share.
    """
    try:
        from codecarbon import OfflineEmissionsTracker
    except ImportError:
        return None
    cpu = engine.accountant.meter
    return OfflineEmissionsTracker(
        country_iso_code=COUNTRY, tracking_mode="process", output_methods=[], log_level="error",
        measure_power_secs=3600, allow_multiple_runs=True,
        force_cpu_power=cpu.vcpus * cpu.active_watts_per_vcpu, force_ram_power=cpu.watts_per_gb * cpu.read().raw["ram_gb"])


def run_config(cfg: Config, reps: int, min_seconds: float) -> dict:
    from greentts import Engine
    from greentts.runtime.audio import encode

    import tempfile

    items = corpus(cfg.tier)[: cfg.prompts or None]
    cache = tempfile.mkdtemp(prefix="greentts-card-audio-") if cfg.audio_cache else None
    engine = Engine(workers=cfg.workers, threads_per_worker=cfg.threads, country=COUNTRY,
                    audio_cache_mb=512 if cache else 0, audio_cache_dir=cache)
    engine.warm_up((cfg.tier,))
    firsts = []
    for _ in range(5):
        t = time.perf_counter()
        with engine.stream(FIRST_AUDIO_TEXT, tier=cfg.tier, voice="af_heart") as stream:
            next(iter(stream))
            firsts.append(time.perf_counter() - t)
        engine.wait_idle()
    estimated = engine.accountant.meter.method == "estimated"
    warm = _tracker(engine) if estimated else None  # first start is slow and loads pandas: not in a window
    if warm is not None:
        warm.start()
        warm.stop()
    windows = [_window(engine, cfg, items, min_seconds, encode) for _ in range(reps)]
    engine.close()
    return {"config": asdict(cfg), "backend": cfg.backend, "windows": windows,
            "first_audio_s": statistics.median(firsts), "idle_watts": engine.accountant.idle_watts,
            "meter": engine.accountant.meter.name, "method": engine.accountant.meter.method,
            "grid": engine.carbon.label, "gco2e_per_kwh": engine.carbon.gco2e_per_kwh,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "audio_cache": engine.audio_cache_stats()}


def _window(engine, cfg: Config, items: list[tuple[str, str]], min_seconds: float, encode) -> dict:
    lock = threading.Lock()
    state = {"next": 0, "audio_s": 0.0, "sentences": 0, "request_j": 0.0, "bytes": 0, "avoided_j": 0.0, "hits": 0}
    errors: list[BaseException] = []
    deadline = [0.0]

    def client() -> None:
        try:
            while True:
                with lock:
                    if time.perf_counter() >= deadline[0]:
                        return
                    lang, text = items[state["next"] % len(items)]
                    state["next"] += 1
                r = engine.synthesize(text, tier=cfg.tier, voice=VOICES[lang], sample_rate=cfg.sample_rate)
                data = encode(r.audio, r.sample_rate, cfg.format)
                with lock:
                    state["audio_s"] += r.duration_s
                    state["sentences"] += 1
                    state["request_j"] += r.energy.joules
                    state["bytes"] += len(data)
                    state["avoided_j"] += r.energy.avoided_joules
                    state["hits"] += r.energy.cache == "hit"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    tracker = _tracker(engine) if engine.accountant.meter.method == "estimated" else None
    engine.wait_idle()
    before, cpu0 = engine.energy(), _cpu_s()
    if tracker is not None:
        tracker.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + min_seconds
    threads = [threading.Thread(target=client) for _ in range(cfg.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    engine.wait_idle()
    after, cpu = engine.energy(), _cpu_s() - cpu0
    cc_kwh = None
    if tracker is not None:
        tracker.stop()
        cc_kwh = float(tracker.final_emissions_data.energy_consumed)
    if errors:
        raise errors[0]
    total_j, idle_j = after.total_j - before.total_j, after.idle_j - before.idle_j
    meter = engine.accountant.meter
    idle_share_j = getattr(meter, "vcpus", 0) * getattr(meter, "idle_watts_per_vcpu", 0.0) * (after.wall_s - before.wall_s)
    audio, n = state["audio_s"], state["sentences"]
    return {"wall_s": wall, "audio_s": audio, "sentences": n, "cpu_s": cpu, "rtf": wall / audio,
            "cpu_rtf": cpu / audio, "total_j": total_j, "idle_j": idle_j, "request_j": state["request_j"],
            "j_per_audio_s": total_j / audio, "request_j_per_audio_s": state["request_j"] / audio,
            "kwh_per_1000_sentences": 1000 * total_j / 3.6e6 / n,
            "gco2e_per_1000_sentences": 1000 * engine.carbon.gco2e(total_j) / n,
            "codecarbon_kwh_per_1000_sentences": None if cc_kwh is None else 1000 * cc_kwh / n,
            "ours_without_idle_share_kwh_per_1000_sentences": 1000 * (total_j - idle_share_j) / 3.6e6 / n,
            "conservation_error_j": abs(total_j - (after.attributed_j - before.attributed_j) - idle_j),
            "bytes": state["bytes"], "avoided_j": state["avoided_j"], "hit_fraction": state["hits"] / n}


def _cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


# -- the card -----------------------------------------------------------------------------------------

def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(raw: dict) -> dict:
    row = {"name": raw["config"]["name"], **raw["config"], "backend": raw["backend"],
           "first_audio_s": raw["first_audio_s"], "peak_rss_mb": raw["peak_rss_mb"], "method": raw["method"],
           "windows": len(raw["windows"]), "sentences": sum(w["sentences"] for w in raw["windows"]),
           "audio_s": sum(w["audio_s"] for w in raw["windows"]), "idle_watts": sum(raw["idle_watts"].values())}
    for key in ("wall_s", "rtf", "cpu_rtf", "j_per_audio_s", "request_j_per_audio_s", "kwh_per_1000_sentences",
                "gco2e_per_1000_sentences", "conservation_error_j"):
        row[key] = _stats([w[key] for w in raw["windows"]])
    cc = [w["codecarbon_kwh_per_1000_sentences"] for w in raw["windows"]]
    row["codecarbon_kwh_per_1000_sentences"] = _stats(cc) if all(v is not None for v in cc) else None
    row["ours_without_idle_share_kwh_per_1000_sentences"] = _stats(
        [w["ours_without_idle_share_kwh_per_1000_sentences"] for w in raw["windows"]])
    if raw["config"].get("prompts"):
        for key in ("avoided_j", "hit_fraction"):
            row[key] = _stats([w.get(key, 0.0) for w in raw["windows"]])
        row["avoided_j_per_1000_sentences"] = _stats(
            [1000 * w.get("avoided_j", 0.0) / w["sentences"] for w in raw["windows"]])
    return row


def _fmt(s: dict, digits: int = 3) -> str:
    return f"{s['median']:.{digits}g} ({s['min']:.{digits}g}–{s['max']:.{digits}g})"


def markdown(card: dict) -> str:
    m = card["machine"]
    lines = [
        "# greentts energy card", "",
        f"Generated by `python bench/energy_card.py` on {card['date']}: {m['cpu']}, {m['vcpus']} vCPUs, "
        f"Python {m['python']}. Meter: **{card['meter']}** (method: **{card['method']}**"
        + ("; no RAPL or GPU counter on this machine, so every joule here is an estimate from CPU time "
           "and memory with Cloud Carbon Footprint coefficients" if card["method"] == "estimated" else "")
        + f"). Carbon: {card['gco2e_per_kwh']:g} gCO2e/kWh ({card['grid']}), PUE 1.0.", "",
        f"Corpus: {card['corpus']}. Each configuration: warm-up, then {card['reps']} windows of at least "
        f"{card['min_seconds']:g} s of continuous requests (one request per sentence from `concurrency` client "
        "threads, audio encoded to the format shown). Figures are medians with the min–max spread over the "
        "windows. Joules are the meter's total over the window (requests + the idle floor), so they are what "
        "the machine spent; *requests only* leaves out the idle floor.", "",
        "| configuration | backend | workers×threads | concurrency | output | RTF | CPU-RTF | J per audio s "
        "| J per audio s (requests only) | kWh per 1000 sentences | gCO2e per 1000 sentences | first audio (s) "
        "| peak RSS (MB) | CodeCarbon kWh per 1000 sentences | ours without the idle share |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in card["rows"]:
        cc = _fmt(r["codecarbon_kwh_per_1000_sentences"]) if r["codecarbon_kwh_per_1000_sentences"] else "—"
        lines.append(
            f"| {r['name']} | {r['backend']} | {r['workers']}×{r['threads']} | {r['concurrency']} | "
            f"{r['format']} {r['sample_rate'] // 1000 if r['sample_rate'] % 1000 == 0 else r['sample_rate'] / 1000} kHz"
            f" | {_fmt(r['rtf'])} | {_fmt(r['cpu_rtf'])} | {_fmt(r['j_per_audio_s'])} | "
            f"{_fmt(r['request_j_per_audio_s'])} | {_fmt(r['kwh_per_1000_sentences'])} | "
            f"{_fmt(r['gco2e_per_1000_sentences'])} | {r['first_audio_s']:.3f} | {r['peak_rss_mb']:.0f} | {cc} | "
            f"{_fmt(r['ours_without_idle_share_kwh_per_1000_sentences'])} |")
    for m in card.get("merged", []):
        lines += ["", f"Rows {', '.join(m['rows'])} were measured on {m['date']} and merged into this card "
                  f"(`--merge`; {m['reps']} windows of at least {m['min_seconds']:g} s)."]
    prompt_rows = [r for r in card["rows"] if r.get("prompts")]
    if prompt_rows:
        lines += ["", f"Repeated prompts (rows named *N prompts*): the same {prompt_rows[0]['prompts']} sentences "
                  "(half English, half Mandarin) requested again and again, as an IVR menu or a UI would; *cached* "
                  "runs with the audio cache on (`EngineConfig(audio_cache_mb=512)`, a fresh folder, so its first "
                  "window includes the first renderings). Energy avoided = what the segments read back cost when "
                  "first rendered (estimated the same way), not spent again:", ""]
        for r in prompt_rows:
            lines.append(f"- **{r['name']}**: {_fmt(r['j_per_audio_s'])} J per audio second, "
                         f"{_fmt(r['kwh_per_1000_sentences'])} kWh per 1000 sentences, requests served wholly "
                         f"from the cache {_fmt(r['hit_fraction'], 2)}, energy avoided "
                         f"{_fmt(r['avoided_j_per_1000_sentences'])} J per 1000 sentences")
    lines += ["", "Tier figures used by `tier=\"auto\"` (from each tier's default setup):", ""]
    for tier, row in card["tiers"].items():
        lines.append(f"- **{tier}** ({row['config']}): {row['j_per_audio_s']:.3g} J per audio second, "
                     f"{row['kwh_per_1000_sentences']:.3g} kWh and {row['gco2e_per_1000_sentences']:.3g} gCO2e "
                     f"per 1000 sentences, first audio {row['first_audio_s']:.3f} s")
    lines += ["", "CodeCarbon column: codecarbon's `OfflineEmissionsTracker` around the same window, in process mode "
              "with `force_cpu_power` = vCPUs × our active watts per vCPU (so its CPU term equals ours) and "
              "`force_ram_power` = our W/GB × the resident memory. CodeCarbon has no idle share, so compare it "
              "with the last column (our total minus the idle share); the remaining gap is its fixed RAM power, "
              "its CPU sampling once per second, and its own start/stop overhead.", ""]
    lines += ["", "Hibari rows speak only the 500 English sentences (it has no Mandarin); their per-sentence "
              "figures are for English sentences. Rows are measured one after another on a shared, noisy "
              "2-vCPU machine: differences of about 10% or less between rows are within run-to-run noise "
              "(the kokoro mp3 row, which does more work than the wav row, came out cheaper). Conservation (requests + idle = meter total) held in every "
              f"window to within {card['max_conservation_error_j']:.2g} J.", "",
              "![energy per audio second by configuration](energy-card.png)", ""]
    return "\n".join(lines)


def chart(card: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = card["rows"]
    names = [r["name"] for r in rows]
    med = [r["j_per_audio_s"]["median"] for r in rows]
    lo = [r["j_per_audio_s"]["median"] - r["j_per_audio_s"]["min"] for r in rows]
    hi = [r["j_per_audio_s"]["max"] - r["j_per_audio_s"]["median"] for r in rows]
    req = [r["request_j_per_audio_s"]["median"] for r in rows]
    colors = ["#2e7d32" if r["backend"] == "hibari" else "#1565c0" for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(rows) + 1.5))
    y = range(len(rows))
    ax.barh(y, med, xerr=[lo, hi], color=colors, alpha=0.85, capsize=3, label="meter total (incl. idle floor)")
    ax.scatter(req, y, color="black", marker="|", s=200, zorder=3, label="requests only")
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"joules per audio second ({card['method']}, log scale)")
    ax.set_title("greentts energy per audio second by configuration")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--min-seconds", type=float, default=60.0)
    ap.add_argument("--only", nargs="*", help="configuration names to run (default: all)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 configurations, 1 window of 10 s")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "energy-card")
    ap.add_argument("--update-package", action="store_true", help="write src/greentts/data/tier_energy.json")
    ap.add_argument("--from-json", type=Path, help="only re-render the Markdown and the chart from a card's JSON")
    ap.add_argument("--merge", action="store_true", help="keep the rows of the existing card (--out .json) that "
                    "this run does not measure (e.g. --only 'kokoro 2x1 c4 wav24k 40 prompts cached' --merge)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.from_json:
        card = json.loads(args.from_json.read_text())
        args.out.with_suffix(".md").write_text(markdown(card))
        chart(card, args.out.with_suffix(".png"))
        print(f"wrote {args.out}.md, .png")
        return
    if args.child:
        cfg = next(c for c in CONFIGS if c.name == args.child)
        print(json.dumps(run_config(cfg, args.reps, args.min_seconds)))
        return
    if args.quick:
        args.reps, args.min_seconds = 1, 10.0
        args.only = args.only or [TIER_ROWS["standard"], TIER_ROWS["eco"]]
    configs = [c for c in CONFIGS if not args.only or c.name in args.only]
    rows, raws = [], []
    for cfg in configs:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", cfg.name, "--reps", str(args.reps),
                               "--min-seconds", str(args.min_seconds)], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            sys.exit(f"{cfg.name} failed:\n{proc.stderr[-3000:]}")
        raws.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        rows.append(summarize(raws[-1]))
        r = rows[-1]
        print(f"{cfg.name:26s} RTF {_fmt(r['rtf'])}  J/audio-s {_fmt(r['j_per_audio_s'])}  kWh/1000 "
              f"{_fmt(r['kwh_per_1000_sentences'])}  ({time.perf_counter() - t:.0f} s)", flush=True)
    first = raws[0]
    merged = []
    if args.merge and args.out.with_suffix(".json").is_file():
        old = json.loads(args.out.with_suffix(".json").read_text())
        merged = old.get("merged", []) + [{"date": time.strftime("%Y-%m-%d"), "rows": [r["name"] for r in rows],
                                           "reps": args.reps, "min_seconds": args.min_seconds}]
        fresh = {r["name"]: r for r in rows}
        rows = [fresh.pop(r["name"], r) for r in old["rows"]] + list(fresh.values())
        args.reps, args.min_seconds = old["reps"], old["min_seconds"]
    tiers = {tier: {"config": name, **{k: next(r for r in rows if r["name"] == name)[k]["median"]
                                        for k in ("j_per_audio_s", "kwh_per_1000_sentences",
                                                  "gco2e_per_1000_sentences")},
                    "first_audio_s": next(r for r in rows if r["name"] == name)["first_audio_s"]}
             for tier, name in TIER_ROWS.items() if any(r["name"] == name for r in rows)}
    card = {
        "date": time.strftime("%Y-%m-%d"), "reps": args.reps, "min_seconds": args.min_seconds,
        "corpus": "bench/energy_corpus_en.txt + bench/energy_corpus_zh.txt (500 + 500 sentences, interleaved)",
        "machine": {"cpu": _cpu_name(), "vcpus": os.cpu_count(), "python": platform.python_version()},
        "meter": first["meter"], "method": first["method"], "grid": first["grid"],
        "gco2e_per_kwh": first["gco2e_per_kwh"], "rows": rows, "tiers": tiers,
        "max_conservation_error_j": max(r["conservation_error_j"]["max"] for r in rows), "merged": merged,
    }
    if merged:
        card["date"] = old["date"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(card))
    chart(card, args.out.with_suffix(".png"))
    print(f"wrote {args.out}.md, .json, .png")
    if args.update_package:
        if set(tiers) != set(TIER_ROWS):
            sys.exit("--update-package needs every tier's default configuration in the run")
        data = {"source": f"docs/energy-card.json, {card['date']}, {card['machine']['cpu']}, {card['method']}",
                "method": card["method"], "tiers": tiers}
        path = ROOT / "src" / "greentts" / "data" / "tier_energy.json"
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {path}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
