"""Kokoro-82M v1.0 in PyTorch, filled from the int8 ONNX that synthesis uses: the architecture and weights
shared by synthesis on torch (:mod:`greentts.models.kokoro_batched`, ``EngineConfig(device="cuda")``)
and by cloning (:mod:`greentts.clone.kokoro_torch`).

* The architecture is kokoro 0.9.4's ``KModel`` (Apache-2.0). Its package ``__init__`` imports an
  English G2P that needs spaCy, so only ``kokoro.model``/``modules``/``istftnet`` are loaded, under a
  namespace stub for the package.
* Weights are the ONNX initializers, dequantized (``W = (q - zero_point) * scale``, per output channel
  where the graph has it) and mapped onto ``KModel`` by the name of the ONNX node that uses them; LSTM
  gates are reordered from ONNX's i,o,f,c to torch's i,f,g,o (``research/torch-kokoro/REPORT.md``).
* The harmonic source is deterministic (no random phase or noise), as in the ONNX graph.

torch and kokoro are optional: importing this module without them raises :class:`ModelError` saying
what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
import types
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .onnx_weights import read_onnx_weights

TORCH_HINT = ("Kokoro on PyTorch needs torch and kokoro's architecture: pip install 'greentts[clone]' && "
              "pip install --no-deps kokoro==0.9.4 (or run `make install`; for a GPU, a CUDA build of torch)")


def _require_torch() -> types.ModuleType:
    if "torch" not in sys.modules:
        # Idle OpenMP threads sleep instead of spinning: with spinning, any other busy process (or the
        # engine's own onnxruntime workers) makes torch's parallel regions wait on descheduled threads;
        # measured here: a 2 s forward+backward step went from ~2 s to 15-40 s on 2 busy cores.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise ModelError(f"{TORCH_HINT} (missing: {exc.name or 'torch'})") from exc


torch = _require_torch()

__all__ = ["KOKORO_V1_CONFIG", "TORCH_HINT", "build_kmodel", "load_weights"]


def _import_kokoro_model() -> tuple[types.ModuleType, types.ModuleType]:
    if "kokoro.model" in sys.modules:
        return sys.modules["kokoro.model"], sys.modules["kokoro.istftnet"]
    spec = importlib.util.find_spec("kokoro")  # does not execute kokoro/__init__.py
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(TORCH_HINT + " (missing: kokoro)")
    pkg = types.ModuleType("kokoro")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__package__ = "kokoro"
    sys.modules.setdefault("kokoro", pkg)
    try:
        import kokoro.istftnet as istftnet
        import kokoro.model as model
    except ImportError as exc:
        raise ModelError(f"kokoro's model modules cannot be imported ({exc}): {TORCH_HINT}") from exc
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



_build_lock = threading.Lock()


def build_kmodel() -> "torch.nn.Module":
    kmodel_mod, istftnet = _import_kokoro_model()
    with _build_lock:
        istftnet.SineGen.forward = _deterministic_sinegen_forward
        istftnet.SourceModuleHnNSF.forward = _deterministic_source_forward
        istftnet.Generator.forward = _generator_forward
        with tempfile.TemporaryDirectory() as td:
            empty = os.path.join(td, "empty.pth")
            torch.save({}, empty)
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = kmodel_mod.KModel(repo_id="hexgrad/Kokoro-82M", config=dict(KOKORO_V1_CONFIG), model=empty)
                # weight_norm was folded into plain weights in the ONNX export.
                for m in model.modules():
                    if hasattr(m, "weight_g") and hasattr(m, "weight_v"):
                        torch.nn.utils.remove_weight_norm(m)
    return model.eval()


# ---------------------------------------------------------------- loading


def load_weights(model: "torch.nn.Module", onnx_path: Path) -> None:
    """Fill ``model`` from the ONNX file; every parameter that matters must be filled."""
    weights, _used, _all, notes = read_onnx_weights(str(onnx_path))
    sd = model.state_dict()
    new_sd, filled = {}, set()
    for key, value in weights.items():
        if key not in sd:
            continue  # the export's conv-iSTFT basis and reshape constants: torch uses torch.istft
        t = torch.from_numpy(np.ascontiguousarray(value))
        if tuple(t.shape) != tuple(sd[key].shape):
            if t.numel() != sd[key].numel():
                raise ModelError(f"Kokoro weight {key}: ONNX shape {tuple(t.shape)} != model {tuple(sd[key].shape)}")
            t = t.reshape(sd[key].shape)
        new_sd[key] = t
        filled.add(key)
    model.load_state_dict(new_sd, strict=False)
    # Left at their defaults on purpose: InstanceNorm affine weights/biases (1/0; the graph normalises
    # without an affine step) and ALBERT's pooler (unused).
    missing = [k for k in set(sd) - filled
               if not re.search(r"\.norm\.(weight|bias)$", k) and not k.startswith("bert.pooler.")]
    if missing or notes:
        raise ModelError(f"the torch Kokoro could not be filled from {onnx_path.name}: "
                         f"{len(missing)} parameters unfilled ({sorted(missing)[:5]}...) {'; '.join(notes)}")
    for p in model.parameters():
        p.requires_grad_(False)
