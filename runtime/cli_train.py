"""``lpm train …``: training the learned models on the performance corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runtime.terminal import console
from runtime.terminal import fail as _fail
from runtime.terminal import progress as _progress

train_app: typer.Typer = typer.Typer(help="Train the learned models.", no_args_is_help=True)


@train_app.command("base")
def train_base_cmd(
    data: Annotated[Path, typer.Option(help="Corpus directory (lpm data build).")],
    out: Annotated[Path, typer.Option(help="Run directory; re-running resumes from it.")],
    preset: Annotated[str, typer.Option(help="Model preset: tiny or small.")] = "small",
    steps: Annotated[int, typer.Option(help="Optimiser steps.")] = 10_000,
    batch: Annotated[int, typer.Option(help="Windows per step.")] = 16,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 3e-4,
    seed: Annotated[int, typer.Option(help="Seed of the run.")] = 0,
    threads: Annotated[int, typer.Option(help="Torch threads (0 = default).")] = 0,
    eval_every: Annotated[int, typer.Option(help="Steps between validation losses.")] = 500,
    minutes: Annotated[
        float | None, typer.Option(help="Stop (resumably) after this many minutes.")
    ] = None,
) -> None:
    """Base LPM by flow matching; writes base_<preset>.safetensors + .json into OUT."""
    from models.train_base import TrainConfig, train_base

    try:
        cfg = TrainConfig(
            preset=preset, steps=steps, batch=batch, lr=lr, seed=seed, threads=threads,
            eval_every=eval_every,
        )  # fmt: skip
    except ValueError as exc:
        _fail(str(exc))
        return
    with _progress() as progress:
        loading = progress.add_task("loading corpus", total=None)
        training = progress.add_task("training", total=steps, visible=False)

        def on_load(done: int, total: int) -> None:
            progress.update(loading, completed=done, total=total)

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(training, completed=step, visible=True)
            progress.update(training, description=f"training  loss {loss:.4f}")

        try:
            result = train_base(
                data,
                out,
                cfg,
                on_step=on_step,
                on_load=on_load,
                max_seconds=None if minutes is None else minutes * 60,
            )
        except (FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
            return
    console.print(
        f"{result.steps} steps in {result.seconds / 60:.1f} min: train loss "
        f"{result.train_loss:.4f}, validation {result.val_loss:.4f} → [bold]{out}[/]"
    )
