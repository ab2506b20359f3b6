"""Kokoro-82M on PyTorch, batched: segments of different lengths in one forward pass, item by item the
same audio as each alone.

Padding would change what the model computes in three places, and each is handled:

* **attention and recurrences** over phoneme ids: ALBERT gets the attention mask, every LSTM runs on
  packed sequences (text encoder, duration encoder and predictor over ids, the shared F0/energy LSTM
  over frames), so padded ids and frames never reach a real one;
* **instance norms** (every AdaIN layer of the prosody predictor and the decoder) take their mean and
  variance over each item's own frames only;
* **convolutions** see zeros past each item's end, exactly as a lone item sees its zero padding: every
  Conv1d / ConvTranspose1d of the predictor's F0/energy branch and of the decoder gets its input masked
  to the item's length at that layer's time resolution (frames x 1, 2, 20, 120, + 0 or 1: every layer's
  length is affine in the frame count, so an item's length is the batch's minus ratio x missing frames).

The harmonic source (interpolation and a cumulative phase, cheap) and the inverse STFT run per item on
that item's own frames. Durations are predicted per item, then expanded into one padded alignment.

``device="cuda"`` runs the network under bf16 (or fp16) autocast; the source and the iSTFT stay fp32.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .kokoro import KokoroBackend
from .kokoro_torch import KOKORO_V1_CONFIG, build_kmodel, load_weights, torch

__all__ = ["BatchItem", "BatchedKokoro", "check_device"]

FRAME_SAMPLES = 600  # audio samples per duration frame at 24 kHz
STFT_FRAMES = FRAME_SAMPLES // KOKORO_V1_CONFIG["istftnet"]["gen_istft_hop_size"]  # iSTFT frames per frame: 120
MAX_IDS = KokoroBackend.max_ids
F = torch.nn.functional


@dataclass(frozen=True)
class BatchItem:
    """One segment: phoneme ids (without the boundary pads), a 256-value style row, speed, AdaIN offsets,
    and optionally the frames per id to use instead of the predicted ones (``len(ids) + 2`` values)."""

    ids: Sequence[int]
    style: np.ndarray
    speed: float = 1.0
    adain: np.ndarray | None = None
    durations: Sequence[int] | None = None


def check_device(device: str) -> "torch.device":
    """``device`` as a torch device, or :class:`InputError` saying why it cannot be used here."""
    if device == "cpu":
        return torch.device("cpu")
    if device.split(":")[0] != "cuda":
        raise InputError(f"device={device!r}: choose 'cpu' or 'cuda' (or 'cuda:N')")
    if not torch.cuda.is_available():
        build = torch.version.cuda or "none (a CPU-only build)"
        raise InputError(f"device={device!r} needs an NVIDIA GPU and a CUDA build of PyTorch; on this machine "
                         f"torch.cuda.is_available() is False (torch {torch.__version__}, CUDA {build})")
    return torch.device(device)


class _Lengths(threading.local):
    frames: "torch.Tensor | None" = None  # (B,) frames per item, while a batched decode runs on this thread
    longest: int = 0  # their maximum (kept as a number: no device sync per layer)
    adain: "torch.Tensor | None" = None  # (B, D) per-item AdaIN offsets


class BatchedKokoro:
    """Batched Kokoro synthesis on torch (CPU fp32, or CUDA under autocast)."""

    def __init__(self, onnx_path: str | Path, device: str = "cpu", dtype: str = "bfloat16",
                 threads: int | None = None) -> None:
        self.device = check_device(device)
        if dtype not in ("bfloat16", "float16", "float32"):
            raise InputError(f"dtype={dtype!r}: choose bfloat16, float16 or float32")
        self.autocast = None if self.device.type == "cpu" or dtype == "float32" else getattr(torch, dtype)
        if threads and self.device.type == "cpu":
            torch.set_num_threads(threads)
        self.model = build_kmodel()
        load_weights(self.model, Path(onnx_path))
        self.model.to(self.device)
        self._ctx = _Lengths()
        self.adain_dim = self._install_hooks()
        self.generator = self.model.decoder.generator

    # -- masks -------------------------------------------------------------------------------------

    def _mask(self, length: int) -> "torch.Tensor | None":
        """(B, 1, length) 1/0: each item's valid positions at a layer whose batch length is ``length``."""
        frames = self._ctx.frames
        if frames is None:
            return None
        longest = self._ctx.longest
        ratio = length // longest
        valid = length - ratio * (longest - frames)
        return (torch.arange(length, device=frames.device)[None, :] < valid[:, None]).unsqueeze(1)

    def _install_hooks(self) -> int:
        m = self.model
        parts = [m.decoder, m.predictor.F0, m.predictor.N, m.predictor.F0_proj, m.predictor.N_proj]
        for part in parts:
            for mod in part.modules():
                if isinstance(mod, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                    mod.register_forward_pre_hook(self._mask_input)
                elif isinstance(mod, torch.nn.InstanceNorm1d):
                    mod.forward = self._norm_forward(mod)  # type: ignore[method-assign]
        offset = 0
        for _, mod in sorted((n, x) for n, x in m.decoder.named_modules()
                             if n.endswith(".fc") and isinstance(x, torch.nn.Linear)):
            mod.register_forward_hook(self._adain_hook(offset, offset + int(mod.out_features)))
            offset += int(mod.out_features)
        return offset

    def _mask_input(self, _mod: object, args: tuple) -> tuple | None:
        mask = self._mask(args[0].shape[-1])
        return None if mask is None else (args[0] * mask, *args[1:])

    def _norm_forward(self, norm: "torch.nn.InstanceNorm1d"):  # noqa: ANN202
        plain = norm.forward

        def forward(x: "torch.Tensor") -> "torch.Tensor":
            mask = self._mask(x.shape[-1])
            if mask is None:
                return plain(x)
            w = mask.to(x.dtype)
            n = w.sum(-1, keepdim=True).clamp(min=1)
            mean = (x * w).sum(-1, keepdim=True) / n
            var = (((x - mean) ** 2) * w).sum(-1, keepdim=True) / n
            y = (x - mean) * torch.rsqrt(var + norm.eps)
            if norm.affine:
                y = y * norm.weight[None, :, None] + norm.bias[None, :, None]
            return y

        return forward

    def _adain_hook(self, a: int, b: int):  # noqa: ANN202
        def hook(_mod: object, _inp: object, out: "torch.Tensor") -> "torch.Tensor":
            extra = self._ctx.adain
            return out if extra is None else out + extra[:, a:b].to(out.dtype)

        return hook

    # -- the forward pass --------------------------------------------------------------------------

    def synthesize(self, items: Sequence[BatchItem]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Audio (24 kHz float32, ``600 x frames`` samples) and per-id durations (frames, boundary pads
        included) for each item, in order."""
        if not items:
            return []
        for it in items:
            if not 1 <= len(it.ids) <= MAX_IDS:
                raise InputError(f"Kokoro takes 1..{MAX_IDS} phoneme ids per segment, got {len(it.ids)}")
            if it.durations is not None and (len(it.durations) != len(it.ids) + 2 or min(it.durations) < 1):
                raise InputError(f"durations must be {len(it.ids) + 2} frame counts >= 1 (one per id and pad)")
        with torch.inference_mode(), self._autocast():
            return self._forward(items)

    def _autocast(self):  # noqa: ANN202
        if self.autocast is None:
            return torch.autocast("cpu", enabled=False)
        return torch.autocast(self.device.type, dtype=self.autocast)

    def _forward(self, items: Sequence[BatchItem]) -> list[tuple[np.ndarray, np.ndarray]]:
        m, dev = self.model, self.device
        n = torch.tensor([len(it.ids) + 2 for it in items])
        ids = torch.zeros((len(items), int(n.max())), dtype=torch.long)
        for i, it in enumerate(items):
            ids[i, 1:len(it.ids) + 1] = torch.as_tensor(list(it.ids), dtype=torch.long)
        ids = ids.to(dev)
        pad = (torch.arange(ids.shape[1])[None, :] >= n[:, None]).to(dev)  # True past each item's end
        style = torch.as_tensor(np.stack([np.asarray(it.style, np.float32).reshape(256) for it in items])).to(dev)
        speed = torch.tensor([float(it.speed) for it in items], device=dev)
        bert = m.bert(ids, attention_mask=(~pad).int())
        d_en = m.bert_encoder(bert).transpose(-1, -2)
        t_en = m.text_encoder(ids, n, pad)
        d = m.predictor.text_encoder(d_en, style[:, 128:], n, pad)
        x = _packed_lstm(m.predictor.lstm, d, n)
        dur_float = torch.sigmoid(m.predictor.duration_proj(x).float()).sum(-1) / speed[:, None]
        dur = torch.round(dur_float).clamp(min=1).long().masked_fill(pad, 0)
        for i, it in enumerate(items):
            if it.durations is not None:
                dur[i, :int(n[i])] = torch.as_tensor(np.asarray(it.durations, np.int64), device=dev)
        frames = dur.sum(1)
        aln = _alignment(dur, n, int(frames.max())).to(d.dtype)
        self._ctx.frames, self._ctx.longest, self._ctx.adain = frames, int(frames.max()), self._adain(items)
        try:
            en = d.transpose(-1, -2) @ aln
            f0, noise = self._f0n(en, style[:, 128:], frames)
            x = self._decode(t_en @ aln.to(t_en.dtype), f0, noise, style[:, :128])
            audio = self._generate(x, style[:, :128], f0, frames)
        finally:
            self._ctx.frames = self._ctx.adain = None
        return [(a.float().cpu().numpy().astype(np.float32), dur[i, :int(n[i])].cpu().numpy())
                for i, a in enumerate(audio)]

    def _adain(self, items: Sequence[BatchItem]) -> "torch.Tensor | None":
        if all(it.adain is None for it in items):
            return None
        rows = [np.zeros(self.adain_dim, np.float32) if it.adain is None else
                np.asarray(it.adain, np.float32).reshape(-1) for it in items]
        if any(r.shape[0] != self.adain_dim for r in rows):
            raise InputError(f"AdaIN offsets must have {self.adain_dim} values")
        return torch.as_tensor(np.stack(rows)).to(self.device)

    def _f0n(self, en: "torch.Tensor", s: "torch.Tensor", frames: "torch.Tensor") -> tuple:
        p = self.model.predictor
        x = _packed_lstm(p.shared, en.transpose(-1, -2), frames).transpose(-1, -2)
        f0, noise = x, x
        for block in p.F0:
            f0 = block(f0, s)
        for block in p.N:
            noise = block(noise, s)
        return p.F0_proj(f0).squeeze(1), p.N_proj(noise).squeeze(1)

    def _decode(self, asr: "torch.Tensor", f0: "torch.Tensor", noise: "torch.Tensor",
                s: "torch.Tensor") -> "torch.Tensor":
        """kokoro's Decoder.forward up to the generator (its convs and norms masked by the hooks)."""
        dec = self.model.decoder
        f0c, nc = dec.F0_conv(f0.unsqueeze(1)), dec.N_conv(noise.unsqueeze(1))
        x = dec.encode(torch.cat([asr, f0c, nc], dim=1), s)
        asr_res = dec.asr_res(asr)
        res = True
        for block in dec.decode:
            if res:
                x = torch.cat([x, asr_res, f0c, nc], dim=1)
            x = block(x, s)
            res = res and block.upsample_type == "none"
        return x

    def _source(self, f0: "torch.Tensor", frames: "torch.Tensor") -> "torch.Tensor":
        """The harmonic source's STFT, per item on its own frames (fp32), zero-padded into one batch."""
        g = self.generator
        longest = int(frames.max())
        out = []
        with torch.autocast(self.device.type, enabled=False):
            for i, k in enumerate(frames.tolist()):
                up = g.f0_upsamp(f0[i:i + 1, :2 * k].float()[:, None]).transpose(1, 2)
                har, _, _ = g.m_source(up)
                spec, phase = g.stft.transform(har.transpose(1, 2).squeeze(1))
                h = torch.cat([spec, phase], dim=1)
                out.append(F.pad(h, (0, STFT_FRAMES * (longest - k))))
        return torch.cat(out, dim=0)

    def _generate(self, x: "torch.Tensor", s: "torch.Tensor", f0: "torch.Tensor",
                  frames: "torch.Tensor") -> list["torch.Tensor"]:
        g = self.generator
        har = self._source(f0, frames).to(x.dtype)
        for i in range(g.num_upsamples):
            x = F.leaky_relu(x, negative_slope=0.1)
            x_source = g.noise_res[i](g.noise_convs[i](har), s)
            x = g.ups[i](x)
            if i == g.num_upsamples - 1:
                x = g.reflection_pad(x)
            x = x + x_source
            x = sum(g.resblocks[i * g.num_kernels + j](x, s) for j in range(g.num_kernels)) / g.num_kernels
        x = g.conv_post(F.leaky_relu(x))
        half = g.post_n_fft // 2 + 1
        audio = []
        with torch.autocast(self.device.type, enabled=False):
            for i, k in enumerate(frames.tolist()):
                xi = x[i:i + 1, :, :STFT_FRAMES * k + 1].float()
                audio.append(g.stft.inverse(torch.exp(xi[:, :half]), torch.sin(xi[:, half:])).reshape(-1))
        return audio


def _packed_lstm(lstm: "torch.nn.LSTM", x: "torch.Tensor", lengths: "torch.Tensor") -> "torch.Tensor":
    """A batch-first LSTM over (B, T, C) ``x``, each item on its own length, padded back to T with zeros."""
    total = x.shape[1]
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=total)
    return out


def _alignment(dur: "torch.Tensor", n: "torch.Tensor", longest: int) -> "torch.Tensor":
    """(B, ids, frames) 0/1: id j of item i covers its ``dur[i, j]`` frames; nothing past an item's end."""
    aln = torch.zeros((dur.shape[0], dur.shape[1], longest), device=dur.device)
    for i in range(dur.shape[0]):
        idx = torch.repeat_interleave(torch.arange(int(n[i]), device=dur.device), dur[i, :int(n[i])])
        aln[i, idx, torch.arange(idx.shape[0], device=dur.device)] = 1
    return aln
