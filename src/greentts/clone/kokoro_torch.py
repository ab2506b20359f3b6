"""A differentiable PyTorch Kokoro-82M v1.0, rebuilt from the int8 ONNX that synthesis uses.

Enrollment (style inversion) and prosody encoding use it. The architecture and the weight loading live
in :mod:`greentts.models.kokoro_torch` (shared with synthesis on torch, :mod:`greentts.models.kokoro_batched`).

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

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..models.kokoro import SAMPLE_RATE as SR
from . import require

torch = require("torch")

from ..models.kokoro_torch import build_kmodel as _build_kmodel  # noqa: E402 - after torch's thread policy
from ..models.kokoro_torch import load_weights as _load_weights  # noqa: E402

__all__ = ["TorchKokoro", "Prepared", "Forward"]


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
