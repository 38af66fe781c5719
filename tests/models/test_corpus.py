"""Performance corpus: phone timings, visemes and coarticulation, splits, storage, importer, CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from models.audio_io import save_wav
from models.corpus import STATE_BOTH, Corpus, CorpusFormatError, build_corpus, import_capture
from models.corpus.articulation import mouth_offsets, viseme_target
from models.corpus.dsp import frame_level_db, pitch_shift
from models.corpus.engines import (
    SpeechRequest,
    engine_available,
    parse_festival_segments,
    parse_flite_durations,
    synthesize_requests,
)
from models.corpus.phones import correct_stop_closures, phones_from_starts, viseme_sequence
from models.corpus.plan import LineSpec, SampleSpec, check_prompts, plan_corpus
from models.corpus.recipes import realize
from models.corpus.schema import SAMPLES_PER_FRAME, CorpusSample, Phone
from models.corpus.storage import read_shard, sample_from_record, sample_record, write_shard
from models.corpus.texts import lines_by_split, normalize_text
from models.corpus.voices import Voice, all_voices
from models.motion import CURVE_INDEX, MotionClip, write_live_link_csv

SR = 16_000
LINE = "Bobby bought a map, and a cup of apple tea."

needs = {
    engine: pytest.mark.skipif(not engine_available(engine), reason=f"{engine} not installed")
    for engine in ("festival", "flite")
}


def _col(name: str) -> int:
    return CURVE_INDEX[name]


# --- phone timings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "voice",
    [
        "espeak:en-us+m1",
        "espeak:en-gb-scotland+f3",
        pytest.param("festival:kal", marks=needs["festival"]),
        pytest.param("festival:slt", marks=needs["festival"]),
        pytest.param("flite:slt", marks=needs["flite"]),
        pytest.param("flite:kal16", marks=needs["flite"]),
    ],
)
def test_phone_timings_cover_the_audio(voice: str) -> None:
    req = SpeechRequest(voice, LINE, rate=1.1, pitch=1.0)
    speech = synthesize_requests([req])[req]
    phones = speech.phones
    assert phones[0].start_s == 0.0
    assert abs(phones[-1].end_s - speech.duration_s) < 1e-6
    for a, b in itertools.pairwise(phones):
        assert abs(a.end_s - b.start_s) < 1e-6, (a, b)  # contiguous: no gaps, no overlaps
        assert a.end_s > a.start_s
    # Every loud stretch of audio lies inside the speech phones (not in pauses), ±40 ms.
    level = frame_level_db(speech.samples, 160)  # 10 ms blocks
    loud = np.nonzero(level > level.max() - 25.0)[0] * 0.01 + 0.005
    spoken = [(p.start_s - 0.04, p.end_s + 0.04) for p in phones if p.viseme != "sil"]
    outside = [t for t in loud if not any(a <= t <= b for a, b in spoken)]
    assert len(outside) <= 2, outside
    assert sum(p.viseme == "PP" for p in phones) >= 5  # b b b m p p


def test_espeak_stop_boundaries_move_back_to_the_closure() -> None:
    req = SpeechRequest("espeak:en-us+m1", "a pa, a ta, a ka, a cat.")
    speech = synthesize_requests([req])[req]
    level = frame_level_db(speech.samples, 32)  # 2 ms blocks
    stops = [p for p in speech.phones if p.phone in ("p", "t", "k")]
    assert len(stops) >= 4
    for stop in stops:
        i = round(stop.start_s / 0.002)
        closure = level[i + 1 : i + 8].max()  # first 14 ms of the stop: silent closure
        before = level[max(0, i - 8) : i - 1].max()  # the sound before it: loud
        assert closure < before - 20.0, (stop, closure, before)


def test_closure_correction_on_a_synthetic_stop() -> None:
    t = np.arange(SR) / SR
    audio = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    audio[int(0.40 * SR) : int(0.46 * SR)] = 0.0  # 60 ms closure, released at 0.46 s
    phones = phones_from_starts(["a", "p", "a"], [0.0, 0.46, 0.5], 1.0, "espeak")
    fixed = correct_stop_closures(phones, audio, SR)
    assert fixed[1].phone == "p" and abs(fixed[1].start_s - 0.40) < 0.006
    assert fixed[0].end_s == fixed[1].start_s and fixed[1].end_s == 0.5


def test_viseme_mapping_is_shared_across_engines() -> None:
    assert viseme_sequence(["p", "aa", "m", "uw", "s"], "flite") == ["PP", "aa", "PP", "ou", "SS"]
    assert viseme_sequence(["p", "A:", "m", "u:", "s"], "espeak") == ["PP", "aa", "PP", "ou", "SS"]
    assert viseme_sequence(["hh", "ow", "pau"], "festival") == ["oh", "oh", "sil"]  # h borrows


def test_engine_output_parsers_are_robust() -> None:
    out = "warning: odd word\nLPM-BEGIN 0\nLPM-SEG pau 0.000 0.200\nLPM-SEG b 0.2 0.25\nLPM-END 0\n"
    out += "LPM-BEGIN 1\nLPM-SEG pau 0 0.1\n"  # never finished
    assert parse_festival_segments(out) == {0: [("pau", 0.0, 0.2), ("b", 0.2, 0.25)]}
    assert parse_flite_durations("pau:0.164 hh:0.255 garbage ow:0.523\n") == [
        ("pau", 0.164),
        ("hh", 0.255),
        ("ow", 0.523),
    ]


def test_pitch_shift_keeps_length_and_timing() -> None:
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 140 * t) * (t > 0.5)  # silence, then a tone from 0.5 s
    shifted = pitch_shift(tone.astype(np.float32), 3.0, SR)
    assert shifted.shape == tone.shape
    onset = np.argmax(np.abs(shifted) > 0.3) / SR
    assert abs(onset - 0.5) < 0.01
    spectrum = np.abs(np.fft.rfft(shifted[int(0.6 * SR) :]))
    peak_hz = np.argmax(spectrum) * SR / (2 * spectrum.size - 2)
    assert abs(peak_hz - 140 * 2 ** (3 / 12)) < 5


# --- visemes and coarticulation -------------------------------------------------------------------


def _phones(spec: list[tuple[str, str, float]]) -> list[Phone]:
    out, clock = [], 0.0
    for phone, viseme, length in spec:
        out.append(Phone(clock, clock + length, phone, viseme, "speak"))
        clock += length
    return out


def test_viseme_targets_line_up_with_phones() -> None:
    phones = _phones(
        [("pau", "sil", 0.4), ("p", "PP", 0.12), ("aa", "aa", 0.2), ("m", "PP", 0.12),
         ("aa", "aa", 0.2), ("pau", "sil", 0.4)]
    )  # fmt: skip
    frames = 36
    m = mouth_offsets(phones, frames)
    centre = (np.arange(frames) + 0.5) / 25.0
    jaw, press = m[:, _col("jawOpen")], m[:, _col("mouthPressLeft")]
    for p in phones:
        inside = (centre >= p.start_s + 0.02) & (centre <= p.end_s - 0.02)
        if p.viseme == "aa":
            assert jaw[inside].max() > 0.45 and press[inside].min() < 0.2
            peak = np.argmax(
                np.where((centre > p.start_s - 0.1) & (centre < p.end_s + 0.1), jaw, 0)
            )
            assert p.start_s <= centre[peak] <= p.end_s  # the jaw peaks inside the open vowel
        elif p.viseme == "PP":
            assert press[inside].max() > 0.4 and jaw[inside].min() < 0.2
            assert m[inside, _col("mouthClose")].max() > 0.05
    assert np.abs(m[:3]).max() < 0.02 and np.abs(m[-3:]).max() < 0.02  # at rest in silence
    assert viseme_target("ou")[_col("mouthPucker")] > 0.5


def test_viseme_targets_line_up_with_real_speech() -> None:
    req = SpeechRequest("espeak:en-us+m2", "Papa, bring me a map of the park.")
    speech = synthesize_requests([req])[req]
    frames = int(np.ceil(speech.duration_s * 25))
    m = mouth_offsets(speech.phones, frames)
    centre = (np.arange(frames) + 0.5) / 25.0
    press_in, press_open, jaw_open, jaw_in = [], [], [], []
    for p in speech.phones:
        inside = (centre >= p.start_s) & (centre < p.end_s)
        if not inside.any():
            continue
        if p.viseme == "PP":
            press_in.append(m[inside, _col("mouthPressLeft")].max())
            jaw_in.append(m[inside, _col("jawOpen")].min())
        elif p.viseme == "aa" and p.duration_s > 0.08:
            press_open.append(m[inside, _col("mouthPressLeft")].min())
            jaw_open.append(m[inside, _col("jawOpen")].max())
    assert len(press_in) >= 4 and len(jaw_open) >= 3
    assert min(press_in) > 0.3 and max(press_open) < min(press_in)
    assert min(jaw_open) > max(jaw_in)


def test_lip_rounding_is_anticipated() -> None:
    def pucker(vowel: str, viseme: str) -> np.ndarray:
        phones = _phones(
            [("pau", "sil", 0.5), ("s", "SS", 0.12), ("t", "DD", 0.08), (vowel, viseme, 0.25),
             ("pau", "sil", 0.5)]
        )  # fmt: skip
        return mouth_offsets(phones, 36)[:, _col("mouthPucker")]

    rounded, spread = pucker("uw", "ou"), pucker("iy", "ih")
    # The rounded vowel starts at 0.70 s; frames 15-16 (0.60-0.68 s) are still /s t/.
    assert rounded[15] > 0.15 and rounded[16] > rounded[15] > rounded[13]
    assert spread[15] < 0.02
    assert rounded[17:22].max() > 0.6


# --- plan, splits ---------------------------------------------------------------------------------


def test_splits_hold_out_voices_and_texts() -> None:
    specs = plan_corpus(seed=5, hours=2.0)
    voices: dict[str, set[str]] = {"train": set(), "validation": set(), "test": set()}
    texts: dict[str, set[str]] = {"train": set(), "validation": set(), "test": set()}
    for spec in specs:
        for line in spec.lines:
            voices[spec.split].add(line.request.voice)
            texts[spec.split].add(normalize_text(line.request.text))
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not voices[a] & voices[b], (a, b)
        assert not texts[a] & texts[b], (a, b)
        speakers_a = {Voice.parse(v).speaker for v in voices[a]}
        assert not speakers_a & {Voice.parse(v).speaker for v in voices[b]}
    assert all(voices[s] and texts[s] for s in voices)
    engines = {Voice.parse(v).engine for v in voices["test"]}
    assert engines == {"espeak", "festival", "flite"}  # every engine is evaluated held out
    pools = lines_by_split()
    assert sum(len(v) for v in pools.values()) >= 300


def test_plan_mix_and_prompts() -> None:
    check_prompts()
    specs = plan_corpus(seed=1, hours=1.0)
    assert plan_corpus(seed=1, hours=1.0) == specs  # deterministic
    seconds: dict[str, float] = {}
    for spec in specs:
        seconds[spec.kind] = seconds.get(spec.kind, 0.0) + spec.estimate_s
    total = sum(seconds.values())
    assert 3550 < total < 3700
    assert abs(seconds["speak"] / total - 0.45) < 0.03
    assert abs((seconds["idle"] + seconds["emote"]) / total - 0.15) < 0.03
    assert any(s.prompt and ", then " in s.prompt for s in specs)  # multi-step captions
    assert len(all_voices()) > 100


def _espeak_spec(kind: str, variant: str, streams: list[str], seed: int = 3) -> SampleSpec:
    texts = ["Follow the river until you reach the old mill.", "Why would anyone go there?",
             "The wolves have been coming closer to the village."]  # fmt: skip
    voices = {"speak": "espeak:en-us+m1", "listen": "espeak:en-gb+f1"}
    lines = tuple(
        LineSpec(s, SpeechRequest(voices[s], texts[k % len(texts)]), "neu")
        for k, s in enumerate(streams)
    )
    return SampleSpec(f"{kind}-x", kind, "train", seed, lines, variant=variant)


def test_conversation_overlap_and_barge_in() -> None:
    spec = _espeak_spec("conversation", "overlap", ["speak", "listen"])
    speech = synthesize_requests(spec.requests())
    sample = realize(spec, speech)
    assert (sample.state == STATE_BOTH).sum() >= 3
    barge = _espeak_spec("conversation", "barge_in", ["speak", "listen"])
    sample = realize(barge, synthesize_requests(barge.requests()))
    turns = sample.meta["turns"]
    assert turns[0]["cut"] and turns[0]["end_s"] < turns[1]["end_s"]
    speak_end = max(p.end_s for p in sample.stream_phones("speak"))
    assert speak_end <= turns[0]["end_s"] + 1e-4  # phones stop where the cut audio stops
    assert sample.caption == "is interrupted, stops talking and listens"
    cut = round(turns[0]["end_s"] * SR)
    assert np.abs(sample.speak[cut + 10 :]).max() == 0.0


def test_listen_captions_say_what_the_face_does() -> None:
    friend = "espeak:en-gb+f1"
    lines = (
        LineSpec("listen", SpeechRequest(friend, "Welcome back, friend! Good to see you."), "pos"),
        LineSpec("listen", SpeechRequest(friend, "Why are you looking at me like that?"), "neu"),
    )
    speech = synthesize_requests([line.request for line in lines])
    seen: set[str] = set()
    for seed in range(12):
        sample = realize(SampleSpec("listen-x", "listen", "train", seed, lines), speech)
        m = sample.motion
        if "smiles" in sample.caption:
            seen.add("smiles")
            assert m[:, _col("mouthSmileLeft")].max() > 0.25, sample.caption
        if "raises brows" in sample.caption:
            seen.add("brows")
            assert m[:, _col("browInnerUp")].max() > 0.15, sample.caption
        if "nods" in sample.caption:
            seen.add("nods")
        assert ("nods" in sample.caption) == (m[:, _col("headPitch")].max() > np.radians(3.5))
        assert (sample.state == 2).any() and not (sample.state == 1).any()
    assert seen == {"smiles", "brows", "nods"}


def test_speak_sample_has_silent_edges_and_a_closed_mouth() -> None:
    spec = _espeak_spec("speak", "", ["speak"])
    sample = realize(spec, synthesize_requests(spec.requests()))
    assert sample.speak.size == sample.num_frames * SAMPLES_PER_FRAME
    assert sample.state[0] == 0 and sample.state[-1] == 0 and (sample.state == 1).any()
    assert sample.motion[0, _col("jawOpen")] < 0.02 and sample.motion[-1, _col("jawOpen")] < 0.02
    assert 3.0 <= sample.duration_s <= 12.0


# --- storage, reader, determinism -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "a"
    build_corpus(root, hours=0.015, seed=11, workers=2, shard_size=4)
    return root


def test_same_seed_gives_identical_bytes(tiny_corpus: Path, tmp_path: Path) -> None:
    again = tmp_path / "b"
    build_corpus(again, hours=0.015, seed=11, workers=1, shard_size=4)
    names = sorted(p.name for p in tiny_corpus.iterdir() if p.is_file())
    assert names == sorted(p.name for p in again.iterdir() if p.is_file())
    assert len([n for n in names if n.startswith("shard-")]) >= 2
    for name in names:
        assert (tiny_corpus / name).read_bytes() == (again / name).read_bytes(), name


def test_reader_round_trip(tiny_corpus: Path) -> None:
    corpus = Corpus(tiny_corpus)
    m = corpus.manifest
    assert m.num_samples == len(corpus) == len(corpus.ids()) >= 4
    assert sum(m.counts_per_split().values()) == len(corpus)
    assert m.hash == m.content_hash and len(m.hash) == 64
    corpus.verify()
    seen = []
    for sample in corpus.samples():
        assert sample.speak.dtype == sample.listen.dtype == np.float32
        assert sample.motion.dtype == np.float32 and sample.state.dtype == np.uint8
        assert sample.speak.shape == (sample.num_frames * 640,) == sample.listen.shape
        assert sample.motion.shape == (sample.num_frames, 61)
        assert 3.0 <= sample.duration_s <= 12.0
        assert np.isfinite(sample.motion).all() and sample.state.max() <= 3
        seen.append(sample.id)
    assert seen == corpus.ids()
    first = corpus.load(seen[-1])
    assert first.id == seen[-1]
    for split in ("train", "validation", "test"):
        assert all(corpus.record(i)["split"] == split for i in corpus.ids(split))


def test_shard_round_trip_is_exact_for_motion(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = 80
    sample = CorpusSample(
        id="x", kind="idle", split="train",
        speak=rng.uniform(-1, 1, frames * 640).astype(np.float32),
        listen=np.zeros(frames * 640, np.float32),
        motion=rng.uniform(0, 1, (frames, 61)).astype(np.float32),
        state=np.zeros(frames, np.uint8), caption="idles", voice="", text="", phones=(),
        meta={"k": 1},
    )  # fmt: skip
    path = tmp_path / "shard-00000.npz"
    write_shard(path, [sample])
    back = sample_from_record(json.loads(json.dumps(sample_record(sample, path.name, 0))),
                              read_shard(path))  # fmt: skip
    assert np.array_equal(back.motion, sample.motion)
    assert np.abs(back.speak - sample.speak).max() <= 1.0 / 32768
    with pytest.raises(ValueError, match="samples"):
        CorpusSample("y", "idle", "train", sample.speak[:-1], sample.listen, sample.motion,
                     sample.state, "", "", "", ())  # fmt: skip


def test_missing_or_corrupt_manifest_is_a_clear_error(tmp_path: Path, tiny_corpus: Path) -> None:
    with pytest.raises(CorpusFormatError, match=r"manifest\.json not found"):
        Corpus(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CorpusFormatError, match="not valid JSON"):
        Corpus(tmp_path)
    doc = json.loads((tiny_corpus / "manifest.json").read_text())
    doc["version"] = 99
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(CorpusFormatError, match="version"):
        Corpus(tmp_path)
    with pytest.raises(FileExistsError):
        build_corpus(tiny_corpus, hours=0.01, seed=0)


# --- captures -------------------------------------------------------------------------------------


def test_live_link_capture_round_trips_into_samples(tmp_path: Path) -> None:
    frames = 25 * 14  # 14 s: two clips of 7 s
    t = np.arange(frames)[:, None] / 25.0
    curves = 0.5 + 0.4 * np.sin(2 * np.pi * 0.7 * t + np.arange(61)[None, :])
    curves[:, 52:] = (curves[:, 52:] - 0.5) * 0.5
    clip = MotionClip(curves.astype(np.float32), 25.0)
    write_live_link_csv(clip, tmp_path / "take.csv")
    req = SpeechRequest("espeak:en-us+m1", LINE)
    speech = synthesize_requests([req])[req].samples
    audio = np.zeros(frames * 640, np.float32)
    audio[SR : SR + speech.size] = speech
    save_wav(tmp_path / "take.wav", audio, SR)
    samples = import_capture(tmp_path / "take.csv", tmp_path / "take.wav", caption="talks")
    assert [s.num_frames for s in samples] == [175, 175]
    motion = np.concatenate([s.motion for s in samples])
    assert np.abs(motion - clip.curves).max() < 1e-5
    speak = np.concatenate([s.speak for s in samples])
    assert np.abs(speak - audio).max() < 1e-3
    state = np.concatenate([s.state for s in samples])
    assert (
        state[: 25 - 2].max() == 0 and (state[25 : 25 + int(speech.size / 640)] == 1).mean() > 0.7
    )
    assert samples[0].kind == "capture" and samples[0].voice == "capture:take"


# --- command line ---------------------------------------------------------------------------------


def test_cli_build_and_stats(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from typer.testing import CliRunner

    from runtime.cli import app

    out = tmp_path / "corpus"
    runner = CliRunner()
    result = runner.invoke(app, ["data", "build", "--out", str(out), "--hours", "0.005"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["data", "stats", str(out), "--out", str(tmp_path / "png")])
    assert result.exit_code == 0, result.output
    for name in ("counts.png", "states.png", "durations.png", "curves.png", "stats.json"):
        assert (tmp_path / "png" / name).stat().st_size > 1000, name
    result = runner.invoke(app, ["data", "stats", str(tmp_path)])
    assert result.exit_code == 2 and "not a corpus" in result.output
