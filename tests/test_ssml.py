"""SSML: parsing and its errors (no weights), then every element end to end on real models."""

from __future__ import annotations

import time

import numpy as np
import pytest

from greentts import InputError
from greentts.text.frontend import Frontend
from greentts.text.ssml import is_ssml, parse_ssml, say_as


def _texts(doc: str, **kw) -> list[str]:  # noqa: ANN003
    return [" ".join(c.text.split()) for c in parse_ssml(doc, **kw)[0]]


# --------------------------------------------------------------------------------------------------
# parsing (no weights)
# --------------------------------------------------------------------------------------------------


def test_detects_ssml():
    assert is_ssml("  <speak>hi</speak>") and is_ssml('<?xml version="1.0"?>\n<speak>hi</speak>')
    assert not is_ssml("I <speak> softly")


def test_billion_laughs_and_external_entities_are_refused_quickly():
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
              + ']><speak>&lol9;</speak>')
    external = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY e SYSTEM "file:///etc/passwd">]><speak>&e;</speak>'
    for doc in (laughs, external):
        t0 = time.perf_counter()
        with pytest.raises(InputError, match="must not declare a DTD or entities"):
            parse_ssml(doc)
        assert time.perf_counter() - t0 < 0.5


@pytest.mark.parametrize("doc, where", [
    ("<speak>Hello <break time='1s'></speak>", "line 1, column 33"),
    ("<speak>\nHello\n <prosody rate='slow'>there</speak>", "line 3, column 30"),
    ("<speak>Hello & goodbye</speak>", "line 1, column 15"),
])
def test_malformed_ssml_names_the_position(doc, where):
    with pytest.raises(InputError, match=f"malformed SSML at {where}"):
        parse_ssml(doc)


def test_unknown_elements_strict_and_lenient():
    doc = "<speak>Hello\n<audio src='x.wav'>there</audio></speak>"
    with pytest.raises(InputError, match=r"unsupported SSML element <audio> at line 2, column 1"):
        parse_ssml(doc)
    chunks, ignored = parse_ssml(doc, strict=False)
    assert " ".join(chunks[0].text.split()) == "Hello there" and ignored == ["<audio> at line 2, column 1"]
    plan = Frontend().plan(doc, ssml_strict=False)
    list(plan)
    assert [s.char for s in plan.skipped] == ["<audio> at line 2, column 1"]


@pytest.mark.parametrize("doc, problem", [
    ("<speak><break time='20s'/></speak>", "at most 10 s"),
    ("<speak><break time='soon'/></speak>", "cannot read the time 'soon'"),
    ("<speak><prosody rate='x-very'>a</prosody></speak>", "rate must be"),
    ("<speak><prosody rate='400%'>a</prosody></speak>", "between 0.5 and 2"),
    ("<speak><prosody pitch='+40st'>a</prosody></speak>", "between 0.5 and 2"),
    ("<speak><say-as interpret-as='colour'>red</say-as></speak>", "interpret-as must be one of"),
    ("<speak><say-as interpret-as='date' format='mdy'>2024</say-as></speak>", "does not have the 3 numbers"),
    ("<speak><phoneme alphabet='sampa' ph='x'>a</phoneme></speak>", "alphabet must be"),
    ("<speak><lang xml:lang='fr-FR'>bonjour</lang></speak>", "not spoken"),
    ("<speak><voice>hi</voice></speak>", "needs a name"),
    ("<p>hi</p>", "<speak> as its root"),
])
def test_bad_attribute_values_are_clear_errors(doc, problem):
    with pytest.raises(InputError, match=problem):
        parse_ssml(doc)


@pytest.mark.parametrize("text, kind, fmt, lang, spoken", [
    ("FBI", "characters", None, "en", "F B I"),
    ("A4", "spell-out", None, "en", "A four"),
    ("2024", "digits", None, "en", "two zero two four"),
    ("555-0199", "telephone", None, "en", "five five five, oh one nine nine"),
    ("+1 (212) 555-0148", "telephone", None, "en", "plus one, two one two, five five five, oh one four eight"),
    ("1234", "cardinal", None, "en", "one thousand two hundred and thirty four"),
    ("21", "ordinal", None, "en", "twenty first"),
    ("3/15/2024", "date", "mdy", "en", "March fifteenth, twenty twenty four"),
    ("15/3/2024", "date", "dmy", "en", "the fifteenth of March, twenty twenty four"),
    ("2024-03", "date", "ym", "en", "March, twenty twenty four"),
    ("7:30pm", "time", None, "en", "seven thirty PM"),
    ("3/4", "fraction", None, "en", "three quarters"),
    ("$9.99", "currency", None, "en", "nine dollars and ninety nine cents"),
    ("13812345678", "telephone", None, "zh", "幺三八幺二三四五六七八"),
    ("2024", "digits", None, "zh", "二零二四"),
    ("1200", "cardinal", None, "zh", "一千二百"),
    ("3", "ordinal", None, "zh", "第三"),
    ("2026-11-21", "date", "ymd", "zh", "二零二六年十一月二十一日"),
])
def test_say_as(text, kind, fmt, lang, spoken):
    assert say_as(text, kind, fmt, lang) == spoken


