"""Assisted face setup: key points placed by hand → the 68 landmarks → the same rig and renderer.

The hand-placed points for the stylised test portraits and the cat live beside this file in
``keypoints/`` (they are also the format's worked examples).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.face import FaceModels, inter_ocular_distance
from models.motion import CURVE_INDEX
from models.portrait import NoFaceError, choose_face, crop_square, load_portrait
from models.render.asset import CharacterAsset
from models.render.keypoints import (
    KEYPOINT_NAMES,
    KeyPoints,
    KeyPointsError,
    fit_landmarks,
    keypoints_from_landmarks,
    keypoints_from_mapping,
    load_keypoints,
    template_keypoints,
)
from models.render.prep import prepare_character
from models.render.rig import build_rig
from models.render.textures import closed_lid
from models.render.warp import WarpRenderer
from tests.portraits import FACES, PORTRAITS, STYLISED

POINTS = Path(__file__).resolve().parent / "keypoints"
SIZE = 256  # asset size for these tests: small, same code path


def _points(portrait: str) -> KeyPoints:
    return load_keypoints(POINTS / (Path(portrait).stem + ".json"))


@pytest.fixture(scope="module")
def detected() -> dict[str, np.ndarray]:
    """dlib's 68 landmarks of the photographed test portraits."""
    models = FaceModels.default()
    return {f: choose_face(load_portrait(PORTRAITS / f), None, models).landmarks for f in FACES}


@pytest.fixture(scope="module")
def stylised_assets() -> dict[str, CharacterAsset]:
    return {f: prepare_character(PORTRAITS / f, size=SIZE, points=_points(f)) for f in STYLISED}


def _pose(asset: CharacterAsset, **values: float) -> np.ndarray:
    c = asset.rest_curves.copy()
    for k, v in values.items():
        c[CURVE_INDEX[k]] = v
    return c


def _mouth_box(asset: CharacterAsset) -> tuple[slice, slice]:
    lm = asset.landmarks
    iod = inter_ocular_distance(lm)
    x0, y0 = lm[48:68].min(axis=0) - 0.1 * iod
    x1, y1 = lm[48:68].max(axis=0) + 0.1 * iod
    return slice(int(y0), int(np.ceil(y1))), slice(int(x0), int(np.ceil(x1)))


# --- the fit -----------------------------------------------------------------------------------


def test_fitting_detected_key_points_reproduces_the_landmarks(
    detected: dict[str, np.ndarray],
) -> None:
    # photo_woman_face_paint.jpg was not among the faces the mean face was averaged from.
    for name, lm in detected.items():
        iod = inter_ocular_distance(lm)
        fitted = fit_landmarks(keypoints_from_landmarks(lm))
        err = np.linalg.norm(fitted - lm, axis=1) / iod
        assert np.median(err) < 0.02, (name, np.median(err))
        assert err.mean() < 0.03, (name, err.mean())
        assert err.max() < 0.15, (name, err.max(), int(err.argmax()))


def test_the_same_rig_is_built_from_key_points_as_from_the_detector(
    detected: dict[str, np.ndarray],
) -> None:
    lm = detected["photo_woman_face_paint.jpg"].astype(np.float64)
    size = (int(lm[:, 0].max()) + 200, int(lm[:, 1].max()) + 200)
    a = build_rig(lm, size)
    b = build_rig(fit_landmarks(keypoints_from_landmarks(lm)), size)
    assert a.points.shape == b.points.shape and np.array_equal(a.triangles.shape, b.triangles.shape)
    moved = np.linalg.norm(a.points - b.points, axis=1) / a.iod
    assert np.median(moved) < 0.03 and moved.max() < 0.2
    jaw = CURVE_INDEX["jawOpen"]
    assert np.abs(a.deltas[jaw] - b.deltas[jaw]).max() < 0.05 * a.iod


