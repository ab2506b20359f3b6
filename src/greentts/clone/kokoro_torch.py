"""A differentiable PyTorch Kokoro-82M v1.0, rebuilt from the int8 ONNX that synthesis uses.

Only enrollment (style inversion) and prosody encoding use it; synthesis stays on onnxruntime.

* The architecture is kokoro 0.9.4's ``KModel`` (Apache-2.0). Its package ``__init__`` imports an
  English G2P that needs spaCy, so only ``kokoro.model``/``modules``/``istftnet`` are loaded, under a
  namespace stub for the package.
* Weights are the ONNX initializers, dequantized (``W = (q - zero_point) * scale``, per output channel
  where the graph has it) and mapped onto ``KModel`` by the name of the ONNX node that uses them; LSTM
  gates are reordered from ONNX's i,o,f,c to torch's i,f,g,o. ``research/torch-kokoro/REPORT.md`` has the
  checks against onnxruntime (log-mel correlation 0.979-0.997, identical lengths).
* The harmonic source is deterministic (no random phase or noise), as in the ONNX graph, so gradients
  are stable.
* :class:`TorchKokoro` caches the style-independent half of the network (ALBERT, its projection and the
  acoustic text encoder) per utterance: an optimisation step only runs the prosody predictor and the
  decoder.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import tempfile
import threading
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..models.kokoro import SAMPLE_RATE as SR
from . import require
from .onnx_weights import read_onnx_weights

torch = require("torch")

__all__ = ["TorchKokoro", "Prepared", "Forward"]


def _import_kokoro_model() -> tuple[types.ModuleType, types.ModuleType]:
    if "kokoro.model" in sys.modules:
        return sys.modules["kokoro.model"], sys.modules["kokoro.istftnet"]
    spec = importlib.util.find_spec("kokoro")  # does not execute kokoro/__init__.py
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("voice cloning needs the kokoro==0.9.4 architecture: "
                         "pip install --no-deps kokoro==0.9.4 (see `greentts[clone]` in the README)")
    pkg = types.ModuleType("kokoro")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__package__ = "kokoro"
    sys.modules.setdefault("kokoro", pkg)
    try:
        import kokoro.istftnet as istftnet
        import kokoro.model as model
    except ImportError as exc:
        raise ModelError(f"kokoro's model modules cannot be imported ({exc}); "
                         "install the clone extra: pip install 'greentts[clone]'") from exc
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


def _build_kmodel() -> "torch.nn.Module":
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


def _load_weights(model: "torch.nn.Module", onnx_path: Path) -> None:
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


@dataclass
class Prepared:
    """The style-independent part of one utterance (ALBERT and acoustic text-encoder outputs)."""

    ids: "torch.Tensor"  # (1, n+2) with the 0 pads
    lengths: "torch.Tensor"
    mask: "torch.Tensor"
    d_en: "torch.Tensor"  # ALBERT -> bert_encoder, (1, 512, n+2)
    t_en: "torch.Tensor"  # acoustic text encoder, (1, 512, n+2)

    @property
    def n_ids(self) -> int:
        return int(self.ids.shape[1]) - 2


@dataclass
class Forward:
    """What one differentiable pass produced."""

    audio: "torch.Tensor | None"  # 24 kHz, 1-D (None when only the predictor ran)
    durations: "torch.Tensor"  # rounded frames per token (what the audio used)
    dur_float: "torch.Tensor"  # the predictor's continuous durations (differentiable w.r.t. style[128:])
    f0: "torch.Tensor"  # predicted F0 contour in Hz, 2 values per frame (differentiable w.r.t. style[128:])


class TorchKokoro:
    """Kokoro-82M v1.0 in PyTorch with the ONNX model's weights; frozen parameters, grad w.r.t. style."""

    FRAME_S = 600 / SR  # one duration frame (the F0 contour has 2 values per frame, 300 samples each)

    def __init__(self, onnx_path: str | Path, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.model = _build_kmodel()
        _load_weights(self.model, Path(onnx_path))
        self._adain: "torch.Tensor | None" = None
        self.adain_layout = self._hook_adain()

    def _hook_adain(self) -> list[tuple[str, int, int]]:
        """Hook every decoder AdaIN projection (``fc``: style -> per-channel scale and shift) so that a
        per-voice offset vector can be added to its output, as the rewritten ONNX graph's ``adain`` input
        does (:func:`greentts.models.optimize.adain_layout`: same keys, same order)."""
        fcs = sorted((f"decoder.{name}", mod) for name, mod in self.model.decoder.named_modules()
                     if name.endswith(".fc") and isinstance(mod, torch.nn.Linear))
        layout, offset = [], 0
        for key, mod in fcs:
            dim = int(mod.out_features)

            def hook(_mod, _inp, out, a=offset, b=offset + dim):  # noqa: ANN001, ANN202
                return out if self._adain is None else out + self._adain[a:b]

            mod.register_forward_hook(hook)
            layout.append((key, offset, dim))
            offset += dim
        return layout

    def adain_outputs(self, timbre: "torch.Tensor") -> "torch.Tensor":
        """What every AdaIN projection gives for (V, 128) timbre halves: (V, 37,396), no offset."""
        mods = dict(self.model.named_modules())
        with torch.no_grad():
            return torch.cat([mods[key](timbre) for key, _, _ in self.adain_layout], dim=1)

    def prepare(self, ids: list[int]) -> Prepared:
        """Run and cache the style-independent encoders for phoneme ``ids`` (without the 0 pads)."""
        if not 0 < len(ids) <= 510:
            raise ModelError(f"an utterance must have 1..510 phoneme ids, got {len(ids)}")
        m = self.model
        input_ids = torch.tensor([[0, *map(int, ids), 0]], dtype=torch.long)
        lengths = torch.tensor([input_ids.shape[1]], dtype=torch.long)
        mask = torch.gt(torch.arange(input_ids.shape[1]).unsqueeze(0) + 1, lengths.unsqueeze(1))
        with torch.no_grad():
            bert = m.bert(input_ids, attention_mask=(~mask).int())
            d_en = m.bert_encoder(bert).transpose(-1, -2)
            t_en = m.text_encoder(input_ids, lengths, mask)
        return Prepared(input_ids, lengths, mask, d_en, t_en)

    def durations(self, prep: Prepared, style: "torch.Tensor") -> "torch.Tensor":
        """The predictor's continuous durations in frames per token (differentiable w.r.t. style[128:]),
        without the F0 branch or the decoder: what a speaking-rate term needs."""
        m = self.model
        d = m.predictor.text_encoder(prep.d_en, style[:, 128:], prep.lengths, prep.mask)
        x, _ = m.predictor.lstm(d)
        return torch.sigmoid(m.predictor.duration_proj(x)).sum(dim=-1).squeeze(0)

    def forward(self, prep: Prepared, style: "torch.Tensor", speed: float = 1.0,
                durations: "torch.Tensor | None" = None, audio: bool = True,
                window: tuple[int, int] | None = None, adain: "torch.Tensor | None" = None) -> Forward:
        """Predictor (+ decoder when ``audio``) for a (1, 256) ``style``; gradients flow to ``style``.

        Durations are rounded (not differentiable); pass ``durations`` to hold them fixed. ``window``
        (first frame, frame count) decodes only that stretch of frames (the decoder is convolutional, so
        this is the same audio up to edge effects, at a fraction of the cost). ``adain`` (one value per
        AdaIN output, or None for zeros) is added to the decoder's AdaIN projections; gradients flow to it.
        """
        m = self.model
        s = style[:, 128:]
        d = m.predictor.text_encoder(prep.d_en, s, prep.lengths, prep.mask)
        x, _ = m.predictor.lstm(d)
        dur_float = torch.sigmoid(m.predictor.duration_proj(x)).sum(dim=-1).squeeze(0) / speed
        dur = durations if durations is not None else torch.round(dur_float.detach()).clamp(min=1).long()
        n = prep.ids.shape[1]
        idx = torch.repeat_interleave(torch.arange(n), dur)
        aln = torch.zeros((n, idx.shape[0]))
        aln[idx, torch.arange(idx.shape[0])] = 1
        aln = aln.unsqueeze(0)
        en = d.transpose(-1, -2) @ aln
        f0, n_pred = m.predictor.F0Ntrain(en, s)
        wav = None
        if audio:
            asr, f0_in, n_in = prep.t_en @ aln, f0, n_pred
            if window is not None:
                a = max(0, min(window[0], asr.shape[-1] - window[1]))
                b = a + window[1]
                asr, f0_in, n_in = asr[..., a:b], f0[..., 2 * a:2 * b], n_pred[..., 2 * a:2 * b]
            self._adain = adain
            try:
                wav = m.decoder(asr, f0_in, n_in, style[:, :128]).squeeze()
            finally:
                self._adain = None
        return Forward(wav, dur, dur_float, f0.squeeze(0))

    def synthesize(self, prep: Prepared, style: np.ndarray, speed: float = 1.0,
                   adain: np.ndarray | None = None) -> np.ndarray:
        """24 kHz float32 audio (no gradient), for checks."""
        with torch.no_grad():
            a = None if adain is None else torch.as_tensor(np.asarray(adain, np.float32).reshape(-1))
            out = self.forward(prep, torch.as_tensor(np.array(style, np.float32).reshape(1, 256)), speed,
                               adain=a)
        assert out.audio is not None
        return out.audio.numpy().astype(np.float32)
