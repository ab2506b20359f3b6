"""Batched Kokoro on PyTorch (the GPU path's model), checked on CPU in float32 with the real weights.

A batch of segments of different lengths and voices must give each item the audio it gets alone (same
durations and length; differences of the size of float rounding: two thread counts of the same lone
item differ by as much), and stay within the documented distance of the int8 onnxruntime graph.
"""

import threading

import numpy as np
import pytest

from greentts import Engine, InputError
from greentts.quality.spectral import mel_distance_db

pytestmark = pytest.mark.model

TEXTS = [("Hi there.", "af_heart"),
         ("The committee will publish its findings on the fourth of June.", "am_michael"),
         ("委员会将在六月四日公布调查结果。", "zf_xiaoxiao")]


def _log_mel_r(a, b):
    """log-mel correlation as research/torch-kokoro/check.py measures it (80 bands, n_fft 1024, hop 256)."""
    import librosa

    ma, mb = (np.log(librosa.feature.melspectrogram(y=x, sr=24000, n_fft=1024, hop_length=256, n_mels=80) + 1e-6)
              for x in (a, b))
    n = min(ma.shape[1], mb.shape[1])
    return float(np.corrcoef(ma[:, :n].ravel(), mb[:, :n].ravel())[0, 1])


@pytest.fixture(scope="module")
def batched(cache_dir):
    from greentts.models.assets import kokoro_model_path
    from greentts.models.kokoro_batched import BatchedKokoro

    return BatchedKokoro(kokoro_model_path(cache_dir), "cpu", threads=2)


@pytest.fixture(scope="module")
def items(engine):
    from greentts.models.kokoro_batched import BatchItem

    out = []
    for text, name in TEXTS:
        ids = [i for seg in engine.frontend.phonemize(text) for i in seg.ids]
        voice = engine.voices.get(name)
        out.append((BatchItem(ids, np.asarray(voice.style(len(ids)), np.float32), 1.0, voice.adain), voice))
    return out


def test_a_batch_gives_each_item_what_it_gets_alone(batched, items):
    together = batched.synthesize([it for it, _ in items])
    for (it, _), (audio, durations) in zip(items, together):
        alone, alone_durations = batched.synthesize([it])[0]
        assert durations.tolist() == alone_durations.tolist() and len(durations) == len(it.ids) + 2
        assert len(audio) == len(alone) == 600 * int(durations.sum())
        assert np.abs(audio - alone).max() < 0.08  # measured 0.015-0.037; 1 vs 2 threads alone: 0.012-0.024
        assert mel_distance_db(alone, audio, 24000) < 0.25  # measured 0.06-0.09 dB; threads: 0.04-0.07 dB


def test_the_batched_model_is_the_onnx_model(batched, items, cache_dir):
    import dataclasses

    from greentts.models.kokoro import KokoroBackend

    session = KokoroBackend(cache_dir, "im2col").new_session(2)
    onnx = [session.synthesize_timed(list(it.ids), voice, 1.0) for it, voice in items]
    for (audio, durations), (ref, ref_durations) in zip(batched.synthesize([it for it, _ in items]), onnx):
        assert abs(len(audio) / len(ref) - 1) < 0.03  # int8 rounds a duration or two differently ...
        assert np.abs(durations - ref_durations).max() <= 2
    # ... so with the int8 graph's durations, the same length and the same sound (research/torch-kokoro:
    # log-mel r >= 0.996 with ONNX durations)
    forced = [dataclasses.replace(it, durations=d) for (it, _), (_, d) in zip(items, onnx)]
    for (audio, _), (ref, _) in zip(batched.synthesize(forced), onnx):
        assert len(audio) == len(ref) and _log_mel_r(ref, audio) > 0.98
    with pytest.raises(InputError, match="durations must be"):
        batched.synthesize([dataclasses.replace(items[0][0], durations=[1, 2])])


def test_the_backend_batches_concurrent_sessions(cache_dir, items):
    from greentts.models.kokoro_gpu import TorchKokoroBackend

    backend = TorchKokoroBackend(cache_dir, device="cpu", max_batch=3, max_wait_ms=2000, bucket_edges=(512,))
    try:
        results = [None] * len(items)

        def speak(i):
            it, voice = items[i]
            results[i] = backend.new_session(1).synthesize_timed(list(it.ids), voice, 1.0)

        threads = [threading.Thread(target=speak, args=(i,)) for i in range(len(items))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        stats = backend.stats()
        assert stats["items"] == 3 and stats["batches"] == 1 and stats["device"] == "cpu"
        for (it, _), (audio, durations) in zip(items, results):
            assert len(audio) == 600 * int(durations.sum()) and np.abs(audio).max() > 0.05
        key = backend.audio_key(items[0][0].ids, items[0][1], 1.0)
        assert key != backend.audio_key(items[0][0].ids, items[0][1], 1.1)
    finally:
        backend.close()


def test_cuda_without_a_gpu_is_a_clear_error(cache_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(InputError, match=r"device='cuda' needs an NVIDIA GPU and a CUDA build of PyTorch.*"
                                         r"torch.cuda.is_available\(\) is False"):
        Engine(cache_dir=cache_dir, device="cuda")
    with pytest.raises(InputError, match="device"):
        Engine(cache_dir=cache_dir, device="tpu")
