"""The ``lpm`` command line: ``prep``, ``demo``, ``bench``, ``serve``, ``studio``.

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

from runtime.terminal import BackendOption, CheckpointOption, GeneratorOption, console
from runtime.terminal import fail as _fail
from runtime.terminal import progress as _progress

app = typer.Typer(
    name="lpm",
    help="LPM Runtime: real-time character performance for game NPCs.",
    no_args_is_help=True,
    add_completion=False,
)
bench_app = typer.Typer(
    help="The quality and speed benchmark (report in --out), and single benchmarks.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
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
    points: Annotated[
        Path | None,
        typer.Option(
            help="Key points placed by hand (JSON, docs/keypoints.md): no face detection; "
            "for anime, cartoon, 3D and animal faces."
        ),
    ] = None,
    write_points: Annotated[
        Path | None,
        typer.Option(
            help="Detect the face and write its key points to this JSON (to correct by hand "
            "and pass back with --points); builds no asset."
        ),
    ] = None,
) -> None:
    """Build a character asset (.lpmchar) from one portrait."""
    from models.portrait import PortraitError
    from models.render.keypoints import KeyPointsError, load_keypoints
    from models.render.prep import PrepError, detect_keypoints, prepare_character

    if points is not None and write_points is not None:
        _fail("--points and --write-points do not go together (write first, then pass back)")
    if write_points is not None:
        try:
            found, source = detect_keypoints(portrait, face_index=face_index)
        except PortraitError as exc:
            _fail(str(exc))
            return
        found.save(write_points, image=source.name)
        console.print(f"wrote [bold]{write_points}[/] ({len(found.points)} key points)")
        return
    try:
        hand = load_keypoints(points) if points is not None else None
    except KeyPointsError as exc:
        _fail(str(exc))
        return

    refs: dict[str, Path] = {}
    for item in ref or []:
        kind, sep, path = item.partition("=")
        if not sep or not path:
            _fail(f"--ref expects KIND=IMAGE, got {item!r}")
        refs[kind.strip()] = Path(path)
    out = output or portrait.with_suffix(".lpmchar")
    try:
        asset = prepare_character(
            portrait, size=size, face_index=face_index, refs=refs, points=hand
        )
    except (PortraitError, PrepError, KeyPointsError) as exc:
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
    generator: GeneratorOption = None,
    online_checkpoint: CheckpointOption = None,
    online_backend: BackendOption = None,
) -> None:
    """Animate a portrait through a short conversation and write demo.mp4 (+ .npc.wav, sheet)."""
    from models.render.prep import load_character
    from runtime.demo import (
        DEFAULT_NPC_LINE,
        DEFAULT_PLAYER_LINE,
        DEFAULT_PROMPT,
        build_script,
        make_generator,
        run_demo,
    )

    try:
        with console.status("loading the generator"):
            performer = make_generator(generator, online_checkpoint, online_backend or "onnx")
    except (ValueError, OSError) as exc:  # unknown name, missing checkpoint
        _fail(str(exc))
        return
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
            generator=performer,
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


@bench_app.callback(invoke_without_command=True)
def bench(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("bench-report"),
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Short run checking that the bench works (CI), not the scores."
        ),
    ] = False,
    long: Annotated[
        float | None, typer.Option("--long", help="Long-horizon minutes (10; --quick 0.5).")
    ] = None,
    generators: Annotated[
        str | None, typer.Option(help="Comma list of generators (default: all available).")
    ] = None,
    cases: Annotated[str, typer.Option(help="Comma list of case-name globs or suite names.")] = "*",
    case_dir: Annotated[
        Path | None, typer.Option(help="Folder of case files (default: the shipped cases).")
    ] = None,
    portraits: Annotated[
        Path | None, typer.Option(help="Portraits folder (default ../shared/testdata/portraits).")
    ] = None,
    clips: Annotated[bool, typer.Option("--clips/--no-clips", help="Write MP4 clips.")] = True,
) -> None:
    """Without a subcommand: run every case with every generator; write report.json,
    report.md, plots and clips into --out."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from runtime.benchmark import BenchOptions, run_benchmark
    from runtime.benchmark.cases import CaseError

    options = BenchOptions(
        out=out,
        quick=quick,
        long_minutes=long,
        generators=generators,
        cases=cases,
        case_dir=case_dir,
        portraits_dir=portraits,
        clips=clips,
    )
    try:
        with _progress() as bar:
            task = bar.add_task("bench", total=None)
            report = run_benchmark(
                options,
                progress=lambda what, done, total: bar.update(
                    task, description=what, completed=done, total=total
                ),
            )
    except (CaseError, ValueError) as exc:
        _fail(str(exc))
        return
    table = Table(title=f"lpm bench ({report['mode']}, {report['duration_s']:.0f} s)")
    names = list(report["generators"])
    for heading in ("metric", "unit", *names):
        table.add_column(heading, justify="left" if heading == "metric" else "right")
    for row in report["headline"]:
        table.add_row(row["label"], row["unit"], *(row["values"].get(g, "–") for g in names))
    Console(width=160).print(table)
    console.print(f"report: [bold]{out / 'report.md'}[/] and {out / 'report.json'}")
    if report["errors"]:
        for error in report["errors"]:
            console.print(f"[red]error:[/] {error}", highlight=False)
        raise typer.Exit(code=1)


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


