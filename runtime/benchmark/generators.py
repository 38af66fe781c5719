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


def _procedural() -> PerformanceGenerator[Any]:
    from models.performer import ProceduralPerformer

    return ProceduralPerformer()


# Base and Online register here once they ship (a factory that loads their checkpoint).
_REGISTRY: tuple[GeneratorSpec, ...] = (
    GeneratorSpec(
        "procedural",
        _procedural,
        "rule-based performer (visemes from audio features, blinks, gaze, nods, emotes)",
    ),
)


def available_generators() -> dict[str, GeneratorSpec]:
    """Every generator this build can run, by name, in report order."""
    return {spec.name: spec for spec in _REGISTRY}


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