def test_affine_change_of_the_points_moves_the_landmarks_the_same_way() -> None:
    kp = template_keypoints((100, 80, 300, 330))
    base = fit_landmarks(kp)
    not_brows = np.r_[0:17, 27:68]
    stretch = np.array([[1.3, 0.2, 15.0], [-0.1, 0.8, -4.0]])  # anime eyes, a long chin…
    turn = np.array([[0.9, -0.3, 5.0], [0.3, 0.9, 12.0]])  # a similarity: brows follow too
    for m, idx in ((stretch, not_brows), (turn, np.arange(68))):
        moved = KeyPoints(
            {n: tuple(m[:, :2] @ np.array(p) + m[:, 2]) for n, p in kp.points.items()}
        )
        expected = base @ m[:, :2].T + m[:, 2]
        np.testing.assert_allclose(fit_landmarks(moved)[idx], expected[idx], atol=1e-9)


# --- the file ----------------------------------------------------------------------------------


def test_points_file_round_trip(tmp_path: Path) -> None:
    kp = _points("anime_eileen_renpy.png")
    path = kp.save(tmp_path / "p.json", image="anime_eileen_renpy.png")
    back = load_keypoints(path)
    assert back.image_size == (320, 380)
    np.testing.assert_allclose(back.array(), kp.array(), atol=0.01)
    data = json.loads(path.read_text())
    assert data["format"] == "lpm-keypoints" and list(data["points"]) == list(KEYPOINT_NAMES)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["points"].pop("chin"), "missing: chin"),
        (lambda d: d["points"].update(eye_r_outr=[1, 2]), "did you mean 'eye_r_outer'"),
        (lambda d: d["points"].update(chin="low"), "'chin' must be [x, y]"),
        (lambda d: d["points"].update(chin=[1, float("nan")]), "not finite"),
        (lambda d: d.update(version=7), "version 7"),
        (lambda d: d.pop("points"), "no 'points' object"),
        (lambda d: d.update(image_size=[10]), "image_size must be"),
    ],
)
def test_malformed_points_are_refused_with_the_reason(mutate: object, message: str) -> None:
    data = _points("anime_eileen_renpy.png").to_json()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(KeyPointsError) as err:
        keypoints_from_mapping(data, "p.json")
    assert message in str(err.value) and str(err.value).startswith("p.json: ")


def test_mirrored_points_and_bad_files_are_refused(tmp_path: Path) -> None:
    data = _points("anime_eileen_renpy.png").to_json()
    # The character's right and left confused: every "_r" point named "_l" and back.
    swapped = {
        "_".join({"r": "l", "l": "r"}.get(part, part) for part in n.split("_")): p
        for n, p in data["points"].items()
    }
    with pytest.raises(KeyPointsError, match="sides swapped"):
        keypoints_from_mapping({**data, "points": swapped})
    bad = tmp_path / "bad.json"
    bad.write_text('{"points": {"chin": [1, 2],}}')
    with pytest.raises(KeyPointsError, match=r"bad.json: not valid JSON \(line 1"):
        load_keypoints(bad)
    with pytest.raises(KeyPointsError, match="no such key points file"):
        load_keypoints(tmp_path / "missing.json")
    kp = _points("anime_eileen_renpy.png")
    with pytest.raises(KeyPointsError, match="placed on a 320×380 image"):
        prepare_character(PORTRAITS / "cartoon_woman_openclipart_head11.png", size=SIZE, points=kp)
    outside = KeyPoints({**kp.points, "chin": (160.0, 900.0)})
    with pytest.raises(KeyPointsError, match="'chin' at \\(160, 900\\) lies outside"):
        prepare_character(PORTRAITS / "anime_eileen_renpy.png", size=SIZE, points=outside)


# --- stylised faces ----------------------------------------------------------------------------


