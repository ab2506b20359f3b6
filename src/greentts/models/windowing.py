"""Render only the speech: Kokoro split into a predictor and a windowed decoder.

Kokoro pads every segment with a boundary token at each end, and the duration predictor gives the
leading one 13-19 frames (25 ms each) and the final punctuation 6-10 more: 0.5-0.9 s of near-silence
per segment, which the vocoder (~90 % of the work) renders like speech. Clamping those durations in
the graph was measured to change the voice (the prosody predictor's LSTM and the decoder's instance
norms see a different sequence). So the graph is split instead:

* the **predictor** (text encoders, durations, F0 and energy, on the whole sequence, unchanged);
* the **decoder**, run on a window of frames: the speech plus ``LEAD_CONTEXT`` frames of the leading pad
  and ``TRAIL_CONTEXT`` frames after the last sound token. Two things in it are global over time, and
  both are restored for a window:

  - every instance norm (``ReduceMean`` over time, 54 norms x 2) is computed as if the cut frames were
    still there: ``(sum over the window + n_cut x the column at a reference frame in the kept pad) /
    (frames + n_cut)``; the cut frames are the same pad token repeated, so their activations are that
    column (input ``virtual``: lead frames cut, lead reference frame, trail frames cut, trail reference,
    all 0 for the whole sequence, when the graph's own ``ReduceMean`` is used: bit-identical audio);
  - the harmonic source's phase (a cumulative sum over the F0 track) starts where the whole sequence's
    would be at the window (input ``phase0``, from the predictor's ``phase`` output).

The cut frames become exact zeros (same length, same timing, same word timestamps). Measured
(``bench/window_quality.py``): 8-11 % fewer decoder frames on corpus sentences, ~40 % on short first
segments; the windowed audio is no farther from the fp32 torch rebuild than the whole-sequence int8
audio is, and Whisper's WER is unchanged (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = ["WINDOW_VERSION", "WINDOW_GRAPH", "Window", "split_for_windows", "plan_window", "decoder_feed", "place",
           "FRONT_OUTPUTS", "LEAD_CONTEXT", "TRAIL_CONTEXT"]

WINDOW_VERSION = "window-2"  # the windowed decoder's arithmetic: its audio, and the audio cache's keys
# the files written: bumped when the graph changes but its audio does not (2.1: bounds computed once per
# layer resolution, not once per mean; bit-identical audio, the decoder opens ~15x faster)
WINDOW_GRAPH = "window-2.1"
ASR = "/encoder/MatMul_1_output_0"  # [1, 512, frames]: aligned text features
F0 = "/encoder/Reshape_output_0"  # [1, 2 x frames]
ENERGY = "/encoder/Reshape_1_output_0"  # [1, 2 x frames]
_CUMSUM = "/decoder/decoder/generator/m_source/l_sin_gen/CumSum_output_0"  # [1, 2 x frames, 9]
PHASE = "phase"
FRONT_OUTPUTS = ("durations", ASR, F0, ENERGY, PHASE)
PHASE_INPUT, VIRTUAL_INPUT = "phase0", "virtual"
VIRTUAL_FIELDS = ("n_lead", "lead_from", "lead_to", "n_trail", "trail_from", "trail_to")
HARMONICS = 9
LEAD_CONTEXT = 8  # frames of the leading pad kept before the first phoneme token
TRAIL_CONTEXT = 6  # frames kept after the last sound token
SAMPLES_PER_FRAME = 600
FADE = 240  # samples (10 ms) faded in/out where a window meets the zeros


def split_for_windows(src: Path, front_dst: Path, decoder_dst: Path) -> int:
    """Write the predictor and the windowed decoder of the (im2col) graph ``src``; returns how many
    time-axis means were made window-aware."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.utils import Extractor

    model = onnx.load(str(src))
    names = {o for n in model.graph.node for o in n.output}
    missing = [t for t in (ASR, F0, ENERGY, _CUMSUM, "durations") if t not in names]
    if missing:
        from ..errors import AssetError

        raise AssetError(f"the Kokoro graph lacks {missing}: not the Kokoro-82M v1.0 im2col graph")
    extractor = Extractor(model)
    front = extractor.extract_model(["tokens", "style", "speed"], ["durations", ASR, F0, ENERGY, _CUMSUM])
    front.graph.output[-1].name = PHASE
    for node in front.graph.node:
        node.output[:] = [PHASE if o == _CUMSUM else o for o in node.output]
    onnx.save(front, str(front_dst))
    decoder = extractor.extract_model([ASR, F0, ENERGY, "style", "adain"], ["audio"])
    lengths = _time_lengths(decoder, onnx)
    count = _window_decoder(decoder.graph, lengths, helper, numpy_helper, onnx)
    onnx.save(decoder, str(decoder_dst))
    return count


