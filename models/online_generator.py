"""Online LPM behind the streaming generator interface, on torch or onnxruntime (DESIGN §2, §5).

`OnlineGenerator` turns `models.generator.ChunkInputs` into curves: it computes the audio
features itself with its own streaming log-mel state per stream (so a frame's features never
depend on how the caller chunked the audio), encodes the prompt (token states cached per
prompt), draws the flow noise from a per-session seeded generator, and runs
`models.online_lpm.OnlineLPM.step` once per model chunk of `chunk_frames` frames.

Look-ahead: a model chunk hears `lookahead_frames` frames of the speak stream past its end.
Inside a ``ChunkInputs`` those are the next frames of ``speak``; past its end they come from
``ChunkInputs.speak_ahead`` (zeros when ``None``), whose features are computed from a *copy* of
the speak front-end state that is then thrown away. The model keeps no look-ahead in its cache,
so what was heard ahead never sticks: the next chunk hears the real audio.

`OnlineGenerator.step_many` steps several sessions in one model call per model chunk (the
engine's batching) and returns exactly what stepping each alone returns.

Backends: ``torch`` (`OnlineLPM` in eval mode without gradients) and ``onnx`` (the graphs of
`models.online_export` under onnxruntime; TensorRT or CUDA providers when this onnxruntime has
them, the CPU provider otherwise). `load_online_generator` loads the shipped checkpoint and, for
ONNX, uses graphs shipped next to it or exports them once into the user's cache.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from models.base_lpm import split_rest
from models.blinks import BlinkLayer, BlinkState
from models.encoders import TEXT_DIM, TextEncoder, features_from_frames, shared_text_encoder
from models.generator import (
    DEFAULT_FPS,
    CharacterConditioning,
    ChunkInputs,
    samples_per_frame,
)
from models.logmel import LogMelFrontEnd, LogMelState
from models.motion import NUM_CURVES, clamp_curves
from models.online_export import (
    DEFAULT_EXPORTER,
    DEFAULT_OPSET,
    FORMAT_VERSION,
    INIT_FILE,
    STATE_NAMES,
    STEP_FILE,
    export_onnx,
    read_meta,
    state_batch_axis,
)
from models.online_lpm import (
    OnlineLPM,
    OnlineLPMConfig,
    OnlineState,
    batch_states,
    load_online,
    split_state,
)

log = logging.getLogger(__name__)

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "online_small.safetensors"
BACKENDS = ("onnx", "torch")
_GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def default_onnx_cache() -> Path:
    """Where exported graphs are cached: ``$XDG_CACHE_HOME/lpm/onnx`` (``~/.cache/lpm/onnx``)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "lpm" / "onnx"


def choose_providers(available: Sequence[str] | None = None) -> list[str]:
    """TensorRT and CUDA when this onnxruntime lists them, always ending with the CPU."""
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    return [p for p in _GPU_PROVIDERS if p in available] + ["CPUExecutionProvider"]


# --- backends ------------------------------------------------------------------------------------


class _Backend(Protocol):
    name: str

    def init(self, rest: np.ndarray) -> Any: ...

    def run(self, state: Any, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, Any]: ...

    def join(self, states: list[Any]) -> Any: ...

    def split(self, state: Any, count: int) -> list[Any]: ...


