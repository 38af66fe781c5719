"""``lpm data …``: build the performance corpus and look at what it holds (DESIGN §6)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from runtime.terminal import console
from runtime.terminal import fail as _fail
from runtime.terminal import progress as _progress

data_app: typer.Typer = typer.Typer(
    help="The performance corpus: build it, summarise it.", no_args_is_help=True
)


@data_app.command("build")
def build_cmd(
    out: Annotated[Path, typer.Option("--out", help="Corpus directory to write.")],
    hours: Annotated[float, typer.Option(help="Hours of audio to build.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same bytes.")] = 0,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    shard_size: Annotated[int, typer.Option(help="Samples per shard.")] = 64,
    captures: Annotated[
        Path | None,
        typer.Option(help="Folder of Live Link Face *.csv (+ same-stem .wav) to import too."),
    ] = None,
    capture_split: Annotated[str, typer.Option(help="Split of imported captures.")] = "train",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a corpus already in OUT.")
    ] = False,
) -> None:
    """Synthesise a corpus of speak / listen / conversation / idle / emote samples."""
    from models.corpus.builder import build_corpus
    from models.tts import SpeechSynthesisError

    if not hours > 0:
        _fail("--hours must be positive")
    started = time.perf_counter()
    try:
        with _progress() as bar:
            task = bar.add_task("building corpus", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            manifest = build_corpus(
                out,
                hours,
                seed,
                workers=workers,
                shard_size=shard_size,
                captures=captures,
                capture_split=capture_split,
                overwrite=overwrite,
                progress=advance,
            )
    except (FileExistsError, FileNotFoundError, ValueError, SpeechSynthesisError) as exc:
        _fail(str(exc))
        return
    elapsed = time.perf_counter() - started
    table = Table(title=f"{out} — {manifest.hours:.3f} h, {manifest.num_samples} samples")
    table.add_column("split")
    kinds = [k for k, n in manifest.counts_per_kind().items() if n]
    for kind in kinds:
        table.add_column(kind, justify="right")
    table.add_column("voices", justify="right")
    for split, per_kind in manifest.counts.items():
        table.add_row(split, *(str(per_kind[k]) for k in kinds), str(len(manifest.voices[split])))
    console.print(table)
    console.print(
        f"built in {elapsed:.1f} s ({manifest.hours * 3600 / max(elapsed, 1e-9):.0f}× real "
        f"time); {len(manifest.shards)} shards; content {manifest.content_hash[:16]}…"
    )


@data_app.command("stats")
def stats_cmd(
    data: Annotated[Path, typer.Argument(help="Corpus directory (lpm data build).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the PNG plots (default DATA/stats).")
    ] = None,
) -> None:
    """Write plots of a corpus (curves, state balance, durations, counts) and stats.json."""
    from models.corpus.reader import Corpus
    from models.corpus.stats import compute_stats, write_plots
    from models.corpus.storage import CorpusFormatError

    try:
        corpus = Corpus(data)
    except CorpusFormatError as exc:
        _fail(str(exc))
        return
    with _progress() as bar:
        task = bar.add_task("reading samples", total=len(corpus))
        stats = compute_stats(corpus, lambda done, total: bar.update(task, completed=done))
    try:
        written = write_plots(stats, corpus, out or data / "stats")
    except RuntimeError as exc:
        _fail(str(exc))
        return
    table = Table(title=f"{data} — {stats.hours:.3f} h, {stats.num_samples} samples")
    table.add_column("split")
    table.add_column("samples", justify="right")
    table.add_column("hours", justify="right")
    table.add_column("voices", justify="right")
    for split, per_kind in stats.counts.items():
        table.add_row(
            split,
            str(sum(per_kind.values())),
            f"{stats.hours_per_split[split]:.3f}",
            str(len(stats.voices[split])),
        )
    console.print(table)
    for path in written:
        console.print(f"wrote {path}")
