"""Engine configuration (how the engine is built) vs per-request settings (how one text is spoken).

Both are pydantic models that reject unknown keys; ``None`` means "the model's/engine's default".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .energy.meter import CCF_MAX_WATTS_PER_VCPU, CCF_MIN_WATTS_PER_VCPU, CCF_WATTS_PER_GB
from .errors import InputError

__all__ = ["EngineConfig", "SynthesisSettings", "DialogueSettings", "validated"]

Tier = Literal["standard", "eco", "auto"]
TIER_BACKENDS: dict[str, str] = {"standard": "kokoro", "eco": "hibari"}  # "auto" picks one per request


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineConfig(_Strict):
    """Built once per :class:`~greentts.Engine`."""

    cache_dir: Path | None = Field(None, description="where assembled weights live (default ~/.cache/greentts)")
    workers: int | None = Field(None, ge=1, le=256, description="scheduler workers (default: one per core)")
    threads_per_worker: int = Field(1, ge=1, le=64, description="onnxruntime intra-op threads per worker session")
    latency_workers: int = Field(1, ge=0, le=8, description="extra workers that only run streams' first "
                                 "segments (interactive), so first audio does not wait for a free worker")
    share_sessions: bool = Field(True, description="latency workers speak on a regular worker's model sessions "
                                 "(the weights held once for the two); false: a session of its own per worker")
    fast_lane: bool = Field(True, description="when the engine is idle, run a stream's first segment (or a "
                            "whole request's only segment) alone on a session using every core")
    kokoro_graph: Literal["windowed", "im2col", "original"] = Field(
        "windowed", description="windowed: the im2col graph, rendering only the speech and a little of the "
        "boundary padding (less work, same timing); im2col: lossless rewrite, the original's audio bit for bit, "
        "faster; original: as shipped")
    map_weights: bool = Field(True, description="cpu: Kokoro sessions memory-map their weights and the kernels' "
                              "pre-packed copies from a file written once per onnxruntime version and CPU, so every "
                              "session shares one copy (same audio); false: each session holds its own on the heap")
    compact_frontend: bool = Field(True, description="the G2P libraries' large dictionaries (hibari's lexicons and "
                                   "tagger, jieba's) are read from tables written once under cache_dir (~165 MB "
                                   "less memory, the same phonemes); false: loaded into memory")
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:[0-9]+)?)$", description="cpu: Kokoro int8 on onnxruntime; "
                        "cuda (or cuda:N): Kokoro on PyTorch on an NVIDIA GPU, segments batched dynamically")
    gpu_dtype: Literal["bfloat16", "float16", "float32"] = Field("bfloat16", description="autocast type on cuda")
    max_batch: int = Field(16, ge=1, le=256, description="on cuda: most segments in one batch")
    voices_dir: Path | None = Field(None, description="enrolled voices (default $XDG_DATA_HOME/greentts/voices)")
    default_voice_en: str = "af_heart"
    default_voice_zh: str = "zf_xiaoxiao"
    dictionaries: tuple[Path, ...] = Field((), description="global pronunciation dictionaries (JSONL)")
    max_segment_ids: int = Field(510, ge=16, le=510)
    first_segment_ids: int = Field(16, ge=8, le=510, description="cap for a stream's first segment (latency)")
    queue_size: int = Field(1024, ge=1, description="pending segments before submit raises Overloaded")
    lookahead: int | None = Field(None, ge=1, description="segments in flight per stream (default 2x workers)")
    # energy and carbon (see docs/energy.md)
    energy_meter: Literal["auto", "nvml", "rapl", "cpu"] = Field(
        "auto", description="auto: NVML for GPUs + RAPL if readable, else the CPU-time estimate")
    idle_probe_s: float = Field(1.0, ge=0.0, le=60.0,
                                description="seconds spent measuring idle power at start-up and after warm-up")
    cpu_active_watts_per_vcpu: float = Field(CCF_MAX_WATTS_PER_VCPU - CCF_MIN_WATTS_PER_VCPU, ge=0.0,
                                             description="CPU-time model: CCF max 3.5 - min 0.74 W")
    cpu_idle_watts_per_vcpu: float = Field(CCF_MIN_WATTS_PER_VCPU, ge=0.0,
                                           description="CPU-time model: CCF min watts per vCPU")
    ram_watts_per_gb: float = Field(CCF_WATTS_PER_GB, ge=0.0, description="CPU-time model: CCF watts per GB")
    country: str | None = Field(None, description="ISO 3166-1 alpha-3 code for the grid intensity, e.g. DEU")
    grid_gco2_per_kwh: float | None = Field(None, ge=0.0, le=2000.0, description="explicit grid intensity")
    pue: float = Field(1.0, ge=1.0, le=3.0, description="data-centre power usage effectiveness")
    ledger: Path | None = Field(None, description="SQLite file recording every request's energy")
    # the audio cache (see docs/energy.md#audio-cache): rendered segments reused across requests
    audio_cache_mb: float = Field(0.0, ge=0.0, le=1_000_000.0, description="cap of the on-disk audio cache in "
                                  "MB (0: no cache); a segment spoken again is read back, not rendered")
    audio_cache_dir: Path | None = Field(None, description="where the audio cache lives (default "
                                         "<cache_dir>/audio); processes may share one")


class SynthesisSettings(_Strict):
    """Per request. Every field has a default, so ``SynthesisSettings()`` is valid."""

    voice: str | None = Field(None, description="stock voice name or a blend (af_heart:0.6,am_michael:0.4); "
                                                "default depends on the language")
    lang: Literal["auto", "en", "zh"] = "auto"
    tier: Tier = Field("standard", description="standard = Kokoro-82M int8; eco = hibari (English, af_heart); "
                       "auto = the tier with the lowest measured energy that can speak this request")
    max_first_audio_s: float | None = Field(None, gt=0.0, le=60.0,
                                            description="tier='auto' only: skip tiers slower to first audio")
    speed: float = Field(1.0, ge=0.5, le=2.0)
    prosody: Literal["neutral", "news", "storytelling", "cheerful", "calm", "serious"] | None = Field(
        None, description="prosody preset added to the voice's prosody half")
    prosody_from: str | None = Field(
        None, description="take prosody (pitch range, rate) from a reference clip (path; needs the clone extra) "
                          "or from another voice (name), keeping this voice's timbre")
    sample_rate: int | None = Field(None, ge=8000, le=48000, description="output rate (native: 24000)")
    loudness_lufs: float | None = Field(None, ge=-70.0, le=-5.0, description="normalize loudness (BS.1770)")
    pronunciations: tuple[dict[str, Any], ...] = Field((), description="per-request dictionary entries")
    dictionaries: tuple[Path, ...] = Field((), description="per-request dictionary files (JSONL)")
    pause_scale: float = Field(1.0, ge=0.0, le=5.0, description="scales pauses between segments")
    seed: int = Field(0, description="seed for stochastic backends (hibari's noise); Kokoro is deterministic")
    input_format: Literal["auto", "text", "ssml"] = Field(
        "auto", description="text, ssml (the SSML subset in docs/ssml.md), or auto: SSML when it starts with <speak")
    ssml_strict: bool = Field(True, description="unknown SSML elements are an error (false: read their text, "
                                                "report them in skipped)")
    audio_cache: bool = Field(True, description="use the engine's audio cache, if it has one (false: render "
                              "every segment afresh and store nothing)")


class DialogueSettings(_Strict):
    """Per dialogue: turn-taking gaps (seconds, before ``gap_scale``), loudness, output rate and tier of the mix.

    The gap rules are in :func:`greentts.jobs.dialogue.gap_after`.
    """

    gap_change_s: float = Field(0.45, ge=0.0, le=10.0, description="another speaker answers")
    gap_same_s: float = Field(0.25, ge=0.0, le=10.0, description="the same speaker goes on")
    gap_question_s: float = Field(0.3, ge=0.0, le=10.0, description="an answer after a question comes quickly")
    gap_interrupted_s: float = Field(0.08, ge=0.0, le=10.0,
                                     description='a turn that breaks off ("—", "...", "…") is cut into')
    gap_scale: float = Field(1.0, ge=0.0, le=5.0, description="scales every gap")
    loudness_lufs: float | None = Field(-20.0, ge=-70.0, le=-5.0, description="the same target for every "
                                        "speaker; None keeps the voices' levels")
    sample_rate: int | None = Field(None, ge=8000, le=48000, description="output rate (native: 24000)")
    tier: Literal["standard", "eco"] = "standard"
    lookahead_turns: int = Field(4, ge=1, le=64, description="turns rendered ahead of the one being written")


def validated(model: type[_Strict], base: _Strict | None = None, *, keep_none: bool = False, **overrides: Any) -> Any:
    """Build/override a settings model, turning pydantic errors into one clear InputError.

    An override of None means "not given" (the base's or the model's value stays), unless ``keep_none``:
    then None is the value (``DialogueSettings(loudness_lufs=None)`` keeps the voices' levels)."""
    data = base.model_dump() if base is not None else {}
    data.update({k: v for k, v in overrides.items() if keep_none or v is not None})
    try:
        return model(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or model.__name__}: {e['msg']}" for e in exc.errors())
        raise InputError(f"invalid {model.__name__}: {problems}") from None
