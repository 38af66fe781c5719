"""On-disk layout of a corpus: ``shard-NNNNN.npz`` files and ``manifest.json``.

A shard is a zip of ``.npy`` arrays (readable by :func:`numpy.load`), its samples concatenated:

================  ==========================  ==============================================
``ids``           ``<U`` ``[n]``              sample ids, in shard order
``frame_offsets`` int64 ``[n + 1]``           sample ``i`` owns frames ``[off[i], off[i+1])``
``motion``        float32 ``[F, 61]``         curves, stored exactly
``state``         uint8 ``[F]``               ``STATE_*`` per frame
``speak``         int16 ``[F * 640]``         audio × 32768 (quantised to 16 bits)
``listen``        int16 ``[F * 640]``         same for the partner's voice
================  ==========================  ==============================================

Audio sample offsets are ``frame_offsets * 640``. Shards are written byte-for-byte
reproducibly (fixed zip timestamps and member order), so the same seed gives the same bytes.
``manifest.json`` holds the corpus-level facts and one record per sample (id, shard, kind,
split, duration, voice, text, caption, phones, meta); see :mod:`models.corpus.reader`.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.corpus.schema import (
    CORPUS_FORMAT,
    CORPUS_VERSION,
    FPS,
    SAMPLE_RATE_HZ,
    SAMPLES_PER_FRAME,
    STATE_NAMES,
    CorpusManifest,
    CorpusSample,
    Phone,
    ShardInfo,
)
from models.motion import CURVE_NAMES, NUM_CURVES

MANIFEST_NAME = "manifest.json"
SHARD_ARRAYS = ("ids", "frame_offsets", "motion", "state", "speak", "listen")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class CorpusFormatError(ValueError):
    """A corpus directory, manifest or shard that cannot be read."""


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npz"


def audio_to_int16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(audio, np.float64) * 32768.0), -32768, 32767).astype(
        np.int16
    )


def audio_from_int16(audio: np.ndarray) -> np.ndarray:
    return (np.asarray(audio, np.float32) / 32768.0).astype(np.float32)


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def write_shard(path: Path, samples: Sequence[CorpusSample]) -> str:
    """Write ``samples`` to ``path`` (atomically); returns the file's SHA-256 (hex)."""
    if not samples:
        raise ValueError("a shard needs at least one sample")
    offsets = np.zeros(len(samples) + 1, np.int64)
    offsets[1:] = np.cumsum([s.num_frames for s in samples])
    arrays = {
        "ids": np.array([s.id for s in samples]),
        "frame_offsets": offsets,
        "motion": np.concatenate([s.motion for s in samples]).astype(np.float32),
        "state": np.concatenate([s.state for s in samples]).astype(np.uint8),
        "speak": audio_to_int16(np.concatenate([s.speak for s in samples])),
        "listen": audio_to_int16(np.concatenate([s.listen for s in samples])),
    }
    tmp = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in SHARD_ARRAYS:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, _npy_bytes(arrays[name]), compresslevel=6)
    tmp.replace(path)
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(root: Path, shards: Sequence[ShardInfo]) -> str:
    """SHA-256 over the bytes of every shard, in order."""
    digest = hashlib.sha256()
    for shard in shards:
        with (root / shard.name).open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_shard(path: Path) -> dict[str, np.ndarray]:
    """Every array of a shard, checked for consistency."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in SHARD_ARRAYS}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise CorpusFormatError(f"{path}: unreadable shard ({exc})") from exc
    frames = int(arrays["frame_offsets"][-1])
    if (
        arrays["motion"].shape != (frames, NUM_CURVES)
        or arrays["state"].shape != (frames,)
        or arrays["speak"].shape != (frames * SAMPLES_PER_FRAME,)
        or arrays["listen"].shape != (frames * SAMPLES_PER_FRAME,)
        or arrays["ids"].shape != (arrays["frame_offsets"].shape[0] - 1,)
    ):
        raise CorpusFormatError(f"{path}: array shapes disagree with frame_offsets")
    return arrays


def sample_record(sample: CorpusSample, shard: str, index: int) -> dict[str, Any]:
    """The manifest record of a sample stored at ``index`` in ``shard``."""
    return {
        "id": sample.id,
        "shard": shard,
        "index": index,
        "kind": sample.kind,
        "split": sample.split,
        "duration_s": round(sample.duration_s, 4),
        "num_frames": sample.num_frames,
        "voice": sample.voice,
        "text": sample.text,
        "caption": sample.caption,
        "phones": [p.to_json() for p in sample.phones],
        "meta": sample.meta,
    }


def sample_from_record(record: dict[str, Any], arrays: dict[str, np.ndarray]) -> CorpusSample:
    """Rebuild a sample from its manifest record and its shard's arrays."""
    i = int(record["index"])
    a, b = (int(x) for x in arrays["frame_offsets"][i : i + 2])
    if str(arrays["ids"][i]) != record["id"]:
        raise CorpusFormatError(f"shard {record['shard']} holds {arrays['ids'][i]!r} at {i}")
    sa, sb = a * SAMPLES_PER_FRAME, b * SAMPLES_PER_FRAME
    return CorpusSample(
        id=record["id"],
        kind=record["kind"],
        split=record["split"],
        speak=audio_from_int16(arrays["speak"][sa:sb]),
        listen=audio_from_int16(arrays["listen"][sa:sb]),
        motion=np.array(arrays["motion"][a:b], np.float32),
        state=np.array(arrays["state"][a:b], np.uint8),
        caption=record["caption"],
        voice=record["voice"],
        text=record["text"],
        phones=tuple(Phone.from_json(row) for row in record["phones"]),
        meta=dict(record["meta"]),
    )


