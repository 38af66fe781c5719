"""Reading a built corpus: :class:`Corpus` over ``manifest.json`` and its shards."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from models.corpus.schema import SPLITS, CorpusManifest, CorpusSample
from models.corpus.storage import (
    MANIFEST_NAME,
    CorpusFormatError,
    content_hash,
    parse_manifest,
    read_shard,
    sample_from_record,
)

log = logging.getLogger(__name__)

__all__ = ["Corpus", "CorpusFormatError", "CorpusManifest"]


class Corpus:
    """A corpus directory (``lpm data build``): ids, samples by id, and iteration by split.

    Loading a sample reads its whole shard (the last shard read is kept); :meth:`samples`
    walks shards in order and reads each once.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        path = self.root / MANIFEST_NAME
        if not path.is_file():
            raise CorpusFormatError(
                f"{path} not found: {self.root} is not a corpus (build one with lpm data build)"
            )
        self.manifest, records = parse_manifest(path.read_text(encoding="utf-8"), str(path))
        self._records: dict[str, dict[str, Any]] = {}
        for record in records:
            if record["id"] in self._records:
                raise CorpusFormatError(f"{path}: duplicate sample id {record['id']!r}")
            self._records[record["id"]] = record
        self._order = [r["id"] for r in records]
        known = {s.name for s in self.manifest.shards}
        missing = sorted({r["shard"] for r in records} - known)
        if missing:
            raise CorpusFormatError(f"{path}: records name unknown shards {missing}")
        self._cached: tuple[str, dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self._order)

    def ids(self, split: str | None = None) -> list[str]:
        """Sample ids in storage order, optionally of one split."""
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return [i for i in self._order if split is None or self._records[i]["split"] == split]

    def record(self, sample_id: str) -> dict[str, Any]:
        """The manifest record of a sample (everything but the arrays), without reading shards."""
        try:
            return self._records[sample_id]
        except KeyError:
            raise KeyError(f"no sample {sample_id!r} in {self.root}") from None

    def _shard(self, name: str) -> dict[str, np.ndarray]:
        if self._cached is None or self._cached[0] != name:
            path = self.root / name
            if not path.is_file():
                raise CorpusFormatError(f"shard {path} is missing")
            self._cached = (name, read_shard(path))
        return self._cached[1]

    def load(self, sample_id: str) -> CorpusSample:
        record = self.record(sample_id)
        return sample_from_record(record, self._shard(record["shard"]))

    def samples(self, split: str | None = None) -> Iterator[CorpusSample]:
        """Samples in storage order (shard by shard, each shard read once)."""
        for sample_id in self.ids(split):
            yield self.load(sample_id)

    def verify(self) -> None:
        """Re-hash the shards against the manifest; raises :class:`CorpusFormatError`."""
        digest = content_hash(self.root, self.manifest.shards)
        if digest != self.manifest.content_hash:
            raise CorpusFormatError(f"{self.root}: shard contents do not match the manifest")
