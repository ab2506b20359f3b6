"""The Speech Dispatcher output module ``sd_greentts``: first its protocol, played by the test as the
daemon would; then through Debian's real ``speech-dispatcher`` daemon (``.ci/run`` installs it), with
``spd-say`` and the python3-speechd client, its audio written by ALSA's file plugin."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from greentts.protocols.speechd import escape_audio
from greentts.protocols.speechd_text import ReaderSettings, char_ssml, key_ssml, message_ssml, speed_of
from greentts.quality.asr import word_error_rate

pytestmark = [pytest.mark.model, pytest.mark.slow]

LONG = "<speak>" + "The quick brown fox jumps over the lazy dog, and then it runs far into the woods. " * 10 + "</speak>"


def _unescape(data: bytes) -> bytes:
    return data.replace(b"\x7d\x2a", b"\x0a").replace(b"\x7d\x5d", b"\x7d")


def _module_cmd(tmp: Path) -> Path:
    """An executable that runs this checkout's module (what ``.venv/bin/sd_greentts`` is when installed)."""
    exe = tmp / "sd_greentts"
    path = os.pathsep.join(p for p in sys.path if p)
    exe.write_text(f"#!/bin/sh\nPYTHONPATH='{path}' exec '{sys.executable}' -c "
                   "'from greentts.protocols.speechd import main; main()' \"$@\"\n")
    exe.chmod(0o755)
    return exe


