"""The ``lpm`` command line: ``prep``, ``demo``, ``bench``.

The one module that talks to the terminal (through rich); everything it calls logs instead.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

app = typer.Typer(
    name="lpm",
    help="LPM Runtime: real-time character performance for game NPCs.",
    no_args_is_help=True,
    add_completion=False,
)
bench_app = typer.Typer(help="Benchmarks that print numbers.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

console = Console(stderr=True)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@app.command()
def prep(
    portrait: Annotated[Path, typer.Argument(help="Portrait image (PNG, JPEG, …).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output NAME.lpmchar.")
    ] = None,
    size: Annotated[int, typer.Option(help="Asset size in pixels (square).")] = 512,
    face_index: Annotated[
        int | None, typer.Option(help="Which detected face (0 = largest). Default: largest.")
    ] = None,
    ref: Annotated[
        list[str] | None,
        typer.Option(
            help="Extra reference KIND=IMAGE (mouth_open, eyes_closed).", metavar="KIND=IMG"
        ),
    ] = None,
) -> None:
    """Build a character asset (.lpmchar) from one portrait."""
    from models.portrait import PortraitError
    from models.render.prep import PrepError, prepare_character

    refs: dict[str, Path] = {}
    for item in ref or []:
        kind, sep, path = item.partition("=")
        if not sep or not path:
            _fail(f"--ref expects KIND=IMAGE, got {item!r}")
        refs[kind.strip()] = Path(path)
    out = output or portrait.with_suffix(".lpmchar")
    try:
        asset = prepare_character(portrait, size=size, face_index=face_index, refs=refs)
    except (PortraitError, PrepError) as exc:
        _fail(str(exc))
        return
    asset.save(out)
    console.print(f"wrote [bold]{out}[/] ({size}×{size}, {asset.rig.num_points} control points)")


@app.command()
def demo(
    portrait: Annotated[
        Path | None,
        typer.Option(help="Portrait image or .lpmchar. Default: scikit-image's astronaut."),
    ] = None,
    audio: Annotated[Path | None, typer.Option(help="The NPC's voice (WAV).")] = None,
    text: Annotated[str | None, typer.Option(help="The NPC's line (synthesised).")] = None,
    listen: Annotated[Path | None, typer.Option(help="The player's voice (WAV).")] = None,
    prompt: Annotated[str | None, typer.Option(help="Emote prompt after the answer.")] = None,
    out: Annotated[Path, typer.Option(help="Output video.")] = Path("demo.mp4"),
    size: Annotated[int, typer.Option(help="Output frame size in pixels.")] = 512,
    seed: Annotated[int, typer.Option(help="Performance seed.")] = 0,
) -> None:
    """Animate a portrait through a short conversation and write demo.mp4 (+ .npc.wav, sheet)."""
    from models.render.prep import load_character
    from runtime.demo import (
        DEFAULT_NPC_LINE,
        DEFAULT_PLAYER_LINE,
        DEFAULT_PROMPT,
        build_script,
        run_demo,
    )

    try:
        with console.status("preparing the character"):
            asset = load_character(portrait, size=size)
        with console.status("synthesising voices"):
            script = build_script(
                npc_text=text or DEFAULT_NPC_LINE,
                npc_wav=audio,
                player_text=DEFAULT_PLAYER_LINE,
                player_wav=listen,
                prompt=prompt if prompt is not None else DEFAULT_PROMPT,
            )
    except ValueError as exc:  # PortraitError, PrepError, AssetFormatError, audio errors
        _fail(str(exc))
        return
    with _progress() as bar:
        task = bar.add_task("rendering", total=script.num_frames)
        paths = run_demo(
            asset,
            script,
            out,
            size=size,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    for kind, path in paths.items():
        console.print(f"{kind:>8}: {path}")


@app.command()
def sheet(
    portrait: Annotated[
        Path | None, typer.Argument(help="Portrait or .lpmchar. Default: astronaut.")
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG to write.")] = Path(
        "curves.sheet.png"
    ),
    size: Annotated[int, typer.Option(help="Asset size when preparing a portrait.")] = 512,
    cell: Annotated[int, typer.Option(help="Cell size in the sheet.")] = 192,
) -> None:
    """Contact sheet of every curve and a few combinations rendered on one character."""
    from models.render.prep import load_character
    from runtime.media import save_png
    from runtime.sheets import render_curve_sheet

    try:
        asset = load_character(portrait, size=size)
    except ValueError as exc:  # PortraitError, PrepError, AssetFormatError
        _fail(str(exc))
        return
    save_png(output, render_curve_sheet(asset, cell_size=cell))
    console.print(f"wrote [bold]{output}[/]")


@bench_app.command("render")
def bench_render(
    portrait: Annotated[Path | None, typer.Option(help="Portrait. Default: astronaut.")] = None,
    frames: Annotated[int, typer.Option(help="Frames per size.")] = 500,
    sizes: Annotated[str, typer.Option(help="Comma-separated asset sizes.")] = "512,256",
) -> None:
    """Renderer speed: ms per frame with every curve changing, one thread."""
    from runtime.bench import bench_renderer

    for row in bench_renderer(portrait, frames, [int(s) for s in sizes.split(",")]):
        print(row)


@bench_app.command("performer")
def bench_performer(
    seconds: Annotated[float, typer.Option(help="Seconds of audio to perform.")] = 60.0,
) -> None:
    """Procedural performer speed: ms of compute per second of audio."""
    from runtime.bench import bench_performer as run

    print(run(seconds))


@bench_app.command("lipsync")
def bench_lipsync(
    video: Annotated[Path, typer.Argument(help="Rendered video (demo.mp4).")] = Path("demo.mp4"),
    npc_wav: Annotated[
        Path | None, typer.Option(help="The NPC's voice alone. Default: VIDEO stem + .npc.wav")
    ] = None,
) -> None:
    """Measure a rendered video with an independent landmark model (dlib 68)."""
    from runtime.bench import measure_lipsync

    wav = npc_wav or Path(str(video.with_suffix("")) + ".npc.wav")
    for path in (video, wav):
        if not path.is_file():
            _fail(f"{path}: no such file (run `lpm demo` first, or pass the video and --npc-wav)")
    try:
        report = measure_lipsync(video, wav)
    except ValueError as exc:
        _fail(str(exc))
    for key, value in report.items():
        print(f"{key:>32}: {value}")


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
