from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.tts import EspeakEngine
from runtime.characters import CharacterRegistry

TEST_SIZE = 128  # output size of test servers: small frames, same code path


@pytest.fixture(scope="session")
def character_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A character directory with the default character prepared once per test run."""
    directory = tmp_path_factory.mktemp("characters")
    CharacterRegistry(directory, TEST_SIZE).get(None)
    yield directory


@pytest.fixture(scope="session")
def line() -> tuple[np.ndarray, int]:
    """An NPC line (~2 s) as the TTS made it: float32 samples and their rate."""
    speech = EspeakEngine.shared().synthesize("Welcome back, traveller. The gate is open.")
    return speech.samples.astype(np.float32), speech.sample_rate
