"""Online LPM to ONNX: two graphs with the streaming cache as named inputs and outputs (DESIGN §5).

``online_init.onnx``  ``rest [B, 61]`` → the initial state, one output per state tensor.
``online_step.onnx``  the state tensors, ``speak [B, C+L, 323]``, ``listen [B, C, 323]``,
                      ``text [B, Lt, 384]``, ``text_mask [B, Lt]``, ``noise``, ``refine_noise``
                      ``[B, C, 61]`` → ``curves [B, C, 61]`` and the next state as
                      ``next_<name>``.

State tensors are named after `models.online_lpm.STATE_TENSORS` with dots turned into
underscores (``backbone.sink_k`` → ``backbone_sink_k``); the batch axis is dynamic everywhere
(axis 1 of the KV caches, axis 0 of everything else) and so is the text length ``Lt``. A JSON
file beside the graphs (`META_FILE`) carries the model config, the names, the batch axes and the
parity measured against torch when the graphs were written.

Two exporters are supported: ``torchscript`` (the tracing exporter; seconds, needs the ``onnx``
package) and ``dynamo`` (``torch.export`` based, the one PyTorch recommends; minutes on a small
CPU, needs ``onnxscript`` too, and its graph runs somewhat faster under onnxruntime).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from models.encoders import AUDIO_FEATURE_DIM, TEXT_DIM
from models.motion import NUM_CURVES
from models.online_lpm import (
    STATE_TENSORS,
    OnlineLPM,
    OnlineLPMConfig,
    flatten_state,
    unflatten_state,
)

log = logging.getLogger(__name__)

INIT_FILE = "online_init.onnx"
STEP_FILE = "online_step.onnx"
META_FILE = "online_onnx.json"
FORMAT_VERSION = 1  # bump when the graphs' interface changes (invalidates cached exports)
DEFAULT_OPSET = 18
EXPORTERS = ("torchscript", "dynamo")
DEFAULT_EXPORTER = "torchscript"

STATE_NAMES: tuple[str, ...] = tuple(n.replace(".", "_") for n in STATE_TENSORS)
NEXT_STATE_NAMES: tuple[str, ...] = tuple(f"next_{n}" for n in STATE_NAMES)
CHUNK_INPUTS = ("speak", "listen", "text", "text_mask", "noise", "refine_noise")
INIT_INPUTS = ("rest",)
INIT_OUTPUTS = STATE_NAMES
STEP_INPUTS: tuple[str, ...] = (*STATE_NAMES, *CHUNK_INPUTS)
STEP_OUTPUTS: tuple[str, ...] = ("curves", *NEXT_STATE_NAMES)
# Batch axis of every state tensor: the KV caches are [depth, B, heads, slots, head_dim].
STATE_BATCH_AXIS: dict[str, int] = {
    n.replace(".", "_"): (1 if "." in n else 0) for n in STATE_TENSORS
}


def state_batch_axis(name: str) -> int:
    """Batch axis of a state tensor, by its ONNX name (with or without ``next_``)."""
    return STATE_BATCH_AXIS[name.removeprefix("next_")]


class _InitGraph(nn.Module):
    def __init__(self, model: OnlineLPM) -> None:
        super().__init__()
        self.model = model

    def forward(self, rest: Tensor) -> tuple[Tensor, ...]:
        return tuple(flatten_state(self.model.init_state(rest)))


class _StepGraph(nn.Module):
    """`OnlineLPM.step` over flat tensors (explicit arguments: ``torch.export`` names them)."""

    def __init__(self, model: OnlineLPM) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        frames: Tensor,
        backbone_sink_k: Tensor,
        backbone_sink_v: Tensor,
        backbone_win_k: Tensor,
        backbone_win_v: Tensor,
        refiner_sink_k: Tensor,
        refiner_sink_v: Tensor,
        refiner_win_k: Tensor,
        refiner_win_v: Tensor,
        speak_hist: Tensor,
        listen_hist: Tensor,
        speak: Tensor,
        listen: Tensor,
        text: Tensor,
        text_mask: Tensor,
        noise: Tensor,
        refine_noise: Tensor,
    ) -> tuple[Tensor, ...]:
        state = unflatten_state(
            [
                frames,
                backbone_sink_k, backbone_sink_v, backbone_win_k, backbone_win_v,
                refiner_sink_k, refiner_sink_v, refiner_win_k, refiner_win_v,
                speak_hist, listen_hist,
            ]
        )  # fmt: skip
        curves, nxt = self.model.step(state, speak, listen, text, text_mask, noise, refine_noise)
        return (curves, *flatten_state(nxt))


assert tuple(_StepGraph.forward.__code__.co_varnames[1:18]) == STEP_INPUTS


def example_inputs(
    config: OnlineLPMConfig, batch: int, text_len: int, seed: int = 0
) -> tuple[Tensor, dict[str, Tensor]]:
    """Random ``rest [B, 61]`` and random chunk inputs by name (for export and checks)."""
    gen = torch.Generator().manual_seed(seed)
    c, la = config.chunk, config.lookahead
    mask = torch.rand(batch, text_len, generator=gen) < 0.7
    mask[:, 0] = True
    chunk = {
        "speak": torch.randn(batch, c + la, AUDIO_FEATURE_DIM, generator=gen),
        "listen": torch.randn(batch, c, AUDIO_FEATURE_DIM, generator=gen),
        "text": torch.randn(batch, text_len, TEXT_DIM, generator=gen),
        "text_mask": mask,
        "noise": torch.randn(batch, c, NUM_CURVES, generator=gen),
        "refine_noise": torch.randn(batch, c, NUM_CURVES, generator=gen),
    }
    return 0.1 * torch.randn(batch, NUM_CURVES, generator=gen), chunk


@dataclass(frozen=True)
class ExportResult:
    init_path: Path
    step_path: Path
    meta_path: Path
    max_abs_diff: float  # onnxruntime vs torch over the verification steps (nan: not verified)
    seconds: float


def _export_torchscript(
    module: nn.Module,
    args: tuple[Tensor, ...],
    path: Path,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    axes: dict[str, dict[int, str]],
    opset: int,
) -> None:
    with warnings.catch_warnings():
        # The tracer's notes on shape checks and constant tables, and its deprecation notice.
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes={n: axes[n] for n in (*inputs, *outputs)},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def _export_dynamo(
    module: nn.Module,
    args: tuple[Tensor, ...],
    path: Path,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    axes: dict[str, dict[int, str]],
    opset: int,
) -> None:
    from torch.export import Dim

    dims = {name: Dim(name, min=1, max=4096) for name in ("batch", "text_len")}
    shapes = {name: {axis: dims[label] for axis, label in axes[name].items()} for name in inputs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        program = torch.onnx.export(
            module,
            args,
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_shapes=shapes,
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    assert program is not None
    program.save(str(path), external_data=False)


def _axes(names: tuple[str, ...]) -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    for name in names:
        if name.removeprefix("next_") in STATE_BATCH_AXIS:
            out[name] = {state_batch_axis(name): "batch"}
        elif name in ("text", "text_mask"):
            out[name] = {0: "batch", 1: "text_len"}
        else:
            out[name] = {0: "batch"}
    return out


def export_onnx(
    model: OnlineLPM,
    out_dir: Path,
    opset: int = DEFAULT_OPSET,
    *,
    exporter: str = DEFAULT_EXPORTER,
    verify: bool = True,
    meta: dict[str, Any] | None = None,
) -> ExportResult:
    """Write `INIT_FILE`, `STEP_FILE` and `META_FILE` into ``out_dir``.

    ``verify`` runs both graphs under onnxruntime (CPU) for a few steps past the window fill on
    random inputs and raises if they differ from torch by more than float tolerance; the
    difference goes into the JSON. ``meta`` adds keys to the JSON (the checkpoint's hash).
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}")
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.float().eval()
    cfg = model.config
    batch, text_len = 2, 3  # not 1: a size-1 axis may be specialised by the tracer
    rest, chunk = example_inputs(cfg, batch, text_len)
    run = _export_dynamo if exporter == "dynamo" else _export_torchscript
    with torch.no_grad():
        state = model.init_state(rest)
        step_args = (*flatten_state(state), *(chunk[n] for n in CHUNK_INPUTS))
        init_path, step_path = out_dir / INIT_FILE, out_dir / STEP_FILE
        axes = _axes(INIT_INPUTS + INIT_OUTPUTS + STEP_INPUTS + STEP_OUTPUTS)
        run(_InitGraph(model), (rest,), init_path, INIT_INPUTS, INIT_OUTPUTS, axes, opset)
        run(_StepGraph(model), step_args, step_path, STEP_INPUTS, STEP_OUTPUTS, axes, opset)
    diff = verify_onnx(model, out_dir) if verify else float("nan")
    seconds = time.perf_counter() - t0
    doc = {
        "format": FORMAT_VERSION,
        "model": "online_lpm",
        "config": cfg.to_dict(),
        "exporter": exporter,
        "opset": opset,
        "torch": torch.__version__,
        "init": {"file": INIT_FILE, "inputs": list(INIT_INPUTS), "outputs": list(INIT_OUTPUTS)},
        "step": {"file": STEP_FILE, "inputs": list(STEP_INPUTS), "outputs": list(STEP_OUTPUTS)},
        "batch_axis": dict(STATE_BATCH_AXIS),
        "chunk_frames": cfg.chunk,
        "lookahead_frames": cfg.lookahead,
        "verified_max_abs_diff": None if np.isnan(diff) else diff,
        **(meta or {}),
    }
    meta_path = out_dir / META_FILE
    meta_path.write_text(json.dumps(doc, indent=2) + "\n")
    log.info(
        "exported the Online LPM to %s with the %s exporter in %.1f s (max |onnx − torch| %.2e)",
        out_dir,
        exporter,
        seconds,
        diff,
    )
    return ExportResult(init_path, step_path, meta_path, diff, seconds)


