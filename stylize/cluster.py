"""Videos converted across a Ray cluster: ``stylize video IN... --ray [ADDRESS]``.

The driver (this process) cuts every input into keyframe-aligned segments
(``runtime.video.segments``), hands them to a pool of Ray actors shared by all inputs, keeps
each finished segment in a work folder of the store, and joins an input's segments into its
output without re-encoding (``runtime.video.join``), the source's audio beside them; the
output is written atomically. Each actor (``SegmentWorker``) holds one ``Stylizer`` (one
engine, its style vector cached) and converts a segment with ``runtime.video.segment_convert``:
the frame path of ``stylize video``, started at the segment's keyframe, the stabiliser warmed
up on the frames before it.

Where the work goes: one actor per GPU where the cluster has GPUs (each also reserves
``worker_cpus`` CPUs for decoding and encoding), else one per ``worker_cpus`` CPUs. Inputs and
``--graphs`` folders are read by the actors at the driver's paths, so on a cluster of several
machines they must be on storage every machine sees; style images travel as pixels, and the
segments come back through Ray's object store. Every machine needs the weights the driver
runs (``stylize weights import``, or a shared ``--home``), checked by their id.

What fails and what happens:

- a segment whose conversion raises is retried by Ray (``max_task_retries``,
  ``retry_exceptions``); an actor whose process dies (killed, out of memory, its machine
  gone) is restarted by Ray and its segment run again there (``max_restarts``); the driver
  tries a segment that still fails on another actor, a few times, then fails its input;
- bad input (missing, corrupt, not cuttable: a stream, an image sequence) fails that input
  with one line, and the others are converted;
- the driver itself stopped (Ctrl-C, SIGTERM, a crash, a power cut): finished segments stay in
  ``STORE/cluster/KEY/`` (KEY: the input file, the output's path and every option that
  changes its pixels or encoding), so the same command run again converts only the rest; the folder is removed
  once the output is written. A second run of the same input and options while the first is
  still going is refused (a lock held on the folder).

Ray is imported here only, when a cluster run starts; without it, one line names the extra.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from stylize.api import Stylizer, _first_frame
from stylize.options import side_for
from stylize.runtime.color import ColorTransfer, color_stats
from stylize.runtime.errors import UserError
from stylize.runtime.files import atomic_output
from stylize.runtime.sizing import encodable
from stylize.runtime.store import Store, sha256_array
from stylize.runtime.temporal import settings_for
from stylize.runtime.video.convert import check_budget, check_request
from stylize.runtime.video.ffmpeg_input import FFmpegSource
from stylize.runtime.video.hw import NVENC
from stylize.runtime.video.join import join_segments
from stylize.runtime.video.segment_convert import SegmentSettings, SegmentSummary, convert_segment, segment_settings
from stylize.runtime.video.segments import Segment, plan, scan, warmup_frames
from stylize.runtime.video.source import is_url, open_source

try:
    import fcntl
except ImportError:  # Windows: no lock, a second run of the same work is not refused
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

WORK_VERSION = 1  # part of the work key: a later layout of segments never resumes an older one's
RAY_RETRIES = 3  # Ray's own: a segment task raising, an actor process restarted
DRIVER_TRIES = 2  # a segment that still fails after Ray's retries is given to an actor this many times in all
PROGRESS_EVERY_S = 0.5
WAIT_TICK_S = 0.1  # the driver's loop: the longest it waits before looking at everything again
WAIT_NOTE_S = 30.0  # no worker ready after this long: a note says what the run waits for


def import_ray() -> Any:
    """Ray, or a one-line error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'stylize[cluster]'") from None
    return ray


# what travels to the actors -----------------------------------------------------------------
@dataclass(frozen=True)
class StyleJob:
    """How every frame is stylised: the same for every segment of every input of a run."""

    styles: tuple[np.ndarray, ...] | None
    """The style images' pixels (None: the model's own style)."""
    style_weights: tuple[float, ...] | None
    alpha: float
    preserve_color: str | None
    temporal: str
    style_colors: bool
    max_pixels: int
    batch: int
    decoder: str
    model_id: str
    """The driver's weights: an actor whose store holds other weights refuses to run."""