@pytest.mark.parametrize("portrait", STYLISED)
def test_stylised_faces_talk_and_return_to_rest(
    stylised_assets: dict[str, CharacterAsset], portrait: str
) -> None:
    asset = stylised_assets[portrait]
    assert asset.manifest["setup"] == "keypoints"
    renderer = WarpRenderer(asset)
    rest = renderer.render(asset.rest_curves).astype(np.int16)
    # The rest pose is the drawing itself.
    assert np.abs(rest[..., :3] - asset.image).mean() < 2.0
    ys, xs = _mouth_box(asset)
    h = rest.shape[0]
    for jaw in (0.4, 0.8):
        frame = renderer.render(_pose(asset, jawOpen=jaw)).astype(np.int16)
        change = np.abs(frame[ys, xs, :3] - rest[ys, xs, :3]).mean()
        assert change > 6.0, (portrait, jaw, change)
        # Only the lower face moves: the top third of the picture is untouched.
        assert np.abs(frame[: h // 3] - rest[: h // 3]).max() <= 2
    back = renderer.render(asset.rest_curves).astype(np.int16)
    assert np.array_equal(back, rest)
    # The mouth opens inside the face: the chin moves less than the face is tall.
    jaw_i = CURVE_INDEX["jawOpen"]
    lm = asset.landmarks
    chin_drop = float(asset.rig.deltas[jaw_i, 8, 1])
    assert 0 < chin_drop < 0.35 * float(lm[8, 1] - lm[27, 1])


@pytest.mark.parametrize("portrait", STYLISED)
def test_stylised_blink_closes_with_skin_not_smears(
    stylised_assets: dict[str, CharacterAsset], portrait: str
) -> None:
    asset = stylised_assets[portrait]
    renderer = WarpRenderer(asset)
    closed = renderer.render(_pose(asset, eyeBlinkLeft=1.0, eyeBlinkRight=1.0))
    lid = asset.textures["eye_r_lid"][..., :3].reshape(-1, 3).astype(np.float32)
    skin = np.median(lid, axis=0)
    # The lid is the face's own colour (a cheek patch), not the dark lash line or the iris.
    cx, cy = np.round((asset.landmarks[41] + asset.landmarks[48]) / 2).astype(int)
    cheek = np.median(asset.image[cy - 2 : cy + 3, cx - 2 : cx + 3].reshape(-1, 3), axis=0)
    assert np.abs(skin - cheek).max() < 40, (portrait, skin, cheek)
    # The closed eye hides the iris: inside the rest opening, away from the closed lid's line
    # (the drawing's own lash line, dark on purpose), far fewer dark pixels than open.
    for eye in (slice(36, 42), slice(42, 48)):
        poly = np.round(asset.landmarks[eye]).astype(np.int32)
        mask = np.zeros(closed.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, poly, 1)
        arc = np.round(closed_lid(asset.landmarks[eye])[:4] * 16).astype(np.int32)
        cv2.polylines(mask, [arc], False, 0, max(3, round(0.16 * asset.rig.iod)), cv2.LINE_8, 4)
        inside = mask > 0

        def dark(frame: np.ndarray, inside: np.ndarray = inside) -> float:
            return float((frame[..., :3][inside].mean(axis=1) < 0.6 * skin.mean()).mean())

        assert dark(closed) < 0.5 * dark(asset.image), (portrait, dark(closed))


def test_solid_background_is_keyed_and_stays_clean(
    stylised_assets: dict[str, CharacterAsset],
) -> None:
    for portrait in STYLISED:
        asset = stylised_assets[portrait]
        a = asset.alpha
        assert a[0, 0] == 0 and a[0, -1] == 0, portrait  # the fill is background
        nose = asset.landmarks[30].astype(int)
        assert a[nose[1], nose[0]] == 255
        # The plate behind the head is the fill colour, flat.
        assert asset.background.reshape(-1, 3).std(axis=0).max() < 1.0
    # Line art keeps its outline: the cartoon's dark jaw line stays opaque.
    cartoon = stylised_assets["cartoon_woman_openclipart_head11.png"]
    dark = cartoon.image.mean(axis=2) < 60
    assert (cartoon.alpha[dark] > 200).mean() > 0.95


def test_line_art_outline_stays_whole_when_the_jaw_drops(
    stylised_assets: dict[str, CharacterAsset],
) -> None:
    asset = stylised_assets["cartoon_woman_openclipart_head11.png"]
    frame = WarpRenderer(asset).render(_pose(asset, jawOpen=1.0))
    lm = asset.landmarks
    dark = frame[..., :3].mean(axis=2) < 80
    # Every column under the chin region still crosses the black outline below the mouth.
    y0 = int(lm[57, 1]) + 2
    for x in range(int(lm[7, 0]), int(lm[9, 0])):
        assert dark[y0:, x].any(), x


def test_transparent_input_keeps_its_alpha(tmp_path: Path) -> None:
    src = cv2.imread(str(PORTRAITS / "cartoon_woman_openclipart_head11.png"))
    white = (src.min(axis=2) > 245).astype(np.uint8)
    _, labels = cv2.connectedComponents(white, connectivity=4)
    outside = labels == labels[0, 0]
    alpha = np.where(outside, 0, 255).astype(np.uint8)
    path = tmp_path / "cartoon_rgba.png"
    cv2.imwrite(str(path), np.dstack([src, alpha]))
    kp = _points("cartoon_woman_openclipart_head11.png")
    asset = prepare_character(path, size=SIZE, points=kp)
    # The asset's alpha is the input's, cropped and scaled: compare through the same crop.
    portrait = load_portrait(path)
    expected = crop_square(portrait, fit_landmarks(kp), SIZE).alpha
    assert expected is not None
    assert np.array_equal(asset.alpha, expected)
    frame = WarpRenderer(asset).render(asset.rest_curves)
    assert np.array_equal(frame[..., 3], expected)


def test_an_animal_is_refused_by_detection_but_rigged_by_hand() -> None:
    cat = PORTRAITS / "negative_cat_chelsea.jpg"
    with pytest.raises(NoFaceError) as err:
        prepare_character(cat, size=SIZE)
    message = str(err.value)
    assert message.startswith("negative_cat_chelsea.jpg: no human face found")
    assert "--points" in message and "coming next" not in message
    asset = prepare_character(cat, size=SIZE, points=_points("negative_cat_chelsea.jpg"))
    renderer = WarpRenderer(asset)
    rest = renderer.render(asset.rest_curves).astype(np.int16)
    opened = renderer.render(_pose(asset, jawOpen=0.7)).astype(np.int16)
    ys, xs = _mouth_box(asset)
    assert np.abs(opened[ys, xs] - rest[ys, xs]).mean() > 3.0


# --- the command line --------------------------------------------------------------------------


def _lpm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    root = str(Path(__file__).resolve().parents[2])
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": root},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_prep_points_and_write_points_on_the_command_line(tmp_path: Path) -> None:
    photo = PORTRAITS / "photo_grace_hopper.jpg"
    written = tmp_path / "grace.json"
    res = _lpm("prep", str(photo), "--write-points", str(written), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    kp = load_keypoints(written)
    assert kp.image_size == (512, 600)
    out = tmp_path / "grace.lpmchar"
    res = _lpm("prep", str(photo), "--points", str(written), "-o", str(out), "--size", "256",
               cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    asset = CharacterAsset.load(out)
    assert asset.manifest["setup"] == "keypoints"
    # The asset built from the written points has the detected face's landmarks.
    lm = choose_face(load_portrait(photo)).landmarks
    np.testing.assert_allclose(
        np.array([asset.manifest["keypoints"][n] for n in KEYPOINT_NAMES]),
        keypoints_from_landmarks(lm).array(),
        atol=0.01,
    )
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = _lpm("prep", str(photo), "--points", str(bad), cwd=tmp_path)
    assert res.returncode == 2 and "bad.json: not valid JSON" in res.stderr
    res = _lpm("prep", str(PORTRAITS / "negative_cat_chelsea.jpg"), cwd=tmp_path)
    assert res.returncode == 2 and "--points" in res.stderr
    assert not list(tmp_path.glob("*.partial"))
