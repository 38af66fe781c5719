"""What the ``lpm`` commands share for talking to the terminal: one stderr console, failures,
progress bars, and the options several commands take. Only command-line modules import this;
library code logs instead."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from runtime.config import DEFAULT_GENERATOR

console = Console(stderr=True)

# Options of every command that picks or loads a generator.
GeneratorOption = Annotated[
    str | None,
    typer.Option(help=f"Performance generator: online or procedural ({DEFAULT_GENERATOR})."),
]
CheckpointOption = Annotated[
    Path | None,
    typer.Option(help="Online LPM checkpoint (.safetensors + .json). Default: the shipped."),
]
BackendOption = Annotated[
    str | None, typer.Option(help="Online LPM backend: onnx (onnxruntime, default) or torch.")
]


def fail(message: str) -> None:
    """Print an error for people and exit with status 2 (bad input, not a crash)."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
