"""The lines NPCs say in the corpus, with their mood, split by text.

Lines live in ``models/assets/corpus_lines.txt`` (``MOOD | text`` per row). Each line belongs to
one split, fixed by a hash of its normalised text (not by the build seed), so a text held out
for testing is never spoken in training, in any corpus built from these lines.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

LINES_PATH = Path(__file__).resolve().parent.parent / "assets" / "corpus_lines.txt"
MOODS: tuple[str, ...] = ("pos", "neg", "neu")
# Share of texts per split, out of 20 hash buckets: 16 train, 2 validation, 2 test.
_BUCKETS = 20
_VALIDATION_BUCKETS = frozenset({0, 1})
_TEST_BUCKETS = frozenset({2, 3})
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class CorpusLine:
    """A line to speak: ``text``, its ``mood`` (pos, neg, neu) and the ``split`` it belongs to."""

    text: str
    mood: str

    @property
    def is_question(self) -> bool:
        return self.text.rstrip().endswith("?")

    @property
    def split(self) -> str:
        return text_split(self.text)


def normalize_text(text: str) -> str:
    """Lower case, single spaces: two texts that read the same are the same text."""
    return _SPACES.sub(" ", text.strip().lower())


def text_split(text: str) -> str:
    """The split a text belongs to, from a hash of its normalised form."""
    digest = hashlib.sha256(normalize_text(text).encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % _BUCKETS
    if bucket in _TEST_BUCKETS:
        return "test"
    if bucket in _VALIDATION_BUCKETS:
        return "validation"
    return "train"


def parse_lines(content: str, source: str = "<lines>") -> list[CorpusLine]:
    """Rows ``MOOD | text``; blank rows and ``#`` comments are skipped; duplicates rejected."""
    out: list[CorpusLine] = []
    seen: set[str] = set()
    for number, row in enumerate(content.splitlines(), start=1):
        row = row.strip()
        if not row or row.startswith("#"):
            continue
        mood, sep, text = (part.strip() for part in row.partition("|"))
        if not sep or mood not in MOODS or not text:
            raise ValueError(f"{source}:{number}: expected 'MOOD | text' with MOOD in {MOODS}")
        key = normalize_text(text)
        if key in seen:
            raise ValueError(f"{source}:{number}: duplicate line {text!r}")
        seen.add(key)
        out.append(CorpusLine(text, mood))
    return out


@functools.cache
def load_lines(path: Path = LINES_PATH) -> tuple[CorpusLine, ...]:
    """Every corpus line, in file order."""
    return tuple(parse_lines(path.read_text(encoding="utf-8"), str(path)))


def lines_by_split(path: Path = LINES_PATH) -> dict[str, list[CorpusLine]]:
    """The line pool of each split, in file order."""
    pools: dict[str, list[CorpusLine]] = {"train": [], "validation": [], "test": []}
    for line in load_lines(path):
        pools[line.split].append(line)
    return pools