@dataclass(frozen=True)
class SegmentTask:
    """One segment of one input."""

    job: int
    source: str
    segment: Segment
    settings: SegmentSettings
    fps: float | None
    """``--fps`` as given (the colours of the first frame are read as a single run reads them)."""

    @property
    def key(self) -> tuple[int, int]:
        return (self.job, self.segment.index)


@dataclass(frozen=True)
class SegmentDone:
    """What an actor sends back: the encoded segment, or the one line why it cannot be made."""

    data: bytes | None
    summary: SegmentSummary | None
    error: str | None
    node: str


class SegmentWorker:
    """A Ray actor: one ``Stylizer`` (its engine opened once, its style vectors cached) that
    converts segments. Everything a user can fix comes back as ``SegmentDone.error`` (not
    retried); anything else raises, and Ray retries it."""

    def __init__(self, arguments: dict[str, Any], model_id: str) -> None:
        """``arguments``: the driver's ``Stylizer.arguments``; ``model_id``: its weights'. (The
        ``StyleJob``, with the style images, and the ``ProgressBoard`` come with each segment:
        Ray restarts an actor from its constructor's arguments, which are best plain values.)"""
        self.job: StyleJob | None = None
        self.node = _node_address()
        self.error: str | None = None
        self._per_input: dict[str, tuple[np.ndarray | None, ColorTransfer | None]] = {}
        try:
            self.stylizer = Stylizer(**arguments)
            if self.stylizer.weights.model_id != model_id:
                raise UserError(
                    f"the weights on {self.node} ({self.stylizer.weights.model_id}) are not the driver's ({model_id}): import the same weights there"
                )
        except UserError as e:
            self.error = f"{self.node}: {e}"

    def ready(self) -> tuple[str, str | None]:
        """(this actor's node, why it cannot work or None)."""
        return self.node, self.error

    def convert(self, task: SegmentTask, job: StyleJob, progress: Any) -> SegmentDone:
        """Convert one segment; ``progress``: the ``ProgressBoard`` told how far it is."""
        if self.error is not None:
            return SegmentDone(None, None, self.error, self.node)
        if self.job is None:  # the same for every segment of a run (one pool of actors per run)
            self.job = job
        process = None
        try:
            process = self._frame_stylizer(task)
            last = [0.0]

            def on_frames(n: int) -> None:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_EVERY_S:
                    last[0] = now
                    progress.report.remote(task.key, n)

            with tempfile.TemporaryDirectory(prefix="stylize-segment-") as folder:
                path = Path(folder) / f"segment{task.settings.segment_suffix}"
                summary = convert_segment(
                    task.source, path, process, task.segment, task.settings, batch=job.batch, prefetch=process.prefetch,
                    on_frames=on_frames, decoder=job.decoder, device=self.stylizer.engine.capabilities.device,
                )  # fmt: skip
                return SegmentDone(path.read_bytes(), summary, None, self.node)
        except UserError as e:
            return SegmentDone(None, None, str(e), self.node)
        finally:
            if process is not None:
                process.close()

    def _frame_stylizer(self, task: SegmentTask) -> Any:
        """A fresh ``FrameStylizer`` for a segment: the style vector (cached by the store and the
        engine) and, per input, what a single run takes from its first frame: the colours
        ``preserve_color="color"`` matches the style to, and the map ``style_colors`` applies."""
        job = self.job
        assert job is not None
        colors_of, transfer = self._input_state(task)
        styles = list(job.styles) if job.styles is not None else None
        weights = list(job.style_weights) if job.style_weights is not None else None
        process = self.stylizer._frame_stylizer(styles, weights, job.alpha, job.preserve_color, job.temporal, job.style_colors, colors_of, job.max_pixels)
        if transfer is not None:
            process.color_transfer = transfer
        return process

    def _input_state(self, task: SegmentTask) -> tuple[np.ndarray | None, ColorTransfer | None]:
        """Per input, once: the first frame's colours (``preserve_color="color"``) and the colour
        map a single run computes from its first stylised frame (``style_colors``)."""
        if task.source in self._per_input:
            return self._per_input[task.source]
        job, s = self.job, task.settings
        assert job is not None
        colors_of = _first_frame(task.source, task.fps) if job.preserve_color == "color" else None
        transfer = None
        if job.style_colors:
            src = open_source(task.source, audio=False)
            try:
                first = next(src.frames(s.width, s.height))[0]
            finally:
                src.close()
            styles = list(job.styles) if job.styles is not None else None
            weights = list(job.style_weights) if job.style_weights is not None else None
            probe = self.stylizer._frame_stylizer(styles, weights, job.alpha, job.preserve_color, "off", True, colors_of, job.max_pixels)
            try:  # the engine's own bytes, as a single run's first frame is before anything is blended into it
                stylised = probe.engine.stylize_uint8(first[None], probe.vector, probe.alpha)[0]
                transfer = ColorTransfer(color_stats(stylised), probe.style_colors)
            finally:
                probe.close()
        self._per_input[task.source] = (colors_of, transfer)
        return colors_of, transfer


