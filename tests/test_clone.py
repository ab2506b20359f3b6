"""Voice cloning on the real models: enroll from unseen speakers, check similarity, pitch, rate and ASR.

Reference clips are spoken by stock voices that the cloning prior never saw (``Prior.held_out``), and
every held-out voice is also excluded from the start set, so the clone cannot just pick the speaker.
One clip is altered (tape speed x1.12: pitch and rate up by 12 %). Similarity is judged on held-out
sentences by Resemblyzer (GE2E), an encoder enrollment never optimised; the baseline is the nearest
stock voice (by CAM++), which is what a user without cloning would pick.
"""

import importlib.util
import time

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("resemblyzer")
if importlib.util.find_spec("kokoro") is None:
    pytest.skip("the clone extra (kokoro architecture) is not installed", allow_module_level=True)

from greentts import Engine, InputError, VoiceError  # noqa: E402
from greentts.cli import app  # noqa: E402
from greentts.clone.analysis import pitch_stats  # noqa: E402
from greentts.clone.enroll import ASR_GIVE, Prior  # noqa: E402
from greentts.clone.evaluate import REFERENCE_TEXT, Judge, reference_clip  # noqa: E402

pytestmark = [pytest.mark.model, pytest.mark.slow]

# name -> (held-out voice, language, tape-speed factor, transcript given?). One synthetic case: a clip whose
# pitch and rate are known (tape speed x1.12), which real recordings cannot give. Similarity in both
# languages is judged on real speakers below (REAL: language given, transcript by Whisper). The synthetic
# case is enrolled in the background with neither language nor transcript: the preview serves first,
# then Whisper finds both (one enrollment for what took two; a synthetic Mandarin case, zf_xiaoyi, was
# dropped as redundant with the real Mandarin speaker s4: both to keep CI under an hour). A given
# transcript is checked on the batch job's prompt enrollment (test_batch.py).
CASES = {
    "lily_fast": ("bf_lily", "en", 1.12, False),
}
SIMILARITY_MARGIN = 0.02  # GE2E cosine above the nearest stock voice, on held-out sentences
F0_TOLERANCE = 0.10
ASR_SLACK = 0.02  # clone's WER/CER may exceed the stock voice's by at most 2 points


@pytest.fixture(scope="module")
def clone_engine(cache_dir, tmp_path_factory):
    eng = Engine(cache_dir=cache_dir, voices_dir=tmp_path_factory.mktemp("voices"), idle_probe_s=0.1)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def judge(clone_engine, cache_dir):
    return Judge(clone_engine, cache_dir)


@pytest.fixture(scope="module")
def held_out():
    return tuple(Prior.load().held_out)


@pytest.fixture(scope="module")
def clips(clone_engine):
    return {name: reference_clip(clone_engine, voice, lang, alter) for name, (voice, lang, alter, _) in CASES.items()}


@pytest.fixture(scope="module")
def enrolled(clone_engine, judge, clips, held_out):
    out = {}
    for name, (voice, lang, _alter, with_text) in CASES.items():
        t = time.perf_counter()
        job = clone_engine.enroll(clips[name], name, text=REFERENCE_TEXT[lang] if with_text else None,
                                  sample_rate=24000, exclude_voices=held_out, background=True)
        # the preview table is saved before enroll() returns: the voice speaks while it is refined
        preview = {"status": job.status, "seconds": clone_engine.synthesize("Usable while it is refined.",
                                                                            voice=name).duration_s}
        meta = job.wait()
        wall = time.perf_counter() - t
        ref = judge.reference(clips[name])
        out[name] = {"meta": meta, "wall_s": wall, "ref": ref, "preview": preview, "done": job.done(),
                     "clone": judge.score(name, ref, lang), "base": judge.score(meta["base_voice"], ref, lang)}
        print(f"\nclone-score {name}: wall {wall:.1f} s, ref F0 {ref['pitch'].median_hz:.1f} Hz, "
              f"clone {out[name]['clone'].as_dict()}, stock {out[name]['base'].as_dict()}, "
              f"time {meta['time_s']}, energy {meta['energy']['joules']:.0f} J, chosen {meta['chosen']}")
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_clone_beats_nearest_stock_voice_on_an_independent_encoder(enrolled, name):
    e = enrolled[name]
    assert e["meta"]["base_voice"] not in Prior.load().held_out  # the speaker itself was not available
    assert e["clone"].resemblyzer >= e["base"].resemblyzer + SIMILARITY_MARGIN, (e["clone"], e["base"])
    assert e["clone"].campplus > e["base"].campplus


