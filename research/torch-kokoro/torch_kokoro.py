"""Differentiable PyTorch Kokoro-82M v1.0 rebuilt from the int8 ONNX export.

load_torch_kokoro(onnx_path) -> KModel (kokoro==0.9.4 architecture) whose
weights are the dequantized ONNX initializers.
synthesize(model, ids, style_row, speed) -> float32 numpy audio at 24 kHz.
forward_tokens(model, input_ids, ref_s, speed) -> (audio tensor, durations),
the grad-enabled counterpart of KModel.forward_with_tokens.

The kokoro package's __init__ pulls in the G2P pipeline (misaki/spaCy); we
only load kokoro.model / modules / istftnet by registering a namespace stub
for the package.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
import tempfile
import types

import numpy as np
import torch

# The model construction and ONNX weight mapping now live in the package (greentts.clone.kokoro_torch);
# this prototype keeps only its load report, forward_tokens and synthesize on top of them.
from greentts.clone.kokoro_torch import (  # noqa: E402
    _build_kmodel as build_kmodel,
    read_onnx_weights,
)


def set_grad_through_source(model, enabled: bool = True):
    """Let gradients flow F0 -> sine source -> STFT (upstream blocks them)."""
    model.decoder.generator.grad_through_source = enabled
    model.decoder.generator.m_source.grad_through_source = enabled


# ---------------------------------------------------------------- public API


def load_torch_kokoro(onnx_path: str, verbose: bool = True) -> torch.nn.Module:
    model = build_kmodel()
    weights, used, all_inits, notes = read_onnx_weights(onnx_path)
    sd = model.state_dict()
    filled, bad_shape, unknown = [], [], []
    new_sd = {}
    for k, v in weights.items():
        if k not in sd:
            unknown.append(k)
            continue
        t = torch.from_numpy(np.ascontiguousarray(v))
        if tuple(t.shape) != tuple(sd[k].shape):
            if t.numel() == sd[k].numel():
                t = t.reshape(sd[k].shape)
            else:
                bad_shape.append((k, tuple(t.shape), tuple(sd[k].shape)))
                continue
        new_sd[k] = t
        filled.append(k)
    model.load_state_dict(new_sd, strict=False)
    unfilled = sorted(set(sd) - set(filled))
    # Expected gaps: AdaIN's InstanceNorm1d(affine=True) weight/bias (the ONNX
    # graph normalises without affine, i.e. identity = torch's 1/0 defaults)
    # and ALBERT's pooler (unused: KModel takes last_hidden_state).
    expected = [k for k in unfilled if re.search(r'\.norm\.(weight|bias)$', k)
                or k.startswith('bert.pooler.')]
    for k in expected:
        if k.endswith('norm.weight'):
            assert torch.all(sd[k] == 1)
        elif k.endswith('norm.bias'):
            assert torch.all(sd[k] == 0)
    # ONNX-only named tensors: the export's conv-based iSTFT basis/window and
    # a reshape-shape constant; KModel uses torch.istft instead.
    onnx_only = [k for k in unknown if re.search(
        r'stft\.(inverse_basis|window_sum)$|_reshape_shape$', k)]
    unmapped = sorted(n for n in all_inits - used)
    model.load_report = {
        'filled': len(filled), 'total_params': len(sd),
        'unfilled': sorted(set(unfilled) - set(expected)),
        'unfilled_expected': expected,
        'unknown_keys': sorted(set(unknown) - set(onnx_only)),
        'onnx_only': onnx_only, 'bad_shape': bad_shape,
        'unmapped_initializers': unmapped, 'notes': notes,
    }
    if verbose:
        print(format_load_report(model.load_report))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def format_load_report(r) -> str:
    lines = [f"filled {r['filled']}/{r['total_params']} state_dict entries from ONNX"]
    lines.append(f"UNEXPECTED unfilled params ({len(r['unfilled'])}): {r['unfilled']}")
    lines.append(f"unknown keys: {r['unknown_keys']}  bad shapes: {r['bad_shape']}")
    lines.append(f"expected unfilled ({len(r['unfilled_expected'])}, identity "
                 f"InstanceNorm affine + unused ALBERT pooler): "
                 + ', '.join(_compress(r['unfilled_expected'])))
    lines.append(f"ONNX-only named tensors (not KModel params): {r['onnx_only']}")
    lines.append(f"unmapped initializers ({len(r['unmapped_initializers'])}, graph "
                 f"constants: shapes/axes/eps/1/alpha/sine consts): "
                 + ', '.join(_compress(r['unmapped_initializers'])))
    if r['notes']:
        lines.append('notes: ' + '; '.join(r['notes']))
    return '\n'.join(lines)


def _compress(names):
    """Group names by pattern with digits replaced, for a short listing."""
    groups: dict[str, int] = {}
    for n in names:
        k = re.sub(r'\d+', '#', n)
        groups[k] = groups.get(k, 0) + 1
    return [f'{k} x{c}' if c > 1 else k for k, c in sorted(groups.items())]


def forward_tokens(model, input_ids: torch.Tensor, ref_s: torch.Tensor,
                   speed: float = 1.0, durations=None, return_aux: bool = False):
    """Grad-enabled KModel.forward_with_tokens (batch size 1).

    durations: optional int frames per token (len n+2) overriding the
    predictor's rounded durations (rounding is not differentiable anyway).
    return_aux: also return dict(dur_float, F0, N).
    """
    dev = input_ids.device
    input_lengths = torch.full((input_ids.shape[0],), input_ids.shape[-1],
                               device=dev, dtype=torch.long)
    text_mask = torch.arange(input_lengths.max(), device=dev).unsqueeze(0)
    text_mask = torch.gt(text_mask + 1, input_lengths.unsqueeze(1))
    bert_dur = model.bert(input_ids, attention_mask=(~text_mask).int())
    d_en = model.bert_encoder(bert_dur).transpose(-1, -2)
    s = ref_s[:, 128:]
    d = model.predictor.text_encoder(d_en, s, input_lengths, text_mask)
    x, _ = model.predictor.lstm(d)
    duration = model.predictor.duration_proj(x)
    duration = torch.sigmoid(duration).sum(axis=-1) / speed
    pred_dur = torch.round(duration.detach()).clamp(min=1).long().squeeze(0)
    if durations is not None:
        pred_dur = torch.as_tensor(durations, dtype=torch.long,
                                   device=dev).reshape(-1)
    indices = torch.repeat_interleave(torch.arange(input_ids.shape[1], device=dev),
                                      pred_dur)
    aln = torch.zeros((input_ids.shape[1], indices.shape[0]), device=dev)
    aln[indices, torch.arange(indices.shape[0], device=dev)] = 1
    aln = aln.unsqueeze(0)
    en = d.transpose(-1, -2) @ aln
    F0_pred, N_pred = model.predictor.F0Ntrain(en, s)
    t_en = model.text_encoder(input_ids, input_lengths, text_mask)
    asr = t_en @ aln
    audio = model.decoder(asr, F0_pred, N_pred, ref_s[:, :128]).squeeze()
    if return_aux:
        return audio, pred_dur, {'dur_float': duration.squeeze(0), 'F0': F0_pred,
                                 'N': N_pred}
    return audio, pred_dur


def synthesize(model, ids, style_row, speed: float = 1.0) -> np.ndarray:
    input_ids = torch.tensor([[0, *[int(i) for i in ids], 0]], dtype=torch.long)
    ref_s = torch.as_tensor(np.asarray(style_row, dtype=np.float32)).reshape(1, 256)
    with torch.no_grad():
        audio, _ = forward_tokens(model, input_ids, ref_s, speed)
    return audio.cpu().numpy().astype(np.float32)


if __name__ == '__main__':
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser(
        '~/.cache/greentts/kokoro-v1.0.int8.onnx')
    load_torch_kokoro(path)
