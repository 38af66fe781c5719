"""``lpm data build``: plan → synthesise → direct → shards + manifest (DESIGN §6).

The plan (:func:`~models.corpus.plan.plan_corpus`) is cut into shards of ``shard_size``
samples; each shard is made independently (its speech synthesised, every sample realised, the
shard file written) by ``workers`` worker processes. A sample depends only on its spec, so the
bytes of every shard — and the manifest, which has no timestamps — are the same for a seed
whatever the number of workers.

Every shard is made in a **fresh** process: espeak-ng carries synthesis state from one
utterance to the next inside a process (its output for a text drifts by a few samples from call
to call), so only the same sequence of calls from a fresh library gives the same bytes.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from models.corpus.capture import find_captures, import_capture
from models.corpus.engines import require_engines, synthesize_requests
from models.corpus.plan import SampleSpec, check_prompts, plan_corpus
from models.corpus.recipes import realize
from models.corpus.schema import (
    CORPUS_VERSION,
    KINDS,
    SPLITS,
    CorpusManifest,
    CorpusSample,
    ShardInfo,
)
from models.corpus.storage import (
    MANIFEST_NAME,
    content_hash,
    manifest_json,
    sample_record,
    shard_name,
    write_shard,
)
from models.corpus.voices import Voice

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]  # (samples done, samples in all)
DEFAULT_SHARD_SIZE = 64


_ticks: Any = None  # in a worker: the queue that counts finished samples


def _init_worker(ticks: Any) -> None:
    global _ticks
    _ticks = ticks


def _make_shard(
    out_dir: str, index: int, specs: Sequence[SampleSpec]
) -> tuple[list[dict[str, Any]], ShardInfo]:
    """Synthesise, realise and store one shard (in a worker); one tick per finished sample."""
    speech = synthesize_requests([req for spec in specs for req in spec.requests()])
    samples: list[CorpusSample] = []
    for spec in specs:
        samples.append(realize(spec, speech))
        if _ticks is not None:
            _ticks.put(1)
    return _store(Path(out_dir), index, samples)


def _store(
    out_dir: Path, index: int, samples: Sequence[CorpusSample]
) -> tuple[list[dict[str, Any]], ShardInfo]:
    name = shard_name(index)
    digest = write_shard(out_dir / name, samples)
    records = [sample_record(s, name, i) for i, s in enumerate(samples)]
    return records, ShardInfo(name, digest, len(samples))


def _prepare(out_dir: Path, overwrite: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    old = [out_dir / MANIFEST_NAME, *out_dir.glob("shard-*.npz"), *out_dir.glob("shard-*.partial")]
    old = [p for p in old if p.exists()]
    if old and not overwrite:
        raise FileExistsError(f"{out_dir} already holds a corpus; pass overwrite to replace it")
    for path in old:
        path.unlink()


def _summaries(
    records: Sequence[dict[str, Any]],
) -> tuple[dict[str, dict[str, int]], dict[str, list[str]], float]:
    counts = {split: dict.fromkeys(KINDS, 0) for split in SPLITS}
    voices: dict[str, set[str]] = {split: set() for split in SPLITS}
    seconds = 0.0
    for r in records:
        counts[r["split"]][r["kind"]] += 1
        for voice in (r["voice"], r["meta"].get("listen_voice", "")):
            if voice:
                voices[r["split"]].add(voice)
        seconds += float(r["duration_s"])
    return counts, {k: sorted(v) for k, v in voices.items()}, seconds


def build_corpus(
    out_dir: Path,
    hours: float,
    seed: int,
    workers: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
    captures: Path | None = None,
    capture_split: str = "train",
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> CorpusManifest:
    """Build a corpus of about ``hours`` hours into ``out_dir``; returns its manifest.

    ``captures``: a folder of Live Link Face ``*.csv`` (+ same-stem ``.wav``) added to split
    ``capture_split`` after the synthetic samples. ``overwrite`` replaces an existing corpus
    (its manifest and shards only). ``progress(done, total)`` is called after every sample.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if not 1 <= shard_size <= 10_000:
        raise ValueError(f"shard_size must be in 1..10000, got {shard_size}")
    if capture_split not in SPLITS:
        raise ValueError(f"capture_split must be one of {SPLITS}")
    out_dir = Path(out_dir)
    check_prompts()
    specs = plan_corpus(seed, hours)
    engines = sorted({Voice.parse(r.voice).engine for s in specs for r in s.requests()})
    require_engines(engines)
    capture_pairs = find_captures(captures) if captures is not None else []
    if captures is not None and not capture_pairs:
        raise FileNotFoundError(f"no Live Link Face *.csv captures in {captures}")
    _prepare(out_dir, overwrite)
    chunks = [specs[i : i + shard_size] for i in range(0, len(specs), shard_size)]
    total = len(specs)
    log.info("building %d samples in %d shards with %d worker(s)", total, len(chunks), workers)
    started = time.perf_counter()
    results: dict[int, tuple[list[dict[str, Any]], ShardInfo]] = {}
    done = 0
    if progress:
        progress(0, total)
    context = multiprocessing.get_context("spawn")
    ticks = context.Queue()
    with ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(ticks,),
        max_tasks_per_child=1,  # a fresh espeak-ng per shard (see the module doc)
    ) as pool:
        futures: dict[Future[tuple[list[dict[str, Any]], ShardInfo]], int] = {
            pool.submit(_make_shard, str(out_dir), i, chunk): i for i, chunk in enumerate(chunks)
        }
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            while True:
                try:
                    done += ticks.get_nowait()
                except queue.Empty:
                    break
            if progress:
                progress(done, total)
            for future in finished:
                results[futures[future]] = future.result()
    for csv_path, wav_path in capture_pairs:
        index = len(results)
        samples = import_capture(csv_path, wav_path, split=capture_split)
        for k in range(0, len(samples), shard_size):
            results[len(results)] = _store(out_dir, len(results), samples[k : k + shard_size])
        log.info("imported capture %s into shard %d+", csv_path.name, index)

    records = [r for i in sorted(results) for r in results[i][0]]
    shards = tuple(results[i][1] for i in sorted(results))
    counts, voices, seconds = _summaries(records)
    manifest = CorpusManifest(
        version=CORPUS_VERSION,
        seed=seed,
        hours=round(seconds / 3600.0, 4),
        hours_requested=hours,
        content_hash=content_hash(out_dir, shards),
        counts=counts,
        voices=voices,
        shards=shards,
    )
    tmp = out_dir / (MANIFEST_NAME + ".partial")
    tmp.write_text(manifest_json(manifest, records), encoding="utf-8")
    tmp.replace(out_dir / MANIFEST_NAME)
    log.info(
        "built %.3f h (%d samples) in %.1f s", manifest.hours, len(records),
        time.perf_counter() - started,
    )  # fmt: skip
    return manifest
