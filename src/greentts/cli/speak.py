"""Commands for one text or one voice: say, voices, enroll, phonemize, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import GreenTTSError
from .app import app
from .options import (DICTIONARY, LANG, SAMPLE_RATE, SPEED, SUBTYPE, TIER, VOICE, VOICES_DIR, EnergyOptions,
                      check_subtitle_path, fail, read_text, settings, with_energy)

__all__ = ["say", "voices", "enroll", "phonemize", "demo"]


@app.command()
@with_energy
def say(
    text: Optional[str] = typer.Argument(None, help="text to speak"),
    file: Optional[Path] = typer.Option(None, "-f", "--file", help="read the text from a file ('-' = stdin)"),
    out: Path = typer.Option(Path("out.wav"), "-o", "--out", help="output file; the extension picks the format"),
    voice: Optional[str] = VOICE,
    lang: str = LANG,
    speed: float = SPEED,
    prosody: Optional[str] = typer.Option(None, "--prosody", help="preset: neutral | news | storytelling | "
                                                                  "cheerful | calm | serious"),
    prosody_from: Optional[str] = typer.Option(None, "--prosody-from", help="take pitch range and rate from a "
                                                                           "reference clip (path) or a voice"),
    sample_rate: Optional[int] = SAMPLE_RATE,
    format: Optional[str] = typer.Option(None, "--format", help="wav|flac|mp3|ogg|opus|pcm|mulaw (default: from -o)"),
    subtype: Optional[str] = SUBTYPE,
    dictionary: list[Path] = DICTIONARY,
    tier: str = TIER,
    loudness: Optional[float] = typer.Option(None, "--loudness", help="normalize to this LUFS, e.g. -16"),
    report: Optional[Path] = typer.Option(None, "--report", help="write a JSON report (segments, rules, timings)"),
    ssml: bool = typer.Option(False, "--ssml", help="the text is SSML (docs/ssml.md); text starting with <speak "
                                                   "is SSML anyway"),
    ssml_lenient: bool = typer.Option(False, "--ssml-lenient", help="read unknown SSML elements' text (reported) "
                                                                   "instead of failing"),
    words: Optional[Path] = typer.Option(None, "--words", help="write each word's start and end (JSON)"),
    subtitles: list[Path] = typer.Option([], "--subtitles", help="write subtitles: .srt or .vtt (VTT cues are "
                                                                 "karaoke-timed per word); repeatable"),
    word_cues: bool = typer.Option(False, "--word-cues", help="subtitles: one cue per word"),
    energy: EnergyOptions = EnergyOptions(),
) -> None:
    """Synthesize TEXT (or a file) into an audio file."""
    from ..engine import Engine
    from ..runtime.audio import default_rate, format_for_path

    body = read_text(text, file)
    for path in subtitles:
        check_subtitle_path(path)
    try:
        fmt = format or format_for_path(out)
        s = settings(voice=voice, lang=lang, speed=speed, tier=tier, sample_rate=sample_rate or default_rate(fmt),
                     dictionaries=tuple(dictionary), loudness_lufs=loudness, prosody=prosody,
                     prosody_from=prosody_from, input_format="ssml" if ssml else "auto", ssml_strict=not ssml_lenient)
        with Engine(**energy.config()) as engine:
            result = engine.synthesize(body, s)
            result.save(out, format=fmt, subtype=subtype)
    except GreenTTSError as exc:
        fail(exc)
    _write_extras(result, report, words, subtitles, word_cues)
    _print_result(result, out, tier)


def _write_extras(result: Any, report: Optional[Path], words: Optional[Path], subtitles: list[Path],
                  word_cues: bool) -> None:
    """The files ``say`` writes beside the audio: the JSON report, word timings, subtitles."""
    from ..runtime.files import write_atomic

    if report:
        write_atomic(report, json.dumps(result.report(), ensure_ascii=False, indent=1))
    if words:
        write_atomic(words, json.dumps({"words": result.words, "marks": result.marks}, ensure_ascii=False, indent=1))
    for path in subtitles:
        _write_subtitles(path, result, word_cues)


def _print_result(result: Any, out: Path, tier: str) -> None:
    for hit in result.rules_fired:
        typer.echo(f"rule {hit.source} {hit.grapheme} -> {hit.phoneme}: {hit.count}x", err=True)
    for s in result.skipped:
        typer.echo(f"skipped {s.codepoint} at {s.position} ({s.reason})", err=True)
    for mark in result.marks:
        typer.echo(f"mark {mark['name']} at {mark['time_s']:.3f} s", err=True)
    typer.echo(f"wrote {out} ({result.duration_s:.2f} s audio, {result.sample_rate} Hz, voice {result.voice}, "
               f"{result.backend}; wall {result.timings['total_s']:.2f} s, RTF {result.rtf:.3f})")
    if result.tier != tier:
        typer.echo(f"tier {result.tier}: {result.extra.get('tier_reason', '')}", err=True)
    if result.energy is not None:
        typer.echo(result.energy.summary())


def _write_subtitles(path: Path, result: Any, word_cues: bool) -> None:
    """Subtitles for one result: a cue per segment (VTT with word timestamps) or per word."""
    from ..jobs.longform import CueWriter

    words = [(w["start"], w["end"], w["word"]) for w in result.words]
    writer = CueWriter(path, check_subtitle_path(path))
    try:
        if word_cues:
            for start, end, word in words:
                writer.add(start, max(end, start + 0.01), word)
        else:
            for seg in result.segments:
                end = seg.start_s + seg.duration_s - seg.pause_s
                writer.add(seg.start_s, max(end, seg.start_s), seg.text, words=words)
        writer.finish()
        writer.commit()
    except BaseException:
        writer.discard()
        raise


@app.command()
def voices(lang: Optional[str] = typer.Option(None, "--lang", help="filter: en, en-us, en-gb, zh, ...")) -> None:
    """List the stock voices."""
    from ..voices.store import VoiceStore, default_voices_dir

    store = VoiceStore(default_voices_dir())
    for v in store.list(lang):
        if "error" in v:
            typer.echo(f"{v['name']:16s} BROKEN: {v['error']} (remove {store.enrolled_dir}/{v['name']}.* and "
                       "enroll it again)")
            continue
        typer.echo(f"{v['name']:16s} {v['language']:6s} {v.get('gender', 'unknown'):7s} {','.join(v['backends'])}"
                   + ("  (enrolled)" if v["enrolled"] else ""))


@app.command()
def enroll(
    clip: Path = typer.Argument(..., help="reference recording of one speaker, 3 s or more (wav, flac, ogg, mp3; a longer one is cut to its cleanest 5-8 s)"),
    name: str = typer.Option(..., "--name", help="name of the new voice (a-z, 0-9, '_' or '-')"),
    text: Optional[str] = typer.Option(None, "--text", help="what the clip says (else Whisper transcribes it "
                                                            "if the asr extra is installed)"),
    lang: Optional[str] = typer.Option(None, "--lang", help="en | zh (else detected)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="refinement steps (default 20; 0 = preview only)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an enrolled voice of the same name"),
    voices_dir: Optional[Path] = VOICES_DIR,
) -> None:
    """Clone a voice from a reference clip; then use it by name: greentts say "..." --voice NAME."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..engine import Engine

    labels = {"analyse": "analysing the clip", "preview": "preview saved", "refine": "refining",
              "save": "saved"}
    try:
        with Engine(voices_dir=voices_dir, idle_probe_s=0.2) as engine, Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(), transient=False) as bar:
            task = bar.add_task("loading models", total=1)

            def progress(stage: str, done: int, total: int) -> None:
                bar.update(task, description=labels.get(stage, stage), completed=done, total=total)

            job = engine.enroll(clip, name, text=text, lang=lang, steps=steps, overwrite=overwrite,
                                progress=progress)
            meta = job.wait()
    except GreenTTSError as exc:
        fail(exc)
    sim = meta.get("similarity", {})
    if job.cached:
        typer.echo(f"{name}: already enrolled from this clip (cache hit, {meta.get('created', '')})")
    t = meta.get("time_s", {})
    typer.echo(f"voice {name}: base {meta.get('base_voice')}, language {meta.get('language')} "
               f"({meta.get('lang_source')}), transcript {meta.get('transcript_source') or 'none'}")
    typer.echo(f"similarity to the reference (CAM++ cosine): {sim.get('reached')} "
               f"(nearest stock voice {meta.get('base_voice')}: {sim.get('base_voice')}, preview {sim.get('preview')})")
    ref_f0 = meta.get("reference_pitch", {}).get("median_hz")
    typer.echo(f"median F0: reference {ref_f0} Hz, clone {meta.get('clone_f0_median_hz')} Hz")
    typer.echo(f"time {t.get('total_s')} s (preview after {round(t.get('analyse_s', 0) + t.get('preview_s', 0), 2)} s)")
    energy = meta.get("energy", {})
    if energy:
        typer.echo(f"energy {energy.get('joules', 0):.1f} J ({energy.get('method')}), "
                   f"{energy.get('gco2e', 0):.4f} gCO2e")
    typer.echo(f'use it: greentts say "Hello." --voice {name}')


