"""Faults of the input: damaged media, requests over the memory budget, and numbers that are
not numbers.

- damaged media (made in tmp_path from the real clips): a cut-off MP4 (a faststart copy of a
  clip truncated to 40%), an MP4 with garbage over its middle, an empty file, a text file
  named .mp4. Damage that leaves frames is converted, and reported in exactly one
  ``stylize: warning:`` line with the frames decoded vs expected; live reads past corrupt
  frames as video does, and FFmpeg's own decoder lines never reach stderr (checked at the
  file descriptor). Damage that leaves nothing is one ``stylize: error:`` line, exit 2.
- the memory budget (``--max-pixels``, ``runtime.budget``): a 30000x1 image at --size 128,
  a huge --size for image, video, live and paint, a batch of frames, a style scale, a PNG
  whose header claims a trillion pixels: one line giving the size and how to raise the
  limit, exit 2, before an engine is opened.
- numbers: nan, inf and values out of range for the numeric options of every command,
  refused when parsed (one line, exit 2).

Every case asserts the exit code, stderr (one line, or nothing), and that no file is left
but the inputs and a finished output.
"""

from __future__ import annotations

import math
import random
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, one_line_error, run_cli

pytest.importorskip("torch")
pytest.importorskip("av")

import av  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

import stylize.api  # noqa: E402
from stylize.runtime import budget  # noqa: E402
from stylize.runtime.budget import DEFAULT_MAX_PIXELS  # noqa: E402
from stylize.runtime.errors import UserError  # noqa: E402

STYLE = DATA / "styles" / "tfjs__bricks.jpg"
CLIP = DATA / "video" / "adain__cutBunny.mp4"  # 240 frames, 640x360, its index (moov) at the end
SHORT = DATA / "video" / "imageio__realshort.mp4"  # 36 frames
PHOTO = DATA / "content" / "opencv__apple.jpg"
VIDEO = ("--size", "48", "--temporal", "off", "--quiet")
# a side whose frames exceed the default budget on any machine this runs on
HUGE = str(math.isqrt(DEFAULT_MAX_PIXELS) + 16)


@pytest.fixture(autouse=True)
def _data(data_dir: Path) -> None:
    """Every case needs the real clips and photos of ../shared."""


def files_in(folder: Path) -> set[str]:
    """Every file and folder under ``folder``, hidden ones (partials) included."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def warning_line(err: str) -> str:
    """Assert that stderr is exactly one ``stylize: warning:`` line; return it."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("stylize: warning: "), err
    return lines[0]