def manifest_json(manifest: CorpusManifest, records: Sequence[dict[str, Any]]) -> str:
    """The text of ``manifest.json`` (stable key order, no timestamps: reproducible)."""
    doc = {
        "format": CORPUS_FORMAT,
        "version": manifest.version,
        "seed": manifest.seed,
        "hours": manifest.hours,
        "hours_requested": manifest.hours_requested,
        "fps": FPS,
        "sample_rate": SAMPLE_RATE_HZ,
        "samples_per_frame": SAMPLES_PER_FRAME,
        "audio_dtype": "int16",
        "motion_dtype": "float32",
        "curve_names": list(CURVE_NAMES),
        "state_names": list(STATE_NAMES),
        "content_hash": manifest.content_hash,
        "counts": manifest.counts,
        "voices": manifest.voices,
        "shards": [
            {"name": s.name, "sha256": s.sha256, "num_samples": s.num_samples}
            for s in manifest.shards
        ],
        "samples": list(records),
    }
    return json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def parse_manifest(text: str, source: str) -> tuple[CorpusManifest, list[dict[str, Any]]]:
    """The manifest and sample records from ``manifest.json`` text; clear errors if corrupt."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusFormatError(f"{source}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != CORPUS_FORMAT:
        raise CorpusFormatError(f"{source}: not an LPM performance-corpus manifest")
    if doc.get("version") != CORPUS_VERSION:
        raise CorpusFormatError(
            f"{source}: corpus version {doc.get('version')!r}; this code reads {CORPUS_VERSION}"
        )
    if doc.get("fps") != FPS or doc.get("sample_rate") != SAMPLE_RATE_HZ:
        raise CorpusFormatError(f"{source}: expected {FPS} fps and {SAMPLE_RATE_HZ} Hz")
    if doc.get("curve_names") != list(CURVE_NAMES):
        raise CorpusFormatError(f"{source}: curve order differs from models.motion")
    try:
        shards = tuple(
            ShardInfo(str(s["name"]), str(s["sha256"]), int(s["num_samples"]))
            for s in doc["shards"]
        )
        manifest = CorpusManifest(
            version=int(doc["version"]),
            seed=int(doc["seed"]),
            hours=float(doc["hours"]),
            hours_requested=float(doc["hours_requested"]),
            content_hash=str(doc["content_hash"]),
            counts={k: dict(v) for k, v in doc["counts"].items()},
            voices={k: list(v) for k, v in doc["voices"].items()},
            shards=shards,
        )
        records = list(doc["samples"])
        for r in records:
            for key in ("id", "shard", "index", "kind", "split", "phones", "meta"):
                if key not in r:
                    raise KeyError(key)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorpusFormatError(f"{source}: missing or malformed field ({exc})") from exc
    return manifest, records
