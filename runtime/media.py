"""Video and picture output: MP4 (H.264 + AAC) written frame by frame, probing, contact sheets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

_AUDIO_BLOCK = 1024  # samples per encoded audio frame (AAC's frame size)


class Mp4Writer:
    """Streams RGB(A) frames and one mono audio track into an MP4.

    ``audio`` (float32 mono at ``sample_rate``) is muxed alongside as the frames arrive, so the
    whole clip is never held in memory. Frame sizes must be even (yuv420p); the first frame
    fixes the size.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float = 25.0,
        audio: np.ndarray | None = None,
        sample_rate: int = 16_000,
        crf: int = 18,
    ) -> None:
        self.path = Path(path)
        self.fps = fps
        self._rate = Fraction(fps).limit_denominator(1001)
        self._container: Any = av.open(str(self.path), mode="w")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        video: Any = self._container.add_stream(codec, rate=self._rate)
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {"crf": str(crf), "preset": "veryfast"}
        self._video = video
        self._audio_data = None if audio is None else np.asarray(audio, np.float32)
        self._sample_rate = int(sample_rate)
        self._audio_pos = 0
        self._astream: Any = None
        if self._audio_data is not None:
            self._astream = self._container.add_stream("aac", rate=self._sample_rate)
            self._astream.layout = "mono"
        self._frames = 0
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        """Append one ``[H, W, 3|4]`` uint8 RGB(A) frame (alpha is dropped)."""
        rgb = np.ascontiguousarray(frame[..., :3])
        h, w = rgb.shape[:2]
        if self._size is None:
            if h % 2 or w % 2:
                raise ValueError(f"frame size {w}x{h} must be even for yuv420p")
            self._size = (w, h)
            self._video.width, self._video.height = w, h
        elif (w, h) != self._size:
            raise ValueError(f"frame size changed from {self._size} to {(w, h)}")
        vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        vf.pts = self._frames
        vf.time_base = 1 / self._rate
        for packet in self._video.encode(vf):
            self._container.mux(packet)
        self._frames += 1
        # Keep audio muxed up to the video's timeline.
        self._write_audio(until=round(self._frames / self.fps * self._sample_rate))

    def _write_audio(self, until: int) -> None:
        if self._audio_data is None:
            return
        until = min(until, len(self._audio_data))
        while self._audio_pos + _AUDIO_BLOCK <= until or (
            until == len(self._audio_data) and self._audio_pos < until
        ):
            block = self._audio_data[self._audio_pos : self._audio_pos + _AUDIO_BLOCK]
            af = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
            af.sample_rate = self._sample_rate
            af.pts = self._audio_pos
            af.time_base = Fraction(1, self._sample_rate)
            for packet in self._astream.encode(af):
                self._container.mux(packet)
            self._audio_pos += len(block)

    def close(self) -> None:
        """Flush encoders; audio is cut (or padded with silence) to the video's duration."""
        if self._container is None:
            return
        if self._audio_data is not None:
            need = round(self._frames / self.fps * self._sample_rate)
            if len(self._audio_data) < need:
                pad = np.zeros(need - len(self._audio_data), np.float32)
                self._audio_data = np.concatenate([self._audio_data, pad])
            self._audio_data = self._audio_data[:need]
            self._write_audio(until=need)
            for packet in self._astream.encode(None):
                self._container.mux(packet)
        for packet in self._video.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_mp4_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decoded RGB frames ``[H, W, 3]`` uint8 of a video file."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def probe(path: str | Path) -> dict[str, Any]:
    """Video fps, frame count and duration; audio duration and rate (seconds, Hz).

    Durations are the streams' own (what ffprobe reports); ``audio_decoded_samples`` also counts
    the encoder's padding of the last AAC frame.
    """
    out: dict[str, Any] = {}
    with av.open(str(path)) as container:
        if container.streams.video:
            vs = container.streams.video[0]
            out["video_fps"] = float(vs.average_rate) if vs.average_rate else None
            frames = sum(1 for p in container.demux(vs) if p.size)
            out["video_frames"] = frames
            out["video_duration"] = (
                float(vs.duration * vs.time_base)
                if vs.duration and vs.time_base
                else frames / (out["video_fps"] or 1.0)
            )
    with av.open(str(path)) as container:
        if container.streams.audio:
            a = container.streams.audio[0]
            out["audio_rate"] = a.rate
            out["audio_decoded_samples"] = sum(f.samples for f in container.decode(a))
            out["audio_duration"] = (
                float(a.duration * a.time_base)
                if a.duration and a.time_base
                else out["audio_decoded_samples"] / a.rate
            )
    return out


def contact_sheet(
    images: list[np.ndarray],
    labels: list[str] | None = None,
    columns: int = 6,
    cell_size: int = 256,
) -> np.ndarray:
    """RGB grid of ``images`` scaled to ``cell_size`` wide, each with a label strip below."""
    if not images:
        raise ValueError("no images for a contact sheet")
    label_h = max(16, cell_size // 12)
    cells = []
    for i, img in enumerate(images):
        rgb = np.ascontiguousarray(img[..., :3])
        h, w = rgb.shape[:2]
        ch = round(h * cell_size / w)
        cell = np.zeros((ch + label_h, cell_size, 3), np.uint8)
        interp = cv2.INTER_AREA if w > cell_size else cv2.INTER_CUBIC
        cell[:ch] = cv2.resize(rgb, (cell_size, ch), interpolation=interp)
        if labels is not None and i < len(labels):
            scale = label_h / 32.0
            cv2.putText(
                cell,
                labels[i],
                (4, ch + int(label_h * 0.75)),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (235, 235, 235),
                1,
                cv2.LINE_AA,
            )
        cells.append(cell)
    cell_h = max(c.shape[0] for c in cells)
    rows = []
    for r in range(0, len(cells), columns):
        row = [
            np.pad(c, ((0, cell_h - c.shape[0]), (0, 0), (0, 0))) for c in cells[r : r + columns]
        ]
        row += [np.zeros((cell_h, cell_size, 3), np.uint8)] * (columns - len(row))
        rows.append(np.hstack(row))
    return np.vstack(rows)


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write an RGB(A) uint8 image as PNG."""
    arr = np.ascontiguousarray(image)
    code = cv2.COLOR_RGBA2BGRA if arr.ndim == 3 and arr.shape[2] == 4 else cv2.COLOR_RGB2BGR
    if not cv2.imwrite(str(path), cv2.cvtColor(arr, code)):
        raise OSError(f"could not write {path}")