def test_chunks_carry_controls_breaks_and_marks():
    doc = ("<speak xml:lang='en-US'>One <break time='700ms'/> two. <prosody rate='slow' pitch='+2st' volume='-6dB'>"
           "three</prosody> <mark name='m'/>four <voice name='am_michael'>five</voice>"
           "<lang xml:lang='zh-CN'>六</lang><p>seven</p><s>eight</s> <sub alias='World Wide Web'>WWW</sub> "
           "<phoneme alphabet='ipa' ph='təmˈɑtO'>tomato</phoneme> <emphasis level='strong'>nine</emphasis></speak>")
    chunks, _ = parse_ssml(doc)
    by_text = {" ".join(c.text.split()): c for c in chunks}
    assert by_text["One"].pause_s == pytest.approx(0.7)
    slow = by_text["three"].controls
    assert slow.rate == pytest.approx(0.8) and slow.pitch == pytest.approx(2 ** (2 / 12)) and slow.volume_db == -6
    assert by_text["four"].marks == ["m"]
    assert by_text["five"].controls.voice == "am_michael" and by_text["六"].controls.lang == "zh"
    assert by_text["seven"].end == "paragraph" and by_text["eight"].end == "sentence"
    assert "World Wide Web [tomato](/təmˈɑtO/)" in " ".join(by_text)
    assert by_text["nine"].controls.rate < 1 and by_text["nine"].controls.volume_db > 0


def test_text_outside_tags_is_normalized_like_plain_text():
    segs = Frontend().phonemize("<speak>Call 555-0199 on Feb. 3rd.</speak>", first_max_ids=510)
    assert [s.text for s in segs] == ["Call five five five, oh one nine nine on February third."]


@pytest.mark.parametrize("doc, phonemes", [
    # Kokoro's Mandarin tone arrows inside an ipa phoneme are phonemes, not symbols to read ("→" = "to")
    ("<speak>送进了<phoneme alphabet='ipa' ph='ai→ ɕi→ jou→'>ICU</phoneme>观察。</speak>", "ai→ ɕi→ jou→"),
    ("<speak>Say <phoneme alphabet='ipa' ph='təmˈɑtO'>tomato</phoneme>, 2 → 3.</speak>", "təmˈɑtO, tˈu tə θɹˈi"),
])
def test_ipa_phonemes_are_kept_exactly(doc, phonemes):
    assert phonemes in " ".join(s.phonemes for s in Frontend().phonemize(doc, first_max_ids=510))


# --------------------------------------------------------------------------------------------------
# end to end (real models)
# --------------------------------------------------------------------------------------------------

SENTENCE = "The quick brown fox jumps over the lazy dog near the river."


def _f0(audio: np.ndarray, rate: int) -> float:
    """Median F0 (Hz) of voiced 40 ms frames, by autocorrelation (70-400 Hz)."""
    frame, hop = int(0.04 * rate), int(0.01 * rate)
    f0s = []
    for start in range(0, len(audio) - frame, hop):
        x = audio[start:start + frame] - audio[start:start + frame].mean()
        if np.sqrt(np.mean(x ** 2)) < 0.02:
            continue
        ac = np.correlate(x, x, "full")[frame - 1:]
        lo, hi = rate // 400, rate // 70
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:
            f0s.append(rate / lag)
    return float(np.median(f0s))


@pytest.mark.model
def test_break_and_rate_change_the_duration(engine):
    plain = engine.synthesize(f"<speak>{SENTENCE}</speak>")
    paused = engine.synthesize("<speak>The quick brown fox <break time='1200ms'/> jumps over the lazy dog near "
                               "the river.</speak>")
    slow = engine.synthesize(f"<speak><prosody rate='x-slow'>{SENTENCE}</prosody></speak>")
    fast = engine.synthesize(f"<speak><prosody rate='150%'>{SENTENCE}</prosody></speak>")
    assert paused.segments[0].pause_s == pytest.approx(1.2)
    loud = np.flatnonzero(np.abs(paused.audio) > 0.01)
    assert np.diff(loud).max() / 24000 == pytest.approx(1.2, abs=0.15)  # the silence heard is the break
    assert slow.duration_s / plain.duration_s == pytest.approx(1 / 0.6, rel=0.15)
    assert fast.duration_s / plain.duration_s == pytest.approx(1 / 1.5, rel=0.15)


@pytest.mark.model
def test_pitch_and_volume(engine):
    plain = engine.synthesize(f"<speak>{SENTENCE}</speak>")
    high = engine.synthesize(f"<speak><prosody pitch='+4st'>{SENTENCE}</prosody></speak>")
    soft = engine.synthesize(f"<speak><prosody volume='-12dB'>{SENTENCE}</prosody></speak>")
    assert _f0(high.audio, 24000) / _f0(plain.audio, 24000) == pytest.approx(2 ** (4 / 12), rel=0.06)
    assert high.duration_s == pytest.approx(plain.duration_s, rel=0.1)  # pitch does not change the length
    rms = lambda a: float(np.sqrt(np.mean(a ** 2)))  # noqa: E731
    assert 20 * np.log10(rms(soft.audio) / rms(plain.audio)) == pytest.approx(-12, abs=0.5)


