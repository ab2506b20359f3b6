"""Batched Kokoro on a GPU: throughput, latency and NVML-measured energy per batch size and dtype.

For each dtype (``--dtypes``) and batch size (``--sizes``), the corpus sentences (bench/corpus_en.txt
and corpus_zh.txt, phonemized by greentts' frontend) are rendered in batches of that size by
:class:`greentts.models.kokoro_batched.BatchedKokoro`, after ``--warmup`` batches. Per configuration:
audio seconds per wall second, aggregate RTF, p50/p95/p99 batch latency, and, on NVIDIA GPUs, joules
from NVML's total-energy counter read around each batch (``method: measured``), per audio second and
as kWh per 1000 sentences. Then the batch 1 -> 8 energy ratio. The device, driver and torch version are
written with the numbers (``--json``, ``--markdown``).

    python bench/gpu.py --device cuda --markdown docs/gpu.md --json docs/gpu.json
    python bench/gpu.py --device cpu --sizes 1,2 --dtypes float32 --limit 4   # a smoke test without a GPU
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def _corpus(limit: int) -> list[tuple[str, str]]:
    out = []
    for name, voice in (("corpus_en.txt", "af_heart"), ("corpus_zh.txt", "zf_xiaoxiao")):
        lines = [s.strip() for s in (HERE / name).read_text(encoding="utf-8").splitlines() if s.strip()]
        out += [(s, voice) for s in lines[:limit]]
    return out


def _items(limit: int) -> tuple[list[Any], int]:
    """The corpus as model segments, and how many sentences they are."""
    from greentts.models.kokoro_batched import BatchItem
    from greentts.text.frontend import Frontend
    from greentts.voices.store import VoiceStore, default_voices_dir

    frontend, voices = Frontend(), VoiceStore(default_voices_dir())
    items = []
    for text, name in _corpus(limit):
        voice = voices.get(name)
        for seg in frontend.phonemize(text):
            items.append(BatchItem(list(seg.ids), np.asarray(voice.style(len(seg.ids)), np.float32), 1.0, voice.adain))
    return items, len(_corpus(limit))


class _Energy:
    """NVML's total-energy counter of one GPU, in joules, or None where there is none."""

    def __init__(self, device: str) -> None:
        self.nvml = self.handle = None
        if device.startswith("cuda"):
            try:
                import pynvml

                pynvml.nvmlInit()
                index = int(device.split(":")[1]) if ":" in device else 0
                self.nvml, self.handle = pynvml, pynvml.nvmlDeviceGetHandleByIndex(index)
            except Exception as exc:  # noqa: BLE001 - no NVML: energy is left out, and said so
                print(f"no NVML ({exc}): energy not measured")

    def read(self) -> float | None:
        return None if self.nvml is None else self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1e3

    def describe(self) -> dict[str, str]:
        if self.nvml is None:
            return {}
        return {"gpu": str(self.nvml.nvmlDeviceGetName(self.handle)),
                "driver": str(self.nvml.nvmlSystemGetDriverVersion())}


def _sync(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _run(model: Any, items: list[Any], sentences: int, size: int, energy: _Energy, warmup: int) -> dict[str, Any]:
    from greentts.models.kokoro_torch import torch

    batches = [items[i:i + size] for i in range(0, len(items), size)]
    for b in batches[:warmup]:
        model.synthesize(b)
    _sync(torch, str(model.device))
    lat, joules, audio_s = [], [], 0.0
    t0 = time.perf_counter()
    for b in batches:
        e0, t = energy.read(), time.perf_counter()
        out = model.synthesize(b)
        _sync(torch, str(model.device))
        lat.append(time.perf_counter() - t)
        e1 = energy.read()
        if e0 is not None and e1 is not None:
            joules.append(e1 - e0)
        audio_s += sum(len(a) for a, _ in out) / 24000
    wall = time.perf_counter() - t0
    q = np.quantile(lat, [0.5, 0.95, 0.99]) if lat else [0.0, 0.0, 0.0]
    row: dict[str, Any] = {"batch": size, "batches": len(batches), "segments": len(items), "audio_s": audio_s,
                           "wall_s": wall, "audio_s_per_s": audio_s / wall, "rtf": wall / audio_s,
                           "p50_s": float(q[0]), "p95_s": float(q[1]), "p99_s": float(q[2])}
    if joules:
        total = sum(joules)
        row.update(joules=total, j_per_audio_s=total / audio_s, kwh_per_1000_sentences=total / 3.6e6 * 1000 / sentences,
                   method="measured")
    if str(model.device).startswith("cuda"):
        row["gpu_memory_peak_mb"] = torch.cuda.max_memory_allocated() / 1e6
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.empty_cache()
    return row


def _markdown(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [f"Device: {meta.get('gpu', meta['device'])}, driver {meta.get('driver', '-')}, torch {meta['torch']}, "
             f"{meta['sentences']} sentences in {meta['segments']} segments (`python bench/gpu.py`).", "",
             "| dtype | batch | audio s / s | RTF | p50 / p95 / p99 batch latency (s) | J per audio s (measured) | "
             "kWh per 1000 sentences | peak GPU memory (MB) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        j = f"{r['j_per_audio_s']:.4g}" if "j_per_audio_s" in r else "-"
        k = f"{r['kwh_per_1000_sentences']:.3g}" if "kwh_per_1000_sentences" in r else "-"
        lines.append(f"| {r['dtype']} | {r['batch']} | {r['audio_s_per_s']:.1f} | {r['rtf']:.5f} | "
                     f"{r['p50_s']:.3f} / {r['p95_s']:.3f} / {r['p99_s']:.3f} | {j} | {k} | "
                     f"{r.get('gpu_memory_peak_mb', 0):.0f} |")
    for dtype in sorted({r["dtype"] for r in rows}):
        by = {r["batch"]: r for r in rows if r["dtype"] == dtype and "j_per_audio_s" in r}
        if 1 in by and 8 in by:
            lines.append(f"\n{dtype}: energy per audio second, batch 8 / batch 1 = "
                         f"{by[8]['j_per_audio_s'] / by[1]['j_per_audio_s']:.3f}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sizes", default="1,2,4,8,16,32,64")
    ap.add_argument("--dtypes", default="bfloat16,float32")
    ap.add_argument("--limit", type=int, default=50, help="sentences per language")
    ap.add_argument("--warmup", type=int, default=2, help="batches run before timing, per configuration")
    ap.add_argument("--json", default="")
    ap.add_argument("--markdown", default="")
    args = ap.parse_args()
    from greentts.models.assets import kokoro_model_path
    from greentts.models.kokoro_batched import BatchedKokoro
    from greentts.models.kokoro_torch import torch

    items, sentences = _items(args.limit)
    energy = _Energy(args.device)
    meta = {"device": args.device, "torch": torch.__version__, "python": platform.python_version(),
            "sentences": sentences, "segments": len(items), **energy.describe()}
    rows = []
    for dtype in args.dtypes.split(","):
        model = BatchedKokoro(kokoro_model_path(), args.device, dtype)
        for size in (int(s) for s in args.sizes.split(",")):
            row = {"dtype": dtype, **_run(model, items, sentences, size, energy, args.warmup)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        del model
    text = _markdown(meta, rows)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1), encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
