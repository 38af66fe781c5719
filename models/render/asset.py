"""Character assets (``*.lpmchar``): everything the renderer needs about one portrait.

A character asset is a zip archive holding ``manifest.json`` (format version, source image hash,
preparation parameters, library versions) and ``arrays.npz`` (images, textures, rig, rest pose,
identity descriptor). One format, versioned: loading a file written by another format version
raises :class:`AssetFormatError` saying both versions.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.motion import NUM_CURVES
from models.render.rig import FaceRig

FORMAT_NAME = "lpmchar"
FORMAT_VERSION = 1


class AssetFormatError(ValueError):
    """A file that is not a character asset of this format version."""


@dataclass(frozen=True)
class CharacterAsset:
    """A prepared character (all images ``[S, S, ...]`` uint8 at the asset size ``S``).

    * ``image`` RGB portrait crop; ``alpha`` soft head-and-shoulders mask (0..255).
    * ``background`` RGB plate with the character inpainted away (revealed by head motion).
    * ``closed_plate`` RGB portrait with the mouth interior and eye openings painted over with
      lip and eyelid skin: the source the warp samples, so no teeth or iris smear between lips
      and lids as they close.
    * ``textures``: named RGBA sprites and their anchors (see :mod:`models.render.textures`).
    * ``rig``: control points, triangles, per-curve displacements, depth.
    * ``rest_curves`` ``[61]``: the portrait's own expression (the rest pose).
    * ``landmarks`` ``[68, 2]`` dlib landmarks in asset pixels; ``identity`` ``[128]`` dlib
      face descriptor of the portrait.
    """

    name: str
    image: np.ndarray
    alpha: np.ndarray
    background: np.ndarray
    closed_plate: np.ndarray
    rig: FaceRig
    rest_curves: np.ndarray
    landmarks: np.ndarray
    identity: np.ndarray
    textures: dict[str, np.ndarray] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        h, w = self.image.shape[:2]
        for label, arr, shape in (
            ("image", self.image, (h, w, 3)),
            ("alpha", self.alpha, (h, w)),
            ("background", self.background, (h, w, 3)),
            ("closed_plate", self.closed_plate, (h, w, 3)),
        ):
            if arr.shape != shape or arr.dtype != np.uint8:
                raise ValueError(f"{label} must be uint8 {shape}, got {arr.dtype} {arr.shape}")
        if self.rest_curves.shape != (NUM_CURVES,):
            raise ValueError(f"rest_curves must be [{NUM_CURVES}]")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write the asset atomically (a partial file is never left behind)."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {
            "image": self.image,
            "alpha": self.alpha,
            "background": self.background,
            "closed_plate": self.closed_plate,
            "rest_curves": self.rest_curves.astype(np.float32),
            "landmarks": self.landmarks.astype(np.float32),
            "identity": self.identity.astype(np.float32),
            "rig.points": self.rig.points,
            "rig.triangles": self.rig.triangles,
            "rig.deltas": self.rig.deltas,
            "rig.depth": self.rig.depth,
            "rig.head_center": self.rig.head_center,
            "rig.head_radii": self.rig.head_radii,
            "rig.neck_pivot": self.rig.neck_pivot,
            "rig.iod": np.array([self.rig.iod], np.float32),
        }
        for k, v in self.rig.groups.items():
            arrays[f"rig.group.{k}"] = v
        for k, v in self.textures.items():
            arrays[f"tex.{k}"] = v
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": self.name}
        manifest.update({k: v for k, v in self.manifest.items() if k not in manifest})
        tmp = path.with_name(path.name + ".partial")
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
                zf.writestr("arrays.npz", buf.getvalue())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @staticmethod
    def load(path: str | Path) -> CharacterAsset:
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as zf:
                manifest = json.loads(zf.read("manifest.json"))
                npz_bytes = zf.read("arrays.npz")
        except FileNotFoundError:
            raise AssetFormatError(f"{path}: no such character asset") from None
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as exc:
            raise AssetFormatError(f"{path}: not a character asset ({exc})") from None
        if manifest.get("format") != FORMAT_NAME:
            raise AssetFormatError(
                f"{path}: not a character asset (format {manifest.get('format')!r})"
            )
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise AssetFormatError(
                f"{path}: character asset format version {version}, this build reads version "
                f"{FORMAT_VERSION}; prepare it again with `lpm prep`"
            )
        with np.load(io.BytesIO(npz_bytes)) as npz:
            a = {k: npz[k] for k in npz.files}
        rig = FaceRig(
            points=a["rig.points"],
            triangles=a["rig.triangles"],
            deltas=a["rig.deltas"],
            depth=a["rig.depth"],
            groups={k[len("rig.group.") :]: v for k, v in a.items() if k.startswith("rig.group.")},
            head_center=a["rig.head_center"],
            head_radii=a["rig.head_radii"],
            neck_pivot=a["rig.neck_pivot"],
            iod=float(a["rig.iod"][0]),
        )
        return CharacterAsset(
            name=str(manifest.get("name", path.stem)),
            image=a["image"],
            alpha=a["alpha"],
            background=a["background"],
            closed_plate=a["closed_plate"],
            rig=rig,
            rest_curves=a["rest_curves"],
            landmarks=a["landmarks"],
            identity=a["identity"],
            textures={k[len("tex.") :]: v for k, v in a.items() if k.startswith("tex.")},
            manifest=manifest,
        )