def frames_of(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if an engine is opened: the refusal must come before the model loads."""

    def opened(*a: object, **k: object) -> None:
        raise AssertionError("the engine was opened before the refusal")

    monkeypatch.setattr(stylize.api, "open_engine", opened)


# ------------------------------------------------------------------------------ damaged media
def _faststart(src: Path, dst: Path) -> None:
    """``src`` remuxed with its index first, as a streaming upload is: cut off, it still opens."""
    with av.open(str(src)) as i, av.open(str(dst), "w", options={"movflags": "faststart"}) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams if s.type in ("video", "audio")}
        for packet in i.demux(list(i.streams)):
            if packet.dts is None or packet.stream.index not in streams:
                continue
            packet.stream = streams[packet.stream.index]
            o.mux(packet)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Damaged copies of the 240-frame clip, and junk named .mp4 (read-only to the cases)."""
    folder = tmp_path_factory.mktemp("damaged")
    whole = folder / "faststart.mp4"
    _faststart(CLIP, whole)
    data = whole.read_bytes()
    (folder / "cut.mp4").write_bytes(data[: int(len(data) * 0.4)])
    garbled = bytearray(CLIP.read_bytes())
    middle, rng = len(garbled) // 2, random.Random(0)
    garbled[middle - 20_000 : middle + 20_000] = bytes(rng.randrange(256) for _ in range(40_000))
    (folder / "corrupt.mp4").write_bytes(bytes(garbled))
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("this is not a video\n" * 20)
    return {p.stem: p for p in folder.iterdir()}


def test_a_cut_off_video_is_converted_with_one_warning(magenta_store: Path, damaged: dict[str, Path], tmp_path: Path, capfd) -> None:  # noqa: ANN001
    out = tmp_path / "out.mp4"
    code, stdout, err = run_cli(capfd, "--home", magenta_store, "video", damaged["cut"], "--style", STYLE, *VIDEO, "-o", out)
    assert code == 0, err
    line = warning_line(err)
    decoded = int(re.search(r": (\d+) of 240 frames decoded: the input ends early", line).group(1))
    assert 30 < decoded < 120
    assert frames_of(out) == decoded and f"{decoded} of 240 decoded" in stdout
    assert files_in(tmp_path) == {"out.mp4"}


def test_a_video_with_a_corrupt_middle_is_converted_with_one_warning(
    magenta_store: Path, damaged: dict[str, Path], tmp_path: Path, capfd  # noqa: ANN001
) -> None:
    out = tmp_path / "out.mp4"
    code, _, err = run_cli(capfd, "--home", magenta_store, "video", damaged["corrupt"], "--style", STYLE, *VIDEO, "-o", out)
    assert code == 0, err
    m = re.search(r": (\d+) of 240 frames decoded: (\d+) corrupt packet\(s\) or frame\(s\) skipped$", warning_line(err))
    decoded, skipped = int(m.group(1)), int(m.group(2))
    assert decoded > 150 and skipped > 0  # decoding went on past the damage
    assert frames_of(out) == decoded
    assert files_in(tmp_path) == {"out.mp4"}


def test_live_reads_past_corrupt_frames_as_video_does(magenta_store: Path, damaged: dict[str, Path], tmp_path: Path, capfd) -> None:  # noqa: ANN001
    """Headless, every frame of the file is read, past the damage (OpenCV's reads fail there
    and the capture reads on), with one warning and none of FFmpeg's raw lines on fd 2."""
    record = tmp_path / "rec.mp4"
    code, stdout, err = run_cli(
        capfd, "--home", magenta_store, "live", "--camera", damaged["corrupt"], "--no-window", "--record", record, "--style", STYLE, *VIDEO
    )  # fmt: skip
    assert code == 0, err
    assert "[h264" not in err and "@ 0x" not in err
    m = re.search(r": (\d+) of 240 frames read: (\d+) corrupt frame\(s\) skipped$", warning_line(err))
    read = int(m.group(1))
    assert read > 150 and int(m.group(2)) > 0
    assert stdout.startswith(f"{read} frames in ")
    assert abs(frames_of(record) - read) <= 1
    assert files_in(tmp_path) == {"rec.mp4"}


def test_live_on_a_cut_off_file_says_where_it_ended(magenta_store: Path, damaged: dict[str, Path], tmp_path: Path, capfd) -> None:  # noqa: ANN001
    code, stdout, err = run_cli(capfd, "--home", magenta_store, "live", "--camera", damaged["cut"], "--no-window", "--style", STYLE, *VIDEO)
    assert code == 0, err
    line = warning_line(err)
    assert re.search(r": \d+ of 240 frames read: .*the file ends early", line), line
    assert "@ 0x" not in err
    assert not files_in(tmp_path)


def test_an_intact_clip_gives_no_warning(magenta_store: Path, tmp_path: Path, capfd) -> None:  # noqa: ANN001
    """The checks above do not fire on a good file, in video or live."""
    code, _, err = run_cli(capfd, "--home", magenta_store, "video", SHORT, "--style", STYLE, *VIDEO, "-o", tmp_path / "o.mp4")
    assert code == 0 and err == ""
    code, stdout, err = run_cli(capfd, "--home", magenta_store, "live", "--camera", SHORT, "--no-window", "--style", STYLE, *VIDEO)
    assert code == 0 and err == "" and stdout.startswith("36 frames in ")
    assert files_in(tmp_path) == {"o.mp4"}


@pytest.mark.parametrize("junk,command", [("empty", "video"), ("text", "video"), ("empty", "live"), ("text", "live")])
def test_a_file_that_is_no_video(magenta_store: Path, damaged: dict[str, Path], tmp_path: Path, capfd, junk: str, command: str) -> None:  # noqa: ANN001
    where = ("-o", tmp_path / "o.mp4") if command == "video" else ("--no-window", "--record", tmp_path / "o.mp4")
    source = ("--camera",) if command == "live" else ()
    code, _, err = run_cli(capfd, "--home", magenta_store, command, *source, damaged[junk], "--style", STYLE, *where, *VIDEO)
    assert code == 2
    line = one_line_error(err)
    assert "empty file" in line or "cannot open" in line, line
    assert not files_in(tmp_path)


# ------------------------------------------------------------------------------ the memory budget
def test_the_default_budget_is_sized_for_the_machine() -> None:
    assert budget.default_max_pixels(8 << 30) == (8 << 30) // budget.BYTES_PER_PIXEL
    assert budget.default_max_pixels(1 << 30) == budget.MIN_PIXELS  # never below the minimum
    memory = budget.physical_memory()
    assert DEFAULT_MAX_PIXELS == budget.default_max_pixels(memory) >= budget.MIN_PIXELS
    from stylize.options import OPTIONS

    assert OPTIONS["max_pixels"].default == DEFAULT_MAX_PIXELS


def _over_default(pixels: int) -> None:
    if pixels <= DEFAULT_MAX_PIXELS:
        pytest.skip(f"this machine's default budget ({DEFAULT_MAX_PIXELS} pixels) holds {pixels} pixels")


def _refused_for_memory(line: str, size: str) -> None:
    assert size in line and "memory budget" in line and re.search(r"raise the limit with --max-pixels \d+$", line), line


def test_a_30000x1_image_at_size_128(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    """The input is 30,000 pixels, the output would be 3,840,000 x 128: the output counts."""
    _over_default(3_840_000 * 128)
    wide = tmp_path / "wide.png"
    PILImage.new("RGB", (30000, 1), (200, 100, 50)).save(wide)
    no_engine(monkeypatch)
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", wide, "--style", STYLE, "--size", "128", "--tile", "off", "-q", "-o", tmp_path / "o.png")
    assert code == 2
    _refused_for_memory(one_line_error(err), "3840000x128 = 491.5 MP")
    assert files_in(tmp_path) == {"wide.png"}


def test_a_still_too_large_even_for_tiles(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    """Tiles bound the network's memory, not the picture's: a still whose result could not be
    held whole (more than 32x the budget) is refused before a model loads, --tile auto or not."""
    wide = tmp_path / "wide.png"
    PILImage.new("RGB", (30000, 1), (200, 100, 50)).save(wide)
    _over_default(30_000 * 1024 * 1024 // 32)
    no_engine(monkeypatch)
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", wide, "--style", STYLE, "--size", "1024", "-q", "-o", tmp_path / "o.png")
    assert code == 2
    line = one_line_error(err)
    _refused_for_memory(line, "30720000x1024 = ")
    assert "even in tiles" in line
    assert files_in(tmp_path) == {"wide.png"}


@pytest.mark.parametrize("command", ["image", "video", "live", "paint"])
def test_a_huge_size(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, command: str) -> None:  # noqa: ANN001
    """--size far beyond the budget is refused before a model loads (paint: before the VGG,
    which this store does not even hold)."""
    no_engine(monkeypatch)
    argv = {
        "image": ["image", PHOTO, "--tile", "off", "-o", tmp_path / "o.png"],  # auto: tiled (test_a_still_too_large_even_for_tiles)
        "paint": ["paint", PHOTO, "-o", tmp_path / "o.png"],
        "video": ["video", SHORT, "-o", tmp_path / "o.mp4"],
        "live": ["live", "--camera", SHORT, "--no-window", "--record", tmp_path / "o.mp4"],
    }[command]
    code, _, err = run_cli(capsys, "--home", magenta_store, *argv, "--style", STYLE, "--size", HUGE, "-q")
    assert code == 2
    line = one_line_error(err)
    _refused_for_memory(line, f"x{HUGE} = ")
    assert ("painting at" in line) == (command == "paint")
    assert not files_in(tmp_path)


def test_max_pixels_is_the_one_limit_and_can_be_raised(magenta_store: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A still at 48x64 (3072 pixels): refused under --max-pixels 3000, stylised under 70000
    (the style image, encoded at 256x256, is the larger of the two)."""
    out = tmp_path / "o.png"
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", PHOTO, "--style", STYLE, "--size", "48", "--max-pixels", "3000", "-q", "-o", out)
    assert code == 2 and "--max-pixels 3000" in one_line_error(err)
    assert not files_in(tmp_path)
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", PHOTO, "--style", STYLE, "--size", "48", "--max-pixels", "70000", "-q", "-o", out)
    assert code == 0, err
    assert files_in(tmp_path) == {"o.png"}


def test_a_batch_of_frames_counts_every_frame(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    no_engine(monkeypatch)
    argv = ["video", SHORT, "--style", STYLE, "--size", "240", "--batch", "16", "--max-pixels", "1000000", "-q", "-o", tmp_path / "o.mp4"]
    code, _, err = run_cli(capsys, "--home", magenta_store, *argv)
    assert code == 2
    line = one_line_error(err)
    assert "320x240 = 76800 pixels, 16 frames at once" in line and "--batch" in line and line.endswith("--max-pixels 1228800")
    assert not files_in(tmp_path)


def test_paint_style_scale_over_the_budget(magenta_store: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code, _, err = run_cli(capsys, "--home", magenta_store, "paint", PHOTO, "--style", STYLE, "--size", "64", "--style-scale", "1000", "-q", "-o", tmp_path / "o.png")
    assert code == 2
    _refused_for_memory(one_line_error(err), "encoding a style image at 64000x64000")
    assert not files_in(tmp_path)


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height``, with no pixels behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.parametrize("role", ["content", "style"])
def test_an_image_claiming_a_trillion_pixels(magenta_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, role: str) -> None:  # noqa: ANN001
    """Refused from its header (a decompression bomb): nothing is decoded."""
    bomb = tmp_path / "bomb.png"
    _png_header(bomb, 1_000_000, 1_000_000)
    no_engine(monkeypatch)
    content, style = (bomb, STYLE) if role == "content" else (PHOTO, bomb)
    code, _, err = run_cli(capsys, "--home", magenta_store, "image", content, "--style", style, "-q", "-o", tmp_path / "o.png")
    assert code == 2
    line = one_line_error(err)
    assert f"{role} image" in line and "1000000x1000000 = 1000000.0 MP" in line and "--max-pixels" in line, line
    assert files_in(tmp_path) == {"bomb.png"}


def test_the_api_refuses_frames_over_the_budget(magenta_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_engine(monkeypatch)
    s = stylize.api.Stylizer("magenta", home=magenta_store)
    frames = [np.zeros((40, 40, 3), np.uint8)]
    with pytest.raises(UserError, match=r"stylising frames at 480x480 = 230400 pixels, 4 frames at once would exceed"):
        list(s.frames(frames, STYLE, size=480, batch=4, max_pixels=500_000))
    with pytest.raises(UserError, match="max_pixels: expected a finite number"):
        list(s.frames(frames, STYLE, max_pixels=float("nan")))


# ------------------------------------------------------------------------------ numbers
NUMBERS = {
    "style-weights nan": ["image", "c.png", "--style", "s.png", "--style", "t.png", "-o", "o.png", "--style-weights", "nan,1"],
    "max-pixels inf": ["image", "c.png", "--style", "s.png", "-o", "o.png", "--max-pixels", "inf"],
    "max-pixels nan (video)": ["video", "in.mp4", "--style", "s.png", "-o", "o.mp4", "--max-pixels", "nan"],
    "fps nan": ["video", "in.mp4", "--style", "s.png", "-o", "o.mp4", "--fps", "nan"],
    "fps 1e9": ["video", "in.mp4", "--style", "s.png", "-o", "o.mp4", "--fps", "1e9"],
    "crf 70": ["video", "in.mp4", "--style", "s.png", "-o", "o.mp4", "--crf", "70"],
    "batch inf": ["video", "in.mp4", "--style", "s.png", "-o", "o.mp4", "--batch", "inf"],
    "alpha inf": ["live", "--style", "s.png", "--alpha", "inf"],
    "size inf": ["live", "--style", "s.png", "--size", "inf"],
    "style-size 100000": ["image", "c.png", "--style", "s.png", "-o", "o.png", "--style-size", "100000"],
    "live frames nan": ["live", "--style", "s.png", "--frames", "nan"],
    "live frames -1": ["live", "--style", "s.png", "--frames", "-1"],
    "paint iters nan": ["paint", "c.png", "--style", "s.png", "-o", "o.png", "--iters", "nan"],
    "paint lr inf": ["paint", "c.png", "--style", "s.png", "-o", "o.png", "--lr", "inf"],
    "paint style-weight nan": ["paint", "c.png", "--style", "s.png", "-o", "o.png", "--style-weight", "nan"],
    "paint tv-weight -1": ["paint", "c.png", "--style", "s.png", "-o", "o.png", "--tv-weight", "-1"],
    "paint style-scale 0": ["paint", "c.png", "--style", "s.png", "-o", "o.png", "--style-scale", "0"],
    "paint style-layers nan": ["paint", "c.png", "--style", "s.png", "-o", "o.png", "--style-layers", "relu1_1:nan"],
    "paint seed -1": ["paint", "c.png", "--style", "s.png", "-o", "o.png", "--seed", "-1"],
    "train lr nan": ["train", "--lr", "nan"],
    "train content-weight inf": ["train", "--content-weight", "inf"],
    "train batch-size 0": ["train", "--batch-size", "0"],
    "flicker frames 0": ["flicker", "a.mp4", "b.mp4", "--frames", "0"],
    "weights timeout nan": ["weights", "download", "--timeout", "nan"],
    "build-engine workspace inf": ["build-engine", "--model", "adain", "--shapes", "16x16:16x16:16x16", "--workspace-gib", "inf"],
}


@pytest.mark.parametrize("case", sorted(NUMBERS))
def test_numbers_that_are_not_numbers_are_refused_when_parsed(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)  # the relative file names: none of them exists, none is made
    argv = NUMBERS[case]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    line = one_line_error(err)
    assert f"argument {argv[-2]}" in line and "expected" in line, line
    assert not files_in(tmp_path)
