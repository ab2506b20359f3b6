"""Options shared by the commands, defined once, and the helpers every command uses.

Typer reads options from a function's signature; :func:`with_energy` adds the energy-and-carbon group
(``--country --grid-gco2-per-kwh --pue --ledger --meter --audio-cache-mb --audio-cache-dir``) to a
command's signature and hands the command one :class:`EnergyOptions` instead of seven parameters.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Optional, TypeVar

import typer

from ..errors import GreenTTSError, InputError

__all__ = ["AUDIO_CACHE_ENV", "LEDGER_ENV", "EnergyOptions", "with_energy", "fail", "read_text", "settings", "VOICE", "LANG",
           "SPEED", "TIER", "SAMPLE_RATE", "SUBTYPE", "DICTIONARY", "QUIET", "NO_SUBTITLES", "VOICES_DIR"]

LEDGER_ENV = "GREENTTS_LEDGER"
AUDIO_CACHE_ENV = "GREENTTS_AUDIO_CACHE_MB"
_ENERGY_PANEL = "Energy and carbon"

VOICE = typer.Option(None, "--voice", help="voice name (greentts voices), an enrolled voice or a blend such as "
                                           "af_heart:0.6,am_michael:0.4")
LANG = typer.Option("auto", "--lang", help="auto | en | zh (primary language)")
SPEED = typer.Option(1.0, "--speed", help="0.5 .. 2.0")
TIER = typer.Option("standard", "--tier", help="standard (Kokoro) | eco (hibari, English, ~100x real time) | "
                                               "auto (the lowest measured energy that can speak the text)")
SAMPLE_RATE = typer.Option(None, "--sample-rate", help="8000 .. 48000 Hz (native 24000)")
SUBTYPE = typer.Option(None, "--subtype", help="wav: pcm16|pcm24|float|ulaw; flac: pcm16|pcm24")
DICTIONARY = typer.Option([], "--dict", help="pronunciation dictionary (JSONL); repeatable")
QUIET = typer.Option(False, "--quiet", help="no progress bar")
NO_SUBTITLES = typer.Option(False, "--no-subtitles", help="do not write .srt / .vtt")
VOICES_DIR = typer.Option(None, "--voices-dir", help="voice store (default $XDG_DATA_HOME/greentts/voices)")


@dataclass(frozen=True)
class EnergyOptions:
    """The energy-and-carbon options of one command line."""

    country: Optional[str] = None
    grid: Optional[float] = None
    pue: float = 1.0
    ledger: Optional[Path] = None
    meter: str = "auto"
    audio_cache_mb: Optional[float] = None
    audio_cache_dir: Optional[Path] = None

    def config(self) -> dict[str, Any]:
        """The :class:`~greentts.settings.EngineConfig` fields these options set (the ledger also from
        ``$GREENTTS_LEDGER``, the audio cache from ``$GREENTTS_AUDIO_CACHE_MB``); fields left at None are
        left out, so the engine's defaults apply."""
        ledger = self.ledger or (Path(os.environ[LEDGER_ENV]) if os.environ.get(LEDGER_ENV) else None)
        cache_mb = self.audio_cache_mb
        if cache_mb is None and os.environ.get(AUDIO_CACHE_ENV):
            try:
                cache_mb = float(os.environ[AUDIO_CACHE_ENV])
            except ValueError:
                fail(InputError(f"${AUDIO_CACHE_ENV}={os.environ[AUDIO_CACHE_ENV]!r} is not a number of MB"))
        out = {"country": self.country, "grid_gco2_per_kwh": self.grid, "pue": self.pue, "ledger": ledger,
               "energy_meter": self.meter, "audio_cache_mb": cache_mb, "audio_cache_dir": self.audio_cache_dir}
        return {k: v for k, v in out.items() if v is not None}


def _param(name: str, annotation: Any, option: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=option)


_ENERGY_PARAMS = [
    _param("country", Optional[str], typer.Option(None, "--country", rich_help_panel=_ENERGY_PANEL,
                                                  help="ISO alpha-3 code for the grid's carbon intensity, e.g. DEU")),
    _param("grid", Optional[float], typer.Option(None, "--grid-gco2-per-kwh", rich_help_panel=_ENERGY_PANEL,
                                                 help="explicit grid intensity (instead of --country)")),
    _param("pue", float, typer.Option(1.0, "--pue", rich_help_panel=_ENERGY_PANEL, help="data-centre PUE (>= 1.0)")),
    _param("ledger", Optional[Path], typer.Option(None, "--ledger", rich_help_panel=_ENERGY_PANEL,
                                                  help=f"record energy in this SQLite ledger (or set ${LEDGER_ENV})")),
    _param("meter", str, typer.Option("auto", "--meter", rich_help_panel=_ENERGY_PANEL,
                                      help="energy meter: auto | nvml | rapl | cpu")),
    _param("audio_cache_mb", Optional[float], typer.Option(
        None, "--audio-cache-mb", rich_help_panel=_ENERGY_PANEL,
        help=f"reuse rendered audio from an on-disk cache of this many MB (or set ${AUDIO_CACHE_ENV}; 0: off)")),
    _param("audio_cache_dir", Optional[Path], typer.Option(
        None, "--audio-cache-dir", rich_help_panel=_ENERGY_PANEL,
        help="where the audio cache lives (default ~/.cache/greentts/audio; processes may share it)")),
]

F = TypeVar("F", bound=Callable[..., Any])


def with_energy(command: F) -> F:
    """Give ``command`` (which takes ``energy: EnergyOptions``) the energy options."""
    sig = inspect.signature(command)
    params = [p for name, p in sig.parameters.items() if name != "energy"] + _ENERGY_PARAMS

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        energy = EnergyOptions(**{p.name: kwargs.pop(p.name) for p in _ENERGY_PARAMS})
        return command(energy=energy, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def fail(exc: Exception) -> NoReturn:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def settings(**fields: Any) -> Any:
    """A validated :class:`~greentts.settings.SynthesisSettings` from command-line values (None = default);
    a bad value exits with status 2 and the message naming it."""
    from ..settings import SynthesisSettings, validated

    try:
        return validated(SynthesisSettings, None, **fields)
    except GreenTTSError as exc:
        fail(exc)


def read_text(text: Optional[str], file: Optional[Path]) -> str:
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


def check_subtitle_path(path: Path) -> str:
    from ..jobs.longform import SUBTITLE_FORMATS

    kind = path.suffix.lstrip(".").lower()
    if kind not in SUBTITLE_FORMATS:
        fail(InputError(f"--subtitles {path}: the extension must be .srt or .vtt"))
    return kind
