"""The ``greentts`` command line: say, voices, phonemize."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import GreenTTSError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="greentts: offline English + Mandarin speech synthesis.")


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _read_text(text: Optional[str], file: Optional[Path]) -> str:
    if (text is None) == (file is None):
        raise typer.BadParameter("give either TEXT or -f FILE (use '-' for standard input)")
    if file is None:
        return text or ""
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}") from exc


@app.command()
def say(
    text: Optional[str] = typer.Argument(None, help="text to speak"),
    file: Optional[Path] = typer.Option(None, "-f", "--file", help="read the text from a file ('-' = stdin)"),
    out: Path = typer.Option(Path("out.wav"), "-o", "--out", help="output file; the extension picks the format"),
    voice: Optional[str] = typer.Option(None, "--voice", help="voice name (greentts voices)"),
    lang: str = typer.Option("auto", "--lang", help="auto | en | zh (primary language)"),
    speed: float = typer.Option(1.0, "--speed", help="0.5 .. 2.0"),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", help="8000 .. 48000 Hz (native 24000)"),
    format: Optional[str] = typer.Option(None, "--format", help="wav|flac|mp3|ogg|opus|pcm|mulaw (default: from -o)"),
    subtype: Optional[str] = typer.Option(None, "--subtype", help="wav: pcm16|pcm24|float|ulaw; flac: pcm16|pcm24"),
    dictionary: list[Path] = typer.Option([], "--dict", help="pronunciation dictionary (JSONL); repeatable"),
    tier: str = typer.Option("standard", "--tier", help="standard (Kokoro) | eco (hibari, English)"),
    loudness: Optional[float] = typer.Option(None, "--loudness", help="normalize to this LUFS, e.g. -16"),
    report: Optional[Path] = typer.Option(None, "--report", help="write a JSON report (segments, rules, timings)"),
) -> None:
    """Synthesize TEXT (or a file) into an audio file."""
    from .engine import Engine
    from .runtime.audio import default_rate, format_for_path

    body = _read_text(text, file)
    try:
        fmt = format or format_for_path(out)
        with Engine() as engine:
            result = engine.synthesize(body, voice=voice, lang=lang, speed=speed, tier=tier,
                                       sample_rate=sample_rate or default_rate(fmt), dictionaries=tuple(dictionary),
                                       loudness_lufs=loudness)
            result.save(out, format=fmt, subtype=subtype)
    except GreenTTSError as exc:
        _fail(exc)
    if report:
        report.write_text(json.dumps(result.report(), ensure_ascii=False, indent=1), encoding="utf-8")
    for hit in result.rules_fired:
        typer.echo(f"rule {hit.source} {hit.grapheme} -> {hit.phoneme}: {hit.count}x", err=True)
    for s in result.skipped:
        typer.echo(f"skipped {s.codepoint} at {s.position} ({s.reason})", err=True)
    typer.echo(f"wrote {out} ({result.duration_s:.2f} s audio, {result.sample_rate} Hz, voice {result.voice}, "
               f"{result.backend}; wall {result.timings['total_s']:.2f} s, RTF {result.rtf:.3f})")


@app.command()
def voices(lang: Optional[str] = typer.Option(None, "--lang", help="filter: en, en-us, en-gb, zh, ...")) -> None:
    """List the stock voices."""
    from .voices.store import VoiceStore

    for v in VoiceStore().list(lang):
        typer.echo(f"{v['name']:16s} {v['language']:6s} {v['gender']:7s} {','.join(v['backends'])}")


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
    from .settings import SynthesisSettings, validated
    from .text.frontend import Frontend
    from .text.lexicon import Lexicon
    from .voices.store import VoiceStore

    body = _read_text(text, file)
    try:
        s = validated(SynthesisSettings, None, lang=lang, voice=voice)
        lexicon = Lexicon()
        for p in dictionary:
            lexicon = lexicon + Lexicon.load(p)
        british = VoiceStore().get(s.voice).british if s.voice else False
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
        _fail(exc)


@app.command()
def demo(out_dir: Path = typer.Option(Path("samples"), "--out-dir", help="where to write the samples")) -> None:
    """Write an English and a Mandarin sample with the default voices (af_heart, zf_xiaoxiao)."""
    from .engine import Engine

    texts = {
        "en": "Hello! This is [greentts](/ɡɹˈin tˌitˌiˈɛs/), speaking offline on two CPU cores. "
              "On March 3rd, 2024, a ticket cost $9.99; today it is 95% cheaper.",
        "zh": "你好！这是[greentts](/ɡɹˈin tˌitˌiˈɛs/)的中文示例。我们在2026年11月21日去重庆，"
              "银行下午3点半关门，这很重要。",
    }
    try:
        with Engine() as engine:
            for lang, text in texts.items():
                result = engine.synthesize(text)
                path = result.save(out_dir / f"demo_{lang}.wav")
                typer.echo(f"{lang}: wrote {path.resolve()}  ({result.duration_s:.1f} s audio, voice "
                           f"{result.voice}, {result.timings['total_s']:.2f} s wall, RTF {result.rtf:.2f})")
    except GreenTTSError as exc:
        _fail(exc)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
