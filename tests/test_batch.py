"""Batch jobs: validation with line numbers, safe output names, crash-safe resume (kill -9), Ray scale-out."""

import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from greentts.errors import InputError
from greentts.jobs import Manifest, TaskDefaults, load_tasks, safe_output_name
from greentts.jobs.batch import MANIFEST_NAME, REPORT_NAME

GREENTTS = [sys.executable, "-m", "greentts.cli"]


def _write_jsonl(path: Path, rows: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- validation (no weights) -----------------------------------------------------------------------

def test_every_bad_line_is_reported_with_its_number(tmp_path):
    (tmp_path / "ref.wav").write_bytes(b"")
    f = _write_jsonl(tmp_path / "t.jsonl", [
        {"input_text": "Fine.", "output_name": "ok"},                                  # 1 ok
        "{not json",                                                                  # 2
        {"input_text": "", "output_name": "empty"},                                   # 3
        {"input_text": "Hi", "output_name": "../up"},                                 # 4
        {"input_text": "Hi", "output_name": "x", "voice": "no_such_voice"},            # 5
        {"input_text": "Hi", "output_name": "x2", "speed": 9},                         # 6
        {"input_text": "Hi", "output_name": "x3", "colour": "red"},                    # 7
        {"input_text": "Hi", "output_name": "ok.wav"},                                # 8 duplicate of 1
        {"input_text": "Hi", "output_name": "x4.mp3", "format": "flac"},              # 9
        {"input_text": "Hi", "output_name": "x5", "prompt_audio": "missing.wav"},     # 10
        {"input_text": "你好", "output_name": "x6", "tier": "eco"},                     # 11
        {"input_text": "Hi", "output_name": "x7.opus", "sample_rate": 22050},         # 12
        {"input_text": "Hi", "output_name": "x8", "pronunciations": [{"grapheme": "Hi"}]},  # 13
        ["a", "list"],                                                                # 14
        {"input_text": "Hi", "output_name": "x9", "prompt_text": "no clip"},          # 15
        "",                                                                           # blank: ignored
        {"input_text": "Zh.", "output_name": "sub/dir/ok2", "language": "zh", "speed": 1.2},  # 17 ok
    ])
    tasks, bad = load_tasks(f, TaskDefaults())
    assert [t.line for t in tasks] == [1, 17]
    assert [t.output for t in tasks] == ["ok.wav", "sub/dir/ok2.wav"]
    by_line = {b.line: b.error for b in bad}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    assert "JSON" in by_line[2] and "input_text" in by_line[3] and ".." in by_line[4]
    assert "no_such_voice" in by_line[5] and "speed" in by_line[6] and "colour" in by_line[7]
    assert "line 1" in by_line[8] and "flac" in by_line[9] and "missing.wav" in by_line[10]
    assert "eco" in by_line[11] and "22050" in by_line[12] and "pronunciations" in by_line[13]
    assert "object" in by_line[14] and "prompt_audio" in by_line[15]


def test_outputs_that_clash_or_carry_bad_unicode_are_reported(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text("\n".join([json.dumps({"input_text": "A", "output_name": "x"}),             # 1 ok: x.wav
                            json.dumps({"input_text": "B", "output_name": "x.wav/y"}),       # 2 under a file
                            json.dumps({"input_text": "C", "output_name": "d/e"}),           # 3 ok
                            json.dumps({"input_text": "D", "output_name": "d.wav"}),         # 4 ok (d is a folder)
                            json.dumps({"input_text": "E", "output_name": "manifest.jsonl/a"}),  # 5 job file
                            '{"input_text": "F", "output_name": "f", "meta": "\\ud800"}',   # 6 lone surrogate
                            ]) + "\n", encoding="utf-8")
    tasks, bad = load_tasks(f)
    assert [t.line for t in tasks] == [1, 3, 4]
    assert {b.line: b.error for b in bad}.keys() == {2, 5, 6}
    assert "line 1" in bad[0].error and "manifest.jsonl" in bad[1].error and "Unicode" in bad[2].error


@pytest.mark.parametrize("name", ["../x", "a/../../b", "/etc/passwd", "~/x", "C:\\x", "a\\b", "a//b", "./a", ".hidden",
                                  "a/.b", ".greentts-batch.lock", "bad\x00name", "new\nline", " lead", "a" * 300, ""])
def test_path_traversal_and_unsafe_names_are_rejected(name):
    with pytest.raises(InputError):
        safe_output_name(name, "wav")


def test_safe_names_get_their_format():
    assert safe_output_name("ch1/001", "mp3") == ("ch1/001.mp3", "mp3")
    assert safe_output_name("x.FLAC", None) == ("x.FLAC", "flac")
    assert safe_output_name("名字", "wav") == ("名字.wav", "wav")


def test_manifest_repairs_a_line_torn_by_a_crash(tmp_path):
    path = tmp_path / MANIFEST_NAME
    path.write_bytes(b'{"output": "a.wav", "status": "ok"}\n{"output": "b.wav", "sta')
    m = Manifest(path)
    assert list(m.latest) == ["a.wav"]
    m.append({"output": "c.wav", "status": "ok"})
    m.close()
    assert [json.loads(x)["output"] for x in path.read_text().splitlines()] == ["a.wav", "c.wav"]


# -- real runs -------------------------------------------------------------------------------------

EN = ["The harbour was quiet before dawn.", "Please hold while we connect your call.",
      "Chapter three begins with a letter.", "Your order has shipped today.", "The museum opens at nine.",
      "Thank you for waiting.", "A light rain is expected tonight.", "Turn left at the second bridge."]
ZH = ["今天天气很好。", "请稍等，我们正在为您转接。", "银行下午三点关门。", "欢迎收听今天的节目。"]


def _mixed_tasks(n: int, zh_every: int = 25) -> list[dict]:
    """Mostly eco-tier English (fast), every ``zh_every``-th item Mandarin on the standard tier."""
    rows = []
    for i in range(n):
        if i % zh_every == zh_every - 1:
            rows.append({"input_text": f"第{i}条。" + ZH[i % len(ZH)], "output_name": f"zh/{i:04d}", "tier": "standard",
                         "format": "flac"})
        else:
            rows.append({"input_text": f"Item {i}. " + EN[i % len(EN)], "output_name": f"en/{i:04d}", "tier": "eco",
                         "meta": {"n": i}})
    return rows


def _env(cache_dir, tmp_path) -> dict:
    env = dict(os.environ, GREENTTS_CACHE_DIR=str(cache_dir), XDG_DATA_HOME=str(tmp_path / "data"))
    env.pop("GREENTTS_PROGRESS", None)
    return env


def _records(out: Path) -> list[dict]:
    path = out / MANIFEST_NAME
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_bytes().split(b"\n") if x.strip() and x.endswith(b"}")]


def _check_complete(out: Path, tasks: list[dict]) -> dict:
    """Every task's file exists, decodes, and matches the manifest's last ok record; nothing else is there."""
    latest = {}
    for rec in _records(out):
        latest[rec["output"]] = rec
    expected = {t["output_name"] + (".flac" if t.get("format") == "flac" else ".wav") for t in tasks}
    assert {o for o, r in latest.items() if r["status"] == "ok"} == expected
    import hashlib

    for name in expected:
        rec, path = latest[name], out / name
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == rec["sha256"] and len(data) == rec["bytes"], name
        audio, sr = sf.read(path)
        assert sr == rec["sample_rate"] and abs(len(audio) / sr - rec["duration_s"]) < 0.01, name
        assert rec["energy"]["method"] in ("estimated", "measured")
        assert rec["energy"]["joules"] > 0 or rec.get("reused_from"), name
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert on_disk - expected == {MANIFEST_NAME, REPORT_NAME, ".greentts-batch.lock"}, "stray files (temps?)"
    return latest


@pytest.mark.model
@pytest.mark.slow
def test_500_items_survive_kill_9_at_random_points(tmp_path, cache_dir):
    rows = _mixed_tasks(500)
    tasks = _write_jsonl(tmp_path / "tasks.jsonl", rows)
    out = tmp_path / "out"
    cmd = [*GREENTTS, "batch", str(tasks), "--out-dir", str(out), "--quiet"]
    env = _env(cache_dir, tmp_path)
    rng = random.Random(2026)
    kills = 0
    for target in sorted(rng.sample(range(20, 480), 3)):  # kill -9 once the manifest holds `target` records
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and len(_records(out)) < target:
            time.sleep(rng.uniform(0.005, 0.05))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills == 3
    import hashlib

    verified = {r["output"] for r in _records(out) if r["status"] == "ok" and (out / r["output"]).exists()
                and hashlib.sha256((out / r["output"]).read_bytes()).hexdigest() == r["sha256"]}
    assert 20 <= len(verified) < 500
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"{500 - len(verified)} ok, 0 failed, {len(verified)} skipped" in res.stdout, res.stdout
    latest = _check_complete(out, rows)
    assert sum(1 for r in latest.values() if r["tier"] == "standard") == 20
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["ok"] + report["skipped"] == 500 and report["failed"] == 0
    assert report["energy"]["per_1000_sentences"]["kwh"] > 0
    # a further run renders nothing: every file verifies against the manifest
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "0 ok, 0 failed, 500 skipped" in res.stdout


@pytest.mark.model
def test_resume_rerenders_damaged_files_and_refuses_foreign_ones(tmp_path, cache_dir, monkeypatch):
    from typer.testing import CliRunner

    from greentts.cli import app

    monkeypatch.setenv("GREENTTS_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    rows = _mixed_tasks(6, zh_every=3) + [{"input_text": "Item 0. " + EN[0], "output_name": "copy", "tier": "eco"}]
    tasks = _write_jsonl(tmp_path / "t.jsonl", rows)
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["batch", str(tasks), "--out-dir", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "7 ok" in res.stdout and "1 identical requests reused" in res.stdout
    assert (out / "copy.wav").read_bytes() == (out / "en/0000.wav").read_bytes()
    (out / "en/0001.wav").write_bytes(b"RIFF damaged")  # damaged: re-rendered (it is the job's own file)
    (out / "zh/0002.flac").unlink()  # lost: re-rendered
    res = runner.invoke(app, ["batch", str(tasks), "--out-dir", str(out), "--quiet"])
    assert res.exit_code == 0 and "2 ok, 0 failed, 5 skipped" in res.stdout, res.output
    _check_complete(out, rows[:6] + [{"output_name": "copy"}])
    # a file that is not the job's is never overwritten without --overwrite
    foreign = _write_jsonl(tmp_path / "f.jsonl", [{"input_text": "Different words.", "output_name": "en/0000",
                                                   "tier": "eco"}, {"input_text": "New.", "output_name": "new",
                                                                    "tier": "eco"}])
    before = (out / "en/0000.wav").read_bytes()
    res = runner.invoke(app, ["batch", str(foreign), "--out-dir", str(out), "--quiet"])
    assert res.exit_code == 1 and "different request" in res.stdout and "--overwrite" in res.stdout
    assert (out / "en/0000.wav").read_bytes() == before and (out / "new.wav").exists()
    res = runner.invoke(app, ["batch", str(foreign), "--out-dir", str(out), "--quiet", "--overwrite"])
    assert res.exit_code == 0 and (out / "en/0000.wav").read_bytes() != before
    # a symbolic link that leads out of the folder is refused
    (tmp_path / "elsewhere").mkdir()
    (out / "link").symlink_to(tmp_path / "elsewhere")
    escape = _write_jsonl(tmp_path / "e.jsonl", [{"input_text": "Escape.", "output_name": "link/x", "tier": "eco"}])
    res = runner.invoke(app, ["batch", str(escape), "--out-dir", str(out), "--quiet"])
    assert res.exit_code == 1 and "outside" in res.stdout and not any((tmp_path / "elsewhere").iterdir())
    # --strict refuses to start on any bad line, and touches nothing
    bad = _write_jsonl(tmp_path / "b.jsonl", [{"input_text": "Fine.", "output_name": "strict1", "tier": "eco"},
                                              {"input_text": "x", "output_name": "/abs"}])
    res = runner.invoke(app, ["batch", str(bad), "--out-dir", str(out), "--strict"])
    assert res.exit_code == 2 and "b.jsonl:2:" in res.output and not (out / "strict1.wav").exists()


@pytest.mark.model
@pytest.mark.slow
def test_prompt_audio_is_enrolled_once_through_the_voice_cache(tmp_path, cache_dir, engine):
    pytest.importorskip("torch")
    from greentts.jobs import LocalRenderer, run_batch

    ref = tmp_path / "ref.wav"
    engine.synthesize("The quick brown fox jumps over the lazy dog, and then it rests under the old oak tree.",
                      voice="am_eric").save(ref)
    rows = [{"input_text": t, "output_name": f"p{i}", "prompt_audio": "ref.wav",
             "prompt_text": "The quick brown fox jumps over the lazy dog, and then it rests under the old oak tree."}
            for i, t in enumerate(["Good morning.", "See you tomorrow.", "今天见。"])]
    tasks, bad = load_tasks(_write_jsonl(tmp_path / "t.jsonl", rows), TaskDefaults(enroll_steps=0))
    assert not bad
    from greentts import Engine

    with Engine(cache_dir=cache_dir, voices_dir=tmp_path / "voices", idle_probe_s=0.1) as eng:
        renderer = LocalRenderer(eng)
        summary = run_batch(renderer, tasks, tmp_path / "out")
        renderer.close()
        assert summary.ok == 3 and summary.failed == 0, summary.failures
        assert len(summary.enrolled) == 1
        name = next(iter(summary.enrolled.values()))
        assert [m["name"] for m in eng.voices.enrolled()] == [name]
        meta = eng.voices.enrolled_meta(name)  # the prompt's transcript was given, and used as given
        assert meta["transcript_source"] == "given" and meta["transcript"] == rows[0]["prompt_text"], meta
        records = {r["output"]: r for r in _records(tmp_path / "out")}
        assert {r["voice"] for r in records.values()} == {name}
        # a second job with the same clip is a voice-cache hit (no enrollment work)
        t0 = time.perf_counter()
        eng.enroll(ref, name, text=rows[0]["prompt_text"], steps=0)
        assert time.perf_counter() - t0 < 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.model
@pytest.mark.slow
def test_ray_cluster_with_a_worker_killed_mid_job(tmp_path, cache_dir):
    pytest.importorskip("ray")
    ray_bin = Path(sys.executable).with_name("ray")
    port = _free_port()
    env = _env(cache_dir, tmp_path)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    head = subprocess.run([str(ray_bin), "start", "--head", f"--port={port}", "--num-cpus=2",
                           "--include-dashboard=false", "--disable-usage-stats",
                           f"--temp-dir={tempfile.mkdtemp(prefix='gtray', dir='/tmp')}"], env=env, capture_output=True, text=True, timeout=180)
    assert head.returncode == 0, head.stderr[-2000:]
    try:
        rows = _mixed_tasks(240, zh_every=40)
        tasks = _write_jsonl(tmp_path / "tasks.jsonl", rows)
        out = tmp_path / "out"
        cmd = [*GREENTTS, "batch", str(tasks), "--out-dir", str(out), "--quiet", "--ray",
               "--address", f"127.0.0.1:{port}", "--ray-workers", "2"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        victim = None
        deadline = time.monotonic() + 300
        while victim is None and proc.poll() is None and time.monotonic() < deadline:
            recs = [r for r in _records(out) if r["status"] == "ok"]
            if len(recs) >= 30:
                victim = int(recs[-1]["worker"].split("@")[0])
                os.kill(victim, signal.SIGKILL)
            time.sleep(0.02)
        stdout, stderr = proc.communicate(timeout=600)
        assert victim is not None, "the job ended before a worker could be killed: " + stdout[-1500:] + stderr[-3000:]
        assert proc.returncode == 0, stdout[-2000:] + stderr[-2000:]
        latest = _check_complete(out, rows)
        workers = {r["worker"] for r in latest.values()}
        assert len(workers) >= 3, workers  # two workers, and the killed one's replacement
        assert any(w.startswith(f"{victim}@") for w in workers)
        assert len(_records(out)) == 240  # each item recorded once: retried items were not duplicated
        report = json.loads((out / REPORT_NAME).read_text())
        assert report["ok"] == 240 and len([n for n in report["nodes"] if "total_j" in n]) == 2
        # resume semantics are the same as a local run
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0 and "0 ok, 0 failed, 240 skipped" in res.stdout, res.stdout + res.stderr[-2000:]
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], env=env, capture_output=True, timeout=120)
