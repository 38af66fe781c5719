"""``lpm export …``: learned models to portable formats (the Online LPM to ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runtime.terminal import CheckpointOption, console
from runtime.terminal import fail as _fail

export_app: typer.Typer = typer.Typer(
    help="Export learned models for other runtimes.", no_args_is_help=True
)


@export_app.command("onnx")
def export_onnx_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the graphs and their JSON.")],
    checkpoint: CheckpointOption = None,
    exporter: Annotated[
        str,
        typer.Option(help="torchscript (seconds) or dynamo (minutes; a slightly faster graph)."),
    ] = "torchscript",
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 18,
) -> None:
    """The Online LPM as online_init.onnx + online_step.onnx, the KV cache as named
    inputs/outputs, checked against torch with onnxruntime. A folder named <stem>-onnx beside
    the checkpoint is used by `lpm serve --generator online` instead of a cached export."""
    from models.online_export import STEP_INPUTS, STEP_OUTPUTS, export_onnx
    from models.online_generator import DEFAULT_CHECKPOINT, checkpoint_digest
    from models.online_lpm import load_online

    path = checkpoint or DEFAULT_CHECKPOINT
    if not path.is_file() or not path.with_suffix(".json").is_file():
        _fail(f"no Online LPM checkpoint at {path} (with its .json); `lpm train online` makes one")
    try:
        model = load_online(path)
        with console.status(f"exporting with the {exporter} exporter"):
            meta = {"checkpoint": path.name, "checkpoint_sha256": checkpoint_digest(path)}
            result = export_onnx(model, out, opset, exporter=exporter, meta=meta)
    except (ValueError, OSError, RuntimeError) as exc:
        _fail(str(exc))
        return
    size_mb = (result.init_path.stat().st_size + result.step_path.stat().st_size) / 1e6
    console.print(
        f"wrote [bold]{result.step_path}[/], {result.init_path.name} and "
        f"{result.meta_path.name} ({size_mb:.1f} MB, {result.seconds:.1f} s)",
        highlight=False,
    )
    console.print(f"inputs:  {', '.join(STEP_INPUTS)}", highlight=False)
    console.print(f"outputs: {', '.join(STEP_OUTPUTS)}", highlight=False)
    console.print(f"max |onnxruntime − torch| = {result.max_abs_diff:.2e}", highlight=False)
