"""Performance contact sheets (runtime/studio/sheets.py): one labelled cell per pose, and the
talking cells really talk."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.generator import SAMPLE_RATE
from models.render.keypoints import load_keypoints
from models.render.prep import prepare_character
from models.tts import synthesize
from runtime.studio.sheets import performance_sheet
from tests.portraits import PORTRAITS

POINTS = Path(__file__).resolve().parents[1] / "models" / "keypoints"
CELL = 128
COLUMNS = 6
CELLS = 12  # rest, six talking, blink 0.5 and 1.0, three emotes


def test_anime_sheet_has_a_labelled_cell_per_pose_and_talks() -> None:
    speech = synthesize("Welcome back, traveller. The gate is open.", sample_rate=SAMPLE_RATE)
    samples = speech.samples.astype(np.float32)
    portrait = "anime_eileen_renpy.png"
    points = load_keypoints(POINTS / "anime_eileen_renpy.json")
    asset = prepare_character(PORTRAITS / portrait, size=256, points=points)
    sheet = performance_sheet(asset, samples, cell_size=CELL)

    rows = -(-CELLS // COLUMNS)
    assert sheet.shape[1] == COLUMNS * CELL and sheet.shape[0] % rows == 0
    row_h = sheet.shape[0] // rows
    # Each cell: the picture (CELL high: the asset is square), then its dark label strip.
    assert row_h > CELL
    cells, labelled = [], 0
    for i in range(CELLS):
        y0, x0 = (i // COLUMNS) * row_h, (i % COLUMNS) * CELL
        cells.append(sheet[y0 : y0 + CELL, x0 : x0 + CELL].astype(np.int16))
        strip = sheet[y0 + CELL : y0 + row_h, x0 : x0 + CELL]
        labelled += int((strip.mean(axis=2) > 150).sum() > 20)  # light text on the strip
    assert labelled == CELLS

    # The mouth region (the asset's lip landmarks, scaled to the cell, with a margin).
    lm = asset.landmarks * (CELL / asset.size[0])
    iod = asset.rig.iod * CELL / asset.size[0]
    (mx0, my0), (mx1, my1) = lm[48:68].min(axis=0) - 0.15 * iod, lm[48:68].max(axis=0) + 0.25 * iod
    mouth = (slice(int(my0), int(np.ceil(my1))), slice(int(mx0), int(np.ceil(mx1))))
    rest = cells[0]
    assert (
        np.abs(
            rest[..., :3] - cv2.resize(asset.image, (CELL, CELL), interpolation=cv2.INTER_AREA)
        ).mean()
        < 3
    )
    talking = [float(np.abs(c[mouth] - rest[mouth]).mean()) for c in cells[1:7]]
    assert min(talking) > 2.0, talking
    # ...and it is the talking that moves it: the blink cells' mouths stay as at rest.
    for c in cells[7:9]:
        assert float(np.abs(c[mouth] - rest[mouth]).mean()) < 0.5 * min(talking)
