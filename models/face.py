"""Face analysis with dlib: detection, 68 landmarks, the 128-d identity descriptor, and two
measurements read off the landmarks (mouth opening, eye openness).

Three dlib models, loaded lazily by :class:`FaceModels`:

* the HOG frontal face detector (built into dlib, no file),
* the 68-point shape predictor ``shape_predictor_68_face_landmarks.dat`` (iBUG 300-W layout),
* the ResNet face descriptor ``dlib_face_recognition_resnet_model_v1.dat`` (128-d, trained so
  that two photos of the same person lie closer than :data:`SAME_PERSON_DISTANCE` = 0.6).

The model files come from the ``face-recognition-models`` package. Its ``__init__`` imports
``pkg_resources`` (gone from recent setuptools), so the package is located with
:func:`importlib.util.find_spec` and never imported.

Conventions: images are RGB ``uint8 [H, W, 3]``; points are ``(x, y)`` pixels with integer
coordinates at pixel centres (dlib's convention); boxes are ``(left, top, right, bottom)``.
"Right" and "left" in landmark names are the *character's* own sides, as in ARKit
(``eyeBlinkLeft``): the character's right eye is on the image's left.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

import dlib
import numpy as np

# --- 68-point landmark layout (0-based indices, iBUG 300-W) ------------------------------------


def _group(start: int, stop: int) -> np.ndarray:
    idx = np.arange(start, stop)
    idx.flags.writeable = False
    return idx


NUM_LANDMARKS = 68
JAW = _group(0, 17)  # 0 = image-left end (character's right ear), 8 = chin, 16 = other end
RIGHT_BROW = _group(17, 22)  # character's right brow (image left), outer → inner
LEFT_BROW = _group(22, 27)  # character's left brow (image right), inner → outer
NOSE_BRIDGE = _group(27, 31)  # top of the bridge → 30 = nose tip
NOSE_BASE = _group(31, 36)  # nostrils, image left → right
NOSE = _group(27, 36)
RIGHT_EYE = _group(36, 42)  # 36 outer corner, 37-38 upper lid, 39 inner corner, 40-41 lower lid
LEFT_EYE = _group(42, 48)  # 42 inner corner, 43-44 upper lid, 45 outer corner, 46-47 lower lid
OUTER_LIPS = _group(48, 60)  # 48 right corner, 49-53 upper, 54 left corner, 55-59 lower
INNER_LIPS = _group(60, 68)  # 60 right corner, 61-63 upper, 64 left corner, 65-67 lower
MOUTH = _group(48, 68)
NOSE_TIP = 30
CHIN = 8

LANDMARK_GROUPS: dict[str, np.ndarray] = {
    "jaw": JAW,
    "right_brow": RIGHT_BROW,
    "left_brow": LEFT_BROW,
    "nose_bridge": NOSE_BRIDGE,
    "nose_base": NOSE_BASE,
    "right_eye": RIGHT_EYE,
    "left_eye": LEFT_EYE,
    "outer_lips": OUTER_LIPS,
    "inner_lips": INNER_LIPS,
}

# Upper inner-lip point → the lower inner-lip point facing it.
INNER_LIP_PAIRS: tuple[tuple[int, int], ...] = ((61, 67), (62, 66), (63, 65))

# dlib's usual decision threshold on descriptor distance: below it, the same person (99.38 % on
# LFW, per dlib's dnn_face_recognition_ex.cpp).
SAME_PERSON_DISTANCE = 0.6

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MODELS_PACKAGE = "face_recognition_models"

Box = tuple[float, float, float, float]


class FaceModelsMissingError(FileNotFoundError):
    """A dlib model file is not where it should be (one readable line)."""


# --- models ------------------------------------------------------------------------------------

_T = TypeVar("_T")


class _Lazy(Generic[_T]):
    """One model, built on first use. ``call`` holds a lock: dlib's detector and ResNet keep
    per-call scratch state inside the model object, so concurrent calls are serialised."""

    def __init__(self, build: Callable[[], _T]) -> None:
        self._build = build
        self._value: _T | None = None
        self._lock = threading.Lock()

    def get(self) -> _T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value

    def call(self, fn: Callable[[_T], Any]) -> Any:
        model = self.get()
        with self._lock:
            return fn(model)


def default_model_dir() -> Path:
    """``<site-packages>/face_recognition_models/models``, found without importing the package."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise FaceModelsMissingError(
            f"the dlib model files are missing: package {MODELS_PACKAGE!r} is not installed "
            "(pip install face-recognition-models==0.3.0)"
        )
    return Path(locations[0]) / "models"