def _time_lengths(decoder: Any, onnx: Any, probes: tuple[int, ...] = (23, 41, 64)) -> dict[str, tuple[int, int]]:
    """For the input of every time-axis mean of the decoder: its length as ``a * frames + b`` (the
    layer's resolution: 1, 2, 20 and 120 x the frames, +1 sample at the last), measured by running the
    decoder on ``probes`` window lengths and checked exact on all of them."""
    import onnxruntime as ort

    from ..errors import AssetError
    from .optimize import ADAIN_DIM

    probe = onnx.ModelProto()
    probe.CopyFrom(decoder)
    means = list(dict.fromkeys(n.input[0] for n in probe.graph.node if n.op_type == "ReduceMean"))
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in means)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    seen: dict[int, list[int]] = {}
    for frames in probes:
        feed = {ASR: rng.standard_normal((1, 512, frames)).astype(np.float32),
                F0: np.full((1, 2 * frames), 120.0, np.float32), ENERGY: np.ones((1, 2 * frames), np.float32),
                "style": rng.standard_normal((1, 256)).astype(np.float32) * 0.1,
                "adain": np.zeros(ADAIN_DIM, np.float32)}
        seen[frames] = [out.shape[2] for out in sess.run(means, feed)]
    f1, f2 = probes[:2]
    out: dict[str, tuple[int, int]] = {}
    for k, name in enumerate(means):
        a, rem = divmod(seen[f2][k] - seen[f1][k], f2 - f1)
        b = seen[f1][k] - a * f1
        if rem or any(seen[f][k] != a * f + b for f in probes):
            raise AssetError(f"the Kokoro decoder's mean over {name!r} is not at a fixed multiple of the frames "
                             f"({ {f: seen[f][k] for f in probes} }): not the Kokoro-82M v1.0 decoder")
        out[name] = (a, b)
    return out


def _window_decoder(graph: Any, lengths: dict[str, tuple[int, int]], helper: Any, numpy_helper: Any,
                    onnx: Any) -> int:
    """Make every time-axis mean window-aware (:func:`_virtual_mean`). What depends only on a layer's
    resolution (its length, the reference stretches' bounds, the cut frames' count) is computed once per
    resolution, not once per mean: with it per mean (~3,500 more nodes) the decoder took ~15x longer to
    open (bench/startup.py)."""
    consts: dict[str, np.ndarray] = {}

    def const(name: str, value: Any) -> str:
        consts.setdefault(name, np.asarray(value))
        return name

    node = helper.make_node
    nodes = [node("Shape", [ASR], ["__win_frames_i"], start=2, end=3, name="__win_frames_i"),
             node("Cast", ["__win_frames_i"], ["__win_frames"], to=onnx.TensorProto.FLOAT, name="__win_frames")]
    for k, part in enumerate(VIRTUAL_FIELDS):
        lo, hi = const(f"__i64_{k}", np.array([k], np.int64)), const(f"__i64_{k + 1}", np.array([k + 1], np.int64))
        nodes.append(node("Slice", [VIRTUAL_INPUT, lo, hi], [f"__{part}"], name=f"__{part}"))
    nodes += [node("Add", ["__n_lead", "__n_trail"], ["__n_cut"], name="__n_cut"),
              node("ReduceMax", ["__n_cut"], ["__n_cut_s"], keepdims=0, name="__n_cut_s"),
              node("Greater", ["__n_cut_s", const("__f_0", np.array(0, np.float32))], ["__cut"], name="__cut")]
    for a, b in sorted(set(lengths.values())):
        nodes += _resolution(f"__r{a}_{b}", a, b, const, node, onnx)
    count = 0
    for original in graph.node:
        if original.op_type == "ReduceMean":
            a, b = lengths[original.input[0]]
            nodes += _virtual_mean(original, f"__vm{count}", f"__r{a}_{b}", const, node)
            count += 1
        else:
            nodes.append(original)
    for n in nodes:
        n.input[:] = [f"{_CUMSUM}__at" if i == _CUMSUM else i for i in n.input]
    nodes.append(node("Add", [_CUMSUM, PHASE_INPUT], [f"{_CUMSUM}__at"], name="__phase0"))
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    graph.input.append(helper.make_tensor_value_info(PHASE_INPUT, onnx.TensorProto.FLOAT, [1, 1, HARMONICS]))
    graph.input.append(helper.make_tensor_value_info(VIRTUAL_INPUT, onnx.TensorProto.FLOAT, [len(VIRTUAL_FIELDS)]))
    return count


