"""Speech synthesis with espeak-ng through its C library (shipped by ``espeakng-loader``).

Used by the demo for the NPC's and the player's voices, by the benchmarks, and by the corpus
builder, which needs exact phone timings (DESIGN §6). The library reports word and phoneme events
with their positions in the audio, which :class:`Speech` keeps as start times in seconds.

espeak-ng keeps process-wide state (one voice, one callback, one set of parameters), so a single
:class:`EspeakEngine` owns the loaded library and serialises every call behind a lock; it is
created lazily by :meth:`EspeakEngine.shared`, and :func:`synthesize` goes through it.

The ctypes declarations follow ``espeak-ng/speak_lib.h`` (API revision 12).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soxr

log = logging.getLogger(__name__)

# speak_lib.h: espeak_AUDIO_OUTPUT, options of espeak_Initialize, flags of espeak_Synth.
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # synthesis returns when done; audio arrives through the callback
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000  # fail with an error instead of exit() when data is missing
_BUFFER_MS = 200  # length of the audio buffers handed to the callback
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
# espeak_PARAMETER.
_PARAM_RATE = 1
_PARAM_PITCH = 3
# espeak_EVENT_TYPE.
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
# espeak_ERROR.
_EE_OK = 0

RATE_WPM_RANGE = (80, 450)  # espeakRATE_MINIMUM .. espeakRATE_MAXIMUM, words per minute
PITCH_RANGE = (0, 100)  # espeakPITCH; 50 is the voice's normal pitch


class SpeechSynthesisError(RuntimeError):
    """Speech could not be synthesised (empty text, unknown voice, bad parameter, library)."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT``."""

    _fields_ = [
        ("type", ctypes.c_int),  # espeak_EVENT_TYPE
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # characters from the start of the text, from 1
        ("length", ctypes.c_int),  # word length in characters (WORD events)
        ("audio_position", ctypes.c_int),  # ms into the generated audio
        ("sample", ctypes.c_int),  # "internal use"
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),  # phoneme name in ``string`` for PHONEME events
    ]


