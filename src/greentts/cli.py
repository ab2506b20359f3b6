"""The ``greentts`` command line: say, voices, enroll, phonemize, demo, batch, narrate, dialogue,
serve, energy report.

Every synthesis command prints a one-line energy summary (joules, kWh, gCO2e, measured or estimated).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .errors import GreenTTSError, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="greentts: offline English + Mandarin speech synthesis.")
energy_app = typer.Typer(no_args_is_help=True, help="Energy ledger reports.")
app.add_typer(energy_app, name="energy")

LEDGER_ENV = "GREENTTS_LEDGER"
_country = typer.Option(None, "--country", help="ISO alpha-3 code for the grid's carbon intensity, e.g. DEU")
_grid = typer.Option(None, "--grid-gco2-per-kwh", help="explicit grid intensity (instead of --country)")
_pue = typer.Option(1.0, "--pue", help="data-centre PUE (>= 1.0)")
_ledger = typer.Option(None, "--ledger", help=f"record energy in this SQLite ledger (or set ${LEDGER_ENV})")
_meter = typer.Option("auto", "--meter", help="energy meter: auto | nvml | rapl | cpu")


def _engine_config(country: Optional[str], grid: Optional[float], pue: float, ledger: Optional[Path],
                   meter: str) -> dict[str, Any]:
    ledger = ledger or (Path(os.environ[LEDGER_ENV]) if os.environ.get(LEDGER_ENV) else None)
    return {"country": country, "grid_gco2_per_kwh": grid, "pue": pue, "ledger": ledger, "energy_meter": meter}


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


def _write_subtitles(path: Path, result: Any, word_cues: bool) -> None:
    """Subtitles for one result: a cue per segment (VTT with word timestamps) or per word."""
    from .jobs.longform import SUBTITLE_FORMATS, _CueWriter

    kind = path.suffix.lstrip(".").lower()
    if kind not in SUBTITLE_FORMATS:
        _fail(InputError(f"--subtitles {path}: the extension must be .srt or .vtt"))
    words = [(w["start"], w["end"], w["word"]) for w in result.words]
    writer = _CueWriter(path, kind)
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
def say(
    text: Optional[str] = typer.Argument(None, help="text to speak"),
    file: Optional[Path] = typer.Option(None, "-f", "--file", help="read the text from a file ('-' = stdin)"),
    out: Path = typer.Option(Path("out.wav"), "-o", "--out", help="output file; the extension picks the format"),
    voice: Optional[str] = typer.Option(None, "--voice", help="voice name (greentts voices) or a blend such "
                                                                 "as af_heart:0.6,am_michael:0.4"),
    lang: str = typer.Option("auto", "--lang", help="auto | en | zh (primary language)"),
    speed: float = typer.Option(1.0, "--speed", help="0.5 .. 2.0"),
    prosody: Optional[str] = typer.Option(None, "--prosody", help="preset: neutral | news | storytelling | "
                                                                  "cheerful | calm | serious"),
    prosody_from: Optional[str] = typer.Option(None, "--prosody-from", help="take pitch range and rate from a "
                                                                           "reference clip (path) or a voice"),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", help="8000 .. 48000 Hz (native 24000)"),
    format: Optional[str] = typer.Option(None, "--format", help="wav|flac|mp3|ogg|opus|pcm|mulaw (default: from -o)"),
    subtype: Optional[str] = typer.Option(None, "--subtype", help="wav: pcm16|pcm24|float|ulaw; flac: pcm16|pcm24"),
    dictionary: list[Path] = typer.Option([], "--dict", help="pronunciation dictionary (JSONL); repeatable"),
    tier: str = typer.Option("standard", "--tier", help="standard (Kokoro) | eco (hibari, English) | auto "
                                                      "(the lowest measured energy that can speak the text)"),
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
    country: Optional[str] = _country,
    grid: Optional[float] = _grid,
    pue: float = _pue,
    ledger: Optional[Path] = _ledger,
    meter: str = _meter,
) -> None:
    """Synthesize TEXT (or a file) into an audio file."""
    from .engine import Engine
    from .runtime.audio import default_rate, format_for_path

    body = _read_text(text, file)
    try:
        fmt = format or format_for_path(out)
        with Engine(**_engine_config(country, grid, pue, ledger, meter)) as engine:
            result = engine.synthesize(body, voice=voice, lang=lang, speed=speed, tier=tier,
                                       sample_rate=sample_rate or default_rate(fmt), dictionaries=tuple(dictionary),
                                       loudness_lufs=loudness, prosody=prosody, prosody_from=prosody_from,
                                       input_format="ssml" if ssml else "auto", ssml_strict=not ssml_lenient)
            result.save(out, format=fmt, subtype=subtype)
    except GreenTTSError as exc:
        _fail(exc)
    if report:
        report.write_text(json.dumps(result.report(), ensure_ascii=False, indent=1), encoding="utf-8")
    if words:
        words.write_text(json.dumps({"words": result.words, "marks": result.marks}, ensure_ascii=False, indent=1),
                         encoding="utf-8")
    for path in subtitles:
        _write_subtitles(path, result, word_cues)
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


@app.command()
def voices(lang: Optional[str] = typer.Option(None, "--lang", help="filter: en, en-us, en-gb, zh, ...")) -> None:
    """List the stock voices."""
    from .voices.store import VoiceStore

    from .voices.store import default_voices_dir

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
    steps: Optional[int] = typer.Option(None, "--steps", help="refinement steps (default 36; 0 = preview only)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an enrolled voice of the same name"),
    voices_dir: Optional[Path] = typer.Option(None, "--voices-dir", help="voice store (default "
                                                                       "$XDG_DATA_HOME/greentts/voices)"),
) -> None:
    """Clone a voice from a reference clip; then use it by name: greentts say "..." --voice NAME."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .engine import Engine

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
        _fail(exc)
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
    from .settings import SynthesisSettings, validated
    from .text.frontend import Frontend
    from .text.lexicon import Lexicon
    from .voices.store import VoiceStore, default_voices_dir

    body = _read_text(text, file)
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
        _fail(exc)


