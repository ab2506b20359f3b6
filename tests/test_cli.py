"""The command line, run in-process with typer's runner."""

import json

import pytest
import soundfile as sf
from typer.testing import CliRunner

from greentts.cli import app

runner = CliRunner()


def test_phonemize_needs_no_weights_and_reports():
    res = runner.invoke(app, ["phonemize", "[重](chong2)庆 and 😀 ok", "--json"])
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout.splitlines()[0])
    assert first["lang"] in ("zh", "en+zh")


def test_voices_lists_mandarin():
    res = runner.invoke(app, ["voices", "--lang", "zh"])
    assert res.exit_code == 0
    assert len(res.stdout.splitlines()) == 8 and "zf_xiaoxiao" in res.stdout


@pytest.mark.model
def test_say_writes_requested_format(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("GREENTTS_CACHE_DIR", str(cache_dir))
    out = tmp_path / "hi.mp3"
    report = tmp_path / "r.json"
    res = runner.invoke(app, ["say", "Hello there, 你好。", "-o", str(out), "--sample-rate", "22050",
                              "--report", str(report)])
    assert res.exit_code == 0, res.output
    data, sr = sf.read(out)
    assert sr == 22050 and len(data) > 22050
    assert json.loads(report.read_text())["segments"]


@pytest.mark.model
def test_say_mulaw_defaults_to_8k(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("GREENTTS_CACHE_DIR", str(cache_dir))
    text = tmp_path / "in.txt"
    text.write_text("Your call is important to us.", encoding="utf-8")
    out = tmp_path / "prompt.ulaw"
    res = runner.invoke(app, ["say", "-f", str(text), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "8000 Hz" in res.stdout and out.stat().st_size > 8000


def test_errors_exit_nonzero_with_message(tmp_path):
    res = runner.invoke(app, ["say", "   ", "-o", str(tmp_path / "x.wav")])
    assert res.exit_code == 2 and "empty" in res.output
    res = runner.invoke(app, ["say", "hi", "-o", str(tmp_path / "x.xyz")])
    assert res.exit_code == 2 and "format" in res.output
    bad = tmp_path / "d.jsonl"
    bad.write_text('{"grapheme": "重", "phoneme": "zzz"}\n', encoding="utf-8")
    res = runner.invoke(app, ["phonemize", "重", "--dict", str(bad)])
    assert res.exit_code == 2 and "d.jsonl:1" in res.output


def test_enroll_help_states_the_real_default_steps():
    from greentts.clone.enroll import STEPS

    res = CliRunner().invoke(app, ["enroll", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert res.exit_code == 0 and f"default {STEPS};" in res.output, res.output
