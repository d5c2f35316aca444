"""``convert_video``: a video (file, URL, image sequence) through ``process`` into a new video."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..budget import check_decodable, check_pixels
from ..errors import UserError
from ..files import atomic_output, check_writable, refuse_overwriting_inputs, use_default_permissions
from ..sizing import Size, encodable, scaled
from .containers import OutputFormat, check_encoder_options, output_format
from .encoder import VideoFileWriter, check_encoder_choice, choose_encoder
from .frames_folder import FramesFolderWriter, atomic_folder, check_frames_folder
from .hw import DECODERS, check_choice, cuda_device_error, gpu_index
from .pipeline import Pipeline
from .source import check_source, is_url, open_source
from .source_types import Source
from .stages import DecodeStage, EncodeStage, FrameWriter, Process, ProcessStage
from .summary import ConversionSummary
from .timing import RateConverter, Timeline, as_rate

log = logging.getLogger(__name__)


def convert_video(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    process: Process,
    *,
    size: int | None | Callable[[int, int], int | None] = None,
    batch: int = 1,
    crf: float = 18,
    preset: str = "veryfast",
    fps: float | Fraction | None = None,
    progress: bool = True,
    audio: bool = True,
    prefetch: Callable[[np.ndarray], None] | None = None,
    queue_frames: int | None = None,
    decoder: str = "auto",
    encoder: str = "auto",
    device: str | None = None,
    max_pixels: int | None = None,
) -> ConversionSummary:
    """Run every frame of ``source`` through ``process`` and write ``output``.

    ``source``: a video file, a network URL, a folder of images or a glob pattern.
    ``output``: a video file whose extension picks the container (.mp4 .m4v .mov .mkv
    .avi: H.264; .webm: VP9), or a folder (existing, or ending in '/') for PNG frames.

    ``process`` gets batches of ``batch`` frames (the last may be smaller), RGB uint8
    (N, H, W, 3), and returns the same shape. ``size`` scales the shorter side to
    ``size`` first (aspect kept, sides rounded to even for video); None keeps the size; a
    function of the input's (width, height) gives the side once the input is open.
    ``crf``/``preset``: x264 quality and speed (for WebM, crf is VP9's 0-63 scale and the
    preset maps to libvpx speed settings; for NVENC, its constant quality and p1..p7).
    ``fps``: for a source without timestamps (an image sequence, a raw stream), its frame
    rate (default 25, or the stream's own); for a video, a constant output rate (frames
    are dropped or repeated by time, each processed once). None keeps the source's own
    timestamps. ``audio=False`` leaves the audio out.
    ``prefetch``: called by the decoding thread with each frame, in order, before it is
    queued, so work on it can start ahead of ``process`` (the stabiliser's analysis).
    ``queue_frames`` bounds each queue between stages (default: 2 batches, at least 4, or
    8 with ``prefetch``).
    ``device``: where ``process`` runs (an engine's ``capabilities.device``: ``cpu``,
    ``cuda``, ``cuda:1``). ``decoder``: ``auto`` decodes with NVDEC on that GPU when it is a
    CUDA device, ``cuda`` always, ``cpu`` never; where NVDEC cannot, the CPU decodes (one
    warning; for ``cuda`` a UserError). ``encoder``: ``auto`` encodes H.264 with NVENC when
    ``device`` is CUDA and NVENC opens there (one note where it does not), ``nvenc`` always
    (else a UserError), ``cpu`` never. The summary says which ran (``decoder``, ``encoder``).
    ``max_pixels``: the memory budget (``runtime.budget``): a batch of output frames, or
    input frames, larger than it allows are refused once the input is open, before any
    frame is queued or written. None: no limit.

    A source that ends before the frame count its container states, or that had corrupt
    packets or frames skipped, is reported in one warning (decoded vs expected).

    The output appears only when complete. Ctrl-C (and SIGTERM or SIGHUP, which the command
    line raises as ``errors.Terminated``) stops within about a second, removes the partial
    output, and raises KeyboardInterrupt; an error in any stage is raised here, a full disk
    as a one-line UserError. An output folder that cannot be written is refused before the
    input is opened.
    """
    t0 = time.perf_counter()
    fmt = check_request(source, output, batch, crf, preset, fps, decoder=decoder, encoder=encoder)
    src = open_source(source, fps=fps, audio=audio and fmt is not None, gpu=_decode_gpu(decoder, device), gpu_required=decoder == "cuda")
    handed_over = False  # once the decoding stage runs, it closes ``src`` (from its own thread)
    try:
        refuse_overwriting_inputs(output, list(src.info.inputs))
        plan = _plan(src, size, fps, fmt, audio)
        if max_pixels is not None:
            _check_budget(src.info, plan.size, batch, max_pixels)
        queue_size = queue_frames or max(8 if prefetch is not None else 4, 2 * batch)
        pipeline = Pipeline()
        decoded, processed = pipeline.channel(queue_size), pipeline.channel(queue_size)
        decode = DecodeStage(src, plan.size, plan.timeline, plan.converter, decoded, on_frame=prefetch)
        with atomic_output(output) if fmt is not None else atomic_folder(output) as tmp:
            writer = _writer(tmp, fmt, src, plan, crf, preset, encoder, device)
            pipeline.add("decode", decode)
            pipeline.add("process", ProcessStage(process, batch, decoded, processed))
            pipeline.add("encode", EncodeStage(writer, processed))
            handed_over = True
            _run(pipeline, writer, progress, _expected_frames(src.info.frames, src.info.rate, plan.converter), src.info.name)
            use_default_permissions(tmp)
    except BaseException:
        if not handed_over:
            src.close()
        raise
    summary = _summary(source, output, src, plan, decode, writer, pipeline, time.perf_counter() - t0)
    shortfall = summary.shortfall()
    if shortfall:
        log.warning("%s", shortfall)
    return summary


def check_request(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    batch: int,
    crf: float,
    preset: str,
    fps: float | Fraction | None,
    *,
    decoder: str = "auto",
    encoder: str = "auto",
) -> OutputFormat | None:
    """Everything that can be refused before the input is opened; the output format."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if fps is not None:
        as_rate(fps)  # UserError for fps <= 0
    check_choice("decoder", decoder, DECODERS)
    if decoder == "cuda" and (why := cuda_device_error(0)) is not None:
        raise UserError(f"decoder cuda: no CUDA device for NVDEC ({why}); use decoder auto or cpu")
    fmt = output_format(output)  # UserError for an unwritable extension
    check_encoder_options(fmt, crf, preset)
    check_encoder_choice(fmt, encoder)  # encoder nvenc: where NVENC does not open
    if not is_url(os.fspath(source)):
        refuse_overwriting_inputs(output, [source])
    check_source(source)
    # a folder that refuses the output fails here, before anything is decoded or stylised
    check_writable(check_frames_folder(output).parent if fmt is None else Path(output).parent)
    return fmt


def _decode_gpu(decoder: str, device: str | None) -> int | None:
    """The CUDA device to decode on: ``auto``: the engine's, where it is one; ``cuda``: the
    engine's, else the first; ``cpu``: none."""
    index = gpu_index(device)
    if decoder == "cuda":
        return index if index is not None else 0
    return index if decoder == "auto" else None


def check_budget(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    size: int | None | Callable[[int, int], int | None],
    batch: int,
    max_pixels: int,
    fps: float | Fraction | None = None,
) -> None:
    """``convert_video``'s memory budget check, ahead of it: the input is opened (its first
    frame decoded, on the CPU) and closed, so a request over the budget is refused before a
    model is loaded for it. Network streams are not opened twice: ``convert_video`` checks them."""
    if is_url(os.fspath(source)):
        return
    src = open_source(source, fps=fps, audio=False)
    try:
        info = src.info
        side = size(info.width, info.height) if callable(size) else size
        out = encodable(info.width, info.height, side) if output_format(output) is not None else scaled(info.width, info.height, side)
        _check_budget(info, out, batch, max_pixels)
    finally:
        src.close()


def _check_budget(info: Any, out: Size, batch: int, max_pixels: int) -> None:
    """The input's frames and a batch of output frames against the memory budget."""
    name = Path(info.name).name or info.name
    check_decodable(info.width, info.height, max_pixels, f"{name}'s frames")
    hint = "a smaller --size or --batch" if batch > 1 else "a smaller --size"
    check_pixels(out.width, out.height, max_pixels, f"stylising {name}", frames=batch, hint=hint)


@dataclass
class _Plan:
    size: Size
    timeline: Timeline
    converter: RateConverter | None
    audio_dropped: int
    encoder_fallback: str = ""


def _plan(src: Source, size: int | None | Callable[[int, int], int | None], fps: float | Fraction | None, fmt: OutputFormat | None, audio: bool) -> _Plan:
    """Output size and timing of an opened source."""
    info = src.info
    side = size(info.width, info.height) if callable(size) else size
    out_size = encodable(info.width, info.height, side) if fmt is not None else scaled(info.width, info.height, side)
    timeline = Timeline(
        info.time_base,
        offset=round(info.origin / info.time_base),
        default_duration=round(1 / (info.rate * info.time_base)) if info.rate else 1,
    )
    converter = RateConverter(info.time_base, as_rate(fps)) if fps is not None and info.timed else None
    audio_dropped = info.audio_ignored if fmt is None and audio else 0
    if audio_dropped:
        log.warning("%s: %d audio stream(s) left out (a folder of frames holds no audio)", info.name, audio_dropped)
    return _Plan(out_size, timeline, converter, audio_dropped)


def _writer(tmp: Path, fmt: OutputFormat | None, src: Source, plan: _Plan, crf: float, preset: str, encoder: str, device: str | None) -> FrameWriter:
    """The video file writer (the source's audio wired into it) or the PNG folder writer."""
    if fmt is None:
        return FramesFolderWriter(tmp)
    info, converter = src.info, plan.converter
    codec, gpu, plan.encoder_fallback = choose_encoder(fmt, encoder, device)
    writer = VideoFileWriter(
        tmp,
        fmt,
        width=plan.size.width,
        height=plan.size.height,
        time_base=converter.out_time_base if converter else info.time_base,
        rate=converter.fps if converter else info.rate,
        crf=crf,
        preset=preset,
        colors=info.colors,
        sample_aspect_ratio=info.sample_aspect_ratio,
        audio_streams=info.audio_streams,
        origin=info.origin,
        codec=codec,
        gpu=gpu,
    )
    src.audio_sink = writer.feed_audio
    return writer


def _run(pipeline: Pipeline, writer: FrameWriter, progress: bool, total: int | None, name: str) -> None:
    """Run the stages, with a progress bar of the frames written."""
    bar = tqdm(total=total, unit="frame", desc=Path(name).name or name, dynamic_ncols=True, smoothing=0.1) if progress else None

    def tick() -> None:
        if bar is not None:
            bar.update(writer.frames_written - bar.n)

    try:
        pipeline.run(on_tick=tick)
        if bar is not None:
            bar.total = bar.n
            bar.refresh()
    finally:
        if bar is not None:
            bar.close()


def _expected_frames(frames: int | None, rate: Fraction | None, converter: RateConverter | None) -> int | None:
    """Frame count for the progress bar (an estimate: containers do not always know)."""
    if frames and converter is not None and rate:
        return int(frames * converter.fps / rate + 1)
    return frames


def _summary(
    source: Any, output: Any, src: Source, plan: _Plan, decode: DecodeStage, writer: FrameWriter, pipeline: Pipeline, wall: float
) -> ConversionSummary:
    clocks = pipeline.clocks
    audio = writer.audio_counts
    return ConversionSummary(
        source=os.fspath(source),
        output=os.fspath(output),
        frames_in=decode.frames_in,
        frames_expected=src.info.frames,
        ended_early=src.ended_early,
        frames_out=writer.frames_written,
        frames_skipped=src.skipped,
        frames_dropped=plan.converter.dropped if plan.converter is not None else 0,
        timestamps_adjusted=plan.timeline.adjusted,
        input_size=(src.info.width, src.info.height),
        output_size=tuple(plan.size),
        audio_copied=audio.copied,
        audio_transcoded=audio.transcoded,
        audio_dropped=plan.audio_dropped,
        wall_s=wall,
        fps=writer.frames_written / wall if wall > 0 else 0.0,
        decode_s=clocks["decode"].busy_s,
        process_s=clocks["process"].busy_s,
        encode_s=clocks["encode"].busy_s,
        decoder=src.decoder,
        encoder=writer.encoder if isinstance(writer, VideoFileWriter) else "PNG files",
        decoder_fallback=src.gpu_fallback,
        encoder_fallback=plan.encoder_fallback,
    )
