"""Multi-speaker dialogue: script formats and errors, speakers re-identified in the mix, stable voices,
timestamps and stems that match the audio, constant memory on a 90-minute script."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from greentts.errors import InputError, VoiceError
from greentts.jobs.script import ScriptError, load_script, parse_script

FOUR = """# voices: Ann=af_heart, Ben=am_michael, Cleo=bf_emma, Dev=bm_george
Ann: Good evening, and welcome to the harbour hour.
Ben: Thanks, Ann. The boats came in early this morning.
Cleo: (cheerful) And the market was full of fresh fish!
Dev: I counted forty crates before seven o'clock.
Ben: Were the prices any better than last week?
Ann: {calm} A little. [pause 400ms] The weather helped.
Dev: The wind dropped overnight, so the small boats went out too.
Cleo: My cousin caught a very large cod near the lighthouse.
Ann: That is a story for the next hour.
Dev: Then we should keep it short and simple.
Cleo: I will bring the photographs next time.
Ben: Thank you all for listening tonight.
"""


# -- parsing (no weights) -----------------------------------------------------------------------------

def test_text_json_and_yaml_scripts_parse_alike(tmp_path):
    text = parse_script("[S1] Hello there. {speed=1.2}\nGuest：你好。{lang=zh, serious}\n  and more\n"
                        "[S1] (happy) Fine [pause 1.5s] thanks.\n")
    assert [t.speaker for t in text.turns] == ["S1", "Guest", "S1"]
    assert text.turns[0].speed == 1.2 and text.turns[1].lang == "zh" and text.turns[1].style == "serious"
    assert text.turns[1].text == "你好。 and more"
    assert text.turns[2].style == "cheerful" and [p.pause_s for p in text.turns[2].pieces] == [0, 1.5, 0]
    data = {"speakers": {"S1": {"voice": "af_heart", "speed": 1.1}, "Guest": "zm_yunxi"},
            "turns": [{"speaker": "S1", "text": "Hello there."}, {"speaker": "Guest", "text": "你好。",
                                                                  "style": "sad", "pause_after_ms": 700}]}
    (tmp_path / "s.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "s.yaml").write_text("speakers:\n  S1: {voice: af_heart, speed: 1.1}\n  Guest: zm_yunxi\nturns:\n"
                                     "  - {speaker: S1, text: Hello there.}\n"
                                     "  - {speaker: Guest, text: 你好。, style: sad, pause_after_ms: 700}\n",
                                     encoding="utf-8")
    for name in ("s.json", "s.yaml"):
        s = load_script(tmp_path / name)
        assert s.speakers["S1"].voice == "af_heart" and s.speakers["S1"].speed == 1.1
        assert s.speakers["Guest"].voice == "zm_yunxi"
        assert s.turns[1].style == "calm" and s.turns[1].pause_after_s == 0.7
    assert "(laughs)" in parse_script("A: (laughs) Sure.").turns[0].text  # not a style: spoken as written


@pytest.mark.parametrize("script, fmt, where", [
    ("hello there\n[S1] Hi.", "text", "script:1:"),
    ("[S1] Hi.\n[S2] Fine {grumpy}.", "text", "script:2:"),
    ("[S1] Hi.\n\n[S2] Wait [pause forever].", "text", "script:3:"),
    ("[S1] Hi.\n[S2] {speed=9} Fast.", "text", "script:2:"),
    ("[S1] Hi.\n[S2] [pause 1s]", "text", "script:2:"),
    ("# voices: S1 af_heart\n[S1] Hi.", "text", "script:1:"),
    ('{"turns": [\n {"speaker": "A", "text": "Hi"},\n {"speaker": "B", "txt": "x"}\n]}', "json", "script:3:"),
    ('{"turns": [\n {"speaker": "A", "text": "Hi"},,\n]}', "json", "script:2:"),
    ("turns:\n  - speaker: A\n    text: Hi\n  - speaker: B\n    text: ''\n", "yaml", "script:4:"),
    ("turns:\n  - speaker: A\n   text: [unclosed\n", "yaml", "script:"),
])
def test_malformed_scripts_name_the_line(script, fmt, where):
    with pytest.raises(ScriptError) as err:
        parse_script(script, fmt)
    assert str(err.value).startswith(where), str(err.value)


# -- real models ------------------------------------------------------------------------------------

def _ge2e():
    pytest.importorskip("resemblyzer")
    from resemblyzer import VoiceEncoder, preprocess_wav
    import soxr

    enc = VoiceEncoder(device="cpu", verbose=False)
    return lambda audio, sr: enc.embed_utterance(preprocess_wav(soxr.resample(audio, sr, 16000).astype(np.float32),
                                                                source_sr=16000))


def _clusters(emb: np.ndarray, k: int) -> list[int]:
    """Average-linkage agglomerative clustering on cosine distance (few points: plain numpy)."""
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    groups = [[i] for i in range(len(x))]
    while len(groups) > k:
        best, pair = -2.0, (0, 1)
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                sim = float(np.mean(x[groups[a]] @ x[groups[b]].T))
                if sim > best:
                    best, pair = sim, (a, b)
        groups[pair[0]] += groups.pop(pair[1])
    label = [0] * len(x)
    for g, members in enumerate(groups):
        for i in members:
            label[i] = g
    return label


@pytest.mark.model
def test_four_speakers_are_reidentified_and_everything_lines_up(engine, tmp_path):
    out = tmp_path / "show.wav"
    report = engine.dialogue(FOUR).save(out, stems=True)
    mix, sr = sf.read(out, dtype="float32")
    assert abs(len(mix) / sr - report.duration_s) < 0.01
    turns = json.loads(out.with_suffix(".turns.json").read_text(encoding="utf-8"))["turns"]
    assert [t["speaker"] for t in turns] == [m[1] for m in re.finditer(r"^(\w+):", FOUR, re.M)]
    # speaker re-identification by an independent encoder (GE2E), clustering the turns blind
    embed = _ge2e()
    emb = np.stack([embed(mix[int(t["start_s"] * sr):int(t["end_s"] * sr)], sr) for t in turns])
    labels = _clusters(emb, 4)
    by_speaker = {}
    for t, lab in zip(turns, labels):
        by_speaker.setdefault(t["speaker"], set()).add(lab)
    assert all(len(v) == 1 for v in by_speaker.values()), by_speaker  # each speaker in one cluster
    assert len({next(iter(v)) for v in by_speaker.values()}) == 4  # and four different clusters
    # timestamps: speech inside each turn, silence in the gaps between turns
    for a, b in zip(turns, turns[1:]):
        seg = mix[int(a["start_s"] * sr):int(a["end_s"] * sr)]
        assert np.sqrt(np.mean(seg ** 2)) > 0.01
        gap = mix[int(a["end_s"] * sr) + 1:int(b["start_s"] * sr) - 1]
        assert len(gap) > 0.05 * sr and np.max(np.abs(gap)) < 1e-3, (a, b)
    # loudness matched across speakers (BS.1770 per turn, same target)
    import pyloudnorm

    meter = pyloudnorm.Meter(sr)
    levels = {}
    for t in turns:
        seg = mix[int(t["start_s"] * sr):int(t["end_s"] * sr)].astype(np.float64)
        if len(seg) > sr:
            levels.setdefault(t["speaker"], []).append(meter.integrated_loudness(seg))
    means = [np.mean(v) for v in levels.values()]
    assert max(means) - min(means) < 2.0, levels
    # no clicks at the joins: the first and last samples of every turn fade from/to silence
    for t in turns:
        i, j = int(round(t["start_s"] * sr)), int(round(t["end_s"] * sr))
        assert abs(mix[i]) < 0.01 and abs(mix[min(j, len(mix) - 1)]) < 0.05
    # stems: aligned, each speaker only in their own turns, and they sum to the mix
    stems = {name: sf.read(out.with_name(f"show.{name}.wav"), dtype="float32")[0] for name in ("Ann", "Ben", "Cleo", "Dev")}
    assert all(len(s) == len(mix) for s in stems.values())
    assert np.max(np.abs(sum(stems.values()) - mix)) < 2e-4
    ben = stems["Ben"]
    for t in turns:
        part = ben[int(t["start_s"] * sr):int(t["end_s"] * sr)]
        assert (np.max(np.abs(part)) > 0.05) == (t["speaker"] == "Ben")
    # subtitles carry the speaker
    srt = out.with_suffix(".srt").read_text(encoding="utf-8")
    vtt = out.with_suffix(".vtt").read_text(encoding="utf-8")
    assert "Ann: Good evening" in srt and "<v Cleo>And the market" in re.sub(r" ?<\d\d:\d\d:\d\d\.\d{3}>", " ", vtt)
    assert re.search(r"<v Cleo>And <\d\d:\d\d:\d\d\.\d{3}>the", vtt)  # karaoke-timed words
    assert report.energy["joules"] > 0 and report.energy["method"] == "estimated"


@pytest.mark.model
def test_voices_do_not_drift_over_a_long_script(engine):
    # 24 turns, 12 per speaker (40 took 98 s of CI): state carried from turn to turn would show by a
    # speaker's twelfth turn as it would by the twentieth
    texts = [f"This is remark number {i}, about the weather, the boats and the long road home." for i in range(24)]
    script = "\n".join(f"{'A' if i % 2 == 0 else 'B'}: {t}" for i, t in enumerate(texts))
    stream = engine.dialogue(script, {"A": "af_sarah", "B": "am_adam"})
    first = last = None
    for turn in stream:
        if turn.turn.speaker == "A":
            first = turn.audio if first is None else first
            last = turn.audio
    embed = _ge2e()
    in_script = float(np.dot(embed(first, 24000), embed(last, 24000)))
    fresh = [engine.synthesize(t, voice="af_sarah").audio for t in (texts[0], texts[-2])]
    fresh_sim = float(np.dot(embed(fresh[0], 24000), embed(fresh[1], 24000)))
    assert in_script >= fresh_sim - 0.005, (in_script, fresh_sim)


@pytest.mark.model
def test_unmapped_speakers_and_bad_voices_are_clear_errors(engine, tmp_path):
    with pytest.raises(VoiceError, match=r"'Bob' \(first at line 2\).*--auto-voices"):
        engine.dialogue("Ann: Hi.\nBob: Hello.", {"Ann": "af_heart"})
    with pytest.raises(VoiceError, match="Bob"):
        engine.dialogue("Ann: Hi.\nBob: Hello.", {"Ann": "af_heart", "Bob": "nobody"})
    with pytest.raises(ScriptError, match="Zed"):
        engine.dialogue("Ann: Hi.", {"Zed": "af_heart"})
    auto = engine.dialogue("Ann: Hi.\nBob: Hello.\n王: 你好。", {"Ann": "af_heart"}, auto_voices=True)
    assert auto.voices["Ann"] == "af_heart" and auto.voices["王"].startswith("z") and len(set(auto.voices.values())) == 3
    out = tmp_path / "x.mp3"
    out.write_bytes(b"earlier")
    with pytest.raises(InputError):
        engine.dialogue("Ann: Fine.\nAnn: A broken [override](not a phoneme string) here.", {"Ann": "af_heart"}).save(out)
    assert out.read_bytes() == b"earlier" and sorted(p.name for p in tmp_path.iterdir()) == ["x.mp3"]


@pytest.mark.model
def test_cli_dialogue_and_line_numbered_errors(tmp_path, cache_dir, monkeypatch):
    from typer.testing import CliRunner

    from greentts.cli import app

    monkeypatch.setenv("GREENTTS_CACHE_DIR", str(cache_dir))
    script = tmp_path / "pod.txt"
    script.write_text("[S1] Hello and welcome.\n[S2] 大家好。\n", encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["dialogue", str(script), "-o", str(tmp_path / "pod.mp3"), "--voice", "S1=af_heart",
                              "--auto-voices", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "S2: zf_xiaoxiao" in res.stdout and (tmp_path / "pod.srt").exists()
    assert sf.info(tmp_path / "pod.mp3").duration > 2
    bad = tmp_path / "bad.txt"
    bad.write_text("[S1] Fine.\n[S2] {whisper} no.\n", encoding="utf-8")
    res = runner.invoke(app, ["dialogue", str(bad), "-o", str(tmp_path / "b.mp3"), "--auto-voices"])
    assert res.exit_code == 2 and f"{bad}:2:" in res.output


def _peak_rss_run(tmp_path: Path, cli_peak_rss, turns: int, name: str) -> tuple[float, int]:
    script = tmp_path / f"{name}.txt"
    line = "The river rose slowly through the night, and by morning the old bridge stood alone in the water."
    script.write_text("# voices: A=af_heart, B=af_heart\n" + "\n".join(
        f"{'A' if i % 2 else 'B'}: {line} Turn {i}." for i in range(turns)), encoding="utf-8")
    out = tmp_path / f"{name}.flac"
    peak, _ = cli_peak_rss("dialogue", str(script), "-o", str(out), "--tier", "eco", "--stems", "--quiet")
    return sf.info(out).duration, peak


@pytest.mark.model
@pytest.mark.slow
def test_a_90_minute_script_streams_to_disk_in_constant_memory(tmp_path, cli_peak_rss):
    short_s, short_rss = _peak_rss_run(tmp_path, cli_peak_rss, 60, "short")
    long_s, long_rss = _peak_rss_run(tmp_path, cli_peak_rss, 700, "long")
    print(f"peak RSS: {short_s / 60:.1f} min -> {short_rss / 2**20:.0f} MiB; {long_s / 60:.1f} min -> "
          f"{long_rss / 2**20:.0f} MiB")
    assert long_s >= 90 * 60 and long_s > 10 * short_s
    assert long_rss - short_rss < 64 * 2**20  # the mix + 2 stems held in memory would be > 1.5 GB
