"""dlib face analysis on the real test portraits: detection, 68 landmarks, identity descriptor,
mouth and eye measurements, model loading."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

import models.face as face_mod
from models.face import (
    INNER_LIPS,
    LANDMARK_GROUPS,
    LEFT_EYE,
    MOUTH,
    NOSE,
    NUM_LANDMARKS,
    RIGHT_EYE,
    SAME_PERSON_DISTANCE,
    FaceDetection,
    FaceModels,
    FaceModelsMissingError,
    descriptor_distance,
    detect_faces,
    eye_openness,
    face_descriptor,
    inner_mouth_opening,
    inter_ocular_distance,
    landmarks68,
)
from tests.portraits import FACES, PORTRAITS


def read_rgb(name: str) -> np.ndarray:
    bgr = cv2.imread(str(PORTRAITS / name), cv2.IMREAD_COLOR)
    assert bgr is not None, name
    return np.ascontiguousarray(bgr[:, :, ::-1])


@pytest.fixture(scope="module")
def models() -> FaceModels:
    return FaceModels.default().load()


class Analysed:
    def __init__(self, rgb: np.ndarray, faces: list[FaceDetection], lm: np.ndarray) -> None:
        self.rgb, self.faces, self.lm = rgb, faces, lm


@pytest.fixture(scope="module")
def analysed(models: FaceModels) -> dict[str, Analysed]:
    """Every face portrait detected once (the expensive part), shared by the tests below."""
    out = {}
    for name in FACES:
        rgb = read_rgb(name)
        faces = detect_faces(rgb, upsample=1, models=models)
        assert faces, f"no face in {name}"
        out[name] = Analysed(rgb, faces, landmarks68(rgb, faces[0], models=models))
    return out


@pytest.fixture(scope="module")
def descriptors(models: FaceModels, analysed: dict[str, Analysed]) -> dict[str, np.ndarray]:
    return {name: face_descriptor(a.rgb, a.lm, models=models) for name, a in analysed.items()}


def test_landmark_groups_cover_all_68_points_once() -> None:
    joined = np.concatenate(list(LANDMARK_GROUPS.values()))
    assert sorted(joined.tolist()) == list(range(NUM_LANDMARKS))
    assert RIGHT_EYE.tolist() == [36, 37, 38, 39, 40, 41]
    assert LEFT_EYE.tolist() == [42, 43, 44, 45, 46, 47]
    assert INNER_LIPS.tolist() == list(range(60, 68))
    assert NOSE.tolist() == list(range(27, 36))
    with pytest.raises(ValueError):
        RIGHT_EYE[0] = 0  # shared constants are read-only


@pytest.mark.parametrize("name", FACES)
def test_landmarks_sit_on_the_face(name: str, analysed: dict[str, Analysed]) -> None:
    a = analysed[name]
    lm = a.lm
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    left, top, right, bottom = a.faces[0].box
    pad = 0.25 * (right - left)  # dlib's box is tight: the jaw line may poke out a little
    assert (lm[:, 0] >= left - pad).all() and (lm[:, 0] <= right + pad).all()
    assert (lm[:, 1] >= top - pad).all() and (lm[:, 1] <= bottom + pad).all()
    right_eye, left_eye = lm[RIGHT_EYE].mean(0), lm[LEFT_EYE].mean(0)
    mouth, nose_tip = lm[MOUTH].mean(0), lm[30]
    # Image y grows downward: eyes above the nose tip, above the mouth, above the chin.
    assert max(right_eye[1], left_eye[1]) < nose_tip[1] < mouth[1] < lm[8, 1]
    # The character's right eye is on the image's left; the nose sits between the eyes.
    assert right_eye[0] < nose_tip[0] < left_eye[0]
    assert lm[0, 0] < lm[8, 0] < lm[16, 0]
    assert lm[48, 0] < lm[54, 0]  # mouth corners
    assert inter_ocular_distance(lm) > 0.25 * a.faces[0].width


def test_detections_are_sorted_largest_first(analysed: dict[str, Analysed]) -> None:
    faces = analysed["photo_astronaut_eileen_collins.jpg"].faces
    assert len(faces) == 2  # the face and the mission patch (LICENSES.md)
    assert faces[0].area >= faces[1].area
    assert faces[0].box[1] < 200 < faces[1].box[1]  # the real face is the upper one
    assert faces[0].score > 0.5 > faces[1].score
    for f in faces:
        assert all(isinstance(v, float) for v in f.box)


def test_no_face_on_the_cat(models: FaceModels) -> None:
    assert detect_faces(read_rgb("negative_cat_chelsea.jpg"), models=models) == []


def test_rejects_non_rgb_input(models: FaceModels) -> None:
    grey = cv2.cvtColor(read_rgb("photo_grace_hopper.jpg"), cv2.COLOR_RGB2GRAY)
    with pytest.raises(ValueError, match="RGB uint8"):
        detect_faces(grey, models=models)
    with pytest.raises(ValueError, match="RGB uint8"):
        detect_faces(np.zeros((200, 200, 3), np.float32), models=models)


def test_descriptor_of_the_same_image_is_identical(
    models: FaceModels, analysed: dict[str, Analysed], descriptors: dict[str, np.ndarray]
) -> None:
    a = analysed["photo_obama_official_portrait.jpg"]
    d = descriptors["photo_obama_official_portrait.jpg"]
    assert d.shape == (128,) and d.dtype == np.float32
    assert descriptor_distance(d, face_descriptor(a.rgb, a.lm, models=models)) == 0.0
    # Given a box, the landmarks are found first: same chip, same descriptor.
    assert descriptor_distance(d, face_descriptor(a.rgb, a.faces[0].box, models=models)) < 1e-6


@pytest.mark.parametrize("name", FACES)
def test_descriptor_survives_shift_and_rescale(
    name: str, models: FaceModels, descriptors: dict[str, np.ndarray]
) -> None:
    rgb = read_rgb(name)
    h, w = rgb.shape[:2]
    moved = cv2.resize(
        rgb[17 : h - 9, 23 : w - 11], None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA
    )
    # Highest score, not largest: on the astronaut the mission patch is about as large.
    face = max(detect_faces(moved, models=models), key=lambda f: f.score)
    lm = landmarks68(moved, face, models=models)
    dist = descriptor_distance(descriptors[name], face_descriptor(moved, lm, models=models))
    assert dist < 0.4, dist


def test_different_people_are_far_apart(descriptors: dict[str, np.ndarray]) -> None:
    obama = descriptors["photo_obama_official_portrait.jpg"]
    hopper = descriptors["photo_grace_hopper.jpg"]
    assert descriptor_distance(obama, hopper) > SAME_PERSON_DISTANCE
    names = list(descriptors)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert descriptor_distance(descriptors[a], descriptors[b]) > SAME_PERSON_DISTANCE, (
                a,
                b,
            )


def test_mouth_opening(analysed: dict[str, Analysed]) -> None:
    def opening(name: str) -> float:
        return inner_mouth_opening(analysed[name].lm)

    # Open smiles showing teeth (the astronaut; the Obama portrait too) vs closed lips.
    assert opening("photo_astronaut_eileen_collins.jpg") > 0.08
    assert opening("photo_obama_official_portrait.jpg") > 0.08
    assert opening("painting_mona_lisa.jpg") < 0.05
    assert opening("photo_grace_hopper.jpg") < 0.05

    lm = analysed["photo_astronaut_eileen_collins.jpg"].lm.copy()
    assert inner_mouth_opening(lm * 3.0) == pytest.approx(inner_mouth_opening(lm), rel=1e-5)
    for upper, lower in face_mod.INNER_LIP_PAIRS:
        lm[lower] = lm[upper]
    assert inner_mouth_opening(lm) == 0.0


@pytest.mark.parametrize("name", FACES)
def test_eye_openness_is_plausible(name: str, analysed: dict[str, Analysed]) -> None:
    lm = analysed[name].lm
    right, left = eye_openness(lm)  # image-left eye (the character's right) first
    assert 0.15 < left < 0.45 and 0.15 < right < 0.45, (left, right)
    closed = lm.copy()
    closed[[37, 38]] = closed[[41, 40]]  # 36-41: upper lid onto the lower lid
    assert eye_openness(closed).right == eye_openness(closed)[0] == 0.0
    assert eye_openness(closed).left == pytest.approx(left)
    closed = lm.copy()
    closed[[43, 44]] = closed[[47, 46]]  # 42-47
    assert eye_openness(closed).left == 0.0
    assert eye_openness(closed).right == pytest.approx(right)


def test_measurements_reject_wrong_shapes() -> None:
    with pytest.raises(ValueError):
        inner_mouth_opening(np.zeros((5, 2)))
    with pytest.raises(ValueError):
        eye_openness(np.zeros((68, 3)))


def test_missing_model_files_give_a_clear_error(tmp_path: Path) -> None:
    empty = FaceModels(model_dir=tmp_path)
    image = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(FaceModelsMissingError, match=r"shape_predictor_68_face_landmarks\.dat"):
        landmarks68(image, (10.0, 10.0, 60.0, 60.0), models=empty)
    lm = np.tile(np.linspace(20, 80, 68, dtype=np.float32)[:, None], (1, 2))
    with pytest.raises(FaceModelsMissingError, match=r"dlib_face_recognition_resnet_model_v1"):
        face_descriptor(image, lm, models=empty)
    with pytest.raises(
        FaceModelsMissingError, match=r"shape_predictor.*resnet_model_v1.*not found"
    ):
        empty.load()  # names every missing file at once
    real = FaceModels.default()
    assert real.path(face_mod.PREDICTOR_FILE).is_file()
    assert real.path(face_mod.DESCRIPTOR_FILE).is_file()


def test_default_is_shared() -> None:
    assert FaceModels.default() is FaceModels.default()


def test_loading_is_thread_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    builds = 0
    real = face_mod.dlib.get_frontal_face_detector
    lock = threading.Lock()

    def slow_build() -> object:
        nonlocal builds
        with lock:
            builds += 1
        time.sleep(0.05)  # widen the race window
        return real()

    monkeypatch.setattr(face_mod.dlib, "get_frontal_face_detector", slow_build)
    fresh = FaceModels()
    image = read_rgb("photo_grace_hopper.jpg")
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: detect_faces(image, 0, models=fresh), range(6)))
    assert builds == 1
    assert all(r == results[0] and len(r) == 1 for r in results)


def test_concurrent_descriptors_agree(models: FaceModels, analysed: dict[str, Analysed]) -> None:
    a = analysed["photo_grace_hopper.jpg"]
    with ThreadPoolExecutor(4) as pool:
        ds = list(pool.map(lambda _: face_descriptor(a.rgb, a.lm, models=models), range(4)))
    assert all(np.array_equal(d, ds[0]) for d in ds)
