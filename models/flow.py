"""Flow matching: the noise path, training times and the sampler, shared by teacher and student.

Rectified-flow convention (Lipman et al. 2023; Liu et al. 2023): a clean sample ``x₀`` and noise
``ε ~ N(0, I)`` are joined by the straight path

    x_t = (1 − t) · x₀ + t · ε,     t ∈ [0, 1]  (t = 1 is pure noise)

and the network predicts the **velocity** ``v = dx_t/dt = ε − x₀``. Sampling integrates
``dx/dt = v`` from ``t = 1`` to ``t = 0``. The schedule here is pure maths: it knows nothing of
the network, and the network knows nothing of it (k-diffusion's split).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

VelocityFn = Callable[[Tensor, Tensor], Tensor]  # (x_t [B, ...], t [B]) -> v [B, ...]


def noisy(x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """``x_t`` for per-sample times ``t [B]``."""
    tt = t.view(-1, *([1] * (x0.dim() - 1)))
    return (1 - tt) * x0 + tt * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    return noise - x0


def x0_from_velocity(x_t: Tensor, v: Tensor, t: Tensor) -> Tensor:
    """The clean estimate implied by a velocity: ``x₀ = x_t − t · v``."""
    return x_t - t.view(-1, *([1] * (x_t.dim() - 1))) * v


def training_times(batch: int, generator: torch.Generator | None = None) -> Tensor:
    """Logit-normal times (SD3's choice): most weight mid-path, some near both ends."""
    return torch.sigmoid(torch.randn(batch, generator=generator))


def time_grid(steps: int, shift: float = 1.0) -> Tensor:
    """``steps + 1`` times from 1 to 0. ``shift > 1`` spends more steps at high noise
    (``t' = s·t / (1 + (s − 1)·t)``)."""
    if steps < 1:
        raise ValueError("need at least one step")
    t = torch.linspace(1.0, 0.0, steps + 1)
    return shift * t / (1 + (shift - 1) * t)


def sample_euler(
    velocity: VelocityFn,
    x: Tensor,
    times: Tensor,
    callback: Callable[[int, Tensor], None] | None = None,
) -> Tensor:
    """Integrate from ``times[0]`` to ``times[-1]`` with Euler steps; ``x`` is the start (noise)."""
    for i in range(len(times) - 1):
        t = times[i].expand(x.shape[0])
        x = x + (times[i + 1] - times[i]) * velocity(x, t)
        if callback is not None:
            callback(i, x)
    return x


def guided(
    uncond: Tensor, audio_only: Tensor, full: Tensor, audio_scale: float, text_scale: float
) -> Tensor:
    """Classifier-free guidance on two conditions, nested (audio first, then text on top):

    ``v = v(∅) + s_a · (v(a) − v(∅)) + s_t · (v(a, c) − v(a))``

    With both scales 1 this is exactly the fully conditional prediction ``v(a, c)``.
    """
    return uncond + audio_scale * (audio_only - uncond) + text_scale * (full - audio_only)
