"""The ``lpm`` command as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.portraits import PORTRAITS


def _lpm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_prep_writes_a_loadable_asset(tmp_path: Path) -> None:
    out = tmp_path / "grace.lpmchar"
    res = _lpm(
        "prep",
        str(PORTRAITS / "photo_grace_hopper.jpg"),
        "-o",
        str(out),
        "--size",
        "256",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    from models.render.asset import CharacterAsset

    asset = CharacterAsset.load(out)
    assert asset.size == (256, 256)
    assert asset.identity.shape == (128,) and np.linalg.norm(asset.identity) > 0.1


@pytest.mark.parametrize(
    ("make_input", "expect"),
    [
        (lambda d: d / "missing.png", "missing.png"),
        (lambda d: _write(d / "notes.png", b"this is not an image"), "notes.png"),
        (lambda d: _copy(PORTRAITS / "negative_cat_chelsea.jpg", d), "--points"),
        (lambda d: _tiny(d / "tiny.png"), "tiny.png"),
    ],
)
def test_prep_refuses_bad_input_with_one_line_and_writes_nothing(
    tmp_path: Path, make_input, expect: str
) -> None:
    src = make_input(tmp_path)
    out = tmp_path / "out.lpmchar"
    res = _lpm("prep", str(src), "-o", str(out), cwd=tmp_path)
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert expect in lines[0]
    assert "Traceback" not in res.stderr
    assert not out.exists()
    assert not list(tmp_path.glob("*.lpmchar*"))


def test_prep_face_index_out_of_range(tmp_path: Path) -> None:
    res = _lpm(
        "prep",
        str(PORTRAITS / "photo_grace_hopper.jpg"),
        "--face-index",
        "3",
        "-o",
        str(tmp_path / "x.lpmchar"),
        cwd=tmp_path,
    )
    assert res.returncode != 0
    assert "face" in res.stderr.lower() and "3" in res.stderr
    assert not (tmp_path / "x.lpmchar").exists()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _copy(src: Path, d: Path) -> Path:
    return Path(shutil.copy(src, d / src.name))


def _tiny(path: Path) -> Path:
    import cv2

    cv2.imwrite(str(path), np.full((64, 64, 3), 128, np.uint8))
    return path


def test_bench_lipsync_without_a_video_says_what_to_do(tmp_path: Path) -> None:
    res = _lpm("bench", "lipsync", str(tmp_path / "missing.mp4"), cwd=tmp_path)
    assert res.returncode == 2
    assert "no such file" in res.stderr and "lpm demo" in res.stderr
    assert "Traceback" not in res.stderr