class ProgressBoard:
    """A small Ray actor the workers tell how far their segment is (frames written)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[int, int], int] = {}

    def report(self, key: tuple[int, int], frames: int) -> None:
        self.counts[key] = frames

    def snapshot(self) -> dict[tuple[int, int], int]:
        return dict(self.counts)


def _node_address() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:  # noqa: BLE001 (outside Ray: the host's name)
        import socket

        return socket.gethostname()


# the report ------------------------------------------------------------------------------------
@dataclass
class InputResult:
    """One input of a cluster run."""

    source: str
    output: str
    error: str | None = None
    frames: int = 0
    """Frames written."""
    segments: int = 0
    reused: int = 0
    """Segments finished by an earlier run and taken from the work folder."""
    warmup: int = 0
    """Frames stylised to warm the stabiliser up, and not written."""
    skipped: int = 0
    size: tuple[int, int] = (0, 0)
    audio_copied: int = 0
    audio_transcoded: int = 0

    def describe(self) -> str:
        if self.error is not None:
            return self.error if self.source in self.error else f"{self.source}: {self.error}"
        audio = [f"{n} {what}" for n, what in ((self.audio_copied, "copied"), (self.audio_transcoded, "re-encoded")) if n]
        reused = f" ({self.reused} from an earlier run)" if self.reused else ""
        skipped = f", {self.skipped} corrupt skipped" if self.skipped else ""
        return (
            f"{self.output}: {self.frames} frames {self.size[0]}x{self.size[1]}{skipped} in {self.segments} segment(s){reused}, "
            f"audio {', '.join(audio) or 'none'}"
        )


@dataclass
class NodeResult:
    """What one machine of the cluster did in this run."""

    node: str
    workers: int = 0
    segments: int = 0
    frames: int = 0
    busy_s: float = 0.0
    """Seconds its workers spent converting segments, added up."""


@dataclass
class ClusterReport:
    """What ``convert_on_ray`` did: each input, each machine, the whole job."""

    inputs: list[InputResult]
    nodes: list[NodeResult] = field(default_factory=list)
    workers: int = 0
    wall_s: float = 0.0

    @property
    def frames(self) -> int:
        """Frames written in this run (segments from an earlier run not counted)."""
        return sum(n.frames for n in self.nodes)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def failed(self) -> list[InputResult]:
        return [r for r in self.inputs if r.error is not None]

    def describe(self) -> str:
        """The inputs written, then frames a second per machine (its frames over the job's time)
        and the job's total."""
        lines = [r.describe() for r in self.inputs if r.error is None]
        for n in self.nodes:
            rate = n.frames / self.wall_s if self.wall_s > 0 else 0.0
            lines.append(f"node {n.node} ({n.workers} worker{'s' * (n.workers != 1)}): {n.segments} segment(s), {n.frames} frames, {rate:.1f} fps")
        lines.append(f"total: {self.frames} frames in {self.wall_s:.1f} s, {self.fps:.1f} fps, {self.workers} worker(s) on {len(self.nodes)} node(s)")
        return "\n".join(lines)


# the driver --------------------------------------------------------------------------------------
@dataclass
class _Input:
    """An input planned for the cluster: its segments, its work folder, what is done."""

    index: int
    source: str
    output: str
    settings: SegmentSettings
    fps: float | None
    segments: list[Segment]
    work: Path
    lock: int
    done: dict[int, dict[str, Any]]
    result: InputResult
    joining: Future[Any] | None = None


def convert_on_ray(
    stylizer: Stylizer,
    jobs: Sequence[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    style: Sequence[Any] | None,
    *,
    style_weights: Sequence[float] | None,
    alpha: float,
    preserve_color: str | None,
    size: str | int,
    temporal: str,
    batch: int,
    crf: float,
    preset: str,
    fps: float | None,
    audio: bool,
    progress: bool,
    decoder: str,
    encoder: str,
    max_pixels: int,
    style_colors: bool,
    ray_address: str,
    segment: float,
    worker_cpus: int,
) -> ClusterReport:
    """Convert every (source, output) of ``jobs`` on the Ray cluster at ``ray_address`` (``local``:
    one started here for the run; a session already initialised in this process is used as it
    is). ``stylizer``: the API's ``Stylizer`` whose model the workers run; the other arguments as
    for ``Stylizer.video``. An input that fails is reported in its ``InputResult.error`` and
    the others go on; Ctrl-C stops the run, keeping the finished segments for the next."""
    t0 = time.perf_counter()
    ray = import_ray()
    styles = [stylizer._style_image(s, max_pixels) for s in style] if style else None
    job = StyleJob(
        styles=tuple(styles) if styles is not None else None, style_weights=tuple(style_weights) if style_weights is not None else None,
        alpha=alpha, preserve_color=preserve_color, temporal=temporal, style_colors=style_colors, max_pixels=max_pixels, batch=batch,
        decoder=decoder, model_id=stylizer.weights.model_id,
    )  # fmt: skip
    key_options = _key_options(stylizer, job, segment, crf, preset, encoder)
    blend = settings_for(temporal)
    warmup = warmup_frames(blend.blend if blend is not None else None)
    inputs: list[_Input] = []
    results: list[InputResult] = []
    try:
        for n, (source, output) in enumerate(jobs):
            result = InputResult(os.fspath(source), os.fspath(output))
            results.append(result)
            try:
                inputs.append(
                    _prepare(stylizer.store, n, result, size, batch, crf, preset, fps, audio, decoder, encoder, max_pixels, segment, warmup, key_options)
                )
            except UserError as e:
                result.error = str(e)
        report = ClusterReport(results)
        if inputs:
            started = _connect(ray, ray_address)
            try:
                _Run(ray, stylizer, job, inputs, report, audio, progress, worker_cpus, local=ray_address == "local").run()
            finally:
                if started:
                    ray.shutdown()
    finally:
        for item in inputs:
            _unlock(item.lock)
    report.wall_s = time.perf_counter() - t0
    return report


def _prepare(
    store: Store, index: int, result: InputResult, size: str | int, batch: int, crf: float, preset: str, fps: float | None, audio: bool,
    decoder: str, encoder: str, max_pixels: int, segment_s: float, warmup: int, key_options: dict[str, Any],
) -> _Input:  # fmt: skip
    """Check, open, scan and plan one input, and find what an earlier run finished."""
    source, output = result.source, result.output
    fmt = check_request(source, output, batch, crf, preset, fps, decoder=decoder, encoder=encoder)
    if fmt is None:
        raise UserError(f"--ray writes video files; {output} is a folder of frames")
    if is_url(source):
        raise UserError(f"{source} is a stream, which cannot be cut into segments: convert it without --ray")

    def frame_side(w: int, h: int) -> int | None:
        return side_for(size, w, h, "video")

    src = open_source(source, fps=fps, audio=audio)
    try:
        if not isinstance(src, FFmpegSource):
            raise UserError(f"{source} is a sequence of images, which --ray does not cut into segments: convert it without --ray")
        info = src.info
    finally:
        src.close()
    check_budget(source, output, frame_side, batch, max_pixels, fps)
    out = encodable(info.width, info.height, frame_side(info.width, info.height))
    codec = NVENC[fmt.video_codec] if encoder == "nvenc" else fmt.video_codec  # the same on every machine
    settings = segment_settings(info, output, out, crf=crf, preset=preset, fps=fps, codec=codec)
    segments = plan(scan(source), segment_s, warmup)
    stat = os.stat(source)
    key = hashlib.sha256(json.dumps({
        "version": WORK_VERSION, "source": os.path.realpath(source), "output": os.path.realpath(output), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
        "settings": _plain(dataclasses.asdict(settings)), "fps": str(fps), **key_options,
    }, sort_keys=True).encode()).hexdigest()  # fmt: skip
    work = store.cluster_folder(key)
    lock = _lock(work, source)
    try:
        done = _finished(work, segments, settings.segment_suffix)
    except BaseException:
        _unlock(lock)
        raise
    result.size = (out.width, out.height)
    result.segments = len(segments)
    result.reused = len(done)
    if done:
        log.info("%s: %d of %d segments finished by an earlier run (%s)", source, len(done), len(segments), work)
    return _Input(index, source, output, settings, fps, segments, work, lock, done, result)


def _key_options(stylizer: Stylizer, job: StyleJob, segment_s: float, crf: float, preset: str, encoder: str) -> dict[str, Any]:
    """Everything besides the input that changes a segment's frames or encoding."""
    args = stylizer.arguments
    return {
        "model": job.model_id, "backend": args["backend"], "device": args["device"], "graphs": str(args["graphs"]),
        "style_size": args["style_size"], "styles": [sha256_array(s) for s in job.styles] if job.styles is not None else None,
        "style_weights": job.style_weights, "alpha": job.alpha, "preserve_color": job.preserve_color, "temporal": job.temporal,
        "style_colors": job.style_colors, "batch": job.batch, "decoder": job.decoder, "encoder": encoder, "crf": crf,
        "preset": preset, "segment_s": segment_s,
    }  # fmt: skip


def _plain(value: Any) -> Any:
    """``dataclasses.asdict`` output as JSON can hold it (fractions as text)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Fraction):
        return str(value)
    return value


def _segment_path(work: Path, index: int, suffix: str) -> Path:
    return work / f"seg-{index:05d}{suffix}"


def _record_path(work: Path, index: int) -> Path:
    return work / f"seg-{index:05d}.json"


def _finished(work: Path, segments: list[Segment], suffix: str) -> dict[int, dict[str, Any]]:
    """The segments an earlier run finished: a record written after its file, and the file
    holding the frames the record counts."""
    done = {}
    for seg in segments:
        record, path = _record_path(work, seg.index), _segment_path(work, seg.index, suffix)
        if not record.is_file() or not path.is_file():
            continue
        try:
            info = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if _packets(path) == info.get("frames"):
            done[seg.index] = info
    return done


def _packets(path: Path) -> int | None:
    import av

    try:
        with av.open(str(path)) as c:
            return sum(1 for p in c.demux(c.streams.video[0]) if p.size)
    except (av.FFmpegError, OSError, IndexError):
        return None


def _lock(work: Path, source: str) -> int:
    """Hold the work folder for this run: a second run of the same work is refused."""
    fd = os.open(work / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"{source} is being converted with the same options by another run (work folder {work})") from None
    return fd


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _connect(ray: Any, address: str) -> bool:
    """Join (or, for ``local``, start) Ray; True where this call started the session."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}  # the workers report through results
    try:
        if address == "local":
            ray.init(include_dashboard=False, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except ConnectionError as e:
        raise UserError(f"cannot reach the Ray cluster at {address}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return True


class _Run:
    """The scheduling loop: segments to idle actors, results into work folders, outputs joined."""

    def __init__(
        self, ray: Any, stylizer: Stylizer, job: StyleJob, inputs: list[_Input], report: ClusterReport, audio: bool, progress: bool, worker_cpus: int,
        *, local: bool,
    ) -> None:  # fmt: skip
        self.ray, self.job, self.inputs, self.report, self.audio, self.progress = ray, job, inputs, report, audio, progress
        self.arguments = dict(stylizer.arguments)
        if local and self.arguments["home"] is None:
            self.arguments["home"] = str(stylizer.store.root)  # a Ray on this machine: this store
        self.worker_cpus = worker_cpus
        self.nodes: dict[str, NodeResult] = {}
        self.pending: deque[tuple[SegmentTask, int]] = deque()
        self.inflight: dict[Any, tuple[Any, SegmentTask, int]] = {}
        self.finished_frames = 0
        self.joiner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylize-join")
        self.board: Any = None
        self.workers: list[Any] = []

    # workers -------------------------------------------------------------------------------
    def _start_workers(self) -> list[Any]:
        ray = self.ray
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 0))
        largest = max((int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=cpus)
        per_worker = max(1, min(self.worker_cpus, largest or 1))
        count = gpus if gpus else max(1, cpus // per_worker)
        segments = sum(len(i.segments) - len(i.done) for i in self.inputs)
        count = max(1, min(count, segments))
        self.board = ray.remote(num_cpus=0)(ProgressBoard).remote()
        self.job_ref = ray.put(self.job)
        actor = ray.remote(num_cpus=per_worker, num_gpus=1 if gpus else 0, max_restarts=RAY_RETRIES, max_task_retries=RAY_RETRIES)(SegmentWorker)
        log.info("ray: %d worker(s), each %s%d CPU(s)", count, "one GPU and " if gpus else "", per_worker)
        return [actor.remote(self.arguments, self.job.model_id) for _ in range(count)]

    def run(self) -> None:
        ray = self.ray
        for item in self.inputs:
            for seg in item.segments:
                if seg.index not in item.done:
                    self.pending.append((SegmentTask(item.index, item.source, seg, item.settings, item.fps), 0))
        self.workers = workers = self._start_workers() if self.pending else []
        starting = {w.ready.remote(): w for w in workers}
        waiting_since = time.monotonic()
        idle: list[Any] = []
        total = sum(s.frames for i in self.inputs for s in i.segments)
        self.finished_frames = sum(s.frames for i in self.inputs for s in i.segments if s.index in i.done)
        bar = tqdm(total=total, initial=self.finished_frames, unit="frame", desc="ray", dynamic_ncols=True, smoothing=0.1) if self.progress else None
        last_poll = 0.0
        try:
            for item in self.inputs:
                self._join_if_done(item)
            while self._busy() or starting:
                ready = self._wait([*starting, *self.inflight])
                for ref in ready:
                    if ref in starting:
                        self._started(ref, starting.pop(ref), idle, workers)
                    else:
                        self._finished(ref, idle)
                if starting and not idle and not self.inflight and time.monotonic() - waiting_since > WAIT_NOTE_S:
                    waiting_since = float("inf")  # said once
                    log.info("ray: waiting for the cluster to place %d worker(s) (free CPUs or GPUs, or a node that can import stylize)", len(starting))
                while idle and self.pending:
                    task, tries = self.pending.popleft()
                    if self.inputs_by_index(task.job).result.error is not None:
                        continue
                    actor = idle.pop()
                    self.inflight[actor.convert.options(retry_exceptions=True).remote(task, self.job_ref, self.board)] = (actor, task, tries)
                if not workers and self.pending:
                    self._fail_pending("every Ray worker has died (Ray's restarts spent)")
                for item in self.inputs:
                    self._collect_join(item)
                now = time.monotonic()
                if bar is not None and now - last_poll >= PROGRESS_EVERY_S:
                    last_poll = now
                    counts = ray.get(self.board.snapshot.remote())
                    moving = sum(counts.get(task.key, 0) for _, task, _ in self.inflight.values())
                    bar.update(min(total, self.finished_frames + moving) - bar.n)
            if bar is not None:
                bar.update(self.finished_frames - bar.n)
        finally:
            if bar is not None:
                bar.close()
            self.joiner.shutdown(wait=True)
            for item in self.inputs:
                self._collect_join(item)
            for w in [*workers, *([self.board] if self.board is not None else [])]:
                with contextlib.suppress(Exception):
                    ray.kill(w)
        self.report.workers = sum(n.workers for n in self.nodes.values())
        self.report.nodes = sorted(self.nodes.values(), key=lambda n: n.node)

    def _wait(self, refs: list[Any]) -> list[Any]:
        """The refs ready within a tick; with none to wait on, a tick spent waiting on the joins
        (``ray.wait`` on no refs returns at once, and a loop spinning on it starves the join
        thread of the interpreter)."""
        if refs:
            ready, _ = self.ray.wait(refs, num_returns=1, timeout=WAIT_TICK_S)
            return list(ready)
        joins = [i.joining for i in self.inputs if i.joining is not None]
        if joins:
            futures_wait(joins, timeout=WAIT_TICK_S, return_when=FIRST_COMPLETED)
        else:
            time.sleep(WAIT_TICK_S)
        return []

    def inputs_by_index(self, index: int) -> _Input:
        return next(i for i in self.inputs if i.index == index)

    def _busy(self) -> bool:
        live_pending = any(self.inputs_by_index(t.job).result.error is None for t, _ in self.pending)
        return bool(self.inflight) or live_pending or any(i.joining is not None for i in self.inputs)

    def _started(self, ref: Any, worker: Any, idle: list[Any], workers: list[Any]) -> None:
        try:
            node, error = self.ray.get(ref)
        except Exception as e:  # noqa: BLE001 (an actor that could not start: Ray's error)
            node, error = "?", _one_line(e)
        if error is not None:
            log.warning("a Ray worker cannot convert: %s", error)
            workers.remove(worker)
            with contextlib.suppress(Exception):
                self.ray.kill(worker)
            if not workers:
                self._fail_pending(error)
            return
        self.nodes.setdefault(node, NodeResult(node)).workers += 1
        idle.append(worker)

    def _finished(self, ref: Any, idle: list[Any]) -> None:
        actor, task, tries = self.inflight.pop(ref)
        item = self.inputs_by_index(task.job)
        try:
            done: SegmentDone = self.ray.get(ref)
        except Exception as e:  # noqa: BLE001 (Ray's retries are spent: an error in the actor, or its process gone)
            if isinstance(e, self.ray.exceptions.RayActorError):  # Ray's restarts are spent too
                with contextlib.suppress(ValueError):
                    self.workers.remove(actor)
            else:
                idle.append(actor)
            if tries + 1 < DRIVER_TRIES:
                log.info("%s: segment %d failed (%s); trying again", task.source, task.segment.index, _one_line(e))
                self.pending.appendleft((task, tries + 1))
            elif item.result.error is None:
                item.result.error = f"segment {task.segment.index} failed {DRIVER_TRIES} times: {_one_line(e)}"
            return
        idle.append(actor)
        if done.error is not None:
            if item.result.error is None:
                item.result.error = done.error
            return
        if item.result.error is not None:
            return
        assert done.data is not None and done.summary is not None
        self._keep(item, task.segment, done)
        self._join_if_done(item)

    def _keep(self, item: _Input, seg: Segment, done: SegmentDone) -> None:
        """The segment's file, then its record (written last: a record means a whole file)."""
        assert done.data is not None and done.summary is not None
        with atomic_output(_segment_path(item.work, seg.index, item.settings.segment_suffix), group_write=False) as tmp:
            tmp.write_bytes(done.data)
        record = {**dataclasses.asdict(done.summary), "node": done.node}
        with atomic_output(_record_path(item.work, seg.index), group_write=False) as tmp:
            tmp.write_text(json.dumps(record))
        item.done[seg.index] = record
        node = self.nodes.setdefault(done.node, NodeResult(done.node))
        node.segments += 1
        node.frames += done.summary.frames
        node.busy_s += done.summary.wall_s
        self.finished_frames += seg.frames

    def _join_if_done(self, item: _Input) -> None:
        if item.result.error is None and item.joining is None and len(item.done) == len(item.segments):
            paths = [_segment_path(item.work, s.index, item.settings.segment_suffix) for s in item.segments]
            item.joining = self.joiner.submit(join_segments, paths, item.output, item.source, item.settings, audio=self.audio)

    def _collect_join(self, item: _Input) -> None:
        if item.joining is None or not item.joining.done():
            return
        future, item.joining = item.joining, None
        try:
            joined = future.result()
        except UserError as e:
            item.result.error = str(e)
            return
        except Exception as e:  # noqa: BLE001 (a segment file that cannot be read back)
            item.result.error = f"cannot join the segments in {item.work}: {_one_line(e)} (remove the folder to convert them again)"
            return
        r = item.result
        r.frames = joined.frames
        r.audio_copied, r.audio_transcoded = joined.audio.copied, joined.audio.transcoded
        r.warmup = sum(int(d.get("warmup", 0)) for d in item.done.values())
        r.skipped = sum(int(d.get("skipped", 0)) for d in item.done.values())
        if r.skipped:
            log.warning("%s: %d corrupt packet(s) or frame(s) skipped", r.source, r.skipped)
        _unlock(item.lock)
        item.lock = -1
        shutil.rmtree(item.work, ignore_errors=True)

    def _fail_pending(self, why: str) -> None:
        for task, _ in self.pending:
            result = self.inputs_by_index(task.job).result
            if result.error is None:
                result.error = why
        self.pending.clear()


def _one_line(e: BaseException) -> str:
    """An exception as one line: a Ray error's cause where it has one, else its first line."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException):
        e = cause
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # Ray colours its messages for terminals
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