@app.command()
def demo(out_dir: Path = typer.Option(Path("samples"), "--out-dir", help="where to write the samples"),
         country: Optional[str] = _country, grid: Optional[float] = _grid, pue: float = _pue,
         ledger: Optional[Path] = _ledger, meter: str = _meter) -> None:
    """Write an English and a Mandarin sample with the default voices (af_heart, zf_xiaoxiao)."""
    from .engine import Engine

    texts = {
        "en": "Hello! This is [greentts](/ɡɹˈin tˌitˌiˈɛs/), speaking offline on two CPU cores. "
              "On March 3rd, 2024, a ticket cost $9.99; today it is 95% cheaper.",
        "zh": "你好！这是[greentts](/ɡɹˈin tˌitˌiˈɛs/)的中文示例。我们在2026年11月21日去重庆，"
              "银行下午3点半关门，这很重要。",
    }
    try:
        with Engine(**_engine_config(country, grid, pue, ledger, meter)) as engine:
            for lang, text in texts.items():
                result = engine.synthesize(text)
                path = result.save(out_dir / f"demo_{lang}.wav")
                typer.echo(f"{lang}: wrote {path.resolve()}  ({result.duration_s:.1f} s audio, voice "
                           f"{result.voice}, {result.timings['total_s']:.2f} s wall, RTF {result.rtf:.2f})")
                if result.energy is not None:
                    typer.echo(f"    {result.energy.summary()}")
    except GreenTTSError as exc:
        _fail(exc)


