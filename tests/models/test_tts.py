"""Speech synthesis through the espeak-ng C library: audio, timings, voices, errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from models.audio_io import loudness_envelope
from models.tts import (
    EspeakEngine,
    Speech,
    SpeechSynthesisError,
    list_variants,
    list_voices,
    synthesize,
)

LINE = "Follow the coast road north, past the harbour, and watch the tide."


def _median_f0(speech: Speech) -> float:
    """Median fundamental (Hz) over loud 40 ms frames, by autocorrelation in 60..400 Hz."""
    x, sr = speech.samples, speech.sample_rate
    n = int(0.04 * sr)
    lo, hi = int(sr / 400), int(sr / 60)
    f0s = []
    for i in range(0, len(x) - n, n):
        seg = x[i : i + n] - x[i : i + n].mean()
        if np.sqrt(np.mean(seg**2)) < 0.05:
            continue
        ac = np.correlate(seg, seg, "full")[n - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:
            f0s.append(sr / lag)
    assert len(f0s) >= 10, "too few voiced frames to measure pitch"
    return float(np.median(f0s))


def test_sentence_has_speech_and_ordered_timings() -> None:
    s = synthesize(LINE, sample_rate=16_000)
    assert s.sample_rate == 16_000 and s.samples.dtype == np.float32 and s.samples.ndim == 1
    assert 0.5 < s.duration < 10.0
    rms = float(np.sqrt(np.mean(s.samples**2)))
    assert 0.02 < rms < 0.5
    assert np.abs(s.samples).max() <= 1.0

    assert [w.text for w in s.words] == [
        "Follow", "the", "coast", "road", "north", "past", "the", "harbour", "and", "watch",
        "the", "tide",
    ]  # fmt: skip
    words = np.array([w.start for w in s.words])
    phonemes = np.array([p.start for p in s.phonemes])
    assert np.all(np.diff(words) > 0)
    assert np.all(np.diff(phonemes) >= 0)  # a pause and the next phoneme may share a start
    for starts in (words, phonemes):
        assert starts[0] >= 0.0 and starts[-1] <= s.duration
    assert len(s.phonemes) > 30
    assert all(p.text for p in s.phonemes)
    # Words start where the audio has energy: within a few frames after each start.
    env = loudness_envelope(s.samples, 16_000)
    for w in s.words:
        frame = int(w.start * 25)
        assert env[frame : frame + 6].max() > 0.03, w


def test_word_timings_slice_non_ascii_text_by_characters() -> None:
    s = synthesize("Café au lait, naïve résumé.")
    assert [w.text for w in s.words] == ["Café", "au", "lait", "naïve", "résumé"]


def test_resampling_keeps_duration_and_timings() -> None:
    native = synthesize(LINE, sample_rate=22_050)
    assert native.sample_rate == EspeakEngine.shared().sample_rate == 22_050
    for rate in (16_000, 48_000):
        s = synthesize(LINE, sample_rate=rate)
        assert s.sample_rate == rate
        # espeak varies pauses a little between runs (up to ~20 ms on a sentence).
        assert abs(s.duration - native.duration) < 0.04  # one video frame
        assert [w.text for w in s.words] == [w.text for w in native.words]
        # Resampled, not relabelled: the voice keeps its pitch.
        assert _median_f0(s) == pytest.approx(_median_f0(native), rel=0.05)
        np.testing.assert_allclose(
            [w.start for w in s.words], [w.start for w in native.words], atol=0.04
        )


def test_voices_are_listed_and_sound_different() -> None:
    voices = list_voices()
    languages = {lang for v in voices for lang in v.languages}
    assert {"en-us", "en-gb"} <= languages
    assert {"f3", "m3"} <= set(list_variants())

    us = synthesize(LINE, voice="en-us")
    gb = synthesize(LINE, voice="en-gb")
    female = synthesize(LINE, voice="en-us+f3")
    # Different accents pronounce "harbour" (and more) with different phonemes.
    assert [p.text for p in us.phonemes] != [p.text for p in gb.phonemes]
    # The female variant speaks about an octave higher.
    assert _median_f0(female) > 1.5 * _median_f0(us)
    assert _median_f0(synthesize(LINE, voice="en-us", pitch=90)) > 1.15 * _median_f0(us)


def test_rate_changes_duration() -> None:
    slow = synthesize(LINE, rate_wpm=120)
    fast = synthesize(LINE, rate_wpm=260)
    assert fast.duration < 0.7 * slow.duration


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text": ""}, "no text"),
        ({"text": "   \n"}, "no text"),
        ({"text": "Hello.", "voice": "xx-nothing"}, "unknown espeak-ng voice"),
        ({"text": "Hello.", "voice": "en-us+nosuchvariant"}, "variant"),
        ({"text": "Hello.", "rate_wpm": 10}, "rate_wpm"),
        ({"text": "Hello.", "pitch": 150}, "pitch"),
        ({"text": "Hello.", "sample_rate": 0}, "sample_rate"),
    ],
)
def test_bad_requests_raise_clear_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(SpeechSynthesisError, match=match):
        synthesize(**kwargs)


def test_repeated_and_concurrent_calls_are_consistent() -> None:
    first = synthesize("Hello there.", voice="en-us")
    # An error in between leaves the engine usable and the voice settings do not leak.
    with pytest.raises(SpeechSynthesisError):
        synthesize("Hello.", voice="xx-nothing")
    synthesize("Hello there.", voice="en-us+f3", pitch=80, rate_wpm=300)
    again = synthesize("Hello there.", voice="en-us")
    assert abs(again.duration - first.duration) < 0.04
    assert [p.text for p in again.phonemes] == [p.text for p in first.phonemes]

    texts = [f"Line number {i}, spoken by the guard." for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda t: synthesize(t, voice="en-gb"), texts))
    serial = [synthesize(t, voice="en-gb") for t in texts]
    for p, s in zip(parallel, serial, strict=True):
        assert [w.text for w in p.words] == [w.text for w in s.words]
        assert abs(p.duration - s.duration) < 0.04
