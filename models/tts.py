"""Speech synthesis with espeak-ng through its C library (shipped by ``espeakng-loader``).

Used by the demo for the NPC's and the player's voices, and by the benchmarks. The library
reports word and phoneme events with their sample positions, which :class:`Speech` keeps as
timings (seconds). The library has process-wide state, so one :class:`EspeakEngine` owns it
behind a lock; :func:`synthesize` uses a lazily created shared engine.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
_EE_OK = 0


class SpeechSynthesisError(RuntimeError):
    """Speech could not be synthesised (empty text, unknown voice, library failure)."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class TimedUnit:
    """A word or phoneme starting at ``start`` seconds (``text`` = phoneme mnemonic or word)."""

    start: float
    text: str


@dataclass(frozen=True)
class Speech:
    """Mono float32 ``samples`` in -1..1 at ``sample_rate`` Hz, with word and phoneme timings."""

    samples: np.ndarray
    sample_rate: int
    words: list[TimedUnit] = field(default_factory=list)
    phonemes: list[TimedUnit] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


class EspeakEngine:
    """The espeak-ng library, loaded once, serialised by a lock."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 500, data, _INITIALIZE_PHONEME_EVENTS
        )
        if rate <= 0:
            raise SpeechSynthesisError(f"espeak-ng failed to initialise (data at {data!r})")
        self.sample_rate = int(rate)
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetVoiceByName.restype = ctypes.c_int
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        self._lib.espeak_Synth.restype = ctypes.c_int
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []
        # Keep a reference: the library holds this pointer for the life of the process.
        self._callback = _CALLBACK(self._on_synth)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav: Any, n: int, events: Any) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.int16))
        ev = ctypes.cast(events, ctypes.POINTER(_Event))
        i = 0
        while ev and ev[i].type != _EVENT_LIST_TERMINATED:
            e = ev[i]
            if e.type == _EVENT_PHONEME:
                raw = bytes(e.id.string).split(b"\0", 1)[0]
                self._events.append((_EVENT_PHONEME, e.sample, raw.decode("utf-8", "replace")))
            elif e.type == _EVENT_WORD:
                self._events.append((_EVENT_WORD, e.sample, f"{e.text_position}:{e.length}"))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str, rate_wpm: int, pitch: int) -> Speech:
        if not text or not text.strip():
            raise SpeechSynthesisError("no text to speak")
        encoded = text.encode("utf-8")
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise SpeechSynthesisError(f"unknown espeak-ng voice {voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, int(rate_wpm), 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            self._chunks, self._events = [], []
            err = self._lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            chunks, events = self._chunks, self._events
            self._chunks, self._events = [], []
        if err != _EE_OK:
            raise SpeechSynthesisError(f"espeak-ng synthesis failed (error {err})")
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        if pcm.size == 0:
            raise SpeechSynthesisError(f"espeak-ng produced no audio for {text!r}")
        samples = pcm.astype(np.float32) / 32768.0
        words, phonemes = [], []
        for kind, sample, label in events:
            t = sample / self.sample_rate
            if kind == _EVENT_PHONEME:
                if label:
                    phonemes.append(TimedUnit(t, label))
            else:
                pos, length = (int(v) for v in label.split(":"))
                # text_position counts characters from 1.
                words.append(TimedUnit(t, text[pos - 1 : pos - 1 + length]))
        return Speech(samples, self.sample_rate, words, phonemes)


@functools.lru_cache(maxsize=1)
def default_engine() -> EspeakEngine:
    """The process's one espeak-ng engine (the library itself is process-global)."""
    return EspeakEngine()


def synthesize(
    text: str,
    voice: str = "en-us",
    rate_wpm: int = 165,
    pitch: int = 50,
    sample_rate: int = 16_000,
) -> Speech:
    """Speak ``text`` with an espeak-ng ``voice`` (e.g. ``en-us``, ``en-gb``, ``en-us+f3``),
    resampled to ``sample_rate``; word and phoneme timings are kept in seconds."""
    speech = default_engine().synthesize(text, voice, rate_wpm, pitch)
    if sample_rate == speech.sample_rate:
        return speech
    import soxr

    resampled = soxr.resample(speech.samples, speech.sample_rate, sample_rate, quality="HQ")
    return Speech(np.asarray(resampled, np.float32), sample_rate, speech.words, speech.phonemes)
