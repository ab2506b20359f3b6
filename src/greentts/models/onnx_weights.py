"""Kokoro's int8 ONNX initializers as float tensors named for kokoro's ``KModel`` (the torch rebuild).

Weights are dequantized (``W = (q - zero_point) * scale``, per output channel where the graph has it)
and mapped by the name of the ONNX node that uses them; LSTM gates are reordered from ONNX's i,o,f,c to
torch's i,f,g,o. Float initializers that keep their PyTorch names (biases, norms, alphas) are mapped by
name.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = ["read_onnx_weights"]


def _onnx_to_torch_path(onnx_path: str) -> str:
    """Map an ONNX module path (dotted, export naming) to a KModel path."""
    p = onnx_path
    if p.startswith('decoder.decoder.'):
        p = 'decoder.' + p[len('decoder.decoder.'):]
    elif p.startswith('encoder.'):
        p = p[len('encoder.'):]
        # F0Ntrain got inlined at encoder level in the export.
        if re.match(r'(F0|N)\.\d+\.|F0_proj|N_proj|shared', p):
            p = 'predictor.' + p
    return p


def _node_module_path(node_name: str) -> str:
    """'/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant' -> 'text_encoder.cnn.0.0'."""
    segs = node_name.strip('/').split('/')[:-1]
    out: list[str] = []
    for s in segs:
        s = re.sub(r'_\d+$', '', s)  # repeated calls of shared ALBERT layers
        if out and s.startswith(out[-1] + '.'):
            out[-1] = s  # 'cnn.0' + 'cnn.0.0' -> 'cnn.0.0'; 'asr_res' + 'asr_res.0'
            continue
        out.append(s)
    return _onnx_to_torch_path('.'.join(out))


def _lstm_reorder(w: np.ndarray, hidden: int) -> np.ndarray:
    """ONNX gate order (i, o, f, c) -> torch (i, f, g, o) along axis 0."""
    i, o, f, c = (w[k * hidden:(k + 1) * hidden] for k in range(4))
    return np.concatenate([i, f, c, o], axis=0)


class _Reader:
    """Walks one graph's nodes, collecting ``{torch key: float32 array}``."""

    def __init__(self, graph: Any, inits: dict[str, np.ndarray]) -> None:
        self.graph = graph
        self.inits = inits
        self.used: set[str] = set()
        self.out: dict[str, np.ndarray] = {}
        self.notes: list[str] = []

    def deq(self, q_name: str, zp_name: str | None, axis: int | None) -> np.ndarray:
        q = self.inits[q_name].astype(np.float32)
        s_name = q_name[:-len('_quantized')] + '_scale'
        s = self.inits[s_name].astype(np.float32)
        zp = self.inits[zp_name].astype(np.float32) if zp_name else np.zeros_like(s)
        self.used.update({q_name, s_name} | ({zp_name} if zp_name else set()))
        if s.ndim == 0:
            return (q - zp) * s
        shape = [1] * q.ndim
        shape[axis] = -1  # type: ignore[index]
        return (q - zp.reshape(shape)) * s.reshape(shape)

    def put(self, key: str, val: np.ndarray) -> None:
        if key in self.out:
            if not np.array_equal(self.out[key], val):
                self.notes.append(f'conflicting values for {key}')
            return
        self.out[key] = val.astype(np.float32)

    def node(self, n: Any) -> None:
        op, inits = n.op_type, self.inits
        path = _node_module_path(n.name)
        if op in ('MatMulInteger', 'ConvInteger') and n.input[1] in inits:
            w = self.deq(n.input[1], n.input[3] if len(n.input) > 3 else None, axis=1 if op == 'MatMulInteger' else 0)
            self.put(path + '.weight', w.T if op == 'MatMulInteger' else w)  # MatMul: [in,out] -> [out,in]
        elif op in ('Conv', 'ConvTranspose') and n.input[1] in inits and '/istft/' not in n.name:
            self.used.add(n.input[1])
            self.put(path + '.weight', inits[n.input[1]])
        elif op == 'MatMul' and len(n.input) > 1 and n.input[1] in inits:
            self.used.add(n.input[1])
            self.put(path + '.weight', inits[n.input[1]].T)
        elif op == 'DequantizeLinear' and n.input[0].endswith('_quantized') and n.input[0] not in inits:
            # Gather on a quantized embedding table: find the table.
            src = next(m for m in self.graph.node if n.input[0] in m.output)
            self.put(path + '.weight', self.deq(src.input[0], n.input[2], axis=0))
        elif op == 'DynamicQuantizeLSTM':
            self.lstm(n, path)

    def lstm(self, n: Any, path: str) -> None:
        W = self.deq(n.input[1], n.input[9], axis=0)   # [dir, in, 4h]
        R = self.deq(n.input[2], n.input[11], axis=0)  # [dir, h, 4h]
        B = self.inits[n.input[3]]
        self.used.update({n.input[3], n.input[8], n.input[10]})
        hidden = R.shape[1]
        for d, sfx in enumerate(('', '_reverse')):
            self.put(f'{path}.weight_ih_l0{sfx}', _lstm_reorder(W[d].T, hidden))
            self.put(f'{path}.weight_hh_l0{sfx}', _lstm_reorder(R[d].T, hidden))
            self.put(f'{path}.bias_ih_l0{sfx}', _lstm_reorder(B[d, :4 * hidden], hidden))
            self.put(f'{path}.bias_hh_l0{sfx}', _lstm_reorder(B[d, 4 * hidden:], hidden))

    def named_floats(self) -> None:
        """Float initializers that keep their PyTorch names (biases, norms, alphas)."""
        for name, val in self.inits.items():
            if name in self.used or not re.match(r'^(encoder|decoder)\.', name):
                continue
            if name.endswith(('_scale', '_zero_point', '_quantized')):
                continue
            self.used.add(name)
            self.put(_onnx_to_torch_path(name), val)


def read_onnx_weights(onnx_path: str) -> tuple[dict[str, np.ndarray], set[str], set[str], list[str]]:
    """Return ({torch_key: np.ndarray}, used initializer names, all initializer names, notes)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(onnx_path).graph
    reader = _Reader(graph, {i.name: numpy_helper.to_array(i) for i in graph.initializer})
    for n in graph.node:
        reader.node(n)
    reader.named_floats()
    return reader.out, reader.used, set(reader.inits), reader.notes
