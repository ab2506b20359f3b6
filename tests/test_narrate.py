"""Long-form narration: chapters from headings, subtitles timed to the audio, markers, constant memory."""

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from greentts.errors import InputError
from greentts.jobs import Chapter, narrate
from greentts.jobs.longform import parse_markdown, parse_text


def test_markdown_chapters_and_markup():
    md = ("---\ntitle: x\n---\nFront words.\n\n# One\n\nA **bold** and _quiet_ [link](http://x.y) "
          "![pic](p.png) with [Nguyen](/wˈɪn/).\n\n```\ncode is skipped\n```\n### Deeper\n- item\n\n"
          "Two\n===\n\n> quoted line\n\n## Three\n")
    chapters = parse_markdown(md)
    assert [c.title for c in chapters] == ["", "One", "Two", "Three"]
    assert chapters[0].text == "Front words."
    one = chapters[1].text
    assert "A bold and quiet link with [Nguyen](/wˈɪn/)." in one and "code" not in one and "pic" not in one
    assert "Deeper" in one and "item" in one and "*" not in one
    assert chapters[2].text == "quoted line" and chapters[3].text == ""


def test_text_chapters():
    chapters = parse_text("Preface words.\n\nChapter 1: Rain\nIt rained.\n\n第二章 风\n风很大。\n")
    assert [(c.title, c.text) for c in chapters] == [("", "Preface words."), ("Chapter 1: Rain", "It rained."),
                                                     ("第二章 风", "风很大。")]
    assert parse_text("No chapters at all.\n\nJust text.")[0].title == ""
    wrapped = "The storm hit at night and the\npart of the crew had gone ashore.\n\nChapter three of the log\nis lost."
    assert len(parse_text(wrapped)) == 1  # wrapped lines are not headings
    assert [c.title for c in parse_text("CHAPTER IV.\n\nText.\n\nPrologue\n\nMore.")] == ["CHAPTER IV.", "Prologue"]


def _cues(path: Path) -> list[tuple[float, float, str]]:
    out = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        lines = block.splitlines()
        m = next((re.match(r"(\S+) --> (\S+)", x) for x in lines if "-->" in x), None)
        if m:
            t = [sum(float(p) * k for p, k in zip(v.replace(",", ".").split(":"), (3600, 60, 1))) for v in m.groups()]
            out.append((t[0], t[1], " ".join(lines[lines.index(m[0]) + 1:])))
    return out


@pytest.mark.model
def test_subtitles_match_the_audio_and_chapters(engine, tmp_path):
    chapters = [Chapter("The Harbour", "The boats came in at dawn. Nobody spoke.\n\nThen the bell rang twice."),
                Chapter("第二章", "今天下雨了。我们明天再去。\n\nThe end.")]
    out = tmp_path / "book.flac"
    rep = narrate(engine, chapters, out, chapter_pause_s=1.5)
    audio, sr = sf.read(out, dtype="float32")
    assert sr == 24000 and abs(len(audio) / sr - rep.duration_s) < 0.01
    srt, vtt = _cues(out.with_suffix(".srt")), _cues(out.with_suffix(".vtt"))
    assert len(srt) == rep.cues == len(vtt) >= 8
    assert [c[2] for c in srt][:2] == ["The Harbour", "The boats came in at dawn."]
    assert all(abs(a[0] - b[0]) < 1e-3 and abs(a[1] - b[1]) < 1e-3 for a, b in zip(srt, vtt))
    assert abs(srt[-1][1] - rep.duration_s) < 0.01  # the last cue ends where the audio does
    for (s0, e0, text), (s1, _, _) in zip(srt, srt[1:]):
        assert s0 < e0 <= s1
        speech = audio[int(s0 * sr):int(e0 * sr)]
        assert np.sqrt(np.mean(speech ** 2)) > 0.01, text  # speech inside each cue
        gap = audio[int(e0 * sr) + 1:int(s1 * sr) - 1]
        assert len(gap) > 0.1 * sr and np.max(np.abs(gap)) < 1e-3, text  # silence between cues
    # chapter markers point at the chapter titles' cues
    starts = [c["start_s"] for c in rep.chapters]
    assert [c[2] for c in srt if any(abs(c[0] - s) < 1e-3 for s in starts)] == ["The Harbour", "第二章"]
    meta = out.with_suffix(".ffmetadata").read_text(encoding="utf-8")
    assert meta.startswith(";FFMETADATA1") and meta.count("[CHAPTER]") == 2
    assert f"START={round(starts[1] * 1000)}" in meta and "title=第二章" in meta
    cue = out.with_suffix(".cue").read_text(encoding="utf-8")
    assert 'FILE "book.flac" WAVE' in cue and cue.count("TRACK") == 2
    assert rep.energy["joules"] > 0 and rep.energy["method"] == "estimated"


