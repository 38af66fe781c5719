"""Speech with exact phone timings from espeak-ng, festival and flite (DESIGN §6).

* espeak-ng runs in-process (:class:`models.tts.EspeakEngine`): phoneme events give each phone's
  start; stop closures are then read from the audio
  (:func:`~models.corpus.phones.correct_stop_closures`). Rate and pitch are the library's own
  parameters. Voices with breath or Klatt noise draw from the library's random generator, which
  is seeded from the request before each utterance; the library also carries a little state
  from one utterance to the next, so identical output needs the same sequence of requests from
  a freshly loaded library (the corpus builder makes each shard in a fresh process).
* festival runs as one ``festival --batch`` process per batch of requests, reading a Scheme
  script that synthesises each utterance, saves its wave and prints its ``Segment`` relation
  (``segment_start`` / ``end`` per phone). Rate: ``Duration_Stretch`` for diphone voices, the
  HTS engine's speed (``-r``) for the HTS voice.
* flite runs once per utterance with ``-psdur`` (each phone's end time) and
  ``duration_stretch`` for the rate.

festival and flite pitch is shifted afterwards by :func:`~models.corpus.dsp.pitch_shift`,
which keeps timing. Everything comes back at 16 kHz as :class:`TimedSpeech`.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import re
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.corpus.dsp import pitch_shift, resample
from models.corpus.phones import correct_stop_closures, phones_from_starts
from models.corpus.schema import SAMPLE_RATE_HZ, Phone
from models.corpus.voices import FESTIVAL_VOICES, Voice
from models.tts import PITCH_RANGE, RATE_WPM_RANGE, EspeakEngine, SpeechSynthesisError

log = logging.getLogger(__name__)

ESPEAK_BASE_WPM = 170  # espeak-ng's rate at ``rate = 1``
ESPEAK_PITCH_PER_SEMITONE = 6.0  # espeak pitch parameter steps per semitone (approximate)
# Debian packages that provide the command-line engines.
APT_PACKAGES: dict[str, tuple[str, ...]] = {
    "festival": ("festival", "festvox-kallpc16k", "festvox-kdlpc16k", "festvox-us-slt-hts"),
    "flite": ("flite",),
}
_FLITE_TOKEN = re.compile(r"^([A-Za-z#_]+):(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class SpeechRequest:
    """One utterance to synthesise.

    ``rate``: speaking rate relative to the voice's normal (``1.2`` = 20 % faster);
    ``pitch``: shift in semitones (0 = the voice's own).
    """

    voice: str
    text: str
    rate: float = 1.0
    pitch: float = 0.0

    def __post_init__(self) -> None:
        Voice.parse(self.voice)  # raises on an unknown voice
        if not self.text.strip():
            raise ValueError("a speech request needs text")
        if not 0.5 <= self.rate <= 2.0:
            raise ValueError(f"rate must be in 0.5..2.0, got {self.rate}")
        if not -6.0 <= self.pitch <= 6.0:
            raise ValueError(f"pitch must be within ±6 semitones, got {self.pitch}")


@dataclass(frozen=True, eq=False)
class TimedSpeech:
    """Synthesised speech at 16 kHz with contiguous phones from 0 to its end (stream "speak")."""

    request: SpeechRequest
    samples: np.ndarray
    phones: tuple[Phone, ...]

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE_HZ


def engine_available(engine: str) -> bool:
    """Whether ``engine`` can run here (espeak-ng comes with the Python dependencies)."""
    if engine == "espeak":
        return True
    return shutil.which(engine) is not None


def require_engines(engines: Sequence[str]) -> None:
    """Raise :class:`SpeechSynthesisError` naming the Debian packages of any missing engine."""
    missing = [e for e in engines if not engine_available(e)]
    if missing:
        packages = sorted({p for e in missing for p in APT_PACKAGES.get(e, (e,))})
        raise SpeechSynthesisError(
            f"speech engine(s) {', '.join(missing)} not found; install the Debian packages "
            f"{' '.join(packages)}"
        )


def synthesize_requests(requests: Sequence[SpeechRequest]) -> dict[SpeechRequest, TimedSpeech]:
    """Synthesise every distinct request; festival requests share one process."""
    unique = list(dict.fromkeys(requests))
    by_engine: dict[str, list[SpeechRequest]] = {}
    for req in unique:
        by_engine.setdefault(Voice.parse(req.voice).engine, []).append(req)
    out: dict[SpeechRequest, TimedSpeech] = {}
    for req in by_engine.get("espeak", []):
        out[req] = _espeak(req)
    if by_engine.get("festival") or by_engine.get("flite"):
        with tempfile.TemporaryDirectory(prefix="lpm-tts-") as tmp:
            if by_engine.get("festival"):
                out.update(_festival(by_engine["festival"], Path(tmp)))
            for i, req in enumerate(by_engine.get("flite", [])):
                out[req] = _flite(req, Path(tmp) / f"flite-{i}.wav")
    return out


@functools.cache
def _espeak_seeder() -> Any:
    """``espeak_ng_SetRandSeed`` of the loaded library (the same handle the engine uses)."""
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    try:
        seeder = lib.espeak_ng_SetRandSeed
    except AttributeError:
        log.warning("this espeak-ng cannot be seeded; noisy voices will not be reproducible")
        return None
    seeder.argtypes = [ctypes.c_long]
    seeder.restype = None
    return seeder


def request_seed(req: SpeechRequest) -> int:
    """A 31-bit seed from everything in the request."""
    key = f"{req.voice}|{req.text}|{req.rate!r}|{req.pitch!r}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") >> 1


def _espeak(req: SpeechRequest) -> TimedSpeech:
    voice = Voice.parse(req.voice)
    wpm = int(np.clip(round(ESPEAK_BASE_WPM * req.rate), *RATE_WPM_RANGE))
    pitch = int(np.clip(round(50 + ESPEAK_PITCH_PER_SEMITONE * req.pitch), *PITCH_RANGE))
    engine = EspeakEngine.shared()
    seeder = _espeak_seeder()
    if seeder is not None:
        seeder(request_seed(req))
    speech = engine.synthesize(req.text, voice.name, rate_wpm=wpm, pitch=pitch)
    samples = np.clip(resample(speech.samples, speech.sample_rate, SAMPLE_RATE_HZ), -1.0, 1.0)
    duration = samples.size / SAMPLE_RATE_HZ
    labels = [p.text for p in speech.phonemes]
    starts = [p.start for p in speech.phonemes]
    phones = phones_from_starts(labels, starts, duration, "espeak")
    phones = correct_stop_closures(phones, samples, SAMPLE_RATE_HZ)
    return TimedSpeech(req, samples.astype(np.float32), tuple(phones))


def _read_wave(path: Path) -> tuple[np.ndarray, int]:
    """16-bit PCM mono WAV → float32 samples and rate."""
    with wave.open(str(path), "rb") as wf:
        if wf.getsampwidth() != 2:
            raise SpeechSynthesisError(f"{path}: expected 16-bit PCM")
        rate, channels = wf.getframerate(), wf.getnchannels()
        data = np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2")
    samples = data.reshape(-1, channels).mean(axis=1) / 32768.0
    return samples.astype(np.float32), rate


def _finish(req: SpeechRequest, samples: np.ndarray, rate: int, phones: list[Phone]) -> TimedSpeech:
    audio = np.clip(resample(samples, rate, SAMPLE_RATE_HZ), -1.0, 1.0)
    audio = pitch_shift(audio, req.pitch, SAMPLE_RATE_HZ)
    return TimedSpeech(req, audio.astype(np.float32), tuple(phones))


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival(requests: Sequence[SpeechRequest], tmp: Path) -> dict[SpeechRequest, TimedSpeech]:
    """All festival requests in one process; each utterance's segments are printed between
    ``LPM-BEGIN i`` and ``LPM-END i`` lines."""
    lines = [
        "(define (lpm_dump utt tag path)",
        "  (utt.save.wave utt path 'riff)",
        '  (format t "LPM-BEGIN %s\\n" tag)',
        '  (mapcar (lambda (s) (format t "LPM-SEG %s %f %f\\n" (item.name s)',
        '     (item.feat s "segment_start") (item.feat s "end")))',
        "    (utt.relation.items utt 'Segment))",
        '  (format t "LPM-END %s\\n" tag))',
    ]
    for i, req in enumerate(requests):
        name = Voice.parse(req.voice).name
        select, _ = FESTIVAL_VOICES[name]
        lines.append(f"({select})")
        if name == "slt":  # HTS: the engine's speed factor
            lines.append(
                "(set! hts_engine_params (append cmu_us_slt_arctic_hts::hts_engine_params "
                f'(list (list "-r" {req.rate:.4f}))))'
            )
        else:
            lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / req.rate:.4f})")
        wav = tmp / f"festival-{i}.wav"
        lines.append(f'(lpm_dump (SynthText {_scheme_string(req.text)}) "{i}" "{wav}")')
    script = tmp / "batch.scm"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        proc = subprocess.run(
            ["festival", "--batch", str(script)],
            capture_output=True,
            text=True,
            timeout=60 + 10 * len(requests),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SpeechSynthesisError(f"festival failed: {exc}") from exc
    segments = parse_festival_segments(proc.stdout)
    out: dict[SpeechRequest, TimedSpeech] = {}
    for i, req in enumerate(requests):
        wav = tmp / f"festival-{i}.wav"
        if i not in segments or not wav.is_file():
            raise SpeechSynthesisError(
                f"festival produced no speech for {req.text!r} ({req.voice}): "
                f"{proc.stderr.strip()[-400:]}"
            )
        samples, rate = _read_wave(wav)
        duration = samples.size / rate
        labels = [name for name, _, _ in segments[i]]
        starts = [start for _, start, _ in segments[i]]
        phones = phones_from_starts(labels, starts, duration, "festival")
        out[req] = _finish(req, samples, rate, phones)
    return out


def parse_festival_segments(stdout: str) -> dict[int, list[tuple[str, float, float]]]:
    """``{utterance index: [(phone, start_s, end_s), …]}`` from the batch script's output.

    Lines that are not the script's own (festival's warnings) are ignored; an utterance without
    its ``LPM-END`` line is left out.
    """
    done: dict[int, list[tuple[str, float, float]]] = {}
    current: int | None = None
    rows: list[tuple[str, float, float]] = []
    for line in stdout.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "LPM-BEGIN" and len(parts) == 2 and parts[1].isdigit():
            current, rows = int(parts[1]), []
        elif parts[0] == "LPM-SEG" and current is not None and len(parts) == 4:
            try:
                rows.append((parts[1], float(parts[2]), float(parts[3])))
            except ValueError:
                log.debug("festival: unreadable segment line %r", line)
        elif parts[0] == "LPM-END" and current is not None and parts[1:] == [str(current)]:
            done[current] = rows
            current = None
    return done


def parse_flite_durations(stdout: str) -> list[tuple[str, float]]:
    """``[(phone, end_s), …]`` from ``flite -psdur`` output (``pau:0.164 hh:0.255 …``)."""
    out: list[tuple[str, float]] = []
    for token in stdout.split():
        match = _FLITE_TOKEN.match(token)
        if match:
            out.append((match.group(1), float(match.group(2))))
    return out


def _flite(req: SpeechRequest, wav: Path) -> TimedSpeech:
    name = Voice.parse(req.voice).name
    cmd = [
        "flite",
        "-voice",
        name,
        "--setf",
        f"duration_stretch={1.0 / req.rate:.4f}",
        "-psdur",
        "-o",
        str(wav),
        "-t",
        req.text,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SpeechSynthesisError(f"flite failed: {exc}") from exc
    ends = parse_flite_durations(proc.stdout)
    if proc.returncode != 0 or not ends or not wav.is_file():
        raise SpeechSynthesisError(
            f"flite produced no speech for {req.text!r} ({req.voice}): {proc.stderr.strip()[-400:]}"
        )
    samples, rate = _read_wave(wav)
    duration = samples.size / rate
    labels = [label for label, _ in ends]
    starts = [0.0] + [end for _, end in ends[:-1]]
    phones = phones_from_starts(labels, starts, duration, "flite")
    return _finish(req, samples, rate, phones)
