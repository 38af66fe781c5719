"""Loading portraits, choosing the face, head-and-shoulders crops — and every error a user can
hit, each a one-line message naming the file."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.face import FaceModels, descriptor_distance, face_descriptor, landmarks68
from models.portrait import (
    CUT_OFF_MARGIN,
    DETECTOR_NAME,
    MIN_SIDE,
    FaceCutOffError,
    FaceIndexError,
    ImageTooSmallError,
    NoFaceError,
    Portrait,
    PortraitError,
    UnreadableImageError,
    choose_face,
    crop_square,
    find_faces,
    load_portrait,
)
from tests.portraits import FACES, PORTRAITS, STYLISED

OBAMA = "photo_obama_official_portrait.jpg"


@pytest.fixture(scope="module")
def models() -> FaceModels:
    return FaceModels.default().load()


def read_bgr(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return bgr


def write_bgr(path: Path, bgr: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), bgr)
    return path


def expect_error(kind: type[PortraitError], path: Path, models: FaceModels, **kw: int) -> str:
    """Load + choose; the error must be ``kind`` with one line that names the file."""
    with pytest.raises(kind) as info:
        choose_face(load_portrait(path), kw.get("face_index"), models)
    message = str(info.value)
    assert "\n" not in message and message.startswith(path.name), message
    assert isinstance(info.value, ValueError)  # callers may catch ValueError
    return message


# --- loading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FACES + STYLISED + ("negative_cat_chelsea.jpg",))
def test_loads_every_test_portrait(name: str) -> None:
    path = PORTRAITS / name
    p = load_portrait(path)
    reference = read_bgr(path)
    assert p.rgb.dtype == np.uint8 and p.rgb.shape == reference.shape
    assert np.array_equal(p.rgb, reference[:, :, ::-1])  # RGB, not BGR
    assert p.size == (reference.shape[1], reference.shape[0])
    assert p.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert p.alpha is None and p.path == path and p.name == name


def test_keeps_alpha_and_orders_channels(tmp_path: Path) -> None:
    bgra = np.zeros((160, 200, 4), np.uint8)
    bgra[..., 2] = 200  # red
    bgra[..., 3] = np.linspace(0, 255, 200, dtype=np.uint8)[None, :]
    p = load_portrait(write_bgr(tmp_path / "rgba.png", bgra))
    assert p.rgb.shape == (160, 200, 3) and (p.rgb[..., 0] == 200).all()
    assert p.alpha is not None and np.array_equal(p.alpha, bgra[..., 3])
    assert p.size == (200, 160)


def test_grey_and_16_bit(tmp_path: Path) -> None:
    grey = np.tile(np.arange(200, dtype=np.uint8), (150, 1))
    p = load_portrait(write_bgr(tmp_path / "grey.png", grey))
    assert p.rgb.shape == (150, 200, 3) and np.array_equal(p.rgb[..., 1], grey)
    deep = np.zeros((150, 200, 3), np.uint16)
    deep[..., 0] = 65535  # blue at full scale
    deep[..., 2] = 257 * 100
    p = load_portrait(write_bgr(tmp_path / "deep.png", deep))
    assert p.rgb.dtype == np.uint8
    assert (p.rgb[..., 2] == 255).all() and (p.rgb[..., 0] == 100).all()
    deep_alpha = np.full((150, 200, 4), 65535, np.uint16)
    deep_alpha[..., 3] = 0
    p = load_portrait(write_bgr(tmp_path / "deep_alpha.png", deep_alpha))
    assert p.alpha is not None and p.alpha.dtype == np.uint8 and (p.alpha == 0).all()


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image_mod = pytest.importorskip("PIL.Image")
    img = image_mod.new("RGB", (300, 150), (255, 0, 0))
    exif = image_mod.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    (tmp_path / "phone.jpg").write_bytes(buf.getvalue())
    assert load_portrait(tmp_path / "phone.jpg").size == (150, 300)


# --- load errors -------------------------------------------------------------------------------


def one_line_naming(err: pytest.ExceptionInfo[PortraitError], name: str) -> str:
    message = str(err.value)
    assert "\n" not in message and name in message, message
    return message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImageError) as err:
        load_portrait(tmp_path / "nobody.png")
    assert "not found" in one_line_naming(err, "nobody.png")


def test_folder_and_empty_file(tmp_path: Path) -> None:
    (tmp_path / "pics.png").mkdir()
    with pytest.raises(UnreadableImageError) as err:
        load_portrait(tmp_path / "pics.png")
    assert "folder" in one_line_naming(err, "pics.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(UnreadableImageError) as err:
        load_portrait(tmp_path / "empty.jpg")
    assert "empty" in one_line_naming(err, "empty.jpg")


def test_text_file_renamed_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is a shopping list,\nnot a portrait\n")
    with pytest.raises(UnreadableImageError) as err:
        load_portrait(path)
    assert "not an image" in one_line_naming(err, "notes.png")


@pytest.mark.parametrize("name", ["anime_eileen_renpy.png", OBAMA])
def test_truncated_file(name: str, tmp_path: Path) -> None:
    data = (PORTRAITS / name).read_bytes()
    path = tmp_path / f"truncated_{name}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImageError) as err:
        load_portrait(path)
    one_line_naming(err, path.name)


def test_too_small(tmp_path: Path) -> None:
    path = write_bgr(tmp_path / "tiny.png", np.full((64, 64, 3), 128, np.uint8))
    with pytest.raises(ImageTooSmallError) as err:
        load_portrait(path)
    message = one_line_naming(err, "tiny.png")
    assert "64×64" in message and str(MIN_SIDE) in message
    # Only the shorter side matters.
    write_bgr(tmp_path / "strip.png", np.zeros((MIN_SIDE - 1, 1000, 3), np.uint8))
    with pytest.raises(ImageTooSmallError):
        load_portrait(tmp_path / "strip.png")
    assert load_portrait(write_bgr(tmp_path / "ok.png", np.zeros((MIN_SIDE, 1000, 3), np.uint8)))


# --- choosing the face -------------------------------------------------------------------------


@pytest.mark.parametrize("name", FACES)
def test_chooses_a_face_with_68_landmarks(name: str, models: FaceModels) -> None:
    chosen = choose_face(load_portrait(PORTRAITS / name), None, models)
    assert chosen.index == 0 and len(chosen.faces) == 1
    assert chosen.landmarks.shape == (68, 2) and chosen.landmarks.dtype == np.float32
    left, top, right, bottom = chosen.box
    pad = 0.25 * (right - left)
    lm = chosen.landmarks
    assert (lm[:, 0] > left - pad).all() and (lm[:, 0] < right + pad).all()
    assert (lm[:, 1] > top - pad).all() and (lm[:, 1] < bottom + pad).all()
    assert lm[36:48, 1].max() < lm[60:68, 1].min()  # eyes above the mouth


def test_astronaut_default_is_the_real_face(models: FaceModels) -> None:
    chosen = choose_face(load_portrait(PORTRAITS / "photo_astronaut_eileen_collins.jpg"))
    # dlib also fires on the mission patch (y ≈ 335..425) at the same size but a tenth of
    # the score: it is dropped as spurious, and the default is the face (y ≈ 76..166).
    assert chosen.rejected == 1 and len(chosen.faces) == 1
    assert chosen.box[3] < 200
    assert chosen.score > 1.0


def test_astronaut_second_face_does_not_exist(models: FaceModels) -> None:
    message = expect_error(
        FaceIndexError, PORTRAITS / "photo_astronaut_eileen_collins.jpg", models, face_index=1
    )
    assert "1 face found" in message and "spurious" in message


def test_face_index_out_of_range(models: FaceModels) -> None:
    message = expect_error(FaceIndexError, PORTRAITS / OBAMA, models, face_index=5)
    assert "index 5" in message and "1 face found" in message
    expect_error(FaceIndexError, PORTRAITS / OBAMA, models, face_index=-1)


def test_picks_the_requested_face_largest_first(tmp_path: Path, models: FaceModels) -> None:
    big = read_bgr(PORTRAITS / OBAMA)
    small = cv2.resize(read_bgr(PORTRAITS / "photo_grace_hopper.jpg"), None, fx=0.6, fy=0.6)
    canvas = np.full((big.shape[0], big.shape[1] + small.shape[1] + 20, 3), 90, np.uint8)
    canvas[:, : big.shape[1]] = big
    canvas[100 : 100 + small.shape[0], big.shape[1] + 20 :] = small
    portrait = load_portrait(write_bgr(tmp_path / "two.png", canvas))
    first, second = choose_face(portrait, 0, models), choose_face(portrait, 1, models)
    assert len(first.faces) == 2 and first.faces[0].area > first.faces[1].area
    assert first.box[2] < big.shape[1] < second.box[0]
    assert choose_face(portrait, None, models).box == first.box


def test_cat_has_no_face(models: FaceModels) -> None:
    message = expect_error(NoFaceError, PORTRAITS / "negative_cat_chelsea.jpg", models)
    assert DETECTOR_NAME in message and "--points points.json" in message


@pytest.mark.parametrize("name", STYLISED)
def test_stylised_portraits_have_no_face_not_a_crash(name: str, models: FaceModels) -> None:
    message = expect_error(NoFaceError, PORTRAITS / name, models)
    assert "dlib HOG frontal face detector" in message and "--points" in message


# Obama's face box is about (242, 98, 428, 284) with the chin at y ≈ 288 in the 615×768 file.
CUTS = {
    "left": (slice(None), slice(250, None)),
    "top": (slice(110, None), slice(None)),
    "right": (slice(None), slice(None, 420)),
    "bottom": (slice(None, 280), slice(None)),  # box fits, the chin does not
}


@pytest.mark.parametrize("side", CUTS)
def test_face_cut_off_at_the_border(side: str, tmp_path: Path, models: FaceModels) -> None:
    bgr = read_bgr(PORTRAITS / OBAMA)
    path = write_bgr(tmp_path / f"obama_cut_{side}.png", np.ascontiguousarray(bgr[CUTS[side]]))
    message = expect_error(FaceCutOffError, path, models)
    assert f"cut off at the {side} edge" in message


def test_face_with_room_around_it_is_not_cut_off(tmp_path: Path, models: FaceModels) -> None:
    bgr = read_bgr(PORTRAITS / OBAMA)
    # 186 px face: 15 % margin is 28 px; leave 40 px on every side of the box and the chin.
    path = write_bgr(tmp_path / "obama_tight.png", np.ascontiguousarray(bgr[58:330, 202:468]))
    chosen = choose_face(load_portrait(path), None, models)
    assert CUT_OFF_MARGIN * (chosen.box[2] - chosen.box[0]) < chosen.box[0]


# --- head-and-shoulders crop -------------------------------------------------------------------


@pytest.fixture(scope="module")
def obama(models: FaceModels) -> tuple[Portrait, np.ndarray]:
    portrait = load_portrait(PORTRAITS / OBAMA)
    return portrait, choose_face(portrait, None, models).landmarks


def test_crop_is_centred_on_the_face_and_maps_landmarks(
    obama: tuple[Portrait, np.ndarray], models: FaceModels
) -> None:
    portrait, lm = obama
    crop = crop_square(portrait, lm, 256)
    assert crop.image.shape == (256, 256, 3) and crop.image.dtype == np.uint8
    assert crop.alpha is None and crop.affine.shape == (2, 3)
    mapped = crop.map_points(lm)
    assert (mapped > 0).all() and (mapped < 255).all()
    # Face size ~ a third of the square (scale 2.6), eyes in the upper half, chin above 3/4.
    face = max(np.ptp(mapped[:, 0]), np.ptp(mapped[:, 1]))
    assert 256 / 2.6 - 3 < face < 256 / 2.6 + 3
    assert mapped[36:48, 1].mean() < 128 and mapped[8, 1] < 192
    assert abs(mapped[:, 0].min() + mapped[:, 0].max() - 256) < 20  # horizontally centred
    # The map is exact: landmarks found again on the crop land where the map puts them.
    (x0, y0), (x1, y1) = mapped.min(0), mapped.max(0)
    again = landmarks68(crop.image, (x0, y0, x1, y1), models=models)
    assert np.median(np.linalg.norm(again - mapped, axis=1)) < 2.5
    assert np.allclose(crop.unmap_points(mapped), lm, atol=1e-6)
    # Same person after crop and resize.
    d_src = face_descriptor(portrait.rgb, lm, models=models)
    d_crop = face_descriptor(crop.image, again, models=models)
    assert descriptor_distance(d_src, d_crop) < 0.4


@pytest.mark.parametrize("size", [96, 256, 777])  # INTER_AREA down, INTER_CUBIC up
def test_crop_affine_is_exact_to_a_fraction_of_a_pixel(size: int) -> None:
    # A blurred dot at a sub-pixel position: its centroid in the crop is where the map says.
    yy, xx = np.mgrid[0:600, 0:640]
    dot = np.array([301.3, 287.6])
    blob = np.exp(-((xx - dot[0]) ** 2 + (yy - dot[1]) ** 2) / (2 * 4.0**2))
    image = np.dstack([(250 * blob).round().astype(np.uint8)] * 3)
    fake_landmarks = np.random.default_rng(0).uniform([250, 230], [350, 340], (68, 2))
    crop = crop_square(image, fake_landmarks, size)
    assert crop.affine[0, 0] == pytest.approx(size / crop.source_square[2])
    weight = crop.image[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0:size, 0:size]
    centroid = np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()
    assert np.abs(centroid - crop.map_points(dot)).max() < 0.05


def test_crop_of_a_small_image_uses_the_largest_square(
    obama: tuple[Portrait, np.ndarray],
) -> None:
    portrait, lm = obama
    # Keep 300 rows around the face: the 2.6× square (~460 px) does not fit.
    rgb = np.ascontiguousarray(portrait.rgb[40:340])
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :50] = 0
    shifted = lm - np.array([0, 40], np.float32)
    crop = crop_square(rgb, shifted, 128, alpha=alpha)
    x0, y0, side = crop.source_square
    assert side == 300 and y0 == 0
    assert x0 <= shifted[:, 0].min() and shifted[:, 0].max() <= x0 + side
    mapped = crop.map_points(shifted)
    assert (mapped >= 0).all() and (mapped <= 127).all()
    assert crop.alpha is not None and crop.alpha.shape == (128, 128)
    # Face near the image's left edge: the square is moved, not shrunk, and keeps the face.
    left = crop_square(portrait.rgb, lm - [200, 0], 128)
    assert left.source_square[0] == 0 and left.source_square[2] > 400


def test_crop_keeps_the_portrait_alpha(tmp_path: Path, models: FaceModels) -> None:
    bgr = read_bgr(PORTRAITS / OBAMA)
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)])
    bgra[:, :100, 3] = 0
    portrait = load_portrait(write_bgr(tmp_path / "obama_rgba.png", bgra))
    chosen = choose_face(portrait, None, models)
    crop = crop_square(portrait, chosen.landmarks, 200)
    x0, y0, side = crop.source_square
    assert crop.alpha is not None and portrait.alpha is not None
    window = portrait.alpha[y0 : y0 + side, x0 : x0 + side]
    expected = cv2.resize(window, (200, 200), interpolation=cv2.INTER_AREA)
    assert np.array_equal(crop.alpha, expected)


def test_find_faces_downscales_large_images(models: FaceModels) -> None:
    bgr = read_bgr(PORTRAITS / OBAMA)
    big = cv2.resize(bgr, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_CUBIC)[:, :, ::-1]
    faces, rejected = find_faces(np.ascontiguousarray(big), models)
    assert len(faces) == 1 and rejected == 0
    left, _, right, _ = faces[0].box
    # Boxes come back in full-resolution pixels (the face is ~186 px in the original).
    assert 2.5 * 150 < right - left < 2.5 * 230 and 2.5 * 200 < left < 2.5 * 290