@bench_app.command("online")
def bench_online_cmd(
    checkpoint: CheckpointOption = None,
    preset: Annotated[
        str | None,
        typer.Option(help="Bench an untrained model of this size instead (tiny or small)."),
    ] = None,
    backends: Annotated[str, typer.Option(help="Comma list of onnx, torch.")] = "onnx,torch",
    chunks: Annotated[int, typer.Option(help="Chunks timed at batch 1.")] = 200,
    sessions: Annotated[int, typer.Option(help="Sessions stepped together.")] = 16,
) -> None:
    """Online LPM speed, one thread: model latency per chunk, real-time factor of one session,
    throughput of many sessions batched into one model call."""
    from rich.table import Table

    from runtime.bench import bench_online

    if checkpoint is not None and preset is not None:
        _fail("--checkpoint and --preset do not go together")
    try:
        with console.status("benchmarking the Online LPM (one thread)"):
            rows = bench_online(
                checkpoint,
                preset,
                tuple(b.strip() for b in backends.split(",") if b.strip()),
                chunks=chunks,
                sessions=sessions,
            )
    except (ValueError, OSError) as exc:
        _fail(str(exc))
        return
    what = f"untrained {preset}" if preset else str(checkpoint or "shipped checkpoint")
    c = rows[0]["chunk_frames"]
    table = Table(title=f"lpm bench online: {what}, chunks of {c} frames, one thread")
    columns = (
        ("backend", "backend", "{}"),
        ("latency_median_ms", "chunk median ms", "{:.2f}"),
        ("latency_p90_ms", "p90 ms", "{:.2f}"),
        ("latency_p99_ms", "p99 ms", "{:.2f}"),
        ("latency_cpu_median_ms", "cpu median ms", "{:.2f}"),
        ("session_realtime_x", "1 session × real time", "{:.1f}"),
        ("batch_chunks_per_s", f"{sessions} sessions chunks/s", "{:.0f}"),
        ("batch_realtime_sessions", "real-time sessions", "{:.0f}"),
    )
    for _, heading, _ in columns:
        table.add_column(heading, justify="right")
    for row in rows:
        table.add_row(*(fmt.format(row[key]) for key, _, fmt in columns))
    Console(width=200).print(table)


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