@pytest.mark.parametrize("name", list(CASES))
def test_clone_pitch_follows_the_reference(enrolled, name):
    e = enrolled[name]
    ref_f0 = e["ref"]["pitch"].median_hz
    assert abs(e["clone"].f0_median_hz - ref_f0) <= F0_TOLERANCE * ref_f0, (e["clone"].f0_median_hz, ref_f0)


@pytest.mark.parametrize("name", list(CASES))
def test_clone_stays_intelligible(enrolled, name):
    e = enrolled[name]
    assert e["clone"].error_rate <= e["base"].error_rate + ASR_SLACK, (e["clone"], e["base"])


def test_speaking_rate_follows_a_faster_reference(clone_engine, enrolled, clips):
    """Like for like: the clone reading the reference's own text takes about as long as the reference."""
    ref_s = len(clips["lily_fast"]) / 24000
    clone = clone_engine.synthesize(REFERENCE_TEXT["en"], voice="lily_fast", lang="en").duration_s
    base = clone_engine.synthesize(REFERENCE_TEXT["en"], voice=enrolled["lily_fast"]["meta"]["base_voice"],
                                   lang="en").duration_s
    assert abs(clone - ref_s) < abs(base - ref_s) or abs(clone / ref_s - 1) < 0.05, (clone, base, ref_s)
    assert abs(clone / ref_s - 1) < 0.10, (clone, ref_s)


def test_metadata_records_what_enrollment_did(enrolled):
    m = enrolled["lily_fast"]["meta"]
    # neither language nor transcript was given: Whisper found both
    assert m["status"] == "done" and m["language"].startswith("en") and m["lang_source"] == "asr", m
    assert m["transcript_source"] == "asr" and len(m["transcript"].split()) >= 10, m["transcript"]
    assert len(m["clip_sha256"]) == 64 and 3 <= m["clip_s"] <= 30
    assert 150 < m["reference_pitch"]["median_hz"] < 350
    sim = m["similarity"]  # the kept table is the closest of start voice, preview and refined (CAM++ + GE2E)
    assert sim["reached"] + sim["ge2e"]["reached"] >= sim["base_voice"] + sim["ge2e"]["base_voice"] - 1e-6
    assert m["base_voice"][0] in "ab"  # an English reference starts from an English voice
    assert m["energy"]["joules"] > 0 and m["energy"]["method"] == "estimated"
    assert m["time_s"]["total_s"] > 0 and m["steps_run"] > 0
    # the intelligibility guard ran (Whisper is installed here) and kept the clone within its give
    if m["chosen"].startswith("refined"):
        g = m["intelligibility"]
        assert g["tried"][0]["adain_scale"] == 1.0, g
        assert g["clone"] <= g["start_voice"] + ASR_GIVE or g["clone"] == min(t["error_rate"] for t in g["tried"]), g
    assert m["representation"] in ("style table + decoder AdaIN offsets", "style table")
    # rate, like for like: the clone reading the transcript takes about as long as the clip
    assert abs(m["duration_ratio"]["clone"] - 1) < 0.08, m["duration_ratio"]


def test_enrolled_voice_speaks_english_and_chinese_and_blends(clone_engine, enrolled):
    for text, lang in (("Good morning, this is a cloned voice.", "en"), ("早上好，这是克隆的声音。", "zh")):
        r = clone_engine.synthesize(text, voice="lily_fast", lang=lang)
        assert r.duration_s > 1.0 and r.voice == "lily_fast" and np.abs(r.audio).max() > 0.05
    mix = clone_engine.synthesize("A blend of two voices.", voice="af_heart:0.6,lily_fast:0.4")
    assert mix.voice == "af_heart:0.6,lily_fast:0.4" and mix.duration_s > 0.5
    assert any(v["name"] == "lily_fast" and v["enrolled"] for v in clone_engine.list_voices())