def _resolution(r: str, a: int, b: int, const: Callable[[str, Any], str], node: Any, onnx: Any) -> list[Any]:
    """For the layers of length ``t = a * frames + b``: ``{r}_t``, ``ratio`` = t / frames, each end's
    reference stretch ``[{r}_{side}_from, {r}_{side}_to)`` at this resolution (lead: ``[lead_from, lead_to)``
    frames from the window's start, trail: ``[trail_from, trail_to)`` from its end), the cut frames'
    count ``{r}_{side}_n`` and the denominator ``{r}_c2`` (t + both counts)."""
    i64 = onnx.TensorProto.INT64
    nodes = [node("Mul", ["__win_frames", const(f"__f_{a}", np.array(a, np.float32))], [f"{r}_ta"], name=f"{r}_ta"),
             node("Add", [f"{r}_ta", const(f"__f_{b}", np.array(b, np.float32))], [f"{r}_t"], name=f"{r}_t"),
             node("Div", [f"{r}_t", "__win_frames"], [f"{r}_ratio"], name=f"{r}_ratio")]
    for side in ("lead", "trail"):
        q = f"{r}_{side}"
        for edge in ("from", "to"):
            nodes += [node("Mul", [f"__{side}_{edge}", f"{r}_ratio"], [f"{q}_{edge}r"], name=f"{q}_{edge}r"),
                      node("Floor", [f"{q}_{edge}r"], [f"{q}_{edge}f"], name=f"{q}_{edge}f")]
            if side == "trail":  # counted from the end
                nodes.append(node("Sub", [f"{r}_t", f"{q}_{edge}f"], [f"{q}_{edge}e"], name=f"{q}_{edge}e"))
            nodes.append(node("Cast", [f"{q}_{edge}e" if side == "trail" else f"{q}_{edge}f"], [f"{q}_{edge}"],
                              to=i64, name=f"{q}_{edge}"))
        nodes.append(node("Mul", [f"__n_{side}", f"{r}_ratio"], [f"{q}_n"], name=f"{q}_n"))
    return nodes + [node("Add", [f"{r}_t", f"{r}_lead_n"], [f"{r}_c1"], name=f"{r}_c1"),
                    node("Add", [f"{r}_c1", f"{r}_trail_n"], [f"{r}_c2"], name=f"{r}_c2")]


def _virtual_mean(original: Any, p: str, r: str, const: Callable[[str, Any], str], node: Any) -> list[Any]:
    """``ReduceMean(z, time)`` -> as if the cut frames were there, each end's standing in as the mean of
    its reference stretch of the kept pad, at the layer's resolution ``r`` (:func:`_resolution`)."""
    z, out = original.input[0], original.output[0]
    original.output[0] = f"{p}_plain"
    axes = const("__axes_time", np.array([2], np.int64))
    nodes = [original]
    for side in ("lead", "trail"):
        q, g = f"{p}_{side}", f"{r}_{side}"
        lo, hi = (f"{g}_from", f"{g}_to") if side == "lead" else (f"{g}_to", f"{g}_from")
        nodes += [node("Slice", [z, lo, hi, axes], [f"{q}_z"], name=f"{q}_z"),
                  node("ReduceMean", [f"{q}_z", axes], [f"{q}_m"], keepdims=1, name=f"{q}_m"),
                  node("Mul", [f"{q}_m", f"{g}_n"], [f"{q}_sum"], name=f"{q}_sum")]
    return nodes + [
        node("ReduceSum", [z, axes], [f"{p}_sum"], keepdims=1, name=f"{p}_sum"),
        node("Add", [f"{p}_sum", f"{p}_lead_sum"], [f"{p}_s1"], name=f"{p}_s1"),
        node("Add", [f"{p}_s1", f"{p}_trail_sum"], [f"{p}_s2"], name=f"{p}_s2"),
        node("Div", [f"{p}_s2", f"{r}_c2"], [f"{p}_virtual"], name=f"{p}_virtual"),
        node("Where", ["__cut", f"{p}_virtual", f"{p}_plain"], [out], name=f"{p}_where")]


