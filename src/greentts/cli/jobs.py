"""Commands for long and many texts: batch, narrate, dialogue."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer

from ..errors import GreenTTSError
from .app import app
from .options import (DICTIONARY, LANG, NO_SUBTITLES, QUIET, SAMPLE_RATE, SPEED, SUBTYPE, TIER, VOICE, VOICES_DIR,
                      EnergyOptions, fail, settings, with_energy)

__all__ = ["batch", "narrate", "dialogue"]


@app.command()
@with_energy
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
    voices_dir: Optional[Path] = VOICES_DIR,
    ray: bool = typer.Option(False, "--ray", help="render on a Ray cluster (needs the ray extra)"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: start a "
                                                                "local one; 'auto' = the running one)"),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", help="Ray worker processes (default: "
                                                                        "one per cluster CPU)"),
    quiet: bool = QUIET,
    energy: EnergyOptions = EnergyOptions(),
) -> None:
    """Render a JSONL batch into --out-dir; re-run the same command to resume after any interruption.

    Exit status: 0 all valid items done, 1 some items failed or lines were invalid, 2 nothing ran.
    """
    from ..jobs.batch import run_batch
    from ..jobs.tasks import TaskDefaults, load_tasks
    from ..voices.store import VoiceStore, default_voices_dir

    try:
        defaults = TaskDefaults(voice=voice, language=lang, format=format, sample_rate=sample_rate, tier=tier,
                                speed=speed, enroll_steps=enroll_steps)
        tasks, bad = load_tasks(tasks_file, defaults, VoiceStore(voices_dir or default_voices_dir()))
    except GreenTTSError as exc:
        fail(exc)
    for b in bad:
        typer.echo(f"{tasks_file}:{b.line}: {b.error}", err=True)
    if bad and (strict or not tasks):
        fail(GreenTTSError(f"{len(bad)} invalid line(s) in {tasks_file}" + ("; nothing was run (--strict)"
                                                                             if strict else "")))
    try:
        with _renderer(energy, voices_dir, workers, concurrency, ray, address, ray_workers) as renderer, \
                _batch_progress(quiet) as progress:
            summary = run_batch(renderer, tasks, out_dir, bad_lines=bad, overwrite=overwrite, progress=progress)
    except GreenTTSError as exc:
        fail(exc)
    for line in summary.text():
        typer.echo(line)
    typer.echo(f"manifest: {out_dir / 'manifest.jsonl'}; report: {out_dir / 'batch-report.json'}")
    raise typer.Exit(1 if summary.failed or summary.invalid else 0)


@contextmanager
def _renderer(energy: EnergyOptions, voices_dir: Optional[Path], workers: Optional[int],
              concurrency: Optional[int], ray: bool, address: Optional[str], ray_workers: Optional[int]) -> Iterator[Any]:
    """The batch renderer: a local engine, or Ray workers (each with its own engine); closed on exit."""
    config = energy.config()
    if ray:
        from ..cluster.ray_batch import RayRenderer

        renderer = RayRenderer(address, ray_workers, {**config, "ledger": None}, voices_dir)
        try:
            yield renderer
        finally:
            renderer.close()
        return
    from ..engine import Engine
    from ..jobs.batch import LocalRenderer

    with Engine(voices_dir=voices_dir, workers=workers, **config) as engine:
        renderer = LocalRenderer(engine, concurrency)
        try:
            yield renderer
        finally:
            renderer.close()


@contextmanager
def _batch_progress(quiet: bool) -> Iterator[Any]:
    """run_batch's progress callback: a rich bar with ETA and running energy, or plain lines."""
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


