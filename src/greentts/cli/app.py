"""The Typer applications every command module registers on."""

from __future__ import annotations

import typer

__all__ = ["app", "energy_app"]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="greentts: offline English + Mandarin speech synthesis.")
energy_app = typer.Typer(no_args_is_help=True, help="Energy ledger reports.")
app.add_typer(energy_app, name="energy")