class _TorchBackend:
    """`OnlineLPM` on a torch device; the stream state is an `OnlineState`."""

    name = "torch"

    def __init__(self, model: OnlineLPM, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.float().eval().requires_grad_(False).to(self.device)

    def init(self, rest: np.ndarray) -> OnlineState:
        with torch.no_grad():
            return self.model.init_state(torch.from_numpy(rest).to(self.device))

    def run(self, state: OnlineState, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, Any]:
        t = {k: torch.from_numpy(v).to(self.device) for k, v in inputs.items()}
        with torch.no_grad():
            curves, nxt = self.model.step(
                state, t["speak"], t["listen"], t["text"], t["text_mask"], t["noise"],
                t["refine_noise"],
            )  # fmt: skip
        return curves.cpu().numpy(), nxt

    def join(self, states: list[OnlineState]) -> OnlineState:
        return states[0] if len(states) == 1 else batch_states(states)

    def split(self, state: OnlineState, count: int) -> list[OnlineState]:
        return [state] if count == 1 else split_state(state)


class _OnnxBackend:
    """The exported graphs under onnxruntime; the stream state is a tuple of arrays in
    `models.online_export.STATE_NAMES` order (read-only: a state is never changed)."""

    name = "onnx"

    def __init__(
        self, onnx_dir: Path, threads: int = 1, providers: Sequence[str] | None = None
    ) -> None:
        import onnxruntime as ort

        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.providers = list(providers) if providers is not None else choose_providers()
        self._init = ort.InferenceSession(str(onnx_dir / INIT_FILE), options, self.providers)
        self._step = ort.InferenceSession(str(onnx_dir / STEP_FILE), options, self.providers)
        self._axes = [state_batch_axis(n) for n in STATE_NAMES]
        log.info("onnxruntime providers: %s", ", ".join(self._step.get_providers()))

    @staticmethod
    def _frozen(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        for a in arrays:
            a.flags.writeable = False
        return tuple(arrays)

    def init(self, rest: np.ndarray) -> tuple[np.ndarray, ...]:
        return self._frozen(self._init.run(None, {"rest": rest}))

    def run(
        self, state: tuple[np.ndarray, ...], inputs: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        feed = dict(zip(STATE_NAMES, state, strict=True))
        feed.update(inputs)
        out = self._step.run(None, feed)
        return out[0], self._frozen(out[1:])

    def join(self, states: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
        if len(states) == 1:
            return states[0]
        return self._frozen(
            [np.concatenate([s[i] for s in states], axis=axis) for i, axis in enumerate(self._axes)]
        )

    def split(self, state: tuple[np.ndarray, ...], count: int) -> list[tuple[np.ndarray, ...]]:
        if count == 1:
            return [state]
        out = []
        for b in range(count):
            parts = []
            for a, axis in zip(state, self._axes, strict=True):
                index = [slice(None)] * a.ndim
                index[axis] = slice(b, b + 1)
                parts.append(np.ascontiguousarray(a[tuple(index)]))
            out.append(self._frozen(parts))
        return out


# --- the generator -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnlineGenState:
    """One session's stream: the model's cache, both audio front-ends and the noise source.

    ``rng`` is never drawn from in place: a step draws from a copy and returns that copy.
    """

    model: Any  # the backend's state, batch of one
    speak_fe: LogMelState
    listen_fe: LogMelState
    rng: np.random.Generator
    frames: int  # frames made so far
    rest_offset: np.ndarray  # [61] the rest pose beyond what the model carries (`split_rest`)
    blinks: BlinkState | None  # the blink layer's state (None: the generator adds no blinks)


@dataclass
class PreparedChunk:
    """A chunk turned into model inputs for one session (`OnlineGenerator.prepare`)."""

    steps: int
    speak: np.ndarray  # [n + L, 323]
    listen: np.ndarray  # [n, 323]
    text: np.ndarray  # [Lt, 384]
    noise: np.ndarray  # [steps, 2, C, 61]
    speak_fe: LogMelState
    listen_fe: LogMelState
    rng: np.random.Generator


class OnlineGenerator:
    """`models.generator.PerformanceGenerator` over the Online LPM (torch or ONNX backend)."""

    def __init__(
        self,
        backend: _Backend,
        config: OnlineLPMConfig,
        *,
        text_encoder: TextEncoder | None = None,
        fps: float = DEFAULT_FPS,
        blinks: bool = True,
    ) -> None:
        self.backend = backend
        self.config = config
        self.fps = fps
        self.spf = samples_per_frame(fps)
        self.chunk_frames = config.chunk
        self.lookahead_frames = config.lookahead
        self.front_end = LogMelFrontEnd(fps=fps)
        self._text = text_encoder or shared_text_encoder()
        # The distilled model hardly blinks (`models.blinks`): a blink layer goes over it.
        self.blink_layer = BlinkLayer(fps) if blinks else None

    @classmethod
    def from_model(
        cls, model: OnlineLPM, device: str = "cpu", text_encoder: TextEncoder | None = None
    ) -> OnlineGenerator:
        """The torch backend (the model is put in eval mode on ``device``)."""
        return cls(_TorchBackend(model, device), model.config, text_encoder=text_encoder)

    @classmethod
    def from_onnx(
        cls,
        onnx_dir: Path,
        threads: int = 1,
        providers: Sequence[str] | None = None,
        text_encoder: TextEncoder | None = None,
    ) -> OnlineGenerator:
        """The onnxruntime backend over graphs written by `models.online_export.export_onnx`."""
        meta = read_meta(Path(onnx_dir))
        config = OnlineLPMConfig.from_dict(meta["config"])
        backend = _OnnxBackend(Path(onnx_dir), threads, providers)
        return cls(backend, config, text_encoder=text_encoder)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def warm_up(self) -> None:
        """Load and run everything once, so the first session does not wait for it: the text
        encoder (seconds to load) and the backend's first run (allocations)."""
        self._text.load()
        state = self.init_state(CharacterConditioning())
        silence = np.zeros(self.chunk_frames * self.spf, np.float32)
        ahead = np.zeros(self.lookahead_frames * self.spf, np.float32)
        chunk = ChunkInputs(
            self.chunk_frames, silence, silence, "smiles", self.fps, speak_ahead=ahead
        )
        self.step(state, chunk)

    def prepare_prompt(self, prompt: str | None) -> None:
        """Encode ``prompt`` now (off the real-time thread); chunks then find it cached."""
        self._text.encode(prompt)

    # --- the interface ------------------------------------------------------------------------

    def init_state(self, character: CharacterConditioning, seed: int = 0) -> OnlineGenState:
        rest = np.asarray(character.rest_curves, np.float32)
        if rest.shape != (NUM_CURVES,) or not np.isfinite(rest).all():
            raise ValueError(f"rest_curves must be [{NUM_CURVES}] finite values, got {rest.shape}")
        carried, offset = split_rest(rest)
        offset.flags.writeable = False
        return OnlineGenState(
            model=self.backend.init(carried[None].copy()),
            speak_fe=self.front_end.init_state(),
            listen_fe=self.front_end.init_state(),
            rng=np.random.default_rng(seed),
            frames=0,
            rest_offset=offset,
            blinks=None if self.blink_layer is None else self.blink_layer.init_state(seed),
        )

    def step(self, state: OnlineGenState, chunk: ChunkInputs) -> tuple[np.ndarray, OnlineGenState]:
        """Curves ``[num_frames, 61]`` float32 and the next state (``state`` is not changed)."""
        return self.step_many([state], [chunk])[0]

    def step_many(
        self, states: Sequence[OnlineGenState], chunks: Sequence[ChunkInputs]
    ) -> list[tuple[np.ndarray, OnlineGenState]]:
        """Step several sessions together: one model call per model chunk for all of them.

        Returns, per session, what `step` returns for it alone (sessions may bring different
        numbers of frames; each still a multiple of `chunk_frames`)."""
        if len(states) != len(chunks):
            raise ValueError(f"{len(states)} states but {len(chunks)} chunks")
        if not states:
            return []
        prepared = [self.prepare(s, c) for s, c in zip(states, chunks, strict=True)]
        models = self._run(list(states), prepared)
        out = []
        for state, prep, (curves, model) in zip(states, prepared, models, strict=True):
            n = prep.steps * self.chunk_frames
            curves = clamp_curves(curves + state.rest_offset)
            blinks = state.blinks
            if self.blink_layer is not None and blinks is not None:
                lid, blinks = self.blink_layer.step(blinks, n)
                curves = self.blink_layer.apply(curves, lid)
            nxt = dataclasses.replace(
                state, model=model, speak_fe=prep.speak_fe, listen_fe=prep.listen_fe,
                rng=prep.rng, frames=state.frames + n, blinks=blinks,
            )  # fmt: skip
            out.append((curves, nxt))
        return out

    # --- the parts of a step ----------------------------------------------------------------

    def prepare(self, state: OnlineGenState, chunk: ChunkInputs) -> PreparedChunk:
        """Validate a chunk and compute what the model needs: features (with the look-ahead),
        prompt tokens, and noise drawn from a copy of the session's generator."""
        c, la = self.chunk_frames, self.lookahead_frames
        if not isinstance(state, OnlineGenState):
            raise TypeError("state must come from this generator's init_state or step")
        if abs(chunk.fps - self.fps) > 1e-9:
            raise ValueError(f"the Online LPM runs at {self.fps:g} fps, got a {chunk.fps:g} chunk")
        n = chunk.num_frames
        if n < 1 or n % c:
            raise ValueError(
                f"num_frames must be a positive multiple of the model chunk ({c} frames), got {n}"
            )
        if chunk.speak_ahead is None:
            ahead = np.zeros(la * self.spf, np.float32)
        else:
            ahead = chunk.speak_ahead
            if ahead.shape != (la * self.spf,):
                raise ValueError(
                    f"speak_ahead must be the next {la} frames ({la * self.spf} samples), "
                    f"got {ahead.shape}"
                )
        fe = self.front_end
        speak_f, speak_fe = fe.process(state.speak_fe, chunk.speak)
        listen_f, listen_fe = fe.process(state.listen_fe, chunk.listen)
        speak = features_from_frames(speak_f)
        if la:
            # Heard from a copy of the state, which is then dropped: the look-ahead leaves no
            # trace, and the next chunk computes these frames again from the real audio.
            ahead_f, _ = fe.process(speak_fe, ahead)
            speak = np.concatenate([speak, features_from_frames(ahead_f)])
        steps = n // c
        rng = copy.deepcopy(state.rng)
        noise = rng.standard_normal((steps, 2, c, NUM_CURVES), dtype=np.float32)
        return PreparedChunk(
            steps=steps,
            speak=speak,
            listen=features_from_frames(listen_f),
            text=np.asarray(self._text.encode(chunk.prompt), np.float32),
            noise=noise,
            speak_fe=speak_fe,
            listen_fe=listen_fe,
            rng=rng,
        )

    def model_inputs(self, prepared: list[PreparedChunk], k: int) -> dict[str, np.ndarray]:
        """Batched model inputs (by graph input name) of model chunk ``k`` of every session in
        ``prepared``; prompts are padded to the longest (at least one token, masked)."""
        c, la = self.chunk_frames, self.lookahead_frames
        a = k * c
        length = max(1, max(p.text.shape[0] for p in prepared))
        text = np.zeros((len(prepared), length, TEXT_DIM), np.float32)
        mask = np.zeros((len(prepared), length), bool)
        for i, p in enumerate(prepared):
            text[i, : p.text.shape[0]] = p.text
            mask[i, : p.text.shape[0]] = True
        return {
            "speak": np.stack([p.speak[a : a + c + la] for p in prepared]),
            "listen": np.stack([p.listen[a : a + c] for p in prepared]),
            "text": text,
            "text_mask": mask,
            "noise": np.stack([p.noise[k, 0] for p in prepared]),
            "refine_noise": np.stack([p.noise[k, 1] for p in prepared]),
        }

    def _run(
        self, states: list[OnlineGenState], prepared: list[PreparedChunk]
    ) -> list[tuple[np.ndarray, Any]]:
        """Every session's model chunks; sessions with more chunks go on in a smaller batch."""
        be = self.backend
        active = list(range(len(states)))
        batched = be.join([s.model for s in states])
        finished: dict[int, Any] = {}
        curves: list[list[np.ndarray]] = [[] for _ in states]
        for k in range(max(p.steps for p in prepared)):
            still = [i for i in active if prepared[i].steps > k]
            if still != active:
                for i, part in zip(active, be.split(batched, len(active)), strict=True):
                    finished[i] = part
                batched = be.join([finished.pop(i) for i in still])
                active = still
            out, batched = be.run(batched, self.model_inputs([prepared[i] for i in active], k))
            for row, i in enumerate(active):
                curves[i].append(out[row])
        for i, part in zip(active, be.split(batched, len(active)), strict=True):
            finished[i] = part
        return [
            (np.ascontiguousarray(np.concatenate(curves[i]), np.float32), finished[i])
            for i in range(len(states))
        ]


# --- loading -------------------------------------------------------------------------------------


def checkpoint_digest(path: Path) -> str:
    """SHA-256 of a checkpoint's weights and its JSON (what an export was made from)."""
    h = hashlib.sha256()
    for p in (Path(path), Path(path).with_suffix(".json")):
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def graph_code_digest() -> str:
    """SHA-256 of the source of the modules that shape the exported graphs: a cached export made
    by other code is made again (same weights, maybe a different or slower graph)."""
    import models.base_lpm
    import models.dit
    import models.encoders
    import models.online_export
    import models.online_lpm

    h = hashlib.sha256()
    for module in (models.base_lpm, models.dit, models.encoders, models.online_export,
                   models.online_lpm):  # fmt: skip
        h.update(Path(str(module.__file__)).read_bytes())
    return h.hexdigest()


def _matching_export(onnx_dir: Path, digest: str) -> bool:
    try:
        meta = read_meta(onnx_dir)
    except (FileNotFoundError, ValueError):
        return False
    return bool(meta.get("checkpoint_sha256") == digest)


def shipped_onnx_dir(checkpoint: Path) -> Path:
    """Where graphs shipped with a checkpoint live: ``<stem>-onnx/`` beside it."""
    return Path(checkpoint).with_name(f"{Path(checkpoint).stem}-onnx")


def onnx_for_checkpoint(
    checkpoint: Path, cache_dir: Path | None = None, exporter: str = DEFAULT_EXPORTER
) -> Path:
    """The directory of graphs made from ``checkpoint``: the ones shipped beside it when they
    match it, else a cached export, made now (once) when there is none."""
    checkpoint = Path(checkpoint)
    digest = checkpoint_digest(checkpoint)
    shipped = shipped_onnx_dir(checkpoint)
    if _matching_export(shipped, digest):
        return shipped
    if shipped.exists():
        log.warning("%s was not exported from %s; using a cached export", shipped, checkpoint.name)
    key = hashlib.sha256(
        f"{digest}/{FORMAT_VERSION}/{exporter}/{DEFAULT_OPSET}/{torch.__version__}/"
        f"{graph_code_digest()}".encode()
    ).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else default_onnx_cache()
    target = root / key
    if _matching_export(target, digest):
        return target
    root.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s to ONNX once (%s exporter) into %s", checkpoint, exporter, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        meta = {"checkpoint": checkpoint.name, "checkpoint_sha256": digest}
        export_onnx(load_online(checkpoint), tmp, exporter=exporter, meta=meta)
        if target.exists():  # a broken or stale copy (another process's would match above)
            shutil.rmtree(target, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:
            if not _matching_export(target, digest):  # another process got there first?
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_online_generator(
    path: Path | None = None,
    backend: str = "onnx",
    *,
    threads: int = 1,
    device: str = "cpu",
    providers: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    exporter: str = DEFAULT_EXPORTER,
    text_encoder: TextEncoder | None = None,
) -> OnlineGenerator:
    """The Online generator of a checkpoint (default: the shipped ``online_small``).

    ``backend="onnx"`` runs the exported graphs under onnxruntime with ``threads`` intra-op
    threads (``providers`` default: `choose_providers`); ``backend="torch"`` runs the model on
    ``device``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if not path.is_file() or not path.with_suffix(".json").is_file():
        raise FileNotFoundError(
            f"no Online LPM checkpoint at {path} (with its .json); `lpm train online` makes one"
        )
    if backend == "torch":
        return OnlineGenerator.from_model(load_online(path), device, text_encoder)
    onnx_dir = onnx_for_checkpoint(path, cache_dir, exporter)
    return OnlineGenerator.from_onnx(onnx_dir, threads, providers, text_encoder)
