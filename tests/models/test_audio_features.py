"""Audio front-end of the performer: features mean what they say, nothing looks ahead, streaming
is exact, and the VAD gates hiss, adapts to quiet and loud voices and finds phrase ends.

Also home of the synthetic speech-like signals the performer tests use (harmonic vowels with
formants, high-passed noise fricatives, syllables at 4-6 Hz grouped into phrases).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from models.audio_features import (
    AudioFeatures,
    AudioFrontEnd,
    FeatureConfig,
    VadConfig,
    VoiceActivityDetector,
)
from models.generator import SAMPLE_RATE, samples_per_frame

SPF = samples_per_frame(25.0)  # 640
SR = SAMPLE_RATE

# (F1, F2) in Hz of a few vowels (Peterson & Barney 1952, adult male averages).
VOWELS: dict[str, tuple[float, float]] = {
    "a": (730.0, 1090.0),
    "e": (530.0, 1840.0),
    "i": (270.0, 2290.0),
    "o": (500.0, 900.0),
    "u": (300.0, 870.0),
}


def vowel(
    name: str, seconds: float, f0: float = 120.0, rms_db: float = -20.0, phase: float = 0.0
) -> np.ndarray:
    """A steady synthetic vowel: harmonics of ``f0`` shaped by three resonances and a -6 dB/oct
    tilt (glottal source + lip radiation), scaled to ``rms_db`` dBFS. float32 ``[n]``."""
    f1, f2 = VOWELS[name]
    t = np.arange(round(seconds * SR)) / SR
    x = np.zeros_like(t)
    for h in range(1, int(7000 / f0)):
        f = h * f0
        gain = 1 / (1 + ((f - f1) / 90) ** 2) + 0.5 / (1 + ((f - f2) / 120) ** 2)
        gain += 0.1 / (1 + ((f - 2800) / 200) ** 2)
        x += gain / (1 + f / 500) * np.sin(2 * np.pi * f * t + phase * h + h * h)
    return _scale(x, rms_db)


def fricative(seconds: float, rms_db: float = -30.0, seed: int = 0) -> np.ndarray:
    """/s/-like noise: white noise high-passed at 4 kHz, ``rms_db`` dBFS. float32 ``[n]``."""
    noise = np.random.default_rng(seed).standard_normal(round(seconds * SR))
    sos = butter(6, 4000, "highpass", fs=SR, output="sos")
    return _scale(sosfilt(sos, noise), rms_db)


def hiss(seconds: float, rms_db: float = -60.0, seed: int = 0) -> np.ndarray:
    """White background noise at ``rms_db`` dBFS. float32 ``[n]``."""
    return _scale(np.random.default_rng(seed).standard_normal(round(seconds * SR)), rms_db)


def _scale(x: np.ndarray, rms_db: float) -> np.ndarray:
    rms = np.sqrt(np.mean(x**2)) + 1e-20
    return (x * (10 ** (rms_db / 20) / rms)).astype(np.float32)


@dataclass(frozen=True)
class SpeechLike:
    """A synthetic utterance: ``audio`` float32 ``[T * 640]``; ``voiced`` bool ``[T]`` frames
    with sound; ``phrase_ends`` frame indices where silence starts after a phrase;
    ``closures`` first frames of 2-frame silent gaps inside phrases (stop closures /p b/)."""

    audio: np.ndarray
    voiced: np.ndarray
    phrase_ends: np.ndarray
    closures: np.ndarray


def speechlike(
    seconds: float,
    seed: int = 0,
    rms_db: float = -22.0,
    phrase_s: tuple[float, float] = (1.0, 3.0),
    pause_s: tuple[float, float] = (0.3, 0.9),
    lead_s: float = 0.5,
) -> SpeechLike:
    """Phrases of syllables (4-7 frames each: 4-6 Hz) separated by pauses, all frame-aligned.

    Each syllable: a random vowel with a raised-sine envelope (peak gain 0.5-1), F0 120-150 Hz
    with declination; one in four preceded by a 2-frame /s/-like burst, one in five (not the
    first of a phrase) by a 2-frame silent stop closure.
    """
    rng = np.random.default_rng(seed)
    total = round(seconds * 25)
    audio = np.zeros(total * SPF, np.float64)
    voiced = np.zeros(total, bool)
    ends: list[int] = []
    closures: list[int] = []
    frame = round(lead_s * 25)
    names = list(VOWELS)
    while True:
        phrase_frames = round(rng.uniform(*phrase_s) * 25)
        if frame + phrase_frames + 2 >= total:
            break
        stop = frame + phrase_frames
        f0 = rng.uniform(130.0, 150.0)
        first = True
        while frame < stop:
            if not first and rng.random() < 0.2 and frame + 6 < stop:
                closures.append(frame)
                frame += 2
            first = False
            if rng.random() < 0.25 and frame + 2 < stop:
                a = frame * SPF
                audio[a : a + 2 * SPF] += fricative(2 / 25, -32.0, int(rng.integers(1 << 30)))
                voiced[frame : frame + 2] = True
                frame += 2
            n = min(int(rng.integers(4, 8)), stop - frame)
            if n < 2:
                break
            f0 *= 0.98
            x = vowel(names[int(rng.integers(len(names)))], n / 25, f0, -20.0, rng.uniform(0, 6))
            env = np.sin(np.pi * np.arange(n * SPF) / (n * SPF)) ** 1.5
            a = frame * SPF
            audio[a : a + n * SPF] += x * env * rng.uniform(0.5, 1.0)
            voiced[frame : frame + n] = True
            frame += n
        ends.append(frame)
        frame += round(rng.uniform(*pause_s) * 25)
    rms = np.sqrt(np.mean(audio[np.repeat(voiced, SPF)] ** 2))
    audio *= 10 ** (rms_db / 20) / rms
    return SpeechLike(
        audio.astype(np.float32), voiced, np.asarray(ends, np.int64), np.asarray(closures, np.int64)
    )


def frame_rms(audio: np.ndarray) -> np.ndarray:
    """Linear RMS per 640-sample frame, ``[T]``."""
    return np.sqrt(np.mean(audio.reshape(-1, SPF).astype(np.float64) ** 2, axis=1))


def features(audio: np.ndarray) -> AudioFeatures:
    front = AudioFrontEnd()
    feats, _ = front.process(front.init_state(), audio)
    return feats


# --- features ---------------------------------------------------------------------------------


def test_level_of_a_full_scale_sine_and_of_silence() -> None:
    t = np.arange(SR) / SR
    feats = features(np.sin(2 * np.pi * 1000 * t).astype(np.float32))
    assert feats.num_frames == 25
    np.testing.assert_allclose(feats.level_db, -3.01, atol=0.02)
    silent = features(np.zeros(SPF * 3, np.float32))
    assert (silent.level_db == FeatureConfig().floor_db).all()
    assert (silent.voicing == 0).all()


def test_vowel_shapes_separate_rounded_open_and_spread() -> None:
    f = {name: features(vowel(name, 1.0)) for name in VOWELS}

    def mean(name: str, attr: str) -> float:
        return float(getattr(f[name], attr)[3:].mean())

    # Rounded /u o/: almost nothing above 1.2 kHz, lower centroid than /a e/.
    for rounded in ("u", "o"):
        for other in ("a", "e", "i"):
            assert mean(rounded, "f2_ratio") < mean(other, "f2_ratio") / 2
        assert mean(rounded, "centroid_hz") < mean("a", "centroid_hz")
    # Spread /i/: the highest upper-F2 centroid; open /a/: a larger F1 share than /i/.
    assert mean("i", "f2_hz") > 2100 > mean("a", "f2_hz")
    assert mean("a", "f1_ratio") > mean("i", "f1_ratio") + 0.2
    for name in VOWELS:
        assert mean(name, "voicing") > 0.8
        assert mean(name, "hf_ratio") < 0.05


def test_fricatives_and_hiss_are_unvoiced_and_hum_is_not_voice() -> None:
    s = features(fricative(1.0))
    assert s.hf_ratio[3:].min() > 0.9
    assert s.voicing[3:].max() < 0.35
    assert features(hiss(1.0, -40.0)).voicing[3:].max() < 0.35
    t = np.arange(SR) / SR
    hum = features((0.1 * np.sin(2 * np.pi * 50 * t)).astype(np.float32))
    assert hum.voicing.max() < 0.1  # 50 Hz: below the F0 range, no autocorrelation peak in it


def test_no_look_ahead_past_the_frame() -> None:
    x = speechlike(3.0, seed=1).audio
    base = features(x)
    for t in (10, 31, 50):
        y = x.copy()
        y[(t + 1) * SPF :] = np.random.default_rng(t).standard_normal(y.shape[0] - (t + 1) * SPF)
        changed = features(y)
        for name in ("level_db", "f1_ratio", "centroid_hz", "f2_hz", "f2_ratio", "hf_ratio"):
            np.testing.assert_array_equal(
                getattr(changed, name)[: t + 1], getattr(base, name)[: t + 1]
            )
        assert not np.array_equal(changed.level_db[t + 1 :], base.level_db[t + 1 :])


@pytest.mark.parametrize("chunk", [1, 3, 7, 25])
def test_front_end_and_vad_stream_exactly(chunk: int) -> None:
    x = speechlike(6.0, seed=2).audio
    front, vad = AudioFrontEnd(), VoiceActivityDetector()
    whole, _ = front.process(front.init_state(), x)
    whole_vad, _ = vad.process(vad.init_state(), whole.level_db, whole.voicing)
    fs, vs = front.init_state(), vad.init_state()
    parts, vad_parts = [], []
    for start in range(0, x.shape[0] // SPF, chunk):
        feats, fs = front.process(fs, x[start * SPF : (start + chunk) * SPF])
        out, vs = vad.process(vs, feats.level_db, feats.voicing)
        parts.append(feats)
        vad_parts.append(out)
    for name in ("level_db", "f1_ratio", "centroid_hz", "f2_hz", "f2_ratio", "hf_ratio", "voicing"):
        got = np.concatenate([getattr(p, name) for p in parts])
        np.testing.assert_allclose(got, getattr(whole, name), rtol=0, atol=1e-9)
    for name in ("speech", "active", "phrase_end", "gate_db", "speech_db"):
        got = np.concatenate([getattr(p, name) for p in vad_parts])
        np.testing.assert_array_equal(got, getattr(whole_vad, name))


def test_empty_audio_gives_empty_features_and_keeps_the_tail() -> None:
    front = AudioFrontEnd()
    state = front.process(front.init_state(), vowel("a", 0.2))[1]
    feats, same = front.process(state, np.zeros(0, np.float32))
    assert feats.num_frames == 0
    np.testing.assert_array_equal(same.tail, state.tail)
    with pytest.raises(ValueError, match="samples"):
        front.process(state, np.zeros(SPF + 1, np.float32))


# --- voice activity ---------------------------------------------------------------------------


def vad_of(audio: np.ndarray, config: VadConfig | None = None):  # type: ignore[no-untyped-def]
    feats = features(audio)
    vad = VoiceActivityDetector(config)
    return vad.process(vad.init_state(), feats.level_db, feats.voicing)[0]


def test_hiss_is_never_speech_even_when_fairly_loud() -> None:
    for level in (-70.0, -55.0, -40.0):
        assert not vad_of(hiss(5.0, level, seed=3)).speech.any(), level


@pytest.mark.parametrize("rms_db", [-42.0, -22.0, -10.0])
def test_quiet_and_loud_voices_are_found_and_tracked(rms_db: float) -> None:
    sp = speechlike(8.0, seed=4, rms_db=rms_db)
    out = vad_of(sp.audio)
    assert out.speech[sp.voiced].mean() > 0.7
    assert not out.speech[~sp.voiced].any()
    # After a few seconds the tracked speech level sits near the voice's level (peak-ish).
    assert abs(out.speech_db[-1] - rms_db) < 8.0


def test_phrase_end_needs_a_long_enough_phrase_and_pause() -> None:
    gap = np.zeros(SPF * 25, np.float32)
    long_phrase = vowel("a", 1.0)  # 25 frames of voice
    short_phrase = vowel("o", 0.4)  # 10 frames: too short to count
    with_short_gap = np.concatenate(
        [vowel("e", 0.6), np.zeros(SPF * 3, np.float32), vowel("i", 0.6)]
    )
    x = np.concatenate([gap, long_phrase, gap, short_phrase, gap, with_short_gap, gap])
    out = vad_of(x)
    ends = np.flatnonzero(out.phrase_end)
    # Silence starts at frames 50 and 143 (25 + 25 + 25 + 10 + 25 + 33); the 7th silent frame
    # (280 ms ≥ 250 ms) completes the pause. The short phrase and the 120 ms gap end nothing.
    assert ends.tolist() == [50 + 6, 143 + 6], ends
    assert out.active[50:55].all() and not out.active[56:75].any()  # 200 ms hangover


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        VadConfig(snr_db=0)
    with pytest.raises(ValueError):
        VadConfig(voicing_min=1.5)
    with pytest.raises(ValueError):
        FeatureConfig(n_fft=1000)
    with pytest.raises(ValueError):
        FeatureConfig(f1_band_hz=(900.0, 250.0))
    with pytest.raises(ValueError):
        AudioFrontEnd(fps=23.0)  # 16 kHz does not divide into 23 fps frames