@app.command()
def phonemize(
    text: Optional[str] = typer.Argument(None),
    file: Optional[Path] = typer.Option(None, "-f", "--file"),
    lang: str = typer.Option("auto", "--lang"),
    voice: Optional[str] = typer.Option(None, "--voice", help="British voices use British rules"),
    dictionary: list[Path] = typer.Option([], "--dict"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per segment"),
) -> None:
    """Show segments and phonemes (frontend only; no model weights are loaded)."""
    from ..settings import SynthesisSettings, validated
    from ..text.frontend import Frontend
    from ..text.lexicon import Lexicon
    from ..voices.store import VoiceStore, default_voices_dir

    body = read_text(text, file)
    try:
        s = validated(SynthesisSettings, None, lang=lang, voice=voice)
        lexicon = Lexicon()
        for p in dictionary:
            lexicon = lexicon + Lexicon.load(p)
        british = VoiceStore(default_voices_dir()).get(s.voice).british if s.voice else False
        plan = Frontend().plan(body, lang=s.lang, british=british, lexicon=lexicon, first_max_ids=510)
        for seg in plan:
            if as_json:
                typer.echo(json.dumps({"index": seg.index, "lang": seg.lang, "text": seg.text,
                                       "phonemes": seg.phonemes, "ids": len(seg.ids)}, ensure_ascii=False))
            else:
                typer.echo(f"[{seg.index}] {seg.lang:5s} {seg.text}\n      {seg.phonemes}")
        for hit in plan.rules_fired:
            typer.echo(f"rule {hit.source} {hit.grapheme} -> {hit.phoneme}: {hit.count}x", err=True)
        for sk in plan.skipped:
            typer.echo(f"skipped {sk.codepoint} at {sk.position} ({sk.reason})", err=True)
    except GreenTTSError as exc:
        fail(exc)


@app.command()
@with_energy
def demo(out_dir: Path = typer.Option(Path("samples"), "--out-dir", help="where to write the samples"),
         energy: EnergyOptions = EnergyOptions()) -> None:
    """Write an English and a Mandarin sample with the default voices (af_heart, zf_xiaoxiao)."""
    from ..engine import Engine

    texts = {
        "en": "Hello! This is [greentts](/ɡɹˈin tˌitˌiˈɛs/), speaking offline on two CPU cores. "
              "On March 3rd, 2024, a ticket cost $9.99; today it is 95% cheaper.",
        "zh": "你好！这是[greentts](/ɡɹˈin tˌitˌiˈɛs/)的中文示例。我们在2026年11月21日去重庆，"
              "银行下午3点半关门，这很重要。",
    }
    try:
        with Engine(**energy.config()) as engine:
            for lang, text in texts.items():
                result = engine.synthesize(text)
                path = result.save(out_dir / f"demo_{lang}.wav")
                typer.echo(f"{lang}: wrote {path.resolve()}  ({result.duration_s:.1f} s audio, voice "
                           f"{result.voice}, {result.timings['total_s']:.2f} s wall, RTF {result.rtf:.2f})")
                if result.energy is not None:
                    typer.echo(f"    {result.energy.summary()}")
    except GreenTTSError as exc:
        fail(exc)