@app.command()
@with_energy
def narrate(
    book: Path = typer.Argument(..., help="the book: .md (chapters at # / ## headings) or .txt (chapter lines)"),
    out: Path = typer.Option(..., "-o", "--out", help="audio file: .mp3, .flac, .wav, .ogg or .opus"),
    voice: Optional[str] = VOICE,
    lang: str = LANG,
    speed: float = SPEED,
    tier: str = TIER,
    sample_rate: Optional[int] = SAMPLE_RATE,
    subtype: Optional[str] = SUBTYPE,
    chapter_pause: float = typer.Option(2.0, "--chapter-pause", help="seconds of silence between chapters"),
    title: Optional[str] = typer.Option(None, "--title", help="book title for the chapter files"),
    no_subtitles: bool = NO_SUBTITLES,
    no_markers: bool = typer.Option(False, "--no-markers", help="do not write .ffmetadata / .cue"),
    dictionary: list[Path] = DICTIONARY,
    quiet: bool = QUIET,
    energy: EnergyOptions = EnergyOptions(),
) -> None:
    """Narrate a book into one audio file with chapter markers and subtitles, in constant memory."""
    from ..engine import Engine
    from ..jobs.longform import MARKER_FORMATS, SUBTITLE_FORMATS, narrate as run_narration, read_book

    s = settings(voice=voice, lang=lang, speed=speed, tier=tier, sample_rate=sample_rate,
                 dictionaries=tuple(dictionary))
    try:
        chapters = read_book(book)
        with Engine(**energy.config()) as engine, _long_progress(quiet, "narrating") as progress:
            report = run_narration(engine, chapters, out, s, subtype=subtype, chapter_pause_s=chapter_pause,
                                   subtitles=() if no_subtitles else SUBTITLE_FORMATS,
                                   markers=() if no_markers else MARKER_FORMATS, title=title, progress=progress)
    except GreenTTSError as exc:
        fail(exc)
    typer.echo(f"wrote {report.path} ({report.duration_s / 60:.1f} min audio, {len(report.chapters)} chapters, "
               f"{report.cues} subtitle cues) in {report.wall_s:.1f} s wall, RTF {report.rtf:.3f}")
    for c in report.chapters:
        typer.echo(f"  {c['start_s'] / 60:7.2f} min  {c['title']}")
    typer.echo("also: " + ", ".join(str(p) for p in report.files[1:]))
    _print_energy(report.energy)


def _print_energy(e: dict[str, Any]) -> None:
    typer.echo(f"energy ({e.get('method')}): {e.get('joules', 0):.1f} J = {e.get('kwh', 0):.3g} kWh, "
               f"{e.get('gco2e', 0):.3g} gCO2e")


@contextmanager
def _long_progress(quiet: bool, label: str, counted: bool = False) -> Iterator[Any]:
    """A ``(done, total, audio_s)`` progress callback (a rich bar with the audio written so far and an
    ETA), or None when quiet or not on a terminal. ``counted`` shows done/total."""
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


@app.command()
@with_energy
def dialogue(
    script: Path = typer.Argument(..., help="script: '[S1] text' or 'Name: text' lines (.txt), or .json/.yaml"),
    out: Path = typer.Option(..., "-o", "--out", help="the mixed recording: .mp3, .flac, .wav, .ogg or .opus"),
    voice: list[str] = typer.Option([], "--voice", help="NAME=VOICE (stock, blend or enrolled); repeatable"),
    auto_voices: bool = typer.Option(False, "--auto-voices", help="give unmapped speakers distinct stock voices"),
    stems: bool = typer.Option(False, "--stems", help="also write one aligned file per speaker (OUT.NAME.ext)"),
    gap_scale: float = typer.Option(1.0, "--gap-scale", help="scale the gaps between turns (0 .. 5)"),
    loudness: float = typer.Option(-20.0, "--loudness", help="LUFS target for every speaker's turns"),
    sample_rate: Optional[int] = SAMPLE_RATE,
    tier: str = typer.Option("standard", "--tier", help="standard | eco (English, af_heart only)"),
    no_subtitles: bool = NO_SUBTITLES,
    quiet: bool = QUIET,
    energy: EnergyOptions = EnergyOptions(),
) -> None:
    """Turn a multi-speaker script into one recording with per-turn timestamps and speaker-labelled subtitles."""
    from ..engine import Engine
    from ..jobs.dialogue import DialogueSettings
    from ..jobs.script import load_script
    from ..settings import validated

    try:
        mapping = _voice_mapping(voice)
        s = validated(DialogueSettings, None, gap_scale=gap_scale, loudness_lufs=loudness, sample_rate=sample_rate,
                      tier=tier)
        parsed = load_script(script)
        with Engine(**energy.config()) as engine, _long_progress(quiet, "turns", counted=True) as progress:
            stream = engine.dialogue(parsed, mapping, s, auto_voices=auto_voices)
            report = stream.save(out, subtitles=() if no_subtitles else ("srt", "vtt"), stems=stems,
                                 progress=progress)
    except GreenTTSError as exc:
        fail(exc)
    typer.echo(f"wrote {report.path} ({report.duration_s / 60:.1f} min audio, {report.turns} turns) in "
               f"{report.wall_s:.1f} s wall, RTF {report.rtf:.3f}")
    for name, v in report.speakers.items():
        typer.echo(f"  {name}: {v}")
    typer.echo("also: " + ", ".join(str(p) for p in report.files[1:]))
    _print_energy(report.energy)


def _voice_mapping(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        name, sep, v = item.partition("=")
        if not sep or not name.strip() or not v.strip():
            raise typer.BadParameter(f"--voice takes NAME=VOICE, got {item!r}")
        mapping[name.strip()] = v.strip()
    return mapping