@pytest.mark.model
def test_voice_lang_and_marks(engine):
    r = engine.synthesize("<speak>Hello <mark name='start'/>there. <voice name='am_michael'>I am Michael."
                          "</voice> <lang xml:lang='zh-CN'>你好。</lang><mark name='end'/></speak>")
    voices = [s.voice for s in r.segments]
    assert voices[0] == "af_heart" and "am_michael" in voices
    assert r.segments[-1].lang == "zh"
    marks = {m["name"]: m["time_s"] for m in r.marks}
    assert 0.2 < marks["start"] < marks["end"] <= r.duration_s + 1e-6
    assert marks["start"] == r.segments[1].start_s


@pytest.mark.model
def test_unknown_ssml_voice_is_refused_before_audio(engine):
    from greentts import VoiceError

    with pytest.raises(VoiceError):
        engine.stream("<speak>Hi <voice name='nobody_here'>there</voice></speak>")


@pytest.mark.model
@pytest.mark.parametrize("doc, heard", [
    ("<speak>Call <say-as interpret-as='telephone'>555-0199</say-as> today.</speak>",
     "call five five five zero one nine nine today"),
    ("<speak>I work at the <sub alias='World Health Organization'>WHO</sub>.</speak>",
     "i work at the world health organization"),
    ("<speak>Say <phoneme alphabet='ipa' ph='pəkˈɑn'>xyzzy</phoneme> twice.</speak>", "say pecan twice"),
    ("<speak>Her code is <say-as interpret-as='characters'>QX7</say-as>.</speak>", "her code is qx7"),
])
def test_say_as_sub_and_phoneme_are_heard(engine, asr, doc, heard):
    from greentts.quality.scoring import best_errors, en_words

    r = engine.synthesize(doc)
    text = asr.transcribe(r.audio, r.sample_rate, "en", spell_numbers=True)
    errors, n = best_errors(heard.replace("qx7", "q x seven"), text, en_words)
    assert errors / n <= 0.2, text


@pytest.mark.model
def test_pinyin_phoneme_is_heard(engine, asr):
    r = engine.synthesize("<speak><lang xml:lang='zh-CN'>我们去<phoneme alphabet='x-pinyin' ph='chong2 qing4'>"
                          "重庆</phoneme>吧。</lang></speak>")
    assert "重庆" in asr.transcribe(r.audio, r.sample_rate, "zh")


@pytest.mark.model
@pytest.mark.slow
def test_ssml_over_http(http_server):
    import io

    import httpx2 as httpx
    import soundfile as sf

    server = http_server
    url = server.url + "/v1/audio/speech"
    body = {"model": "tts-1", "voice": "alloy", "response_format": "wav",
            "input": "<speak>Hello <break time='800ms'/> <voice name='echo'>world</voice>.</speak>"}
    ok = httpx.post(url, json=body, timeout=60)
    assert ok.status_code == 200, ok.text
    audio, rate = sf.read(io.BytesIO(ok.content))
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    assert np.diff(loud).max() / rate == pytest.approx(0.8, abs=0.15)
    for bad, problem in [("<speak>Hello <break time='1s'></speak>", "malformed SSML at line 1, column 33"),
                         ("<speak>Hi <audio src='a.wav'/></speak>", "unsupported SSML element <audio>"),
                         ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><speak>&e;</speak>',
                          "must not declare a DTD")]:
        resp = httpx.post(url, json=body | {"input": bad}, timeout=60)
        assert resp.status_code == 400 and problem in resp.json()["error"]["message"], resp.status_code
    lenient = httpx.post(url, json=body | {"input": "<speak>Hi <audio src='a.wav'/>there</speak>",
                                           "ssml_strict": False}, timeout=60)
    assert lenient.status_code == 200
    as_text = httpx.post(url, json=body | {"input": "<speak>Hi</speak>", "input_format": "text"}, timeout=60)
    assert as_text.status_code == 200  # read as words, tags and all


@pytest.mark.model
def test_cli_ssml(tmp_path):
    import subprocess
    import sys

    doc = tmp_path / "in.ssml"
    doc.write_text("<speak>One <mark name='two'/>two <break time='500ms'/> three.</speak>")
    out = tmp_path / "out.wav"
    proc = subprocess.run([sys.executable, "-m", "greentts.cli", "say", "-f", str(doc), "--ssml", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 10000 and "mark two at" in proc.stderr
    bad = subprocess.run([sys.executable, "-m", "greentts.cli", "say", "<speak>One <b>two</b></speak>", "-o",
                          str(out)], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "unsupported SSML element <b>" in bad.stderr + bad.stdout