@app.command()
def batch(
    tasks_file: Path = typer.Argument(..., help="JSONL task file: {input_text, output_name, prompt_audio?, "
                                                "prompt_text?, voice?, language?, speed?, format?, sample_rate?, "
                                                "pronunciations?, tier?, meta?} per line"),
    out_dir: Path = typer.Option(..., "--out-dir", help="folder for the audio files, manifest.jsonl and "
                                                      "batch-report.json"),
    strict: bool = typer.Option(False, "--strict", help="abort if any line is invalid (default: skip and report)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace existing files not made by this job"),
    voice: Optional[str] = typer.Option(None, "--voice", help="default voice for tasks without voice/prompt"),
    lang: str = typer.Option("auto", "--lang", help="default language: auto | en | zh"),
    format: str = typer.Option("wav", "--format", help="default format when output_name has no extension"),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", help="default output rate (8000..48000)"),
    tier: str = typer.Option("standard", "--tier", help="default tier: standard | eco | auto"),
    speed: float = typer.Option(1.0, "--speed", help="default speed (0.5 .. 2.0)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="synthesis workers (default: one per core)"),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="items in flight (default 2x workers)"),
    enroll_steps: Optional[int] = typer.Option(None, "--enroll-steps", help="refinement steps for prompt clips "
                                                                          "(default: full; 0 = preview only)"),
    voices_dir: Optional[Path] = typer.Option(None, "--voices-dir", help="voice store (enrolled prompt voices)"),
    ray: bool = typer.Option(False, "--ray", help="render on a Ray cluster (needs the ray extra)"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: start a "
                                                                "local one; 'auto' = the running one)"),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", help="Ray worker processes (default: "
                                                                        "one per cluster CPU)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    country: Optional[str] = _country, grid: Optional[float] = _grid, pue: float = _pue,
    ledger: Optional[Path] = _ledger, meter: str = _meter,
) -> None:
    """Render a JSONL batch into --out-dir; re-run the same command to resume after any interruption.

    Exit status: 0 all valid items done, 1 some items failed or lines were invalid, 2 nothing ran.
    """
    from .jobs.batch import LocalRenderer, run_batch
    from .jobs.tasks import TaskDefaults, load_tasks
    from .voices.store import VoiceStore, default_voices_dir

    try:
        defaults = TaskDefaults(voice=voice, language=lang, format=format, sample_rate=sample_rate, tier=tier,
                                speed=speed, enroll_steps=enroll_steps)
        tasks, bad = load_tasks(tasks_file, defaults, VoiceStore(voices_dir or default_voices_dir()))
    except GreenTTSError as exc:
        _fail(exc)
    for b in bad:
        typer.echo(f"{tasks_file}:{b.line}: {b.error}", err=True)
    if bad and (strict or not tasks):
        _fail(GreenTTSError(f"{len(bad)} invalid line(s) in {tasks_file}" + ("; nothing was run (--strict)"
                                                                              if strict else "")))
    config = {k: v for k, v in _engine_config(country, grid, pue, ledger, meter).items() if v is not None}
    try:
        if ray:
            from .cluster.ray_batch import RayRenderer

            renderer = RayRenderer(address, ray_workers, {**config, "ledger": None}, voices_dir)
        else:
            from .engine import Engine

            engine = Engine(voices_dir=voices_dir, workers=workers, **config)
            renderer = LocalRenderer(engine, concurrency)
    except GreenTTSError as exc:
        _fail(exc)
    try:
        with _batch_progress(quiet) as progress:
            summary = run_batch(renderer, tasks, out_dir, bad_lines=bad, overwrite=overwrite, progress=progress)
    except GreenTTSError as exc:
        _fail(exc)
    finally:
        renderer.close()
        if not ray:
            engine.close()
    for line in summary.text():
        typer.echo(line)
    typer.echo(f"manifest: {out_dir / 'manifest.jsonl'}; report: {out_dir / 'batch-report.json'}")
    raise typer.Exit(1 if summary.failed or summary.invalid else 0)


def _batch_progress(quiet: bool) -> Any:
    """A context manager yielding run_batch's progress callback (a rich bar with ETA and running energy)."""
    from contextlib import contextmanager

    @contextmanager
    def bar() -> Any:
        if quiet or not sys.stderr.isatty() and os.environ.get("GREENTTS_PROGRESS") != "1":
            def plain(event: str, data: dict[str, Any]) -> None:
                if event == "plan":
                    typer.echo(f"{data['todo']} to render, {data['skipped']} already done, "
                               f"{data['refused']} refused", err=True)
            yield plain
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
                      TimeRemainingColumn(), TextColumn("{task.fields[energy]}"), transient=False) as p:
            task = p.add_task("batch", total=None, energy="")

            def update(event: str, data: dict[str, Any]) -> None:
                if event == "plan":
                    p.update(task, total=data["todo"], description=f"rendering ({data['skipped']} done earlier)")
                elif event == "enroll" and data["clip"]:
                    p.update(task, description=f"enrolling prompt {data['done'] + 1}/{data['total']}")
                elif event == "item":
                    s = data["summary"]
                    p.update(task, advance=1, description="rendering",
                             energy=f"{s.energy.joules:.0f} J, {s.audio_s / 60:.1f} min audio, {s.failed} failed")
            yield update

    return bar()


@app.command()
def narrate(
    book: Path = typer.Argument(..., help="the book: .md (chapters at # / ## headings) or .txt (chapter lines)"),
    out: Path = typer.Option(..., "-o", "--out", help="audio file: .mp3, .flac, .wav, .ogg or .opus"),
    voice: Optional[str] = typer.Option(None, "--voice", help="voice name or blend"),
    lang: str = typer.Option("auto", "--lang", help="auto | en | zh"),
    speed: float = typer.Option(1.0, "--speed", help="0.5 .. 2.0"),
    tier: str = typer.Option("standard", "--tier", help="standard | eco (English, ~100x real time) | auto"),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", help="8000 .. 48000 Hz (native 24000)"),
    subtype: Optional[str] = typer.Option(None, "--subtype", help="wav: pcm16|pcm24|float; flac: pcm16|pcm24"),
    chapter_pause: float = typer.Option(2.0, "--chapter-pause", help="seconds of silence between chapters"),
    title: Optional[str] = typer.Option(None, "--title", help="book title for the chapter files"),
    no_subtitles: bool = typer.Option(False, "--no-subtitles", help="do not write .srt / .vtt"),
    no_markers: bool = typer.Option(False, "--no-markers", help="do not write .ffmetadata / .cue"),
    dictionary: list[Path] = typer.Option([], "--dict", help="pronunciation dictionary (JSONL); repeatable"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    country: Optional[str] = _country, grid: Optional[float] = _grid, pue: float = _pue,
    ledger: Optional[Path] = _ledger, meter: str = _meter,
) -> None:
    """Narrate a book into one audio file with chapter markers and subtitles, in constant memory."""
    from .engine import Engine
    from .jobs.longform import MARKER_FORMATS, SUBTITLE_FORMATS, narrate as run_narration, read_book

    try:
        chapters = read_book(book)
        with Engine(**_engine_config(country, grid, pue, ledger, meter)) as engine, \
                _long_progress(quiet, "narrating") as progress:
            report = run_narration(engine, chapters, out, subtype=subtype, chapter_pause_s=chapter_pause,
                                   subtitles=() if no_subtitles else SUBTITLE_FORMATS,
                                   markers=() if no_markers else MARKER_FORMATS, title=title, progress=progress,
                                   voice=voice, lang=lang, speed=speed, tier=tier, sample_rate=sample_rate,
                                   dictionaries=tuple(dictionary))
    except GreenTTSError as exc:
        _fail(exc)
    typer.echo(f"wrote {report.path} ({report.duration_s / 60:.1f} min audio, {len(report.chapters)} chapters, "
               f"{report.cues} subtitle cues) in {report.wall_s:.1f} s wall, RTF {report.rtf:.3f}")
    for c in report.chapters:
        typer.echo(f"  {c['start_s'] / 60:7.2f} min  {c['title']}")
    typer.echo("also: " + ", ".join(str(p) for p in report.files[1:]))
    e = report.energy
    typer.echo(f"energy ({e.get('method')}): {e.get('joules', 0):.1f} J = {e.get('kwh', 0):.3g} kWh, "
               f"{e.get('gco2e', 0):.3g} gCO2e")


def _long_progress(quiet: bool, label: str, counted: bool = False) -> Any:
    """A context manager yielding a ``(done, total, audio_s)`` progress callback (a rich bar with the audio
    written so far and an ETA), or None when quiet or not on a terminal. ``counted`` shows done/total."""
    from contextlib import contextmanager

    @contextmanager
    def bar() -> Any:
        if quiet or not sys.stderr.isatty():
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = [TextColumn(label), BarColumn(), *([MofNCompleteColumn()] if counted else []),
                   TextColumn("{task.fields[audio]}"), TextColumn("ETA"), TimeRemainingColumn()]
        with Progress(*columns) as p:
            task = p.add_task(label, total=None, audio="")

            def update(done: int, total: int, audio_s: float) -> None:
                p.update(task, completed=done, total=total, audio=f"{audio_s / 60:.1f} min")
            yield update

    return bar()


@app.command()
def dialogue(
    script: Path = typer.Argument(..., help="script: '[S1] text' or 'Name: text' lines (.txt), or .json/.yaml"),
    out: Path = typer.Option(..., "-o", "--out", help="the mixed recording: .mp3, .flac, .wav, .ogg or .opus"),
    voice: list[str] = typer.Option([], "--voice", help="NAME=VOICE (stock, blend or enrolled); repeatable"),
    auto_voices: bool = typer.Option(False, "--auto-voices", help="give unmapped speakers distinct stock voices"),
    stems: bool = typer.Option(False, "--stems", help="also write one aligned file per speaker (OUT.NAME.ext)"),
    gap_scale: float = typer.Option(1.0, "--gap-scale", help="scale the gaps between turns (0 .. 5)"),
    loudness: float = typer.Option(-20.0, "--loudness", help="LUFS target for every speaker's turns"),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", help="8000 .. 48000 Hz (native 24000)"),
    tier: str = typer.Option("standard", "--tier", help="standard | eco (English, af_heart only)"),
    no_subtitles: bool = typer.Option(False, "--no-subtitles", help="do not write .srt / .vtt"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    country: Optional[str] = _country, grid: Optional[float] = _grid, pue: float = _pue,
    ledger: Optional[Path] = _ledger, meter: str = _meter,
) -> None:
    """Turn a multi-speaker script into one recording with per-turn timestamps and speaker-labelled subtitles."""
    from .engine import Engine
    from .jobs.dialogue import DialogueSettings
    from .jobs.script import load_script

    try:
        mapping = {}
        for item in voice:
            name, sep, v = item.partition("=")
            if not sep or not name.strip() or not v.strip():
                raise typer.BadParameter(f"--voice takes NAME=VOICE, got {item!r}")
            mapping[name.strip()] = v.strip()
        parsed = load_script(script)
        with Engine(**_engine_config(country, grid, pue, ledger, meter)) as engine, \
                _long_progress(quiet, "turns", counted=True) as progress:
            settings = DialogueSettings(gap_scale=gap_scale, loudness_lufs=loudness, sample_rate=sample_rate, tier=tier)
            stream = engine.dialogue(parsed, mapping, auto_voices=auto_voices, **settings.__dict__)
            report = stream.save(out, subtitles=() if no_subtitles else ("srt", "vtt"), stems=stems,
                                 progress=progress)
    except GreenTTSError as exc:
        _fail(exc)
    typer.echo(f"wrote {report.path} ({report.duration_s / 60:.1f} min audio, {report.turns} turns) in "
               f"{report.wall_s:.1f} s wall, RTF {report.rtf:.3f}")
    for name, v in report.speakers.items():
        typer.echo(f"  {name}: {v}")
    typer.echo("also: " + ", ".join(str(p) for p in report.files[1:]))
    e = report.energy
    typer.echo(f"energy ({e.get('method')}): {e.get('joules', 0):.1f} J = {e.get('kwh', 0):.3g} kWh, "
               f"{e.get('gco2e', 0):.3g} gCO2e")


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="bind address (default 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, "--port", help="TCP port (default 8000)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="synthesis workers (default: one per core)"),
    config: Optional[Path] = typer.Option(None, "--config", help="server settings, JSON or TOML (ServerConfig)"),
    api_key: list[str] = typer.Option([], "--api-key", help="require this Bearer key (repeatable; see also "
                                                            "$GREENTTS_API_KEYS, $GREENTTS_API_KEYS_FILE)"),
    cors: list[str] = typer.Option([], "--cors-origin", help="allow this browser origin (repeatable)"),
    max_requests: Optional[int] = typer.Option(None, "--max-requests", help="requests admitted at once; then 429"),
    max_wait: Optional[float] = typer.Option(None, "--max-first-audio-wait", help="seconds; a request whose first "
                                             "audio would wait longer gets 429 + Retry-After (default 5)"),
    country: Optional[str] = _country, grid: Optional[float] = _grid, pue: float = _pue,
    ledger: Optional[Path] = _ledger, meter: str = _meter,
) -> None:
    """Run the OpenAI-compatible HTTP server: /v1/audio/speech, /v1/voices, /metrics, a web UI at /."""
    try:
        import uvicorn

        from .server import create_app
        from .server.config import load_config

        engine = {k: v for k, v in _engine_config(country, grid, pue, ledger, meter).items() if v is not None}
        if workers:
            engine["workers"] = workers
        cfg = load_config(config, host=host, port=port, max_requests=max_requests, engine=engine,
                          max_first_audio_wait_s=max_wait,
                          api_keys=tuple(api_key) or None, cors_origins=tuple(cors) or None)
        app_ = create_app(cfg)
    except ImportError:
        _fail(GreenTTSError("the server needs the 'server' extra: pip install 'greentts[server]'"))
    except GreenTTSError as exc:
        _fail(exc)
    typer.echo(f"greentts serving on http://{cfg.host}:{cfg.port}  (auth {'on' if cfg.keys() else 'off'}; "
               "ready when /readyz says so)")
    uvicorn.run(app_, host=cfg.host, port=cfg.port, log_level="warning", timeout_graceful_shutdown=5)


@energy_app.command("report")
def energy_report(
    ledger: Optional[Path] = typer.Option(None, "--ledger", help=f"the SQLite ledger (default ${LEDGER_ENV})"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Summarize a ledger per voice, backend and tier: J per audio second, kWh and gCO2e per 1000 sentences."""
    from .energy.ledger import summarize

    path = ledger or (Path(os.environ[LEDGER_ENV]) if os.environ.get(LEDGER_ENV) else None)
    if path is None:
        raise typer.BadParameter(f"give --ledger PATH or set ${LEDGER_ENV}")
    try:
        summary = summarize(path)
    except GreenTTSError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    typer.echo(f"{'voice':14s} {'backend':8s} {'tier':8s} {'requests':>8s} {'sentences':>9s} {'audio s':>9s} "
               f"{'J/audio s':>9s} {'kWh/1000 sent.':>14s} {'gCO2e/1000 sent.':>16s}  method")
    for g in summary["groups"]:
        typer.echo(f"{g['voice']:14s} {g['backend']:8s} {g['tier']:8s} {g['requests']:8d} {g['sentences']:9d} "
                   f"{g['audio_s']:9.1f} {g['j_per_audio_s']:9.3g} {g['kwh_per_1000_sentences']:14.3g} "
                   f"{g['gco2e_per_1000_sentences']:16.3g}  {g['method']}")
    ses = summary["sessions"]
    other = ses["attributed_j"] - ses["startup_j"] - summary["requests_j"]
    typer.echo(f"engine sessions: {ses['count']}, {ses['wall_s']:.1f} s; meter total {ses['total_j']:.4g} J = "
               f"requests {summary['requests_j']:.4g} J + start-up {ses['startup_j']:.4g} J + idle "
               f"{ses['idle_j']:.4g} J + unrecorded {other:.2g} J (idle is kept out of requests)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