class FaceModels:
    """dlib's face detector, 68-point shape predictor and ResNet descriptor, loaded lazily.

    One instance can be shared between threads (loading happens once, calls into each model are
    serialised). :meth:`default` returns a process-wide shared instance.
    """

    def __init__(self, model_dir: str | Path | None = None) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self._detector = _Lazy(dlib.get_frontal_face_detector)
        self._predictor = _Lazy(lambda: dlib.shape_predictor(str(self.path(PREDICTOR_FILE))))
        self._descriptor = _Lazy(
            lambda: dlib.face_recognition_model_v1(str(self.path(DESCRIPTOR_FILE)))
        )

    @staticmethod
    @functools.lru_cache(maxsize=1)
    def default() -> FaceModels:
        """The shared instance using the files of the installed ``face-recognition-models``."""
        return FaceModels()

    def path(self, filename: str) -> Path:
        """Full path of one model file; :class:`FaceModelsMissingError` if it is not there."""
        self._require(filename)
        return self._directory() / filename

    def _directory(self) -> Path:
        return self.model_dir if self.model_dir is not None else default_model_dir()

    def _require(self, *filenames: str) -> None:
        directory = self._directory()
        missing = [f for f in filenames if not (directory / f).is_file()]
        if missing:
            raise FaceModelsMissingError(
                f"dlib model file{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found "
                f"in {directory} (pip install face-recognition-models==0.3.0, or pass model_dir)"
            )

    def load(self) -> FaceModels:
        """Load all three models now (instead of on first use); returns ``self``."""
        self._require(PREDICTOR_FILE, DESCRIPTOR_FILE)
        self._detector.get()
        self._predictor.get()
        self._descriptor.get()
        return self

    def run_detector(self, image: np.ndarray, upsample: int) -> tuple[list, list, list]:
        """dlib ``detector.run(image, upsample, 0)``: (rectangles, scores, sub-detector indices)."""
        rects, scores, kinds = self._detector.call(lambda d: d.run(image, upsample, 0.0))
        return list(rects), list(scores), list(kinds)

    def predict_shape(self, image: np.ndarray, rect: dlib.rectangle) -> dlib.full_object_detection:
        return self._predictor.call(lambda p: p(image, rect))

    def compute_descriptor(
        self, image: np.ndarray, shape: dlib.full_object_detection, num_jitters: int
    ) -> np.ndarray:
        vec = self._descriptor.call(
            lambda net: net.compute_face_descriptor(image, shape, num_jitters)
        )
        return np.asarray(vec, dtype=np.float32)


# --- detection, landmarks, descriptor ----------------------------------------------------------


@dataclass(frozen=True)
class FaceDetection:
    """One face found by the HOG detector."""

    box: Box  # (left, top, right, bottom) pixels, as dlib reports it (right/bottom inclusive)
    score: float  # detector confidence (SVM margin; > 0 is a detection, real faces are ~0.5-3)
    sub_detector: int  # which of dlib's 5 HOG filters fired (0 frontal, 1-4 turned/tilted)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


