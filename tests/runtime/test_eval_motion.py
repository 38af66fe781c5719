"""Train a tiny Base LPM on a tiny corpus end to end, export it, load it and evaluate it beside
the procedural performer: the whole `lpm data build` → `lpm train base` → `lpm eval motion` path."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from models.corpus.builder import build_corpus
from models.corpus.reader import Corpus
from models.train_base import TrainConfig, load_base, train_base
from runtime.cli import app
from runtime.eval_motion import BaseModel, ProceduralModel, evaluate, phrase_ends


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    build_corpus(root, hours=0.04, seed=3, workers=2, shard_size=8)
    return root


def test_tiny_base_trains_resumes_exports_and_evaluates(corpus: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(preset="tiny", steps=40, batch=8, eval_every=20, checkpoint_every=20)
    straight = tmp_path / "straight"
    done = train_base(corpus, straight, cfg)
    assert done.steps == 40 and math.isfinite(done.val_loss)
    # Interrupted at step 20 and resumed: the same weights as the uninterrupted run.
    resumed = tmp_path / "resumed"
    assert train_base(corpus, resumed, cfg, stop_at=20).steps == 20
    assert train_base(corpus, resumed, cfg).steps == 40
    a = load_base(straight / "base_tiny.safetensors").state_dict()
    b = load_base(resumed / "base_tiny.safetensors").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    tmp_path = straight
    meta = json.loads((tmp_path / "base_tiny.json").read_text())
    assert meta["corpus_hash"] == Corpus(corpus).manifest.content_hash
    assert [h["step"] for h in meta["history"]] == [20, 40]
    model = load_base(tmp_path / "base_tiny.safetensors")
    assert not model.training and torch.isfinite(model.curve_std).all()

    samples = list(Corpus(corpus).samples("test"))[:4] or list(Corpus(corpus).samples())[:4]
    for m in (ProceduralModel(), BaseModel(tmp_path / "base_tiny.safetensors", steps=2)):
        scores, preds = evaluate(m, samples)
        assert set(preds) == {s.id for s in samples}
        for s in samples:
            p = preds[s.id]
            assert p.shape == s.motion.shape and np.isfinite(p).all()
        assert 0.0 <= scores.controllability <= 1.0 and scores.diversity >= 0.0


def test_phrase_ends_follow_the_partners_pauses(corpus: Path) -> None:
    c = Corpus(corpus)
    listening = [c.load(i) for i in c.ids() if c.record(i)["kind"] in ("listen", "conversation")]
    assert listening
    for s in listening:
        voiced = [p for p in s.phones if p.stream == "listen" and p.viseme != "sil"]
        for f in phrase_ends(s):
            end_s = f / 25.0
            # Each phrase end is the end of a voiced listen phone, with no voiced phone in the
            # next 300 ms.
            assert any(abs(p.end_s - end_s) <= 0.02 for p in voiced)
            assert not any(end_s + 0.02 < p.start_s < end_s + 0.3 for p in voiced)


def test_eval_cli_refuses_a_missing_checkpoint(corpus: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "motion",
            "--data",
            str(corpus),
            "--checkpoint",
            str(tmp_path / "nope.safetensors"),
        ],
    )
    assert res.exit_code == 2 and "no checkpoint" in res.output