def test_same_clip_is_a_cache_hit(clone_engine, enrolled, clips, held_out):
    t = time.perf_counter()
    same = {"sample_rate": 24000, "exclude_voices": held_out}  # the fixture's settings
    again = clone_engine.enroll(clips["lily_fast"], "lily_fast", **same)
    assert again.cached and again.meta["created"] == enrolled["lily_fast"]["meta"]["created"]
    copy = clone_engine.enroll(clips["lily_fast"], "lily-copy", **same)
    assert copy.cached and copy.meta["copied_from"] == "lily_fast"
    assert time.perf_counter() - t < 5  # no optimisation ran (a loose bound: both are file reads)
    np.testing.assert_array_equal(clone_engine.voices.get("lily-copy").table,
                                  clone_engine.voices.get("lily_fast").table)


def test_background_enrollment_serves_the_preview_first(enrolled):
    e = enrolled["lily_fast"]
    assert e["preview"]["status"] in ("preview", "done") and e["preview"]["seconds"] > 0.5
    assert e["done"] and e["meta"]["steps_run"] > 0


def test_enrollment_errors(clone_engine, clips, tmp_path):
    with pytest.raises(VoiceError, match="stock voice"):
        clone_engine.enroll(clips["lily_fast"], "af_heart", sample_rate=24000)
    with pytest.raises(VoiceError, match="not allowed"):
        clone_engine.enroll(clips["lily_fast"], "Bad Name!", sample_rate=24000)
    with pytest.raises(InputError, match="at least 3 s"):
        clone_engine.enroll(clips["lily_fast"][:24000], "short", sample_rate=24000)
    with pytest.raises(InputError, match="silent|silence"):
        clone_engine.enroll(np.zeros(24000 * 5, np.float32), "quiet", sample_rate=24000)
    with pytest.raises(InputError, match="missing.wav"):
        clone_engine.enroll(tmp_path / "missing.wav", "missing")
    with pytest.raises(VoiceError, match="exists"):  # another clip under a taken name: nothing is lost
        clone_engine.enroll(clips["lily_fast"][: 24000 * 5], "lily_fast", sample_rate=24000)
    assert clone_engine.voices.enrolled_meta("lily_fast")["clip_sha256"] != ""
    with pytest.raises(VoiceError, match="unknown stock voices"):
        clone_engine.enroll(clips["lily_fast"], "x", sample_rate=24000, exclude_voices=("nobody",))


def test_cli_enroll_shows_progress_and_result(clone_engine, clips, tmp_path):
    import soundfile as sf

    path = tmp_path / "ref.wav"
    sf.write(path, clips["lily_fast"][: 24000 * 8], 24000)
    voices = tmp_path / "voices"
    res = CliRunner().invoke(app, ["enroll", str(path), "--name", "cli-voice", "--lang", "en", "--steps", "0",
                                   "--voices-dir", str(voices)],
                             env={"GREENTTS_CACHE_DIR": str(clone_engine.config.cache_dir)})
    assert res.exit_code == 0, res.output
    assert "similarity to the reference" in res.output and "greentts say" in res.output
    assert (voices / "cli-voice.npz").is_file() and (voices / "cli-voice.json").is_file()
    res = CliRunner().invoke(app, ["enroll", str(tmp_path / "nope.wav"), "--name", "x", "--voices-dir", str(voices)])
    assert res.exit_code == 2 and "nope.wav" in res.output


# -- prosody ----------------------------------------------------------------------------------------

PRESET_TEXTS = {"en": ["The train was late again, so we walked the rest of the way home.",
                       "Every spring the garden fills with tulips of every colour.",
                       "She asked whether the library would still be open after dinner.",
                       "Our neighbours painted their front door a bright shade of green."],
                "zh": ["火车又晚点了，我们只好走回家。", "每年春天，花园里都开满了各种颜色的郁金香。",
                       "她问图书馆晚饭以后还开不开门。", "邻居把他们家的前门刷成了鲜艳的绿色。"]}


def _measure(engine, voice, lang, sentences=4, **settings):
    """(pitch spread, seconds, median F0) over the preset texts.

    The spread is the median over sentences of each sentence's interquartile F0 range: the 10-90
    range of two sentences of am_michael moved by 1-4 semitones between machines (CI said "calm" was
    wider than neutral while this machine measured 6.5 vs 9.2 st), the IQR is far steadier."""
    audios = [engine.synthesize(t, voice=voice, lang=lang, **settings).audio for t in PRESET_TEXTS[lang][:sentences]]
    stats = [pitch_stats(a, 24000) for a in audios]
    return (float(np.median([s.iqr_st for s in stats])), sum(len(a) for a in audios) / 24000,
            float(np.median([s.median_hz for s in stats])))


