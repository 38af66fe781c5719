"""The generators the benchmark can compare, all behind the one streaming interface.

:func:`available_generators` lists what this build can run. A new backend (the Base and Online
models) joins the benchmark by adding one :class:`GeneratorSpec` to :data:`_REGISTRY`; the
suites only ever call ``init_state`` and ``step`` (:class:`models.generator.PerformanceGenerator`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.generator import PerformanceGenerator


@dataclass(frozen=True)
class GeneratorSpec:
    """How to build one generator for the benchmark."""

    name: str  # the column heading in reports
    factory: Callable[[], PerformanceGenerator[Any]]  # a fresh generator (fps 25)
    description: str  # one line for the report
    chunk_frames: int = 4  # frames per ``step`` in the quality suites (the speed suite uses 1)
    # Every ``step`` must bring a multiple of this many frames (a learned model's chunk): the
    # suites round their chunks up to it and do not cut a chunk where a prompt changes.
    frame_multiple: int = 1
    available: Callable[[], bool] = lambda: True  # whether this build can run it (a checkpoint)


def _procedural() -> PerformanceGenerator[Any]:
    from models.performer import ProceduralPerformer

    return ProceduralPerformer()


def _online() -> PerformanceGenerator[Any]:
    from models.online_generator import load_online_generator

    return load_online_generator(backend="onnx", threads=1)


def _online_shipped() -> bool:
    from models.online_generator import DEFAULT_CHECKPOINT

    return DEFAULT_CHECKPOINT.is_file() and DEFAULT_CHECKPOINT.with_suffix(".json").is_file()


# Base registers here once it ships (a factory that loads its checkpoint).
_REGISTRY: tuple[GeneratorSpec, ...] = (
    GeneratorSpec(
        "procedural",
        _procedural,
        "rule-based performer (visemes from audio features, blinks, gaze, nods, emotes)",
    ),
    GeneratorSpec(
        "online",
        _online,
        "Online LPM (causal distilled student, onnxruntime, 4-frame chunks, 80 ms look-ahead)",
        chunk_frames=4,
        frame_multiple=4,
        available=_online_shipped,
    ),
)


def available_generators() -> dict[str, GeneratorSpec]:
    """Every generator this build can run, by name, in report order."""
    return {spec.name: spec for spec in _REGISTRY if spec.available()}


def select_generators(names: str | None) -> list[GeneratorSpec]:
    """The generators named in a comma list (``None`` or ``"all"``: every available one)."""
    available = available_generators()
    if names is None or names.strip() in ("", "all"):
        return list(available.values())
    chosen = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        if name not in available:
            raise ValueError(
                f"unknown generator {name!r}; available in this build: {', '.join(available)}"
            )
        chosen.append(available[name])
    if not chosen:
        raise ValueError("no generator selected")
    return chosen
