"""The performance corpus (DESIGN §6): paired speak/listen audio, captions and 61-curve motion.

Build with :func:`build_corpus` (``lpm data build``), read with :class:`Corpus`, summarise with
:mod:`models.corpus.stats` (``lpm data stats``). The data contract is in
:mod:`models.corpus.schema`.
"""

from models.corpus.builder import build_corpus
from models.corpus.capture import import_capture
from models.corpus.reader import Corpus
from models.corpus.schema import (
    STATE_BOTH,
    STATE_IDLE,
    STATE_LISTEN,
    STATE_SPEAK,
    CorpusManifest,
    CorpusSample,
    Phone,
)
from models.corpus.storage import CorpusFormatError

__all__ = [
    "STATE_BOTH",
    "STATE_IDLE",
    "STATE_LISTEN",
    "STATE_SPEAK",
    "Corpus",
    "CorpusFormatError",
    "CorpusManifest",
    "CorpusSample",
    "Phone",
    "build_corpus",
    "import_capture",
]
