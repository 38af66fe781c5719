"""Contact sheets of what the renderer does: every blendshape, head and eye rotations, and a few
combinations, on one character — the picture to look at after changing the rig or renderer."""

from __future__ import annotations

import numpy as np

from models.motion import CURVE_INDEX, CURVE_NAMES, NUM_BLENDSHAPES
from models.render.asset import CharacterAsset
from models.render.warp import WarpRenderer
from runtime.media import contact_sheet

COMBINATIONS: list[tuple[str, dict[str, float]]] = [
    ("talk: jaw .4 + funnel .5", {"jawOpen": 0.4, "mouthFunnel": 0.5}),
    ("smile + jaw .5", {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0, "jawOpen": 0.5}),
    (
        "surprise",
        {
            "browInnerUp": 1.0,
            "browOuterUpLeft": 1.0,
            "browOuterUpRight": 1.0,
            "eyeWideLeft": 1.0,
            "eyeWideRight": 1.0,
            "jawOpen": 0.5,
        },
    ),
    (
        "frown",
        {
            "mouthFrownLeft": 1.0,
            "mouthFrownRight": 1.0,
            "browDownLeft": 1.0,
            "browDownRight": 1.0,
            "mouthSmileLeft": 0.0,
            "mouthSmileRight": 0.0,
        },
    ),
    ("closed, neutral", {"jawOpen": 0.0, "mouthSmileLeft": 0.0, "mouthSmileRight": 0.0}),
    ("yaw -10° + jaw .4", {"headYaw": -0.17, "jawOpen": 0.4}),
    ("pitch +8° + blink", {"headPitch": 0.14, "eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    ("roll +8° + look right", {"headRoll": 0.14, "leftEyeYaw": 0.25, "rightEyeYaw": 0.25}),
]


def curve_cases(asset: CharacterAsset) -> list[tuple[str, np.ndarray]]:
    """(label, curves[61]) for the rest pose, each blendshape pushed to 1 (or to 0 where the
    portrait already holds it), head/eye rotations, and the combinations above."""
    rest = asset.rest_curves
    cases: list[tuple[str, np.ndarray]] = [("rest (the portrait)", rest.copy())]
    for i, name in enumerate(CURVE_NAMES[:NUM_BLENDSHAPES]):
        c = rest.copy()
        c[i] = 1.0 if rest[i] < 0.5 else 0.0
        cases.append((f"{name} {c[i]:.0f}", c))
    for name, value in (
        ("headYaw", 0.17),
        ("headYaw", -0.17),
        ("headPitch", 0.17),
        ("headPitch", -0.17),
        ("headRoll", 0.17),
        ("leftEyeYaw", 0.3),
        ("leftEyePitch", -0.3),
    ):
        c = rest.copy()
        c[CURVE_INDEX[name]] = value
        if name.startswith("leftEye"):
            c[CURVE_INDEX[name.replace("left", "right")]] = value
        cases.append((f"{name} {np.degrees(value):+.0f}°", c))
    for label, values in COMBINATIONS:
        c = rest.copy()
        for k, v in values.items():
            c[CURVE_INDEX[k]] = v
        cases.append((label, c))
    return cases


def render_curve_sheet(
    asset: CharacterAsset, cell_size: int = 192, columns: int = 10
) -> np.ndarray:
    """RGB contact sheet of :func:`curve_cases` rendered on ``asset``."""
    renderer = WarpRenderer(asset)
    cases = curve_cases(asset)
    frames = [renderer.render(c)[..., :3] for _, c in cases]
    return contact_sheet(
        frames, [label for label, _ in cases], columns=columns, cell_size=cell_size
    )
