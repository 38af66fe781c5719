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


@train_app.command("online")
def train_online_cmd(
    data: Annotated[Path, typer.Option(help="Corpus directory (lpm data build).")],
    out: Annotated[Path, typer.Option(help="Run directory; re-running resumes from it.")],
    teacher: Annotated[
        Path, typer.Option(help="Base LPM checkpoint (.safetensors with its .json).")
    ] = Path("models/checkpoints/base_small.safetensors"),
    preset: Annotated[str, typer.Option(help="Student preset: tiny or small.")] = "small",
    steps: Annotated[
        str, typer.Option(help="Steps of the four stages: ODE,off-policy,on-policy,refine.")
    ] = "300,150,150,150",
    batch: Annotated[int, typer.Option(help="Sequences per step.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the run.")] = 0,
    threads: Annotated[int, typer.Option(help="Torch threads (0 = default).")] = 0,
    minutes: Annotated[
        float | None, typer.Option(help="Stop (resumably) after this many minutes.")
    ] = None,
) -> None:
    """Online LPM by the four-stage distillation; writes online_<preset>.safetensors + .json."""
    from models.distill_online import STAGES, DistillConfig, distill_online

    try:
        counts = tuple(int(x) for x in steps.split(","))
        if len(counts) != len(STAGES):
            raise ValueError(f"--steps needs {len(STAGES)} comma-separated counts")
        cfg = DistillConfig(
            preset=preset,
            steps=counts,
            batch=batch,
            seed=seed,
            threads=threads,
        )
    except ValueError as exc:
        _fail(str(exc))
        return
    with _progress() as progress:
        tasks = {
            name: progress.add_task(f"{i + 1}. {name}", total=n)
            for i, (name, n) in enumerate(zip(STAGES, counts, strict=True))
        }

        def on_step(stage: str, step: int, total: int, loss: float) -> None:
            i = STAGES.index(stage)
            progress.update(
                tasks[stage], completed=step, description=f"{i + 1}. {stage}  loss {loss:.4f}"
            )

        try:
            result = distill_online(
                data, teacher, out, cfg, on_step=on_step,
                max_seconds=None if minutes is None else minutes * 60,
            )  # fmt: skip
        except (FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
            return
    if result is None:
        console.print(f"stopped early; run the same command again to resume from [bold]{out}[/]")
        return
    for row in result.history:
        if "r_jaw_truth" in row:
            console.print(
                f"{row['stage']:>13}: r(jawOpen) {row['r_jaw_truth']:.3f} "
                f"(teacher {row['r_jaw_teacher']:.3f}), distance to teacher "
                f"{row['mse_to_teacher']:.3f}, spread {row['spread']:.2f}"
            )
    console.print(f"{result.seconds / 60:.1f} min → [bold]{result.checkpoint}[/]")


eval_app: typer.Typer = typer.Typer(help="Evaluate models on held-out data.", no_args_is_help=True)


@eval_app.command("motion")
def eval_motion_cmd(
    data: Annotated[Path, typer.Option(help="Corpus directory (lpm data build).")],
    model: Annotated[
        str,
        typer.Option(help="Comma list of base, online, procedural (procedural is always in)."),
    ] = "base",
    checkpoint: Annotated[
        Path, typer.Option(help="Base checkpoint (.safetensors with its .json).")
    ] = Path("models/checkpoints/base_small.safetensors"),
    online_checkpoint: Annotated[
        Path, typer.Option(help="Online checkpoint (.safetensors with its .json).")
    ] = Path("models/checkpoints/online_small.safetensors"),
    split: Annotated[str, typer.Option(help="Corpus split.")] = "test",
    limit: Annotated[int, typer.Option(help="At most this many clips (0 = all).")] = 0,
    steps: Annotated[int, typer.Option(help="Sampling steps of the Base model.")] = 24,
    out: Annotated[Path, typer.Option(help="Where eval.json and the plot go.")] = Path("out/eval"),
) -> None:
    """Per-curve lip-sync correlation, AV offset, silences, listening, prompts, diversity."""
    from rich.progress import TaskID
    from rich.table import Table

    from models.corpus.reader import Corpus
    from runtime.eval_motion import (
        BaseModel,
        MotionModel,
        OnlineModel,
        ProceduralModel,
        evaluate,
        plot_clip,
        truth_scores,
        write_report,
    )

    wanted = [m.strip() for m in model.split(",") if m.strip()]
    unknown = sorted(set(wanted) - {"base", "online", "procedural"})
    if unknown or not wanted:
        _fail(f"unknown model {', '.join(unknown) or model!r}: choose base, online, procedural")
    try:
        corpus = Corpus(data)
        ids = corpus.ids(split)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
        return
    if not ids:
        _fail(f"the corpus has no {split!r} clips")
    ids = ids[:limit] if limit else ids
    samples = [corpus.load(i) for i in ids]
    models: list[MotionModel] = [ProceduralModel()]
    if "base" in wanted:
        if not checkpoint.exists():
            _fail(f"no checkpoint at {checkpoint} (lpm train base writes one)")
        models.append(BaseModel(checkpoint, steps=steps))
    if "online" in wanted:
        if not online_checkpoint.exists():
            _fail(f"no checkpoint at {online_checkpoint} (lpm train online writes one)")
        models.append(OnlineModel(online_checkpoint))
    scores, preds = [], {}
    with _progress() as progress:
        for m in models:
            task = progress.add_task(f"evaluating {m.name}", total=None)

            def advance(done: int, total: int, task: TaskID = task) -> None:
                progress.update(task, completed=done, total=total)

            s, p = evaluate(m, samples, advance)
            scores.append(s)
            preds[m.name] = p
    truth = truth_scores(samples)
    meta = {"data": str(data), "split": split, "clips": len(samples), "steps": steps}
    write_report(out, scores, truth, meta)
    example = next((s for s in samples if s.kind == "speak"), samples[0])
    plot_clip(example, {name: p[example.id] for name, p in preds.items()}, out / "clip.png")

    table = Table(title=f"motion evaluation, {split} split ({len(samples)} clips)")
    table.add_column("metric")
    for s in scores:
        table.add_column(s.name, justify="right")
    table.add_column("truth", justify="right")
    rows = [s.row() for s in scores]
    for key in rows[0]:
        if key in ("model",):
            continue
        values = [r[key] for r in rows]
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in values]
        t = truth.get(key)
        table.add_row(key, *cells, "–" if t is None else f"{t:.3f}")
    console.print(table)
    console.print(f"wrote [bold]{out / 'eval.json'}[/] and [bold]{out / 'clip.png'}[/]")