@pytest.mark.parametrize("voice,lang", [("am_michael", "en"), ("zf_xiaobei", "zh")])
def test_presets_move_pitch_range_and_rate_as_named(engine, voice, lang):
    # English orders the six presets on three sentences with margins to spare; Mandarin needs four
    m = {p: _measure(engine, voice, lang, sentences=3 if lang == "en" else 4, prosody=p)
         for p in ("neutral", "news", "storytelling", "cheerful", "calm", "serious")}
    rng, dur, f0 = ({p: v[i] for p, v in m.items()} for i in range(3))
    assert rng["cheerful"] > rng["neutral"] and rng["storytelling"] > rng["neutral"], rng
    assert rng["calm"] < rng["neutral"] and rng["serious"] < rng["neutral"], rng
    assert dur["news"] < dur["neutral"] and dur["cheerful"] < dur["neutral"], dur
    assert dur["calm"] > dur["neutral"] and dur["storytelling"] > dur["neutral"], dur
    assert f0["cheerful"] > f0["neutral"] > f0["serious"], f0


def test_prosody_from_a_clip_keeps_the_timbre(clone_engine, judge, tmp_path):
    import soundfile as sf

    lively, flat = tmp_path / "lively.wav", tmp_path / "flat.wav"
    text = REFERENCE_TEXT["en"]
    sf.write(lively, clone_engine.synthesize(text, voice="af_bella", prosody="cheerful").audio, 24000)
    sf.write(flat, clone_engine.synthesize(text, voice="af_bella", prosody="calm").audio, 24000)
    # two sentences each (the presets above need four to order six presets; a cheerful clip against a
    # calm one measured 3.4 vs 1.3 semitones on these two)
    out = {k: _measure(clone_engine, "am_michael", "en", sentences=2, prosody_from=str(p)) for k, p in
           (("lively", lively), ("flat", flat))}
    print(f"prosody_from: pitch range (IQR, semitones) lively {out['lively'][0]:.2f}, flat {out['flat'][0]:.2f}")
    assert out["lively"][0] > out["flat"][0]  # pitch range follows the clip
    base = judge.reference(clone_engine.synthesize(PRESET_TEXTS["en"][0], voice="am_michael").audio)
    moved = clone_engine.synthesize(PRESET_TEXTS["en"][1], voice="am_michael", prosody_from=str(lively)).audio
    assert judge._cos(judge.campplus.embed_numpy(moved, 24000), base["campplus"]) > 0.7  # still am_michael
    with pytest.raises(InputError, match="nothing.wav"):
        clone_engine.synthesize("x", prosody_from=str(tmp_path / "nothing.wav"))
    with pytest.raises(VoiceError, match="unknown voice"):
        clone_engine.synthesize("x", prosody_from="no_such_voice")
    with pytest.raises(InputError, match="prosody"):
        clone_engine.synthesize("x", prosody="angry")


def test_synthesis_with_enrolled_voices_and_presets_never_imports_torch(clone_engine, enrolled):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # any import of torch now fails\n"
        "from greentts import Engine\n"
        f"with Engine(cache_dir={str(clone_engine.config.cache_dir)!r}, voices_dir={str(clone_engine.voices.enrolled_dir)!r},"
        " idle_probe_s=0.05) as e:\n"
        "    r = e.synthesize('Torch free.', voice='lily_fast', prosody='calm')\n"
        "    m = e.synthesize('Mixed.', voice='af_heart:0.5,lily_fast:0.5', prosody_from='am_michael')\n"
        "assert r.duration_s > 0.3 and m.duration_s > 0.3\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_torch_rebuild_and_onnx_graph_apply_adain_offsets_alike(clone_engine):
    """The offsets enrollment learns in torch must mean the same thing in the ONNX graph that speaks them:
    same layer order, same place (added to each AdaIN projection's output)."""
    from greentts.clone.evaluate import HELD_OUT_SENTENCES

    enr = clone_engine.enroller()
    ids = [i for seg in clone_engine.frontend.phonemize(HELD_OUT_SENTENCES["en"][0], lang="en") for i in seg.ids]
    table = clone_engine.voices.get("am_michael").table
    rng = np.random.default_rng(1)
    offsets = (rng.choice([-1.0, 1.0], enr.adain_spread().shape) * enr.adain_spread()).astype(np.float32)
    prep = enr.kokoro.prepare(ids)
    torch_plain, torch_moved = (enr.kokoro.synthesize(prep, table[prep.n_ids - 1], adain=a) for a in (None, offsets))
    onnx_plain, onnx_moved = (enr.speak(table, ids, a) for a in (None, offsets))
    assert len(onnx_plain) == len(onnx_moved)

    def spectrum(x):  # long-term log spectrum, 64 bands
        from scipy.signal import welch

        return np.log(welch(x, 24000, nperseg=1024)[1][:384].reshape(64, 6).mean(axis=1) + 1e-10)

    d_torch = spectrum(torch_moved) - spectrum(torch_plain)
    d_onnx = spectrum(onnx_moved) - spectrum(onnx_plain)
    assert np.abs(d_onnx).mean() > 0.3  # the offsets change the voice materially ...
    assert np.corrcoef(d_torch, d_onnx)[0, 1] > 0.9  # ... and the same way on both paths


