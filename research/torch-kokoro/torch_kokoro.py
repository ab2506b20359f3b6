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

# ---------------------------------------------------------------- kokoro import


def _import_kokoro_model():
    if 'kokoro.model' in sys.modules:
        return sys.modules['kokoro.model'], sys.modules['kokoro.istftnet']
    spec = importlib.util.find_spec('kokoro')  # does not execute __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('kokoro==0.9.4 is not installed')
    pkg = types.ModuleType('kokoro')
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__package__ = 'kokoro'
    sys.modules.setdefault('kokoro', pkg)
    import kokoro.istftnet as istftnet  # noqa: E402
    import kokoro.model as model  # noqa: E402
    return model, istftnet


# Kokoro-82M v1.0 config.json (hexgrad/Kokoro-82M), vocab omitted: we feed ids.
KOKORO_V1_CONFIG = {
    'istftnet': {
        'upsample_kernel_sizes': [20, 12], 'upsample_rates': [10, 6],
        'gen_istft_hop_size': 5, 'gen_istft_n_fft': 20,
        'resblock_dilation_sizes': [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        'resblock_kernel_sizes': [3, 7, 11], 'upsample_initial_channel': 512,
    },
    'dim_in': 64, 'dropout': 0.2, 'hidden_dim': 512, 'max_conv_dim': 512,
    'max_dur': 50, 'multispeaker': True, 'n_layer': 3, 'n_mels': 80,
    'n_token': 178, 'style_dim': 128, 'text_encoder_kernel_size': 5,
    'plbert': {'hidden_size': 768, 'num_attention_heads': 12,
               'intermediate_size': 2048, 'max_position_embeddings': 512,
               'num_hidden_layers': 12, 'dropout': 0.1},
    'vocab': {},
}


def _deterministic_sinegen_forward(self, f0):
    """SineGen.forward without random initial phase / additive noise.

    Matches the ONNX graph, which computes sin(phase) * sine_amp * uv only.
    """
    fn = f0 * torch.arange(1, self.harmonic_num + 2, device=f0.device,
                           dtype=f0.dtype)[None, None, :]
    rad_values = (fn / self.sampling_rate) % 1
    rad_values = torch.nn.functional.interpolate(
        rad_values.transpose(1, 2), scale_factor=1 / self.upsample_scale,
        mode='linear').transpose(1, 2)
    phase = torch.cumsum(rad_values, dim=1) * 2 * torch.pi
    phase = torch.nn.functional.interpolate(
        phase.transpose(1, 2) * self.upsample_scale,
        scale_factor=self.upsample_scale, mode='linear').transpose(1, 2)
    uv = self._f02uv(f0)
    sine_waves = torch.sin(phase) * self.sine_amp * uv
    noise = torch.zeros_like(sine_waves)
    return sine_waves, uv, noise


def _deterministic_source_forward(self, x):
    with torch.set_grad_enabled(torch.is_grad_enabled()
                                and getattr(self, 'grad_through_source', False)):
        sine_wavs, uv, _ = self.l_sin_gen(x)
    sine_merge = self.l_tanh(self.l_linear(sine_wavs))
    return sine_merge, torch.zeros_like(uv), uv


def _generator_forward(self, x, s, f0):
    """istftnet.Generator.forward; the F0 -> harmonic-source branch is
    no_grad upstream, optionally differentiable here (grad_through_source)."""
    F = torch.nn.functional
    with torch.set_grad_enabled(torch.is_grad_enabled()
                                and getattr(self, 'grad_through_source', False)):
        f0 = self.f0_upsamp(f0[:, None]).transpose(1, 2)
        har_source, noi_source, uv = self.m_source(f0)
        har_source = har_source.transpose(1, 2).squeeze(1)
        har_spec, har_phase = self.stft.transform(har_source)
        har = torch.cat([har_spec, har_phase], dim=1)
    for i in range(self.num_upsamples):
        x = F.leaky_relu(x, negative_slope=0.1)
        x_source = self.noise_convs[i](har)
        x_source = self.noise_res[i](x_source, s)
        x = self.ups[i](x)
        if i == self.num_upsamples - 1:
            x = self.reflection_pad(x)
        x = x + x_source
        xs = None
        for j in range(self.num_kernels):
            y = self.resblocks[i * self.num_kernels + j](x, s)
            xs = y if xs is None else xs + y
        x = xs / self.num_kernels
    x = F.leaky_relu(x)
    x = self.conv_post(x)
    spec = torch.exp(x[:, :self.post_n_fft // 2 + 1, :])
    phase = torch.sin(x[:, self.post_n_fft // 2 + 1:, :])
    return self.stft.inverse(spec, phase)


def set_grad_through_source(model, enabled: bool = True):
    """Let gradients flow F0 -> sine source -> STFT (upstream blocks them)."""
    model.decoder.generator.grad_through_source = enabled
    model.decoder.generator.m_source.grad_through_source = enabled


def build_kmodel() -> torch.nn.Module:
    kmodel_mod, istftnet = _import_kokoro_model()
    istftnet.SineGen.forward = _deterministic_sinegen_forward
    istftnet.SourceModuleHnNSF.forward = _deterministic_source_forward
    istftnet.Generator.forward = _generator_forward
    with tempfile.TemporaryDirectory() as td:
        empty = os.path.join(td, 'empty.pth')
        torch.save({}, empty)
        model = kmodel_mod.KModel(repo_id='hexgrad/Kokoro-82M',
                                  config=dict(KOKORO_V1_CONFIG), model=empty)
    # weight_norm was folded into plain weights in the ONNX export.
    for m in model.modules():
        if hasattr(m, 'weight_g') and hasattr(m, 'weight_v'):
            torch.nn.utils.remove_weight_norm(m)
    return model.eval()


# ---------------------------------------------------------------- ONNX reading


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


def read_onnx_weights(onnx_path: str):
    """Return ({torch_key: np.ndarray}, used_initializer_names, notes)."""
    import onnx
    from onnx import numpy_helper

    mp = onnx.load(onnx_path)
    g = mp.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    used: set[str] = set()
    out: dict[str, np.ndarray] = {}
    notes: list[str] = []

    def deq(q_name: str, zp_name: str | None, axis: int | None):
        q = inits[q_name].astype(np.float32)
        s_name = q_name[:-len('_quantized')] + '_scale'
        s = inits[s_name].astype(np.float32)
        zp = inits[zp_name].astype(np.float32) if zp_name else np.zeros_like(s)
        used.update({q_name, s_name} | ({zp_name} if zp_name else set()))
        if s.ndim == 0:
            return (q - zp) * s
        shape = [1] * q.ndim
        shape[axis] = -1
        return (q - zp.reshape(shape)) * s.reshape(shape)

    def put(key, val):
        if key in out:
            if not np.array_equal(out[key], val):
                notes.append(f'conflicting values for {key}')
            return
        out[key] = val.astype(np.float32)

    for n in g.node:
        op = n.op_type
        if op == 'MatMulInteger' and n.input[1] in inits:
            w = deq(n.input[1], n.input[3] if len(n.input) > 3 else None, axis=1)
            put(_node_module_path(n.name) + '.weight', w.T)  # [in,out] -> [out,in]
        elif op == 'ConvInteger' and n.input[1] in inits:
            w = deq(n.input[1], n.input[3] if len(n.input) > 3 else None, axis=0)
            put(_node_module_path(n.name) + '.weight', w)
        elif op in ('Conv', 'ConvTranspose') and n.input[1] in inits \
                and '/istft/' not in n.name:
            used.add(n.input[1])
            put(_node_module_path(n.name) + '.weight', inits[n.input[1]])
        elif op == 'MatMul' and len(n.input) > 1 and n.input[1] in inits:
            used.add(n.input[1])
            put(_node_module_path(n.name) + '.weight', inits[n.input[1]].T)
        elif op == 'DequantizeLinear' and n.input[0].endswith('_quantized') \
                and n.input[0] not in inits:
            # Gather on a quantized embedding table: find the table.
            src = next(m for m in g.node if n.input[0] in m.output)
            table = src.input[0]
            w = deq(table, n.input[2], axis=0)
            put(_node_module_path(n.name) + '.weight', w)
        elif op == 'DynamicQuantizeLSTM':
            path = _node_module_path(n.name)
            W = deq(n.input[1], n.input[9], axis=0)   # [dir, in, 4h]
            R = deq(n.input[2], n.input[11], axis=0)  # [dir, h, 4h]
            B = inits[n.input[3]]
            used.add(n.input[3])
            for name in (n.input[8], n.input[10]):
                used.add(name)
            hidden = R.shape[1]
            for d, sfx in enumerate(('', '_reverse')):
                put(f'{path}.weight_ih_l0{sfx}', _lstm_reorder(W[d].T, hidden))
                put(f'{path}.weight_hh_l0{sfx}', _lstm_reorder(R[d].T, hidden))
                put(f'{path}.bias_ih_l0{sfx}', _lstm_reorder(B[d, :4 * hidden], hidden))
                put(f'{path}.bias_hh_l0{sfx}', _lstm_reorder(B[d, 4 * hidden:], hidden))

    # Float initializers that keep their PyTorch names (biases, norms, alphas).
    for name, val in inits.items():
        if name in used or not re.match(r'^(encoder|decoder)\.', name):
            continue
        if name.endswith(('_scale', '_zero_point', '_quantized')):
            continue
        key = _onnx_to_torch_path(name)
        used.add(name)
        put(key, val)
    return out, used, set(inits), notes


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