@bench_app.command("serve")
def bench_serve_cmd(
    sessions: Annotated[
        str, typer.Option(help="Concurrent sessions; a comma list runs each in turn (1,2,4,6).")
    ] = "4",
    seconds: Annotated[float, typer.Option(help="Seconds each client streams.")] = 30.0,
    size: Annotated[int, typer.Option(help="Frame width and height.")] = 256,
    encoding: Annotated[str, typer.Option(help="rgba8 or jpeg.")] = "rgba8",
    character_dir: Annotated[Path | None, typer.Option(help="Server's character dir.")] = None,
    generator: GeneratorOption = None,
) -> None:
    """Real server, N real-time client processes: fps, latency, late frames, CPU, RSS."""
    from rich.table import Table

    from runtime.bench_serve import bench_serve

    try:
        counts = [int(x) for x in sessions.split(",") if x.strip()]
    except ValueError:
        _fail(f"--sessions must be integers separated by commas, got {sessions!r}")
        return
    from runtime.config import DEFAULT_GENERATOR, GENERATORS

    if generator is not None and generator not in GENERATORS:
        _fail(f"unknown generator {generator!r} (available: {', '.join(GENERATORS)})")
        return
    title = f"{generator or DEFAULT_GENERATOR} generator, {size}x{size} {encoding}"
    table = Table(title=f"lpm bench serve: {title}, {seconds:g} s per client")
    columns = (
        "sessions", "fps_min", "fps_mean", "server_p50_ms", "server_p99_ms", "client_p50_ms",
        "client_p99_ms", "late_frames", "missing_frames", "cpu_percent", "rss_start_mb",
        "rss_end_mb",
    )  # fmt: skip
    for name in columns:
        table.add_column(name.replace("_", " "), justify="right")
    for n in counts:
        with console.status(f"{n} sessions for {seconds:g} s"):
            row = bench_serve(n, seconds, size, encoding, character_dir, generator).row()
        table.add_row(
            *(f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]) for c in columns)
        )
        if row["errors"]:
            console.print(f"[red]errors with {n} sessions:[/] {row['errors']}", highlight=False)
    Console(width=200).print(table)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address of both transports (127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Base port: gRPC here, ZeroMQ on port+1 (7700).")
    ] = None,
    zmq_port: Annotated[int | None, typer.Option(help="ZeroMQ port (default port+1).")] = None,
    transports: Annotated[
        str | None, typer.Option(help="Planes to serve: grpc,zmq (default both).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML settings file.")] = None,
    fps: Annotated[float | None, typer.Option(help="Frames per second.")] = None,
    size: Annotated[int | None, typer.Option(help="Default frame width and height.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Default encoding: rgba8 or jpeg.")] = None,
    max_sessions: Annotated[int | None, typer.Option(help="Sessions held at once.")] = None,
    max_sessions_per_client: Annotated[int | None, typer.Option(help="Per client.")] = None,
    session_timeout: Annotated[
        float | None, typer.Option(help="Seconds a silent owner keeps a session.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda.")] = None,
    character_dir: Annotated[Path | None, typer.Option(help="Where .lpmchar files live.")] = None,
    generator: GeneratorOption = None,
    online_checkpoint: CheckpointOption = None,
    online_backend: BackendOption = None,
    secure: Annotated[
        bool | None, typer.Option("--secure/--insecure", help="CurveZMQ + TLS + token.")
    ] = None,
    log_json: Annotated[bool, typer.Option(help="One JSON object per log line.")] = False,
) -> None:
    """Serve NPC faces to game engines over gRPC and ZeroMQ until Ctrl-C."""
    from runtime.config import ServerConfig
    from runtime.server import JsonLogFormatter, Server

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLogFormatter()
        if log_json
        else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        cfg = ServerConfig.load(
            config,
            host=host,
            port=port,
            zmq_port=zmq_port,
            transports=tuple(t.strip() for t in transports.split(",")) if transports else None,
            fps=fps,
            width=size,
            height=size,
            encoding=encoding,
            max_sessions=max_sessions,
            max_sessions_per_client=max_sessions_per_client,
            session_timeout_s=session_timeout,
            device=device,
            character_dir=character_dir,
            generator=generator,
            online_checkpoint=online_checkpoint,
            online_backend=online_backend,
            log_json=log_json or None,
        )
        if secure is not None:
            cfg.security.enabled = secure
        if cfg.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ValueError("--device cuda: no CUDA device is visible to torch")
        server = Server(cfg)
    except (ValueError, OSError) as exc:
        _fail(str(exc))
        return
    try:
        server.serve_forever()
    except OSError as exc:  # address in use, permission denied
        _fail(f"cannot serve: {exc}")