@pytest.mark.model
def test_failure_part_way_leaves_earlier_files_untouched(engine, tmp_path):
    out = tmp_path / "book.mp3"
    out.write_bytes(b"an earlier narration")
    chapters = [Chapter("One", "Fine text."), Chapter("Two", "A broken [override](not a phoneme string) here.")]
    with pytest.raises(InputError, match="override"):
        narrate(engine, chapters, out)
    assert out.read_bytes() == b"an earlier narration"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.mp3"]  # no temp files, no half subtitles
    with pytest.raises(InputError, match="eco"):
        narrate(engine, [Chapter("一", "中文。")], tmp_path / "zh.mp3", tier="eco")


def _book(words: int, seed: int) -> str:
    rng = random.Random(seed)
    who = ["The old sailor", "A quiet child", "The engineer", "Her grandmother", "The captain", "A stranger"]
    did = ["walked along", "looked at", "painted", "remembered", "followed", "carried", "described"]
    what = ["the narrow harbour", "a wooden boat", "the morning market", "the lighthouse", "the stone bridge"]
    how = ["before the rain began", "as the sun went down", "without saying a word", "with great care"]
    out, count, chapter = [], 0, 0
    while count < words:
        chapter += 1
        out.append(f"# Chapter {chapter}\n")
        for _ in range(12):
            p = " ".join(f"{rng.choice(who)} {rng.choice(did)} {rng.choice(what)} {rng.choice(how)}."
                         for _ in range(rng.randint(3, 6)))
            out.append(p + "\n")
            count += len(p.split())
    return "\n".join(out)


def _narrate_peak_rss(tmp_path: Path, cli_peak_rss, words: int, name: str) -> tuple[dict, int]:
    book = tmp_path / f"{name}.md"
    book.write_text(_book(words, 7), encoding="utf-8")
    out = tmp_path / f"{name}.mp3"
    peak, stdout = cli_peak_rss("narrate", str(book), "-o", str(out), "--tier", "eco", "--quiet")
    info = sf.info(out)
    return {"duration_s": info.frames / info.samplerate, "stdout": stdout}, peak


@pytest.mark.model
@pytest.mark.slow
def test_a_90_minute_book_narrates_in_constant_memory(tmp_path, cli_peak_rss):
    short, short_rss = _narrate_peak_rss(tmp_path, cli_peak_rss, 900, "short")
    long, long_rss = _narrate_peak_rss(tmp_path, cli_peak_rss, 14500, "long")
    assert long["duration_s"] >= 90 * 60, long["stdout"]
    assert long["duration_s"] > 10 * short["duration_s"]
    # 90 minutes of 24 kHz float32 would be 518 MB held in memory; peak RSS grows by far less than that
    growth = long_rss - short_rss
    print(f"peak RSS: {short['duration_s'] / 60:.1f} min -> {short_rss / 2**20:.0f} MiB; "
          f"{long['duration_s'] / 60:.1f} min -> {long_rss / 2**20:.0f} MiB")
    assert growth < 64 * 2**20, growth
    cues = _cues(tmp_path / "long.srt")
    assert len(cues) > 1000 and abs(cues[-1][1] - long["duration_s"]) < 0.5
    assert json.dumps(long["stdout"]).count("Chapter") >= 24