class Daemonside:
    """The daemon's side of the output-module protocol, over the module's stdin/stdout."""

    def __init__(self, exe: Path, config: Path, env: dict[str, str]) -> None:
        self.log = open(config.with_suffix(".log"), "wb")
        self.proc = subprocess.Popen([str(exe), str(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, env=env)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            self.lines.put((time.perf_counter(), line.rstrip(b"\n")))
        self.lines.put((time.perf_counter(), None))

    def send(self, *lines: str) -> float:
        self.proc.stdin.write(("\n".join(lines) + "\n").encode())
        self.proc.stdin.flush()
        return time.perf_counter()

    def reply(self, timeout: float = 60) -> list[str]:
        out = []
        while True:
            _, line = self.lines.get(timeout=timeout)
            assert line is not None, f"the module exited after {out}"
            out.append(line.decode())
            if len(line) >= 4 and line[3:4] == b" ":
                return out

    def command(self, *lines: str) -> list[str]:
        self.send(*lines)
        return self.reply()

    def speak(self, ssml: str, kind: str = "SPEAK") -> dict:
        t0 = self.send(kind, *ssml.split("\n"), ".")
        assert self.reply() == ["202 OK RECEIVING MESSAGE"] and self.reply() == ["200 OK SPEAKING"]
        return self.events(t0)

    def events(self, t0: float, stop_after_audio: bool = False) -> dict:
        res: dict = {"events": [], "audio": [], "marks": [], "first_audio_s": None}
        while True:
            t, line = self.lines.get(timeout=120)
            assert line is not None
            if line.startswith(b"705-AUDIO\x00"):
                res["audio"].append(_unescape(line[10:]))
                if res["first_audio_s"] is None:
                    res["first_audio_s"] = t - t0
                    if stop_after_audio:
                        res["stop_sent"] = self.send("STOP")
            elif line.startswith(b"700-"):
                res["marks"].append((len(b"".join(res["audio"])) // 2, line[4:].decode()))
            elif len(line) >= 4 and line[3:4] == b" ":
                res["events"].append(line.decode())
                if line[:3] in (b"702", b"703"):
                    res["end_t"] = t
                    res["pcm"] = np.frombuffer(b"".join(res["audio"]), "<i2").astype(np.float32) / 32768
                    return res

    def quit(self) -> int:
        assert self.command("QUIT") == ["210 OK QUIT"]
        return self.proc.wait(10)


def _handshake(m: Daemonside) -> list[str]:
    assert m.command("INIT")[-1] == "299 OK LOADED SUCCESSFULLY"
    assert m.command("AUDIO", "audio_output_method=server", ".")[-1] == "207 OK RECEIVING AUDIO SETTINGS"
    assert m.reply() == ["203 OK AUDIO INITIALIZED"]
    assert m.command("LOGLEVEL", "log_level=3", ".")[-1] == "207 OK RECEIVING LOGLEVEL SETTINGS"
    assert m.reply() == ["203 OK LOGLEVEL SET"]
    return m.command("LIST VOICES")


def _set(m: Daemonside, **values: object) -> None:
    lines = {"rate": 0, "pitch": 0, "volume": 100, "punctuation_mode": "some", "spelling_mode": "off",
             "language": "en", "synthesis_voice": "NULL", **values}
    assert m.command("SET", *(f"{k}={v}" for k, v in lines.items()), ".") == ["203 OK RECEIVING SETTINGS"]
    assert m.reply() == ["203 OK SETTINGS RECEIVED"]


def test_reader_text_rules():
    s = ReaderSettings()
    assert message_ssml("<speak>a &lt; b<mark name=\"__spd_0\"/></speak>", s) == \
        '<speak>a  less than  b<mark name="__spd_0"/></speak>'
    s.set("punctuation_mode", "none")
    assert message_ssml("<speak>Hi, you.</speak>", s) == "<speak>Hi, you.</speak>"
    s.set("punctuation_mode", "all")
    assert "comma" in message_ssml("<speak>Hi, you.</speak>", s)
    s.set("pitch", "50")
    s.set("spelling_mode", "on")
    assert message_ssml("<speak>ab</speak>", s).startswith('<speak><prosody pitch="+3.00st"><say-as')
    s.set("rate", "oops")  # ignored, as the daemon's other unknowns are
    assert s.rate == 0 and speed_of(100) == 2.0 and speed_of(-100) == 0.5
    assert char_ssml("space") == "<speak>space</speak>" and "characters" in char_ssml("x")
    assert key_ssml("shift_a") == '<speak>shift <say-as interpret-as="characters">a</say-as></speak>'
    assert escape_audio(b"\x0a\x7d") == b"\x7d\x2a\x7d\x5d"


def test_speechd_install_writes_the_module_and_its_config(tmp_path):
    from typer.testing import CliRunner

    from greentts.cli import app

    res = CliRunner().invoke(app, ["speechd-install", "--modules-dir", str(tmp_path / "m"),
                                   "--config-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    wrapper = tmp_path / "m" / "sd_greentts"
    assert os.access(wrapper, os.X_OK) and "sd_greentts" in wrapper.read_text()
    assert "GreenttsTier" in (tmp_path / "c" / "greentts.conf").read_text()


@pytest.fixture(scope="module")
def module(tmp_path_factory, cache_dir):
    tmp = tmp_path_factory.mktemp("sd")
    port = _free_port()
    conf = tmp / "greentts.conf"
    conf.write_text(f"GreenttsHttpPort {port}\nGreenttsCacheDir {cache_dir}\n")
    m = Daemonside(_module_cmd(tmp), conf, dict(os.environ))
    m.voices = _handshake(m)
    m.http = f"http://127.0.0.1:{port}"
    m.speak("<speak>Ready.</speak>")  # the first message waits for the models
    yield m
    assert m.quit() == 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_module_lists_voices_and_speaks_with_index_marks(module, asr):
    voices = module.voices
    assert voices[-1] == "200 OK VOICE LIST SENT"
    assert "200-af_heart\ten-US\tnone" in voices and "200-zf_xiaoxiao\tzh-CN\tnone" in voices
    assert not any("\tja" in v for v in voices)
    _set(module, voice="male1")
    res = module.speak('<speak>Open the settings page.<mark name="__spd_0"/> Then press save.<mark name="__spd_1"/></speak>')
    assert res["events"][0] == "701 BEGIN" and res["events"][-1] == "702 END"
    assert [n for _, n in res["marks"]] == ["__spd_0", "__spd_1"]
    first_mark = res["marks"][0][0] / 24000
    assert 0.8 < first_mark < len(res["pcm"]) / 24000 - 0.5  # after the first sentence, before the second
    heard = asr.transcribe(res["pcm"], 24000, "en")
    assert word_error_rate("Open the settings page. Then press save.", heard) <= 0.15, heard


def test_module_rate_volume_and_language(module, asr):
    _set(module)
    base = module.speak("<speak>Rate and volume check.</speak>")["pcm"]
    _set(module, volume=0)
    half = module.speak("<speak>Rate and volume check.</speak>")["pcm"]
    assert len(half) == len(base) and np.abs(half - base / 2).max() < 2e-4  # the same audio at half the level
    _set(module, rate=100)
    fast = module.speak("<speak>Rate and volume check.</speak>")["pcm"]
    assert 0.4 < len(fast) / len(base) < 0.65  # twice as fast
    _set(module, language="zh-CN")
    zh = module.speak("<speak>打开文件菜单。</speak>")
    assert zh["events"][-1] == "702 END" and len(zh["pcm"]) > 12000
    _set(module, language="en", punctuation_mode="all")
    heard = asr.transcribe(module.speak("<speak>Yes, now.</speak>")["pcm"], 24000, "en").lower()
    assert "dot" in heard and len(heard.split()) >= 4, heard  # "yes comma now dot"
    for kind, body in (("CHAR", "a"), ("KEY", "control_s"), ("SOUND_ICON", "message")):
        res = module.speak(body, kind)
        assert res["events"][0] == "701 BEGIN" and res["events"][-1] == "702 END"
    _set(module, punctuation_mode="some")


def test_module_stops_within_100_ms_and_logs_energy_like_http(module):
    import httpx2 as httpx

    t0 = module.send("SPEAK", LONG, ".")
    assert module.reply() == ["202 OK RECEIVING MESSAGE"] and module.reply() == ["200 OK SPEAKING"]
    res = module.events(t0, stop_after_audio=True)
    assert res["events"][-1] == "703 STOP"
    stop_s = res["end_t"] - res["stop_sent"]
    assert stop_s < 0.1, stop_s
    assert len(res["pcm"]) / 24000 < 30  # stopped: the text is about 50 s of audio
    assert module.speak("<speak>Next.</speak>")["events"][-1] == "702 END"  # and the next message speaks
    deadline = time.time() + 30  # the stopped message is counted once its segment in flight has finished
    while 'route="speechd",status="499"' not in (metrics := httpx.get(module.http + "/metrics").text):
        assert time.time() < deadline, [m for m in metrics.splitlines() if "speechd" in m]
        time.sleep(0.2)
    assert 'greentts_requests_total{route="speechd",status="200"}' in metrics
    assert 'greentts_requests_total{route="speechd",status="499"} 1.0' in metrics
    log = Path(module.log.name).read_text()
    rid = [line.split()[4] for line in log.splitlines() if " message " in line and " complete:" in line][-1]
    rec = httpx.get(f"{module.http}/v1/requests/{rid}").json()
    assert rec["model"] == "speechd" and rec["status"] == "complete"
    assert rec["energy"]["method"] == "estimated" and rec["energy"]["joules"] > 0
    assert set(rec["energy"]) >= {"joules", "kwh", "gco2e", "devices", "audio_s", "grid", "meter"}
    print(f"speechd module: STOP -> 703 in {stop_s * 1000:.1f} ms")


# -- the real daemon -------------------------------------------------------------------------------

DAEMON = shutil.which("speech-dispatcher")
SPEECHD_PY = "/usr/bin/python3"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, cache_dir):
    if DAEMON is None or shutil.which("spd-say") is None:
        if os.environ.get("CI"):
            pytest.fail("speech-dispatcher is not installed (.ci/run installs it)")
        pytest.skip("speech-dispatcher is not installed (apt-get install speech-dispatcher python3-speechd)")
    tmp = tmp_path_factory.mktemp("speechd")
    exe = _module_cmd(tmp)
    conf = tmp / "conf"
    (conf / "modules").mkdir(parents=True)
    (tmp / "log").mkdir()
    (tmp / ".asoundrc").write_text(f'pcm.sdcapture {{\n type file\n slave.pcm "null"\n file "{tmp}/out.raw"\n'
                                   ' format "raw"\n}\n')
    (conf / "modules" / "greentts.conf").write_text(f"GreenttsCacheDir {cache_dir}\n")
    (conf / "modules" / "greentts-eco.conf").write_text(f"GreenttsCacheDir {cache_dir}\nGreenttsTier eco\n")
    (conf / "speechd.conf").write_text(
        'LogLevel 3\nAudioOutputMethod "alsa"\nAudioALSADevice "sdcapture"\nDefaultVolume 100\n'
        f'AddModule "greentts" "{exe}" "greentts.conf"\nAddModule "greentts-eco" "{exe}" "greentts-eco.conf"\n'
        "DefaultModule greentts\n")
    sock = tmp / "sd.sock"
    env = dict(os.environ, HOME=str(tmp))
    proc = subprocess.Popen([DAEMON, "-s", "-t", "0", "-C", str(conf), "-L", str(tmp / "log"), "-P", str(tmp / "pid"),
                             "-c", "unix_socket", "-S", str(sock)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not sock.exists():
        assert proc.poll() is None and time.time() < deadline, "speech-dispatcher did not start"
        time.sleep(0.2)
    client_env = dict(os.environ, SPEECHD_ADDRESS=f"unix_socket:{sock}", SPEECHD_CMD="/bin/false")
    info = {"tmp": tmp, "env": client_env, "out": tmp / "out.raw"}
    _client(info, [{"text": "Ready.", "module": "greentts"}, {"text": "Ready.", "module": "greentts-eco"}])
    yield info
    proc.terminate()
    proc.wait(20)


_CLIENT = r"""
import json, sys, threading, time
import speechd
jobs = json.loads(sys.argv[1])
c = speechd.SSIPClient("greentts-test")
out = []
for job in jobs:
    c.set_output_module(job["module"])
    c.set_language(job.get("lang", "en"))
    began, ended = threading.Event(), threading.Event()
    times = {}
    def cb(kind, index_mark=None):
        times.setdefault(kind, time.perf_counter())
        (began if kind == speechd.CallbackType.BEGIN else ended).set()
    t0 = time.perf_counter()
    c.speak(job["text"], callback=cb, event_types=(speechd.CallbackType.BEGIN, speechd.CallbackType.END,
                                                    speechd.CallbackType.CANCEL))
    r = {"module": job["module"]}
    if job.get("cancel_after_s") is not None:
        began.wait(60)
        time.sleep(job["cancel_after_s"])
        t1 = time.perf_counter()
        c.cancel()
        ended.wait(10)
        r["cancel_s"] = times.get(speechd.CallbackType.CANCEL, float("nan")) - t1
    ended.wait(120)
    r["begin_s"] = times.get(speechd.CallbackType.BEGIN, float("nan")) - t0
    r["end"] = "cancel" if speechd.CallbackType.CANCEL in times else "end" if speechd.CallbackType.END in times else None
    out.append(r)
c.close()
print(json.dumps(out))
"""


def _client(info: dict, jobs: list[dict]) -> list[dict]:
    """Jobs through Debian's python3-speechd client: BEGIN, END and CANCEL times."""
    res = subprocess.run([SPEECHD_PY, "-c", _CLIENT, json.dumps(jobs)], env=info["env"], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_spd_say_speaks_through_the_daemon(daemon, asr):
    out = daemon["out"]
    size = out.stat().st_size if out.exists() else 0
    text = "The meeting starts after lunch today."
    res = subprocess.run(["timeout", "60", "spd-say", "-w", "-o", "greentts", "-l", "en", "-r", "-20", text],
                         env=daemon["env"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    data = out.read_bytes()[size:]
    audio = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / 32768
    assert len(audio) / 24000 > 1.5
    heard = asr.transcribe(audio, 24000, "en")
    assert word_error_rate(text, heard) <= 0.15, heard
    listed = subprocess.run(["spd-say", "-o", "greentts", "-L"], env=daemon["env"], capture_output=True, text=True)
    assert "af_heart" in listed.stdout and "zf_xiaoxiao" in listed.stdout


def _first_audio(log: Path, n: int) -> list[float]:
    """The module's own measure of its last ``n`` messages: SPEAK received -> first audio sent."""
    lines = [line for line in log.read_text().splitlines() if " message " in line and " complete:" in line]
    return [float(line.split("first audio ")[1].split(" s")[0]) for line in lines[-n:]]


def test_daemon_speaks_short_utterances_in_both_tiers(daemon):
    short = ["Open file.", "Save as.", "Close window now.", "Next heading.", "Link, home page."]
    res = _client(daemon, [{"text": t, "module": m} for m in ("greentts", "greentts-eco") for t in short])
    assert [r["end"] for r in res] == ["end"] * len(res), res
    med = {m: float(np.median(_first_audio(daemon["tmp"] / "log" / f"{m}.log", len(short))))
           for m in ("greentts", "greentts-eco")}
    print(f"speech-dispatcher: first audio of <= 5 words (module: SPEAK -> first 705), median of {len(short)}: "
          f"standard {med['greentts'] * 1000:.0f} ms, eco {med['greentts-eco'] * 1000:.0f} ms")
    assert med["greentts-eco"] < 0.2 and med["greentts"] < 2.0, med


def test_daemon_cancel_stops_within_100_ms(daemon):
    res = _client(daemon, [{"text": LONG[7:-8][:420], "module": "greentts", "cancel_after_s": 0.5}])[0]
    assert res["end"] == "cancel" and res["cancel_s"] < 0.1, res
    print(f"speech-dispatcher: cancel() -> CANCEL {res['cancel_s'] * 1000:.1f} ms (first audio began "
          f"{res['begin_s']:.3f} s after speak())")