# -- real human speakers (bench/real_voices.py: recordings taken out of PyPI packages) ---------------

REAL = {"daniel": "en", "s4": "zh"}  # an English actor (14 s of film audio: windowed), a Mandarin speaker
# How much closer than the start voice each clone must be on ECAPA. s4's full AdaIN offsets reach
# +0.22 but at 18.3 % toneless pinyin error (stock 1.2 %); the guard keeps the largest scale within
# ASR_GIVE, measured x0.15: +0.06 (x0: +0.00 to +0.02, so this still needs offsets kept).
MARGIN = {"daniel": 0.10, "s4": 0.04}


@pytest.fixture(scope="module")
def real_enrolled(clone_engine, cache_dir):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from real_voices import SPEAKERS, fetch

    from greentts.clone.ecapa import EcapaEncoder, fetch_ecapa_weights
    from greentts.clone.evaluate import HELD_OUT_SENTENCES
    from greentts.voices.clip import prepare_clip

    paths = fetch(Path(cache_dir))
    ecapa = EcapaEncoder(fetch_ecapa_weights(Path(cache_dir)))
    out = {}
    for name, lang in REAL.items():
        sp = next(s for s in SPEAKERS if s.name == name)
        ref = ecapa.embed(prepare_clip(paths[name][0]).audio, 24000)
        meta = clone_engine.enroll(paths[name][0], f"real-{name}", text=sp.transcript, lang=lang).wait()

        def ecapa_score(voice: str) -> float:
            return float(np.mean([ecapa.embed(clone_engine.synthesize(t, voice=voice, lang=lang).audio, 24000) @ ref
                                  for t in HELD_OUT_SENTENCES[lang][:4]]))

        out[name] = {"meta": meta, "clone": ecapa_score(f"real-{name}"), "start": ecapa_score(meta["base_voice"])}
        print(f"\nreal-clone {name}: ECAPA start {out[name]['start']:.3f} -> clone {out[name]['clone']:.3f}, "
              f"base {meta['base_voice']}, chosen {meta['chosen']}, time {meta['time_s']}")
    return out


@pytest.mark.parametrize("name", list(REAL))
def test_real_speaker_clone_is_closer_than_its_start_voice_on_an_encoder_in_no_loss(real_enrolled, name):
    e = real_enrolled[name]
    assert e["meta"]["status"] == "done" and e["meta"]["base_voice"][0] in ("z" if REAL[name] == "zh" else "ab")
    # language given, used as given; no transcript (the packages have none): Whisper's
    assert (e["meta"]["lang_source"], e["meta"]["transcript_source"]) == ("given", "asr"), e["meta"]
    # ECAPA: never optimised, never used to choose. bench/clone.py (six sentences): daniel 0.253 -> 0.607,
    # s4 0.429 -> 0.689 with the AdaIN offsets (ENROLL_VERSION 5); the style offset alone reached about
    # a third of that
    assert e["clone"] >= e["start"] + MARGIN[name], e
    g = e["meta"]["intelligibility"]  # and no less intelligible than the guard allows
    assert g is None or g["clone"] <= g["start_voice"] + ASR_GIVE, g


def test_a_long_real_recording_is_cut_to_its_cleanest_window(real_enrolled):
    w = real_enrolled["daniel"]["meta"]["clip_window"]
    assert w is not None and 5.0 <= w["end_s"] - w["start_s"] <= 8.0 and w["clipped"] == 0.0
    assert real_enrolled["s4"]["meta"]["clip_window"] is None  # 6.4 s: used whole
