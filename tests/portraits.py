"""The shared test portraits (``../shared/testdata/portraits``, licences in LICENSES.md)."""

from __future__ import annotations

from pathlib import Path

PORTRAITS = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "portraits"
# Photos and paintings on which dlib finds at least one face (LICENSES.md, "dlib" column).
FACES = (
    "photo_astronaut_eileen_collins.jpg",
    "photo_obama_official_portrait.jpg",
    "photo_grace_hopper.jpg",
    "photo_woman_face_paint.jpg",
    "painting_mona_lisa.jpg",
)
# Drawn and rendered faces no bundled detector finds.
STYLISED = (
    "anime_eileen_renpy.png",
    "3d_lowpoly_old_man_quaternius.png",
    "cartoon_woman_openclipart_head11.png",
)