class Window(NamedTuple):
    """Frames [start, end) to decode, and for each cut end the stretch of kept pad frames whose mean
    activations stand in for the cut ones (lead: ``lead_ref`` frames from the start, trail: from the end)."""

    start: int
    end: int
    lead_ref: tuple[int, int] = (0, 0)
    trail_ref: tuple[int, int] = (0, 0)


def plan_window(durations: np.ndarray, trailing_silent: int, lead: int = LEAD_CONTEXT,
                trail: int = TRAIL_CONTEXT) -> Window:
    """From ``lead`` frames before the first phoneme token to ``trail`` frames after the last sound token
    (the last ``trailing_silent`` tokens, the pad and a final punctuation mark, are not sound)."""
    d = np.asarray(durations, np.int64).reshape(-1)
    total = int(d.sum())
    speech_start = int(d[0])
    speech_end = max(int(d[: len(d) - trailing_silent].sum()), speech_start + 1)
    start, end = max(0, speech_start - lead), min(total, speech_end + trail)
    return Window(start, end, _reference(speech_start - start) if start else (0, 0),
                  _reference(end - speech_end) if end < total else (0, 0))


def _reference(kept: int) -> tuple[int, int]:
    """The kept pad frames that stand in for the cut ones: past the window's edge (whose convolutions
    see zero padding) and short of the speech (which colours its neighbours)."""
    return (max(1, kept // 8), max(2, kept // 2)) if kept >= 2 else (0, kept)


def decoder_feed(front: Sequence[np.ndarray], window: Window, style: np.ndarray,
                 adain: np.ndarray) -> dict[str, np.ndarray]:
    """The windowed decoder's inputs for ``window`` of the predictor's outputs ``front``."""
    _, asr, f0, energy, phase = front
    a, b = window.start, window.end
    if a > 0:
        phase0 = np.ascontiguousarray(phase[:, 2 * a - 1:2 * a, :], np.float32)
    else:
        phase0 = np.zeros((1, 1, HARMONICS), np.float32)
    virtual = np.array([a, *window.lead_ref, asr.shape[2] - b, *window.trail_ref], np.float32)
    return {ASR: np.ascontiguousarray(asr[:, :, a:b]), F0: np.ascontiguousarray(f0[:, 2 * a:2 * b]),
            ENERGY: np.ascontiguousarray(energy[:, 2 * a:2 * b]), "style": style, "adain": adain,
            PHASE_INPUT: phase0, VIRTUAL_INPUT: virtual}


def place(audio: np.ndarray, window: Window, total_frames: int) -> np.ndarray:
    """The window's audio at its place in the whole segment: zeros where frames were not rendered, with
    a 10 ms fade where the window meets them."""
    a, b = window.start, window.end
    audio = np.asarray(audio, np.float32).reshape(-1)
    if a == 0 and b == total_frames:
        return audio
    audio = audio.copy()
    ramp = np.linspace(0.0, 1.0, min(FADE, len(audio) // 2), dtype=np.float32)
    if a > 0 and len(ramp):
        audio[: len(ramp)] *= ramp
    if b < total_frames and len(ramp):
        audio[len(audio) - len(ramp):] *= ramp[::-1]
    out = np.zeros(total_frames * SAMPLES_PER_FRAME, np.float32)
    start = a * SAMPLES_PER_FRAME
    out[start:start + len(audio)] = audio[: len(out) - start]
    return out
