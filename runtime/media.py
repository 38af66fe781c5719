"""Video and picture output: MP4 (H.264 + AAC) written frame by frame, probing, contact sheets.

Everything goes through PyAV (FFmpeg's libraries bundled in the wheel), so no ``ffmpeg``
executable is needed. Frames are RGB(A) uint8 ``[H, W, 3|4]``; audio is mono float32 in -1..1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import cv2
import numpy as np

from models.audio_io import validate_pcm

log = logging.getLogger(__name__)

# Encoders in order of preference; the first that PyAV's FFmpeg build has is used.
VIDEO_CODECS = ("libx264", "mpeg4")
AUDIO_CODECS = ("aac", "libmp3lame")
_AUDIO_BLOCK = 1024  # samples per audio frame handed to the encoder (AAC's frame size)
_AUDIO_BIT_RATE = 96_000  # bit/s; speech in mono


def _pick_codec(preferred: tuple[str, ...], kind: str) -> str:
    for name in preferred:
        if name in av.codecs_available:
            return name
    raise RuntimeError(f"PyAV's FFmpeg has none of the {kind} encoders {preferred}")


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` uint8 view of an RGB(A) frame (alpha dropped)."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB(A) uint8 frame [H, W, 3|4], got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr[..., :3])


class Mp4Writer:
    """Streams RGB(A) frames and one mono audio track into an MP4 (H.264 yuv420p + AAC).

    Frames are encoded as they arrive, so a clip is never held in memory; ``audio`` (float32
    mono ``[N]`` at ``sample_rate`` Hz) is muxed alongside, up to the video written so far. On
    :meth:`close` the audio is cut, or padded with silence, to the video's length
    (``frames / fps`` seconds), so both streams last the same. Frame width and height must be
    even (yuv420p); the first frame fixes the size. The file is opened at the first frame.

    As a context manager, an exception inside the block discards the partial file.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float = 25.0,
        audio: np.ndarray | None = None,
        sample_rate: int = 16_000,
        crf: int = 18,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.fps = float(fps)
        self.crf = crf  # libx264 constant rate factor: 18 is visually lossless
        self._rate = Fraction(self.fps).limit_denominator(1001)
        self._audio = None if audio is None else validate_pcm(audio, "mp4 audio")
        self._sample_rate = int(sample_rate)
        if self._audio is not None and self._sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self._audio_pos = 0  # samples of audio handed to the encoder so far
        self._container: Any = None
        self._video: Any = None
        self._astream: Any = None
        self._size: tuple[int, int] | None = None  # (width, height)
        self._closed = False
        self.frames_written = 0

    def _open(self, width: int, height: int) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"frame size {width}x{height} must be even for yuv420p")
        codec = _pick_codec(VIDEO_CODECS, "video")
        container: Any = av.open(str(self.path), mode="w")
        video = container.add_stream(codec, rate=self._rate)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {"crf": str(self.crf), "preset": "veryfast"}
        else:  # MPEG-4 part 2 has no CRF: give it a generous bit rate (bits per pixel per frame)
            video.bit_rate = int(width * height * self.fps * 0.25)
        if self._audio is not None:
            audio_codec = _pick_codec(AUDIO_CODECS, "audio")
            self._astream = container.add_stream(audio_codec, rate=self._sample_rate)
            self._astream.layout = "mono"
            self._astream.bit_rate = _AUDIO_BIT_RATE
        self._container, self._video, self._size = container, video, (width, height)
        log.debug("writing %s: %s %dx%d at %s fps", self.path, codec, width, height, self._rate)

    def write(self, frame: np.ndarray) -> None:
        """Append one ``[H, W, 3|4]`` uint8 RGB(A) frame (alpha is dropped)."""
        if self._closed:
            raise ValueError(f"{self.path} is already closed")
        rgb = _as_rgb(frame)
        h, w = rgb.shape[:2]
        if self._size is None:
            self._open(w, h)
        elif (w, h) != self._size:
            raise ValueError(f"frame size changed from {self._size} to {(w, h)}")
        vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        vf.pts = self.frames_written
        vf.time_base = 1 / self._rate
        for packet in self._video.encode(vf):
            self._container.mux(packet)
        self.frames_written += 1
        # Interleave: audio follows the video's timeline as it grows.
        self._write_audio(until=self._video_samples())

    def _video_samples(self) -> int:
        """Audio samples spanning the frames written so far."""
        return round(self.frames_written / self.fps * self._sample_rate)

    def _write_audio(self, until: int, final: bool = False) -> None:
        """Encode whole blocks of audio up to sample ``until`` (and the remainder if final)."""
        if self._audio is None:
            return
        until = min(until, len(self._audio))
        while self._audio_pos < until and (final or self._audio_pos + _AUDIO_BLOCK <= until):
            block = self._audio[self._audio_pos : min(self._audio_pos + _AUDIO_BLOCK, until)]
            af = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
            af.sample_rate = self._sample_rate
            af.pts = self._audio_pos
            af.time_base = Fraction(1, self._sample_rate)
            for packet in self._astream.encode(af):
                self._container.mux(packet)
            self._audio_pos += len(block)

    def close(self) -> None:
        """Flush the encoders and finish the file; audio is fitted to the video's duration."""
        if self._closed:
            return
        self._closed = True
        if self._container is None:
            raise ValueError(f"no frames were written to {self.path}")
        if self._audio is not None:
            need = self._video_samples()
            if len(self._audio) < need:
                pad = np.zeros(need - len(self._audio), np.float32)
                self._audio = np.concatenate([self._audio, pad])
            self._write_audio(until=need, final=True)
            for packet in self._astream.encode(None):
                self._container.mux(packet)
        for packet in self._video.encode(None):
            self._container.mux(packet)
        self._container.close()

    def abort(self) -> None:
        """Stop without finishing the file, and delete what was written."""
        self._closed = True
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # the file is discarded anyway
                log.debug("closing aborted %s failed", self.path, exc_info=True)
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_mp4(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float = 25.0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write ``frames`` (RGB(A) uint8 ``[H, W, 3|4]``, even sizes) and optional mono float32
    ``audio`` at ``sample_rate`` Hz to an MP4; returns the number of frames written.

    ``frames`` may be a generator: each frame is encoded and dropped before the next is drawn.
    ``progress(n)`` is called after each frame with the count written so far. The audio is cut
    or padded to the video's duration (see :class:`Mp4Writer`).
    """
    with Mp4Writer(path, fps=fps, audio=audio, sample_rate=sample_rate) as writer:
        for frame in frames:
            writer.write(frame)
            if progress is not None:
                progress(writer.frames_written)
    return writer.frames_written


def read_mp4_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decoded RGB frames ``[H, W, 3]`` uint8 of a video file, in order."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def probe(path: str | Path) -> dict[str, Any]:
    """What a video file holds, as ffprobe would report it.

    Keys (present when the stream is): ``video_fps``, ``video_frames``, ``video_duration`` (s),
    ``width``, ``height``, ``video_codec``; ``audio_duration`` (s), ``audio_sample_rate`` (Hz),
    ``audio_codec`` and ``audio_decoded_samples`` (which also counts the encoder's padding of
    the last AAC frame, so it can exceed ``audio_duration × rate``).
    """
    out: dict[str, Any] = {}
    with av.open(str(path)) as container:
        if container.streams.video:
            vs = container.streams.video[0]
            fps = float(vs.average_rate) if vs.average_rate else None
            frames = sum(1 for p in container.demux(vs) if p.size)
            out.update(
                video_fps=fps,
                video_frames=frames,
                video_duration=(
                    float(vs.duration * vs.time_base)
                    if vs.duration and vs.time_base
                    else frames / (fps or 1.0)
                ),
                width=vs.codec_context.width,
                height=vs.codec_context.height,
                video_codec=vs.codec_context.codec.canonical_name,
            )
    with av.open(str(path)) as container:
        if container.streams.audio:
            a = container.streams.audio[0]
            decoded = sum(f.samples for f in container.decode(a))
            out.update(
                audio_sample_rate=a.rate,
                audio_codec=a.codec_context.codec.canonical_name,
                audio_decoded_samples=decoded,
                audio_duration=(
                    float(a.duration * a.time_base)
                    if a.duration and a.time_base
                    else decoded / a.rate
                ),
            )
    return out


_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _wrap(text: str, width: int, scale: float, thickness: int) -> list[str]:
    """Greedy word wrap of ``text`` into lines at most ``width`` pixels wide when drawn."""
    lines: list[str] = []
    for word in text.split():
        if lines:
            trial = f"{lines[-1]} {word}"
            if cv2.getTextSize(trial, _FONT, scale, thickness)[0][0] <= width:
                lines[-1] = trial
                continue
        lines.append(word)  # a single word wider than the cell is clipped
    return lines


def contact_sheet(
    images: list[np.ndarray],
    labels: list[str] | None = None,
    columns: int = 6,
    cell_size: int = 256,
) -> np.ndarray:
    """RGB uint8 grid of ``images``, ``columns`` wide, each scaled to ``cell_size`` pixels wide.

    Images are RGB(A) or grey uint8 (alpha dropped); a label, word-wrapped, is drawn in light
    text on a dark strip under its image. Output shape: ``[rows · (cell_h + strip_h),
    columns · cell_size, 3]`` where ``cell_h`` is the tallest scaled image.
    """
    if not images:
        raise ValueError("no images for a contact sheet")
    if columns < 1 or cell_size < 16:
        raise ValueError(f"need columns >= 1 and cell_size >= 16, got {columns}, {cell_size}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    scaled = []
    for img in images:
        arr = np.asarray(img)
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
            raise ValueError(f"expected uint8 images, got {arr.dtype} {arr.shape}")
        rgb = np.ascontiguousarray(
            np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr[..., :3]
        )
        h, w = rgb.shape[:2]
        ch = max(1, round(h * cell_size / w))
        interp = cv2.INTER_AREA if w > cell_size else cv2.INTER_CUBIC
        scaled.append(cv2.resize(rgb, (cell_size, ch), interpolation=interp))
    cell_h = max(s.shape[0] for s in scaled)

    # Text height grows with the cell; Hershey at 0.4 (≈9 px caps) is the smallest easily read.
    scale = float(np.clip(cell_size / 480.0, 0.4, 1.2))
    thickness = 1 if scale < 0.9 else 2
    (_, text_h), baseline = cv2.getTextSize("Ag", _FONT, scale, thickness)
    line_h = text_h + baseline + 4
    wrapped = [_wrap(s, cell_size - 8, scale, thickness) for s in labels] if labels else []
    n_lines = max((len(w) for w in wrapped), default=0)
    strip_h = n_lines * line_h + 4 if n_lines else 0

    rows = -(-len(scaled) // columns)
    sheet = np.zeros((rows * (cell_h + strip_h), columns * cell_size, 3), np.uint8)
    for i, img in enumerate(scaled):
        y0, x0 = (i // columns) * (cell_h + strip_h), (i % columns) * cell_size
        sheet[y0 : y0 + img.shape[0], x0 : x0 + cell_size] = img
        if strip_h:
            # Drawn on its own strip so a long word is clipped at the cell's edge.
            strip = np.full((strip_h, cell_size, 3), 24, np.uint8)
            for k, line in enumerate(wrapped[i]):
                origin = (4, 2 + k * line_h + text_h + 2)
                cv2.putText(
                    strip, line, origin, _FONT, scale, (235, 235, 235), thickness, cv2.LINE_AA
                )
            sheet[y0 + cell_h : y0 + cell_h + strip_h, x0 : x0 + cell_size] = strip
    return sheet


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write an RGB(A) or grey uint8 image ``[H, W(, 3|4)]`` as PNG."""
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    elif arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), arr):
        raise OSError(f"could not write {path}")
