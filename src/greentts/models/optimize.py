"""A lossless rewrite of Kokoro's int8 graph that runs its convolutions on a faster kernel.

Kokoro's int8 ONNX export quantizes every 1-D convolution as ``DynamicQuantizeLinear -> ConvInteger``
with unsigned 8-bit activations *and* unsigned 8-bit weights. onnxruntime runs ``ConvInteger`` through
a generic u8 x u8 path, while ``MatMulInteger`` with signed 8-bit weights uses MLAS's fast u8 x s8
GEMM (VNNI where the CPU has it). The vocoder's convolutions are ~90 % of Kokoro's work, so this
rewrite replaces each stride-1, group-1 ``ConvInteger`` by

    Transpose(x) -> Pad(value = x's zero point) -> K shifted Slices -> Concat   (u8 im2col, [T, K*C])
    -> MatMulInteger(cols, W - w_zero_point as int8, x_zero_point, 0) -> Transpose

Because ``(x - xz) * (W - wz)`` is computed exactly in int32 either way, the integer outputs are
bit-identical; the float ops around them are untouched. ``tests/test_optimize.py`` checks the audio
of both graphs against each other.

The rewrite also exposes the duration predictor's result as a second output, ``durations``: frames
(600 samples at 24 kHz) per input token, pads included, after speed and rounding: exactly the
lengths the decoder renders, from which word timestamps are computed. It adds an output only, so the
audio is unchanged.

And it adds an input, ``adain`` (float32, ``ADAIN_DIM`` values): per-voice offsets added to the outputs of
the decoder's 58 AdaIN projections (``fc``: the 128-d timbre style -> each layer's per-channel scale and
shift). Stock voices feed zeros, which changes nothing (``x + 0`` is exact); an enrolled voice carries
the offsets enrollment learned (``greentts.clone``), a far richer description of a voice than the style
vector alone. :func:`adain_layout` is the order: keys sorted, as the torch rebuild hooks them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..voice import ADAIN_DIM  # Kokoro-82M v1.0: 58 AdaIN projections, 2 x channels each

__all__ = ["REWRITE_VERSION", "ADAIN_INPUT", "ADAIN_DIM", "rewrite_conv_integer", "adain_layout"]

REWRITE_VERSION = "im2col-3"
ADAIN_INPUT = "adain"
DURATION_TENSOR = "/encoder/Clip_output_0"  # Round(duration / speed) clipped to >= 1, per token
DURATION_OUTPUT = "durations"
SAMPLES_PER_FRAME = 600


def rewrite_conv_integer(src: Path, dst: Path) -> int:
    """Write the rewritten model to ``dst``; returns how many ConvInteger nodes were replaced."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:  # pragma: no cover - onnx is a core dependency
        from ..errors import AssetError

        raise AssetError("the fast Kokoro graph needs the onnx package (pip install onnx)") from exc

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    new_inits: dict[str, np.ndarray] = {}
    transposed: dict[str, str] = {}
    nodes = []
    replaced = 0

    def const(name: str, value: np.ndarray) -> str:
        if name not in inits and name not in new_inits:
            new_inits[name] = value
        return name

    for node in graph.node:
        plan = _conv_plan(node, inits, helper, numpy_helper)
        if plan is None:
            nodes.append(node)
            continue
        nodes.extend(_im2col(node, plan, node.name or f"conv{replaced}", transposed, const, helper))
        replaced += 1

    nodes = _add_adain_input(graph, nodes, const, helper, onnx)
    if any(DURATION_TENSOR in n.output for n in nodes):
        nodes.append(helper.make_node("Identity", [DURATION_TENSOR], [DURATION_OUTPUT], name="durations__out"))
        graph.output.append(helper.make_tensor_value_info(DURATION_OUTPUT, onnx.TensorProto.FLOAT, [1, None]))
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in new_inits.items())
    used = {i for n in graph.node for i in n.input}
    live = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(live)
    onnx.save(model, str(dst))
    return replaced


