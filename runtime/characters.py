"""The characters a server offers: ``*.lpmchar`` files in a directory, plus the default.

A character is loaded once and shared by every session that shows it (the asset and its
renderer are read-only at run time). Uploaded portraits become new assets in the directory, so
they survive a restart. The default character (the embedded astronaut portrait) is prepared at
the server's output size on first start and cached there too.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from models.generator import CharacterConditioning
from models.render.asset import CharacterAsset
from models.render.prep import prepare_character, prepare_default_character
from models.render.warp import WarpRenderer

log = logging.getLogger(__name__)

DEFAULT_CHARACTER = "astronaut"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass(frozen=True)
class Character:
    id: str
    asset: CharacterAsset
    renderer: WarpRenderer
    source: str

    @property
    def conditioning(self) -> CharacterConditioning:
        return CharacterConditioning(
            rest_curves=self.asset.rest_curves, identity=self.asset.identity
        )


class CharacterRegistry:
    """Thread-safe map of character id → loaded character, backed by a directory."""

    def __init__(self, directory: Path, default_size: int = 256) -> None:
        self.directory = Path(directory)
        self.default_size = default_size
        self._lock = threading.Lock()
        self._loaded: dict[str, Character] = {}

    def ids(self) -> list[str]:
        on_disk = {p.stem for p in self.directory.glob("*.lpmchar") if _ID.match(p.stem)}
        return sorted(on_disk | {DEFAULT_CHARACTER} | set(self._loaded))

    def get(self, character_id: str | None) -> Character:
        """Load (once) and return a character; KeyError when there is no such character."""
        cid = character_id or DEFAULT_CHARACTER
        with self._lock:
            if cid in self._loaded:
                return self._loaded[cid]
            if not _ID.match(cid):
                raise KeyError(cid)
            path = self.directory / f"{cid}.lpmchar"
            if path.is_file():
                asset = CharacterAsset.load(path)
            elif cid == DEFAULT_CHARACTER:
                log.info(
                    "preparing the default character at %d px (cached in %s)",
                    self.default_size,
                    path,
                )
                asset = prepare_default_character(size=self.default_size)
                self.directory.mkdir(parents=True, exist_ok=True)
                asset.save(path)
            else:
                raise KeyError(cid)
            character = Character(cid, asset, WarpRenderer(asset), path.name)
            self._loaded[cid] = character
            return character

    def prepare(self, character_id: str, image_path: Path, face_index: int | None) -> Character:
        """Build a character from a portrait file and store it as ``<id>.lpmchar``."""
        if not _ID.match(character_id):
            raise ValueError(f"character id {character_id!r} must be letters, digits, - or _")
        asset = prepare_character(
            image_path, size=self.default_size, face_index=face_index, name=character_id
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        asset.save(self.directory / f"{character_id}.lpmchar")
        return self.add(character_id, asset, image_path.name)

    def add(self, character_id: str, asset: CharacterAsset, source: str) -> Character:
        """Serve an already built ``asset`` as ``character_id``, replacing any character of that
        id (sessions showing it pick the new one up on their next frame). ``source``: where it
        came from, for display."""
        character = Character(character_id, asset, WarpRenderer(asset), source)
        with self._lock:
            self._loaded[character_id] = character
        return character