class _Voice(ctypes.Structure):
    """``espeak_VOICE``."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        # (priority byte, NUL-terminated language) pairs, ended by an extra NUL byte.
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),  # 0 none, 1 male, 2 female
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events); 0 = go on.
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class TimedUnit:
    """A word or phoneme starting ``start`` seconds into the speech.

    ``text``: the word as written in the input, or espeak's phoneme mnemonic (``'eI``, ``t``;
    ``_`` and ``_:`` are short and long pauses).
    """

    start: float
    text: str


@dataclass(frozen=True)
class Speech:
    """Synthesised speech: mono float32 ``samples`` ``[N]`` in -1..1 at ``sample_rate`` Hz.

    ``words`` and ``phonemes`` are in time order; their ``start`` times (seconds) do not depend
    on the sample rate, so they survive resampling unchanged.
    """

    samples: np.ndarray
    sample_rate: int
    words: list[TimedUnit] = field(default_factory=list)
    phonemes: list[TimedUnit] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class VoiceInfo:
    """One voice espeak-ng can speak with (a file under ``espeak-ng-data/voices``).

    ``name`` is what :func:`synthesize` accepts (``identifier`` works too); a variant can be
    appended to either, e.g. ``en-us+f3`` for a female variant.
    """

    name: str
    identifier: str
    languages: tuple[str, ...]
    gender: str  # "male", "female" or "" (unspecified)


def _parse_languages(ptr: int | None) -> tuple[str, ...]:
    """Decode espeak_VOICE.languages: (priority byte, NUL-terminated name) pairs, then NUL."""
    out: list[str] = []
    if not ptr:
        return ()
    pos = ptr
    while ctypes.c_ubyte.from_address(pos).value != 0:  # a priority byte; 0 ends the list
        name = ctypes.string_at(pos + 1)
        out.append(name.decode("utf-8", "replace"))
        pos += 1 + len(name) + 1
    return tuple(out)


class EspeakEngine:
    """The espeak-ng library, loaded and initialised once per process, serialised by a lock.

    Use :meth:`shared`; a second instance would re-initialise the library and steal the first
    one's callback.
    """

    _shared: ClassVar[EspeakEngine | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def shared(cls) -> EspeakEngine:
        """The process's one engine, created on first use."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def __init__(self) -> None:
        import espeakng_loader

        lib_path = espeakng_loader.get_library_path()
        data_path = Path(espeakng_loader.get_data_path())
        if not (data_path / "phontab").is_file():
            raise SpeechSynthesisError(f"espeak-ng data not found at {data_path}")
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise SpeechSynthesisError(f"cannot load espeak-ng from {lib_path}: {exc}") from exc
        self._declare(lib)
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS,
            _BUFFER_MS,
            str(data_path).encode(),
            _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT,
        )
        if rate <= 0:
            raise SpeechSynthesisError(f"espeak-ng failed to initialise (data at {data_path})")
        self._lib = lib
        self.sample_rate = int(rate)  # espeak's native rate, 22050 Hz
        self._lock = threading.Lock()
        # Filled by the callback during one espeak_Synth call (under the lock).
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, bytes]] = []
        # The library keeps this pointer for the life of the process: keep the object alive.
        self._callback = _SYNTH_CALLBACK(self._on_synth)
        lib.espeak_SetSynthCallback(self._callback)
        self._voices = tuple(self._query_voices(None))
        self._variants = frozenset(
            v.identifier.rsplit("/", 1)[-1] for v in self._query_voices(b"variant")
        )
        version = lib.espeak_Info(None)
        log.debug("espeak-ng %s at %d Hz", version.decode() if version else "?", self.sample_rate)

    @staticmethod
    def _declare(lib: Any) -> None:
        """Argument and return types of the functions used (speak_lib.h)."""
        c = ctypes
        lib.espeak_Initialize.argtypes = [c.c_int, c.c_int, c.c_char_p, c.c_int]
        lib.espeak_Initialize.restype = c.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [c.c_char_p]
        lib.espeak_SetVoiceByName.restype = c.c_int
        lib.espeak_SetParameter.argtypes = [c.c_int, c.c_int, c.c_int]
        lib.espeak_SetParameter.restype = c.c_int
        lib.espeak_Synth.argtypes = [
            c.c_void_p,  # text
            c.c_size_t,  # size in bytes, with the terminating NUL
            c.c_uint,  # position
            c.c_int,  # position_type
            c.c_uint,  # end_position
            c.c_uint,  # flags
            c.POINTER(c.c_uint),  # unique_identifier
            c.c_void_p,  # user_data
        ]
        lib.espeak_Synth.restype = c.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = c.c_int
        lib.espeak_ListVoices.argtypes = [c.POINTER(_Voice)]
        lib.espeak_ListVoices.restype = c.POINTER(c.POINTER(_Voice))
        lib.espeak_Info.argtypes = [c.c_void_p]
        lib.espeak_Info.restype = c.c_char_p

    def _on_synth(self, wav: Any, n: int, events: Any) -> int:
        # Runs inside espeak_Synth on the calling thread; copy everything out before returning.
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events and events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type in (_EVENT_WORD, _EVENT_PHONEME):
                name = bytes(e.id.string).split(b"\0", 1)[0] if e.type == _EVENT_PHONEME else b""
                self._events.append((e.type, e.audio_position, e.text_position, e.length, name))
            i += 1
        return 0

    def list_voices(self) -> list[VoiceInfo]:
        """Every voice in the data directory (the ``+variant`` modifiers: :meth:`list_variants`)."""
        return list(self._voices)

    def list_variants(self) -> list[str]:
        """Variant names that may follow a voice after ``+`` (``f3``, ``m2``, ``klatt`` …)."""
        return sorted(self._variants)

    def _query_voices(self, spec_language: bytes | None) -> list[VoiceInfo]:
        """espeak_ListVoices: all voices, or those of one language (``b"variant"``)."""
        genders = {1: "male", 2: "female"}
        spec = None
        if spec_language is not None:
            spec = _Voice()
            # Pass a language to match; keep the buffer alive while the call runs.
            lang = ctypes.create_string_buffer(spec_language)
            spec.languages = ctypes.cast(lang, ctypes.c_void_p)
        with self._lock:
            arr = self._lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
            voices = []
            i = 0
            while arr and arr[i]:
                v = arr[i].contents
                voices.append(
                    VoiceInfo(
                        name=(v.name or b"").decode("utf-8", "replace"),
                        identifier=(v.identifier or b"").decode("utf-8", "replace"),
                        languages=_parse_languages(v.languages),
                        gender=genders.get(int(v.gender), ""),
                    )
                )
                i += 1
        return voices

    def _resolve_voice(self, voice: str) -> bytes:
        """The name to give espeak_SetVoiceByName for ``voice[+variant]``.

        espeak-ng looks voices up by name or file only (``en-us`` is the file ``gmw/en-US``,
        but British English is the file ``gmw/en``), so a language code such as ``en-gb`` is
        mapped to the first voice that lists it. espeak silently ignores an unknown variant
        (and variant names are case-sensitive files), so variants are checked here.
        """
        base, plus, variant = voice.partition("+")
        if plus and variant not in self._variants:
            numbered = [v for v in sorted(self._variants) if v[:1] in "fm" and v[1:].isdigit()]
            raise SpeechSynthesisError(
                f"unknown espeak-ng voice variant {variant!r} in {voice!r} "
                f"(e.g. {', '.join(numbered)}; see list_variants())"
            )
        lowered = base.lower()
        for v in self._voices:
            if lowered in (v.name.lower(), v.identifier.lower()):
                return voice.encode("utf-8")
            if lowered == v.identifier.rsplit("/", 1)[-1].lower():
                return voice.encode("utf-8")
        # A voice made for the language (listed first) before one that also covers it.
        by_language = [v for v in self._voices if v.languages[:1] == (lowered,)]
        by_language += [v for v in self._voices if lowered in v.languages[1:]]
        if by_language:
            return (by_language[0].identifier + plus + variant).encode("utf-8")
        raise SpeechSynthesisError(f"unknown espeak-ng voice {voice!r} (see list_voices())")

    def synthesize(
        self, text: str, voice: str = "en-us", rate_wpm: int = 165, pitch: int = 50
    ) -> Speech:
        """Speak ``text`` at espeak's native rate (:attr:`sample_rate`)."""
        if not text or not text.strip():
            raise SpeechSynthesisError("no text to speak")
        if not voice:
            raise SpeechSynthesisError("no voice given")
        lo, hi = RATE_WPM_RANGE
        if not lo <= rate_wpm <= hi:
            raise SpeechSynthesisError(f"rate_wpm {rate_wpm} outside {lo}..{hi}")
        lo, hi = PITCH_RANGE
        if not lo <= pitch <= hi:
            raise SpeechSynthesisError(f"pitch {pitch} outside {lo}..{hi}")
        name = self._resolve_voice(voice)
        encoded = text.encode("utf-8")
        with self._lock:
            # The voice resets rate and pitch, so set them after it, on every call.
            if self._lib.espeak_SetVoiceByName(name) != _EE_OK:
                raise SpeechSynthesisError(f"unknown espeak-ng voice {voice!r} (see list_voices())")
            self._lib.espeak_SetParameter(_PARAM_RATE, int(rate_wpm), 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            self._chunks, self._events = [], []
            try:
                err = self._lib.espeak_Synth(
                    encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                )
                self._lib.espeak_Synchronize()
                chunks, events = self._chunks, self._events
            finally:
                self._chunks, self._events = [], []
        if err != _EE_OK:
            raise SpeechSynthesisError(f"espeak-ng synthesis failed (error {err})")
        if not chunks:
            raise SpeechSynthesisError(f"espeak-ng produced no audio for {text!r}")
        samples = np.concatenate(chunks).astype(np.float32) / 32768.0
        words, phonemes = [], []
        for kind, ms, pos, length, phoneme in events:
            t = ms / 1000.0
            if kind == _EVENT_PHONEME:
                if phoneme:
                    phonemes.append(TimedUnit(t, phoneme.decode("utf-8", "replace")))
            else:
                # text_position counts characters (not bytes) from 1.
                words.append(TimedUnit(t, text[pos - 1 : pos - 1 + length]))
        return Speech(samples, self.sample_rate, words, phonemes)


def list_voices() -> list[VoiceInfo]:
    """The voices in espeakng-loader's data (``English (America)`` speaks ``en-us``,
    ``English (Great Britain)`` ``en-gb`` …); :func:`synthesize` takes a name, file or language."""
    return EspeakEngine.shared().list_voices()


def list_variants() -> list[str]:
    """Voice variants usable as ``voice+variant`` (``f1``..``f5`` female, ``m1``..``m7`` …)."""
    return EspeakEngine.shared().list_variants()


def synthesize(
    text: str,
    voice: str = "en-us",
    rate_wpm: int = 165,
    pitch: int = 50,
    sample_rate: int = 16_000,
) -> Speech:
    """Speak ``text`` with an espeak-ng ``voice`` (``en-us``, ``en-gb``, ``en-us+f3`` …).

    ``rate_wpm``: words per minute (80..450); ``pitch``: 0..100, 50 = the voice's normal.
    The audio is resampled with soxr (HQ) to ``sample_rate`` Hz; word and phoneme start times
    are in seconds. Raises :class:`SpeechSynthesisError` on empty text or an unknown voice.
    """
    if int(sample_rate) <= 0:
        raise SpeechSynthesisError(f"sample_rate must be positive, got {sample_rate}")
    speech = EspeakEngine.shared().synthesize(text, voice, rate_wpm, pitch)
    if int(sample_rate) == speech.sample_rate:
        return speech
    resampled = soxr.resample(speech.samples, speech.sample_rate, int(sample_rate), quality="HQ")
    # A resampler rings a little past full scale on the loudest peaks.
    samples = np.clip(np.asarray(resampled, np.float32), -1.0, 1.0)
    return Speech(samples, int(sample_rate), speech.words, speech.phonemes)