def read_meta(onnx_dir: Path) -> dict[str, Any]:
    """The JSON beside exported graphs; raises if it is missing or of another format."""
    path = Path(onnx_dir) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {META_FILE} in {onnx_dir} (lpm export onnx writes one)")
    doc: dict[str, Any] = json.loads(path.read_text())
    if doc.get("model") != "online_lpm" or doc.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} is not an Online LPM export of format {FORMAT_VERSION}")
    for name in (INIT_FILE, STEP_FILE):
        if not (Path(onnx_dir) / name).is_file():
            raise FileNotFoundError(f"{name} is missing from {onnx_dir}")
    return doc


def _cpu_session(path: Path, threads: int = 1) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def verify_onnx(
    model: OnlineLPM, onnx_dir: Path, steps: int | None = None, batch: int = 3, seed: int = 1
) -> float:
    """Max abs difference between onnxruntime (CPU) and torch over ``steps`` consecutive chunks
    (default: until the window has been full for two chunks), on random inputs at a batch and
    text length other than the export's. Raises ``RuntimeError`` past float tolerance."""
    cfg = model.config
    steps = steps or (cfg.max_position // cfg.chunk + 2)
    init = _cpu_session(Path(onnx_dir) / INIT_FILE)
    step = _cpu_session(Path(onnx_dir) / STEP_FILE)
    rest, _ = example_inputs(cfg, batch, 1, seed)
    worst = 0.0
    scale = 1.0
    with torch.no_grad():
        state = model.init_state(rest)
        flat = init.run(None, {"rest": rest.numpy()})
        for ref, got in zip(flatten_state(state), flat, strict=True):
            worst = max(worst, float(np.abs(ref.numpy() - got).max(initial=0.0)))
        for k in range(steps):
            _, chunk = example_inputs(cfg, batch, 1 + k % 5, seed + 1 + k)
            curves, state = model.step(state, *(chunk[n] for n in CHUNK_INPUTS))
            feed = dict(zip(STATE_NAMES, flat, strict=True))
            feed.update({n: chunk[n].numpy() for n in CHUNK_INPUTS})
            out = step.run(None, feed)
            flat = out[1:]
            for ref, got in zip((curves, *flatten_state(state)), out, strict=True):
                r = ref.numpy()
                worst = max(worst, float(np.abs(r - got).max(initial=0.0)))
                scale = max(scale, float(np.abs(r).max(initial=0.0)))
    if worst > 1e-3 * scale:
        raise RuntimeError(f"the ONNX graphs differ from torch by {worst:.3g} (scale {scale:.3g})")
    return worst