def _im2col(node: Any, plan: tuple[np.ndarray, int, tuple[int, int], int], p: str, transposed: dict[str, str],
            const: Callable[[str, np.ndarray], str], helper: Any) -> list[Any]:
    """The nodes that replace one ConvInteger: [1, C, T] -> [1, T, C] (shared per input), pad, one slice per
    kernel tap, concatenated on channels, one MatMulInteger with the [k*C, O] weights, back to [1, O, T]."""
    w_s8, kernel, pads, dilation = plan
    nodes = []
    x, x_zero = node.input[0], node.input[2]
    if x not in transposed:  # [1, C, T] -> [1, T, C], shared by every conv reading x
        transposed[x] = f"{x}__tc"
        nodes.append(helper.make_node("Transpose", [x], [transposed[x]], perm=[0, 2, 1], name=f"{x}__tc_node"))
    xt = transposed[x]
    if kernel == 1:
        cols = xt
    else:
        left, right = pads
        padded = f"{p}__pad"
        pad_spec = const(f"__pads_{left}_{right}", np.array([0, left, 0, 0, right, 0], np.int64))
        nodes.append(helper.make_node("Pad", [xt, pad_spec, x_zero], [padded], mode="constant", name=padded))
        slices = []
        for k in range(kernel):
            start, end = k * dilation, -(kernel - 1 - k) * dilation
            s = const(f"__i64_{start}", np.array([start], np.int64))
            e = const(f"__i64_{end}" if end else "__i64_max", np.array([end if end else 2**62], np.int64))
            axis = const("__i64_axis1", np.array([1], np.int64))
            out = f"{p}__sl{k}"
            nodes.append(helper.make_node("Slice", [padded, s, e, axis], [out], name=out))
            slices.append(out)
        cols = f"{p}__cols"
        nodes.append(helper.make_node("Concat", slices, [cols], axis=2, name=cols))
    weights = const(f"{p}__w_s8", w_s8)
    zero = const("__s8_zero", np.array(0, np.int8))
    product = f"{p}__mm"
    nodes.append(helper.make_node("MatMulInteger", [cols, weights, x_zero, zero], [product], name=product))
    nodes.append(helper.make_node("Transpose", [product], [node.output[0]], perm=[0, 2, 1], name=f"{p}__out"))
    return nodes


def adain_layout(graph) -> list[tuple[str, str, int]]:  # noqa: ANN001
    """(key, bias initializer, width) of each decoder AdaIN projection, in ``adain`` order.

    The key is the torch module path of the projection (``decoder.generator.resblocks.4.adain2.2.fc``),
    which is what :class:`greentts.clone.kokoro_torch.TorchKokoro` sorts by too.
    """
    dims = {i.name: int(np.prod(i.dims)) for i in graph.initializer}
    rows = []
    for node in graph.node:
        if node.op_type == "Add" and node.name.startswith("/decoder/") and node.name.endswith("/fc/Gemm_Add"):
            bias = node.input[1]
            if bias.startswith("decoder.decoder.") and bias.endswith(".fc.bias") and bias in dims:
                rows.append((bias[len("decoder."):-len(".bias")], bias, dims[bias]))
    return sorted(rows)


def _add_adain_input(graph, nodes, const, helper, onnx):  # noqa: ANN001, ANN202
    """Each decoder AdaIN projection's bias becomes ``bias + adain[offset:offset + width]``."""
    layout = adain_layout(graph)
    total = sum(width for _, _, width in layout)
    if total != ADAIN_DIM:
        from ..errors import AssetError

        raise AssetError(f"the Kokoro graph has {len(layout)} AdaIN projections ({total} values), "
                         f"expected {ADAIN_DIM}: not the Kokoro-82M v1.0 graph this rewrite is for")
    axis = const("__i64_axis0", np.array([0], np.int64))
    offsets, offset = {}, 0
    for _, bias, width in layout:
        offsets[bias] = (offset, width)
        offset += width
    out = []
    for node in nodes:
        if node.op_type == "Add" and len(node.input) == 2 and node.input[1] in offsets \
                and node.name.endswith("/fc/Gemm_Add"):
            a, w = offsets[node.input[1]]
            start, end = const(f"__i64_{a}", np.array([a], np.int64)), const(f"__i64_{a + w}", np.array([a + w], np.int64))
            part, biased = f"{node.input[1]}__adain", f"{node.input[1]}__biased"
            out.append(helper.make_node("Slice", [ADAIN_INPUT, start, end, axis], [part], name=part))
            out.append(helper.make_node("Add", [node.input[1], part], [biased], name=biased))
            node.input[1] = biased
        out.append(node)
    graph.input.append(helper.make_tensor_value_info(ADAIN_INPUT, onnx.TensorProto.FLOAT, [ADAIN_DIM]))
    return out


def _conv_plan(node, inits, helper, numpy_helper):  # noqa: ANN001, ANN202
    """(int8 weight matrix [K*C, Cout], K, pads, dilation) for a rewritable ConvInteger, else None."""
    if node.op_type != "ConvInteger" or node.input[1] not in inits or len(node.input) < 3 or not node.input[2]:
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    w = numpy_helper.to_array(inits[node.input[1]]).astype(np.int32)
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    if (w.ndim != 3 or list(attrs.get("strides", [1])) != [1] or attrs.get("group", 1) != 1
            or auto_pad not in (b"NOTSET", "NOTSET")):
        return None
    c_out, c_in, kernel = w.shape
    pads = list(attrs.get("pads", [0, 0]))
    if kernel == 1 and pads != [0, 0]:
        return None
    w_zero = 0
    if len(node.input) > 3 and node.input[3]:
        if node.input[3] not in inits:
            return None
        w_zero = numpy_helper.to_array(inits[node.input[3]]).astype(np.int32)
        if w_zero.ndim == 1:
            w_zero = w_zero.reshape(-1, 1, 1)  # per output channel
    centred = w - w_zero
    if centred.min() < -128 or centred.max() > 127:
        return None  # would not fit int8 exactly: leave this conv alone
    matrix = centred.transpose(2, 1, 0).reshape(kernel * c_in, c_out).astype(np.int8)
    return matrix, kernel, pads, attrs.get("dilations", [1])[0]
