"""Online LPM on ONNX and behind the streaming generator interface: the exported graphs match
torch step by step past the window fill, chunking does not change the curves, batching several
sessions equals stepping each alone (both backends), the speak look-ahead is heard only through
the speak stream, bad input is refused clearly, and checkpoints load with a cached export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from models.encoders import TEXT_DIM, TextEncoder
from models.generator import CharacterConditioning, ChunkInputs
from models.online_export import (
    INIT_FILE,
    META_FILE,
    STATE_NAMES,
    STEP_FILE,
    STEP_INPUTS,
    STEP_OUTPUTS,
    ExportResult,
    example_inputs,
    export_onnx,
    state_batch_axis,
)
from models.online_generator import (
    OnlineGenerator,
    OnlineGenState,
    checkpoint_digest,
    choose_providers,
    load_online_generator,
    shipped_onnx_dir,
)
from models.online_lpm import (
    STATE_TENSORS,
    OnlineLPM,
    flatten_state,
    online_tiny,
    save_online,
)
from tests.models.test_online_lpm import _randomised

torch.set_num_threads(1)
SPF = 640


class HashTextEncoder(TextEncoder):
    """Deterministic token states per prompt (one token per word), so tests need not load the
    sentence encoder; prompts of different lengths exercise the padding of a batch."""

    def encode(self, prompt: str | None) -> np.ndarray:
        words = (prompt or "").split()
        rows = [np.random.default_rng(sum(map(ord, w))).standard_normal(TEXT_DIM) for w in words]
        return np.asarray(rows, np.float32).reshape(len(words), TEXT_DIM)


TEXT = HashTextEncoder()


def _model(seed: int = 0) -> OnlineLPM:
    torch.manual_seed(seed)
    model = OnlineLPM(online_tiny())
    _randomised(model, seed)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> OnlineLPM:
    return _model()


@pytest.fixture(scope="module")
def exported(model: OnlineLPM, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    return export_onnx(model, tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="module")
def generators(model: OnlineLPM, exported: ExportResult) -> dict[str, OnlineGenerator]:
    return {
        "torch": OnlineGenerator.from_model(model, text_encoder=TEXT),
        "onnx": OnlineGenerator.from_onnx(exported.step_path.parent, text_encoder=TEXT),
    }


def _audio(frames: int, seed: int) -> np.ndarray:
    """Speech-like noise: loud and quiet stretches, so features vary frame to frame."""
    rng = np.random.default_rng(seed)
    env = np.repeat(rng.uniform(0.0, 0.3, frames), SPF)
    return (env * rng.standard_normal(frames * SPF)).astype(np.float32)


def _stream(
    gen: OnlineGenerator,
    speak: np.ndarray,
    listen: np.ndarray,
    size: int,
    seed: int = 0,
    prompt: str | None = None,
) -> np.ndarray:
    """Curves of the whole clip streamed in chunks of ``size``, each hearing its real
    look-ahead (silence past the end)."""
    la = gen.lookahead_frames * SPF
    padded = np.concatenate([speak, np.zeros(la, np.float32)])
    state = gen.init_state(CharacterConditioning(), seed=seed)
    out = []
    for a in range(0, speak.size, size * SPF):
        b = a + size * SPF
        chunk = ChunkInputs(size, speak[a:b], listen[a:b], prompt, speak_ahead=padded[b : b + la])
        curves, state = gen.step(state, chunk)
        assert curves.shape == (size, 61) and curves.dtype == np.float32
        out.append(curves)
    return np.concatenate(out)


# --- the graphs ----------------------------------------------------------------------------------


def test_graphs_name_the_cache_and_leave_batch_and_text_length_dynamic(
    exported: ExportResult,
) -> None:
    step = onnx.load(str(exported.step_path), load_external_data=False)
    names_in = [i.name for i in step.graph.input]
    names_out = [o.name for o in step.graph.output]
    assert names_in == list(STEP_INPUTS)
    assert names_out == list(STEP_OUTPUTS)
    assert names_in[: len(STATE_NAMES)] == [n.replace(".", "_") for n in STATE_TENSORS]
    assert names_out[1:] == [f"next_{n}" for n in STATE_NAMES]
    dims = {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
        for i in step.graph.input
    }
    for name in STATE_NAMES:
        assert isinstance(dims[name][state_batch_axis(name)], str), (name, dims[name])
    assert all(isinstance(d, str) for d in dims["text"][:2])
    assert isinstance(dims["text_mask"][1], str)
    init = onnx.load(str(exported.init_path), load_external_data=False)
    assert [i.name for i in init.graph.input] == ["rest"]
    assert [o.name for o in init.graph.output] == list(STATE_NAMES)
    meta = json.loads(exported.meta_path.read_text())
    assert meta["step"]["inputs"] == list(STEP_INPUTS)
    assert meta["step"]["outputs"] == list(STEP_OUTPUTS)
    assert meta["config"]["chunk"] == 4 and meta["lookahead_frames"] == 2
    assert meta["verified_max_abs_diff"] == exported.max_abs_diff < 1e-4


def test_onnx_matches_torch_step_by_step_past_the_window_fill(
    model: OnlineLPM, exported: ExportResult
) -> None:
    import onnxruntime as ort

    cfg = model.config
    init = ort.InferenceSession(str(exported.init_path), providers=["CPUExecutionProvider"])
    step = ort.InferenceSession(str(exported.step_path), providers=["CPUExecutionProvider"])
    rest, _ = example_inputs(cfg, 3, 1, seed=5)
    steps = cfg.max_position // cfg.chunk + 4  # the window fills at step 5; go 4 past it
    worst = 0.0
    with torch.no_grad():
        state = model.init_state(rest)
        flat = init.run(None, {"rest": rest.numpy()})
        for ref, got in zip(flatten_state(state), flat, strict=True):
            worst = max(worst, float(np.abs(ref.numpy() - got).max()))
        for k in range(steps):
            _, chunk = example_inputs(cfg, 3, 1 + 3 * (k % 3), seed=10 + k)
            if k == 2:
                chunk["text_mask"][:] = False  # no prompt: one masked token
            curves, state = model.step(state, *chunk.values())
            out = step.run(None, {**dict(zip(STATE_NAMES, flat, strict=True)),
                                  **{n: t.numpy() for n, t in chunk.items()}})  # fmt: skip
            flat = out[1:]
            assert [a.shape for a in flat] == [tuple(t.shape) for t in flatten_state(state)]
            for ref, got in zip((curves, *flatten_state(state)), out, strict=True):
                worst = max(worst, float(np.abs(ref.numpy() - got).max()))
    assert int(flat[0][0]) == steps * cfg.chunk
    print(f"ONNX vs torch over {steps} steps: max abs diff {worst:.3g}")
    assert worst < 1e-4


# --- the generator -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_curves_do_not_depend_on_the_chunking(
    generators: dict[str, OnlineGenerator], backend: str
) -> None:
    gen = generators[backend]
    speak, listen = _audio(48, 1), _audio(48, 2)
    by_size = {
        size: _stream(gen, speak, listen, size, prompt="a warm smile") for size in (4, 8, 12)
    }
    assert np.abs(by_size[4] - by_size[8]).max() < 1e-5
    assert np.abs(by_size[4] - by_size[12]).max() < 1e-5
    assert by_size[4].std(axis=0).max() > 0.05  # the curves move: the check can fail


def test_onnx_and_torch_generators_agree(generators: dict[str, OnlineGenerator]) -> None:
    speak, listen = _audio(40, 3), _audio(40, 4)
    a = _stream(generators["torch"], speak, listen, 8, seed=7, prompt="nods")
    b = _stream(generators["onnx"], speak, listen, 8, seed=7, prompt="nods")
    assert np.abs(a - b).max() < 1e-4


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_step_many_equals_stepping_each_alone(
    generators: dict[str, OnlineGenerator], backend: str
) -> None:
    gen = generators[backend]
    rests = [np.zeros(61, np.float32), np.full(61, 0.05, np.float32), np.zeros(61, np.float32)]
    prompts = [None, "smiles warmly at the player", "frowns"]
    sizes = [4, 8, 4]  # one session brings two model chunks: it goes on in a smaller batch
    alone = [gen.init_state(CharacterConditioning(r), seed=i) for i, r in enumerate(rests)]
    together = list(alone)
    for k in range(7):
        chunks = [
            ChunkInputs(
                n, _audio(n, 100 * k + i), _audio(n, 100 * k + i + 50), prompts[i],
                speak_ahead=_audio(2, 100 * k + i + 70) if i != 1 else None,
            )
            for i, n in enumerate(sizes)
        ]  # fmt: skip
        results = gen.step_many(together, chunks)
        for i, chunk in enumerate(chunks):
            curves, alone[i] = gen.step(alone[i], chunk)
            assert results[i][0].shape == curves.shape
            assert np.abs(results[i][0] - curves).max() < 1e-5, (k, i)
        together = [state for _, state in results]
    assert all(s.frames == 7 * n for s, n in zip(together, sizes, strict=True))


def test_speak_ahead_is_heard_through_the_speak_stream_only(model: OnlineLPM) -> None:
    gen = OnlineGenerator.from_model(model, text_encoder=TEXT)
    state = gen.init_state(CharacterConditioning(), seed=0)
    speak, listen = _audio(8, 11), _audio(8, 12)
    for a in range(0, 8 * SPF, 4 * SPF):  # some history first
        _, state = gen.step(state, ChunkInputs(4, speak[a : a + 4 * SPF], listen[a : a + 4 * SPF]))
    now_s, now_l = _audio(4, 13), _audio(4, 14)
    quiet = gen.step(state, ChunkInputs(4, now_s, now_l, speak_ahead=None))
    zeros = gen.step(state, ChunkInputs(4, now_s, now_l, speak_ahead=np.zeros(2 * SPF)))
    loud = gen.step(state, ChunkInputs(4, now_s, now_l, speak_ahead=_audio(2, 15) * 3))
    assert np.array_equal(quiet[0], zeros[0])  # None means "not known yet": silence
    assert np.abs(loud[0] - quiet[0]).max() > 1e-3  # the look-ahead is heard
    # ... but not kept: the audio front-ends and the model's audio history are the same.
    for a, b in ((quiet[1], loud[1]), (quiet[1], zeros[1])):
        assert np.array_equal(a.speak_fe.tail, b.speak_fe.tail)
        assert np.array_equal(a.listen_fe.tail, b.listen_fe.tail)
        assert torch.equal(a.model.speak_hist, b.model.speak_hist)
        assert torch.equal(a.model.listen_hist, b.model.listen_hist)
        assert a.frames == b.frames

    # A network deaf to the speak stream (its speak cross-attention silenced) does not hear it.
    deaf = _model()
    with torch.no_grad():
        for net in (deaf.backbone, deaf.refiner):
            for block in net._blocks():
                if block.hears == "speak":
                    block.audio_attn.out.weight.zero_()
                    block.audio_attn.out.bias.zero_()
    deaf_gen = OnlineGenerator.from_model(deaf, text_encoder=TEXT)
    start = deaf_gen.init_state(CharacterConditioning(), seed=0)
    a = deaf_gen.step(start, ChunkInputs(4, now_s, now_l, speak_ahead=None))[0]
    b = deaf_gen.step(start, ChunkInputs(4, now_s, now_l, speak_ahead=_audio(2, 15) * 3))[0]
    c = deaf_gen.step(start, ChunkInputs(4, now_s, _audio(4, 16) * 3, speak_ahead=None))[0]
    assert np.abs(a - b).max() < 1e-6
    assert np.abs(a - c).max() > 1e-3  # it still hears the listen stream


def test_a_state_is_never_changed(generators: dict[str, OnlineGenerator]) -> None:
    for gen in generators.values():
        start = gen.init_state(CharacterConditioning(), seed=3)
        chunk = ChunkInputs(4, _audio(4, 1), _audio(4, 2), "nods", speak_ahead=_audio(2, 3))
        first, after = gen.step(start, chunk)
        again, _ = gen.step(start, chunk)  # same state, same chunk: same noise, same curves
        assert np.array_equal(first, again)
        third, _ = gen.step(after, chunk)
        assert not np.array_equal(first, third)  # the next chunk draws new noise
        other, _ = gen.step(gen.init_state(CharacterConditioning(), seed=4), chunk)
        assert not np.array_equal(first, other)  # the seed matters


def test_bad_input_is_refused_clearly(generators: dict[str, OnlineGenerator]) -> None:
    gen = generators["onnx"]
    assert (gen.chunk_frames, gen.lookahead_frames) == (4, 2)
    state = gen.init_state(CharacterConditioning(), seed=0)
    with pytest.raises(ValueError, match="multiple of the model chunk"):
        gen.step(state, ChunkInputs(6, _audio(6, 1), _audio(6, 2)))
    bad = _audio(4, 1)
    bad[100] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ChunkInputs(4, bad, _audio(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        ChunkInputs(4, _audio(4, 1), _audio(4, 2), speak_ahead=np.full(2 * SPF, np.inf))
    with pytest.raises(ValueError, match="next 2 frames"):
        gen.step(state, ChunkInputs(4, _audio(4, 1), _audio(4, 2), speak_ahead=_audio(1, 3)))
    with pytest.raises(ValueError, match="whole frames"):
        ChunkInputs(4, _audio(4, 1), _audio(4, 2), speak_ahead=np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="fps"):
        gen.step(state, ChunkInputs(5, np.zeros(5 * 320), np.zeros(5 * 320), fps=50.0))
    with pytest.raises(ValueError, match="rest_curves"):
        gen.init_state(CharacterConditioning(np.zeros(60, np.float32)))
    # The refused chunks left the state usable.
    curves, _ = gen.step(state, ChunkInputs(4, _audio(4, 1), _audio(4, 2)))
    assert np.isfinite(curves).all()


# --- loading -------------------------------------------------------------------------------------


@pytest.fixture
def checkpoint(model: OnlineLPM, tmp_path: Path) -> Iterator[Path]:
    yield save_online(model, tmp_path / "ckpt" / "online_tiny", {"preset": "tiny"})


def test_a_checkpoint_is_exported_once_into_the_cache(checkpoint: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    gen = load_online_generator(checkpoint, "onnx", cache_dir=cache, text_encoder=TEXT)
    (made,) = list(cache.iterdir())
    meta = json.loads((made / META_FILE).read_text())
    assert meta["checkpoint_sha256"] == checkpoint_digest(checkpoint)
    stamp = (made / STEP_FILE).stat().st_mtime_ns
    again = load_online_generator(checkpoint, "onnx", cache_dir=cache, text_encoder=TEXT)
    assert list(cache.iterdir()) == [made] and (made / STEP_FILE).stat().st_mtime_ns == stamp
    torch_gen = load_online_generator(checkpoint, "torch", text_encoder=TEXT)
    speak, listen = _audio(12, 5), _audio(12, 6)
    ref = _stream(torch_gen, speak, listen, 4)
    for g in (gen, again):
        assert g.backend_name == "onnx"
        assert np.abs(_stream(g, speak, listen, 4) - ref).max() < 1e-4  # float16 weights, both


def test_graphs_shipped_beside_a_checkpoint_are_used(
    checkpoint: Path, tmp_path: Path, exported: ExportResult
) -> None:
    from models.online_lpm import load_online

    shipped = shipped_onnx_dir(checkpoint)
    meta = {"checkpoint_sha256": checkpoint_digest(checkpoint)}
    export_onnx(load_online(checkpoint), shipped, meta=meta, verify=False)
    cache = tmp_path / "cache"
    gen = load_online_generator(checkpoint, "onnx", cache_dir=cache, text_encoder=TEXT)
    assert gen.backend_name == "onnx" and not cache.exists()
    # Graphs of another model beside it are not: a stale export is ignored.
    for name in (INIT_FILE, STEP_FILE):
        (shipped / name).write_bytes((exported.step_path.parent / name).read_bytes())
    doc = json.loads((shipped / META_FILE).read_text())
    doc["checkpoint_sha256"] = "0" * 64
    (shipped / META_FILE).write_text(json.dumps(doc))
    load_online_generator(checkpoint, "onnx", cache_dir=cache, text_encoder=TEXT)
    assert len(list(cache.iterdir())) == 1


def test_loading_refuses_a_missing_checkpoint_and_an_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="lpm train online"):
        load_online_generator(tmp_path / "nothing.safetensors")
    with pytest.raises(ValueError, match="backend"):
        load_online_generator(tmp_path / "nothing.safetensors", backend="tensorflow")


def test_providers_prefer_tensorrt_and_cuda_and_end_with_the_cpu() -> None:
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["CPUExecutionProvider", *gpu[:2]]) == gpu
    assert choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == gpu[1:]
    assert choose_providers(["AzureExecutionProvider", "CPUExecutionProvider"]) == [gpu[2]]
    assert choose_providers()[-1] == "CPUExecutionProvider"


def test_generator_states_are_plain_values(generators: dict[str, OnlineGenerator]) -> None:
    state = generators["onnx"].init_state(CharacterConditioning(), seed=1)
    assert isinstance(state, OnlineGenState) and state.frames == 0
    assert len(state.model) == len(STATE_NAMES)
    assert all(not a.flags.writeable for a in state.model)  # a shared state cannot be edited
