"""The rig, the character asset file and the warp renderer, measured on real portraits.

Where a test needs to know what the face did, it asks an independent model (dlib's 68-point
landmarks on the rendered pixels) rather than the renderer's own geometry.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from models.face import FaceModels, detect_faces, eye_openness, inner_mouth_opening, landmarks68
from models.motion import CURVE_INDEX, CURVE_NAMES, NUM_BLENDSHAPES
from models.render.asset import AssetFormatError, CharacterAsset
from models.render.prep import PrepError, prepare_character, prepare_default_character
from models.render.rig import EYE_L, EYE_R, INNER_LIPS, OUTER_LIPS, build_rig, fit_rest_curves
from models.render.warp import WarpRenderer
from tests.portraits import PORTRAITS


@pytest.fixture(scope="module")
def models() -> FaceModels:
    return FaceModels.default()


@pytest.fixture(scope="module")
def asset() -> CharacterAsset:
    return prepare_default_character(size=384)


@pytest.fixture(scope="module")
def renderer(asset: CharacterAsset) -> WarpRenderer:
    return WarpRenderer(asset)


def _pose(asset: CharacterAsset, **values: float) -> np.ndarray:
    c = asset.rest_curves.copy()
    for k, v in values.items():
        c[CURVE_INDEX[k]] = v
    return c


def _landmarks(frame: np.ndarray, models: FaceModels) -> np.ndarray:
    rgb = np.ascontiguousarray(frame[..., :3])
    faces = detect_faces(rgb, upsample=1, models=models)
    assert faces, "dlib lost the face on a rendered frame"
    return landmarks68(rgb, faces[0].box, models=models)


def test_rest_pose_renders_the_portrait(asset: CharacterAsset, renderer: WarpRenderer) -> None:
    frame = renderer.render(asset.rest_curves)
    assert frame.shape == (384, 384, 4) and frame.dtype == np.uint8
    diff = np.abs(frame[..., :3].astype(int) - asset.image.astype(int))
    assert diff.mean() < 1.5, diff.mean()
    # Alpha covers the face and not the top corners of the background.
    lm = asset.landmarks.astype(int)
    assert frame[lm[30, 1], lm[30, 0], 3] > 200
    assert frame[2, 2, 3] < 30 and frame[2, -3, 3] < 30


def test_jaw_opens_and_closes_as_dlib_sees_it(
    asset: CharacterAsset, renderer: WarpRenderer, models: FaceModels
) -> None:
    rest_jaw = float(asset.rest_curves[CURVE_INDEX["jawOpen"]])
    assert rest_jaw > 0.1  # the astronaut grins with her teeth showing
    openings = [
        inner_mouth_opening(_landmarks(renderer.render(_pose(asset, jawOpen=j)), models))
        for j in (0.0, rest_jaw, 0.55, 0.9)
    ]
    assert openings == sorted(openings), openings
    assert openings[0] < 0.5 * openings[1], "jawOpen 0 must close the grinning mouth"
    assert openings[3] > openings[1] + 0.15


def test_blinks_close_the_eyes_as_dlib_sees_them(
    asset: CharacterAsset, renderer: WarpRenderer, models: FaceModels
) -> None:
    rest_r, rest_l = eye_openness(_landmarks(renderer.render(asset.rest_curves), models))
    both = _pose(asset, eyeBlinkLeft=1.0, eyeBlinkRight=1.0)
    r, left = eye_openness(_landmarks(renderer.render(both), models))
    assert left < 0.6 * rest_l and r < 0.6 * rest_r, (r, left, rest_r, rest_l)
    # eyeBlinkLeft is the character's left eye: the one on the image's right (dlib 42-47).
    # dlib's shape prior couples the eyes, so which eye closed is read off the pixels.
    rest = renderer.render(asset.rest_curves)[..., :3].astype(int)
    left_closed = renderer.render(_pose(asset, eyeBlinkLeft=1.0))[..., :3].astype(int)
    lm = asset.landmarks

    def change(eye: np.ndarray) -> float:
        x0, y0 = lm[eye].min(axis=0).astype(int)
        x1, y1 = lm[eye].max(axis=0).astype(int) + 1
        return float(np.abs(left_closed[y0:y1, x0:x1] - rest[y0:y1, x0:x1]).mean())

    assert change(EYE_L) > 15.0 and change(EYE_R) < 1.0, (change(EYE_L), change(EYE_R))


def test_head_yaw_moves_the_nose_toward_the_viewers_right(
    asset: CharacterAsset, renderer: WarpRenderer, models: FaceModels
) -> None:
    rest = _landmarks(renderer.render(asset.rest_curves), models)
    right = _landmarks(renderer.render(_pose(asset, headYaw=0.17)), models)
    left = _landmarks(renderer.render(_pose(asset, headYaw=-0.17)), models)
    assert right[30, 0] > rest[30, 0] + 2 > left[30, 0] + 4
    down = _landmarks(renderer.render(_pose(asset, headPitch=0.17)), models)
    assert down[30, 1] > rest[30, 1] + 2


def test_every_blendshape_does_something_where_it_should(
    asset: CharacterAsset, renderer: WarpRenderer
) -> None:
    rest = renderer.render(asset.rest_curves)[..., :3].astype(np.int16)
    lm = asset.landmarks

    def box(idx: np.ndarray, pad: float) -> tuple[slice, slice]:
        p = lm[idx]
        d = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0)) * pad
        return (
            slice(int(p[:, 1].min() - d), int(p[:, 1].max() + d)),
            slice(int(p[:, 0].min() - d), int(p[:, 0].max() + d)),
        )

    regions = {
        "mouth": box(np.r_[OUTER_LIPS, 4:13], 0.2),
        "eyes": box(np.r_[EYE_R, EYE_L, 17:27], 0.25),
    }
    for i, name in enumerate(CURVE_NAMES[:NUM_BLENDSHAPES]):
        c = asset.rest_curves.copy()
        c[i] = 1.0 if c[i] < 0.5 else 0.0
        frame = renderer.render(c)[..., :3].astype(np.int16)
        changed = np.abs(frame - rest).max(axis=2) > 12
        assert changed.sum() > 20, f"{name} changes nothing"
        if name.startswith(("mouth", "jaw", "tongue")):
            assert changed[regions["mouth"]].sum() > 0.6 * changed.sum(), name
        if name.startswith(("eye", "brow")):
            assert changed[regions["eyes"]].sum() > 0.6 * changed.sum(), name


def test_head_roll_reveals_background_not_holes(
    asset: CharacterAsset, renderer: WarpRenderer
) -> None:
    frame = renderer.render(_pose(asset, headRoll=0.17))
    rgb = frame[..., :3]
    # No black holes or transparent gaps inside the frame: the background plate shows.
    assert (rgb.max(axis=2) < 8).mean() < (asset.image.max(axis=2) < 8).mean() + 0.002
    moved = np.abs(rgb.astype(int) - asset.image.astype(int)).max(axis=2) > 20
    assert moved.mean() > 0.02


def test_bad_curves_and_output_size(asset: CharacterAsset, renderer: WarpRenderer) -> None:
    with pytest.raises(ValueError, match="NaN"):
        renderer.render(np.full(61, np.nan, np.float32))
    with pytest.raises(ValueError, match="61"):
        renderer.render(np.zeros(60, np.float32))
    small = WarpRenderer(asset, output_size=128).render(asset.rest_curves)
    assert small.shape == (128, 128, 4)
    # Out-of-range curves are clamped, not extrapolated into garbage.
    wild = renderer.render(np.full(61, 50.0, np.float32))
    assert wild.shape == (384, 384, 4)


def test_rig_outlines_are_triangle_edges_and_scale_with_the_face(asset: CharacterAsset) -> None:
    rig = asset.rig
    edges = set()
    for a, b, c in rig.triangles:
        edges |= {frozenset((a, b)), frozenset((b, c)), frozenset((a, c))}
    for outline in (OUTER_LIPS, INNER_LIPS, EYE_R, EYE_L):
        for i in range(len(outline)):
            seg = frozenset((int(outline[i]), int(outline[(i + 1) % len(outline)])))
            assert seg in edges, f"outline segment {tuple(seg)} is not a triangle edge"
    assert np.all(rig.deltas[:, rig.groups["border"]] == 0)
    lm = asset.landmarks.astype(np.float64)
    big = build_rig(lm * 2.0, (768, 768))
    jaw = CURVE_INDEX["jawOpen"]
    np.testing.assert_allclose(
        big.deltas[jaw, :68], 2.0 * rig.deltas[jaw, :68], rtol=1e-3, atol=1e-3
    )


def test_rest_pose_is_fitted_from_the_portrait(models: FaceModels) -> None:
    hopper = prepare_character(PORTRAITS / "photo_grace_hopper.jpg", size=256)
    assert hopper.rest_curves[CURVE_INDEX["jawOpen"]] < 0.08
    astro = prepare_default_character(size=256)
    assert astro.rest_curves[CURVE_INDEX["jawOpen"]] > 0.1
    assert astro.rest_curves[CURVE_INDEX["mouthSmileLeft"]] > 0.2
    np.testing.assert_allclose(fit_rest_curves(astro.landmarks), astro.rest_curves, atol=1e-6)


def test_asset_round_trip_and_version_errors(asset: CharacterAsset, tmp_path: Path) -> None:
    path = asset.save(tmp_path / "astro.lpmchar")
    back = CharacterAsset.load(path)
    np.testing.assert_array_equal(back.image, asset.image)
    np.testing.assert_array_equal(back.rig.deltas, asset.rig.deltas)
    assert back.manifest["format_version"] == 1
    assert back.manifest["source"]["sha256"] == asset.manifest["source"]["sha256"]
    assert set(back.textures) == set(asset.textures)
    np.testing.assert_array_equal(
        WarpRenderer(back).render(_pose(back, jawOpen=0.7)),
        WarpRenderer(asset).render(_pose(asset, jawOpen=0.7)),
    )
    old = tmp_path / "old.lpmchar"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        manifest = json.loads(src.read("manifest.json"))
        manifest["format_version"] = 99
        dst.writestr("manifest.json", json.dumps(manifest))
        dst.writestr("arrays.npz", src.read("arrays.npz"))
    with pytest.raises(AssetFormatError, match="version 99"):
        CharacterAsset.load(old)
    junk = tmp_path / "junk.lpmchar"
    junk.write_bytes(b"not a zip")
    with pytest.raises(AssetFormatError, match="not a character asset"):
        CharacterAsset.load(junk)
    with pytest.raises(AssetFormatError, match="no such"):
        CharacterAsset.load(tmp_path / "missing.lpmchar")


def test_prep_argument_errors() -> None:
    with pytest.raises(PrepError, match="size"):
        prepare_character(PORTRAITS / "photo_grace_hopper.jpg", size=64)
    with pytest.raises(PrepError, match="unknown reference kind"):
        prepare_character(
            PORTRAITS / "photo_grace_hopper.jpg", size=256, refs={"tail": Path("x.png")}
        )


def test_mouth_open_reference_replaces_the_interior(tmp_path: Path) -> None:
    # A reference of the same character with the mouth open: made here by rendering one.
    base = prepare_character(PORTRAITS / "photo_grace_hopper.jpg", size=256)
    opened = WarpRenderer(base).render(_pose(base, jawOpen=0.8))
    ref = tmp_path / "open.png"
    import cv2

    cv2.imwrite(str(ref), cv2.cvtColor(opened[..., :3], cv2.COLOR_RGB2BGR))
    with_ref = prepare_character(
        PORTRAITS / "photo_grace_hopper.jpg", size=256, refs={"mouth_open": ref}
    )
    assert not np.array_equal(with_ref.textures["mouth_upper"], base.textures["mouth_upper"])
    frame = WarpRenderer(with_ref).render(_pose(with_ref, jawOpen=0.8))
    assert frame.shape == (256, 256, 4)