@app.command()
def client(
    speak: Annotated[Path, typer.Option(help="The NPC's voice (WAV, any rate).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output video.")] = Path("take.mp4"),
    listen: Annotated[Path | None, typer.Option(help="The player's voice (WAV).")] = None,
    prompt: Annotated[str | None, typer.Option(help="Text prompt for the session.")] = None,
    character: Annotated[str | None, typer.Option(help="Character id on the server.")] = None,
    host: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Server base port.")] = 7700,
    transport: Annotated[str, typer.Option(help="zmq or grpc.")] = "zmq",
    encoding: Annotated[str | None, typer.Option(help="rgba8 or jpeg (server's default).")] = None,
    size: Annotated[int | None, typer.Option(help="Frame size (default: the server's).")] = None,
    token: Annotated[str | None, typer.Option(help="gRPC bearer token.")] = None,
    root_cert: Annotated[Path | None, typer.Option(help="gRPC TLS root certificate.")] = None,
    server_key: Annotated[Path | None, typer.Option(help="Server's CurveZMQ key file.")] = None,
    client_key: Annotated[Path | None, typer.Option(help="This client's key pair file.")] = None,
) -> None:
    """Stream voices to a running server in real time and save the frames as an MP4."""
    from bridge.protocol import ProtocolError
    from models.audio_io import load_audio
    from runtime.remote import connect, record_take, write_take

    try:
        speak_audio = load_audio(speak)
        listen_audio = load_audio(listen) if listen else None
        remote = connect(
            transport,
            host,
            port,
            token=token,
            root_cert=root_cert,
            server_key=server_key,
            client_key=client_key,
        )
    except ValueError as exc:
        _fail(str(exc))
        return
    try:
        with remote, _progress() as bar:
            task = bar.add_task("streaming (real time)", total=None)
            take = record_take(
                remote,
                speak_audio,
                listen_audio,
                character=character,
                prompt=prompt,
                encoding=encoding,
                size=size,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        frames = write_take(take, out, speak_audio)
    except (ProtocolError, TimeoutError, ValueError) as exc:
        _fail(f"{exc} (is `lpm serve` running on {host}:{port}?)")
        return
    stats = take.stats
    console.print(
        f"{out}: {frames} frames; received {take.received}; server late chunks "
        f"{stats.get('late_chunks', 0):g}; latency p50 {stats.get('latency_p50_ms', 0):.1f} ms "
        f"p99 {stats.get('latency_p99_ms', 0):.1f} ms",
        highlight=False,
    )


@app.command()
def studio(
    host: Annotated[str, typer.Option(help="Bind address (keep it loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the web page.")] = 7800,
    character_dir: Annotated[
        Path | None, typer.Option(help="Where .lpmchar files live (shared with `lpm serve`).")
    ] = None,
    size: Annotated[int, typer.Option(help="Character and preview size in pixels.")] = 256,
) -> None:
    """The designers' workbench in the browser: character setup and emote preview."""
    from runtime.studio.app import StudioConfig, serve

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        config = StudioConfig(host=host, port=port, size=size)
        if character_dir is not None:
            config.character_dir = character_dir.expanduser()
    except ValueError as exc:
        _fail(str(exc))
        return
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]warning:[/] serving on {host}: anyone who reaches it can use it")
    console.print(f"LPM Studio on [bold]http://{host}:{port}/[/] (Ctrl-C to stop)")
    try:
        serve(config)
    except OSError as exc:
        _fail(f"cannot serve: {exc}")


@app.command()
def keys(
    out: Annotated[Path, typer.Argument(help="Key file to write (the secret stays in it).")],
) -> None:
    """Make a CurveZMQ key pair (server or client); the public key is printed."""
    from bridge.zmq_common import generate_keypair, save_keys

    if out.exists():
        _fail(f"{out} exists; refusing to overwrite a key")
    public, secret = generate_keypair()
    save_keys(out, public, secret)
    pub = out.with_name(out.name + ".pub")
    save_keys(pub, public)
    print(f"public key {public.decode()} (also in {pub}); keep {out} secret")


# Sub-apps in their own modules (they use the helpers above).
from runtime.cli_data import data_app  # noqa: E402
from runtime.cli_export import export_app  # noqa: E402
from runtime.cli_train import eval_app, train_app  # noqa: E402

app.add_typer(train_app, name="train")
app.add_typer(data_app, name="data")
app.add_typer(eval_app, name="eval")
app.add_typer(export_app, name="export")


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