def _rgb(image: np.ndarray) -> np.ndarray:
    """Check for RGB ``uint8 [H, W, 3]`` and return it C-contiguous (what dlib needs)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def detect_faces(
    image: np.ndarray, upsample: int = 1, *, models: FaceModels | None = None
) -> list[FaceDetection]:
    """Faces in an RGB image, largest box first.

    ``upsample`` doubles the image that many times before scanning: the HOG detector's smallest
    face is about 80×80 px, so ``upsample=1`` finds faces down to about 40 px (and costs ~4×).
    """
    models = models or FaceModels.default()
    rects, scores, kinds = models.run_detector(_rgb(image), int(upsample))
    faces = [
        FaceDetection(
            box=(float(r.left()), float(r.top()), float(r.right()), float(r.bottom())),
            score=float(s),
            sub_detector=int(k),
        )
        for r, s, k in zip(rects, scores, kinds, strict=True)
    ]
    return sorted(faces, key=lambda f: f.area, reverse=True)


def _rect(box: Box | FaceDetection) -> dlib.rectangle:
    left, top, right, bottom = box.box if isinstance(box, FaceDetection) else box
    return dlib.rectangle(round(left), round(top), round(right), round(bottom))


def landmarks68(
    image: np.ndarray, box: Box | FaceDetection, *, models: FaceModels | None = None
) -> np.ndarray:
    """The 68 landmarks ``float32 [68, 2]`` (x, y pixels) of the face in ``box``."""
    models = models or FaceModels.default()
    shape = models.predict_shape(_rgb(image), _rect(box))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def _shape(landmarks: np.ndarray) -> dlib.full_object_detection:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (NUM_LANDMARKS, 2) or not np.isfinite(lm).all():
        raise ValueError(f"expected finite landmarks [68, 2], got {lm.shape}")
    pts = [dlib.point(round(x), round(y)) for x, y in lm]
    x0, y0 = lm.min(axis=0)
    x1, y1 = lm.max(axis=0)
    return dlib.full_object_detection(
        dlib.rectangle(round(x0), round(y0), round(x1), round(y1)), pts
    )


def face_descriptor(
    image: np.ndarray,
    face: np.ndarray | Box | FaceDetection,
    *,
    num_jitters: int = 1,
    models: FaceModels | None = None,
) -> np.ndarray:
    """128-d identity descriptor ``float32 [128]`` (dlib ResNet; not unit length, norm ~1.4).

    ``face`` is either the 68 landmarks ``[68, 2]`` (aligns the face chip directly) or a box
    (landmarks are found first). ``num_jitters > 1`` averages that many randomly jittered
    chips: a little more stable, that many times slower; 0 and 1 both mean one pass.
    """
    models = models or FaceModels.default()
    rgb = _rgb(image)
    if isinstance(face, FaceDetection):
        landmarks = landmarks68(rgb, face, models=models)
    else:
        arr = np.asarray(face, dtype=np.float64)
        if arr.shape == (4,):
            arr = landmarks68(rgb, (arr[0], arr[1], arr[2], arr[3]), models=models)
        landmarks = arr
    return models.compute_descriptor(rgb, _shape(landmarks), int(num_jitters))


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors; below :data:`SAME_PERSON_DISTANCE` (0.6)
    dlib calls it the same person."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


# --- measurements on landmarks -----------------------------------------------------------------


def _points(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (NUM_LANDMARKS, 2):
        raise ValueError(f"expected landmarks [68, 2], got {lm.shape}")
    return lm


def inter_ocular_distance(landmarks: np.ndarray) -> float:
    """Distance in pixels between the eye centres (means of 36-41 and of 42-47)."""
    lm = _points(landmarks)
    return float(np.linalg.norm(lm[LEFT_EYE].mean(axis=0) - lm[RIGHT_EYE].mean(axis=0)))


def inner_mouth_opening(landmarks: np.ndarray) -> float:
    """Mean gap between facing inner-lip points (61-67, 62-66, 63-65) over the inter-ocular
    distance: 0 for closed lips, ~0.1 for a small gap, ~0.5+ for a wide open jaw."""
    lm = _points(landmarks)
    iod = inter_ocular_distance(lm)
    if iod <= 0:
        raise ValueError("degenerate landmarks: both eye centres at the same place")
    gaps = [np.linalg.norm(lm[a] - lm[b]) for a, b in INNER_LIP_PAIRS]
    return float(np.mean(gaps)) / iod


def _eye_aspect_ratio(eye: np.ndarray) -> float:
    # Soukupová & Čech 2016: (|p2-p6| + |p3-p5|) / (2 |p1-p4|), p1..p6 in dlib's eye order.
    p1, p2, p3, p4, p5, p6 = eye
    width = np.linalg.norm(p1 - p4)
    if width <= 0:
        return 0.0
    return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width))


class EyeOpenness(NamedTuple):
    """Eye aspect ratios, in landmark order: the image's left eye first."""

    right: float  # the character's right eye, on the image's left (landmarks 36-41)
    left: float  # the character's left eye, on the image's right (landmarks 42-47)


def eye_openness(landmarks: np.ndarray) -> EyeOpenness:
    """Eye aspect ratio of each eye: ~0.25-0.35 open, below ~0.15 closed.

    Unpacks as ``(image-left eye, image-right eye)`` = ``(right, left)`` in the character's own
    sides (ARKit's ``eyeBlinkLeft`` is the second one); use ``.left`` / ``.right`` to be explicit.
    """
    lm = _points(landmarks)
    return EyeOpenness(right=_eye_aspect_ratio(lm[RIGHT_EYE]), left=_eye_aspect_ratio(lm[LEFT_EYE]))
