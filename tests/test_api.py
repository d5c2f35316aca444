"""The Python API is what the commands call: the same options give the same pixels, and the
setup (store, weights, engine, style cache) makes the same decisions for every command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error, rng_image, run_cli
from PIL import Image as PILImage

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("api_pictures")
    paths = {}
    for name, (h, w, seed) in {"content": (72, 96, 1), "style": (64, 64, 3), "style2": (64, 64, 4)}.items():
        paths[name] = folder / f"{name}.png"
        PILImage.fromarray((rng_image(h, w, seed) * 255).astype(np.uint8)).save(paths[name])
    return paths


def _png(path: Path) -> np.ndarray:
    return np.asarray(PILImage.open(path))


@pytest.mark.parametrize(
    "extra, kwargs",
    [
        ([], {}),
        (["--alpha", "0.6"], {"alpha": 0.6}),
        (["--preserve-color"], {"preserve_color": "color"}),
        (["--preserve-color", "luminance", "--size", "48"], {"preserve_color": "luminance", "size": 48}),
    ],
)
def test_image_command_and_api_give_the_same_pixels(adain_store: Path, pictures: dict[str, Path], tmp_path: Path, capsys, extra: list, kwargs: dict) -> None:  # noqa: ANN001
    from stylize import Stylizer

    cli_out, api_out = tmp_path / "cli.png", tmp_path / "api.png"
    code, _, err = run_cli(capsys, "image", pictures["content"], "--style", pictures["style"], "--style-size", "64", *extra, "-o", cli_out)
    assert code == 0, err
    Stylizer(style_size=64).image_file(pictures["content"], api_out, pictures["style"], **kwargs)
    np.testing.assert_array_equal(_png(cli_out), _png(api_out))


def test_two_styles_mixed_the_same_way(adain_store: Path, pictures: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from stylize import Stylizer

    cli_out = tmp_path / "cli.png"
    code, _, err = run_cli(capsys, "image", pictures["content"], "--style", pictures["style"], "--style", pictures["style2"],
                           "--style-weights", "0.7,0.3", "--style-size", "64", "-o", cli_out)  # fmt: skip
    assert code == 0, err
    picture = Stylizer(style_size=64).image(pictures["content"], [pictures["style"], pictures["style2"]], style_weights=[0.7, 0.3])
    np.testing.assert_array_equal(_png(cli_out), (np.clip(picture.rgb, 0, 1) * 255 + 0.5).astype(np.uint8))


def test_video_command_and_api_give_the_same_frames(adain_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from stylize import Stylizer

    clip = data_dir / "video" / "imageio__realshort.mp4"
    style = data_dir / "styles" / "tfjs__bricks.jpg"
    code, _, err = run_cli(capsys, "video", clip, "--style", style, "--size", "32", "--style-size", "64", "--quiet", "-o", f"{tmp_path}/cli/")
    assert code == 0, err
    report = Stylizer(style_size=64).video(clip, f"{tmp_path}/api/", style, size=32, progress=False)
    cli, api = sorted((tmp_path / "cli").iterdir()), sorted((tmp_path / "api").iterdir())
    assert len(cli) == len(api) == report.conversion.frames_out == 36
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(cli, api))
    assert report.temporal == "on"  # the default of the command and of the API


def test_a_stream_of_frames_is_stylised_as_the_file_is(adain_store: Path, data_dir: Path, tmp_path: Path) -> None:
    """``Stylizer.frames`` on decoded frames equals ``Stylizer.video`` on the file (stabilised)."""
    from stylize import Stylizer
    from stylize.runtime.video.reader import iter_frames

    clip = data_dir / "video" / "imageio__realshort.mp4"
    style = data_dir / "styles" / "tfjs__bricks.jpg"
    s = Stylizer(style_size=64)
    s.video(clip, f"{tmp_path}/file/", style, size=32, progress=False)
    frames = [rgb for rgb, _ in iter_frames(clip, size=32)][:12]
    streamed = list(s.frames(frames, style, size="keep"))
    files = sorted((tmp_path / "file").iterdir())[:12]
    assert len(streamed) == 12 and streamed[0].dtype == np.uint8
    for got, path in zip(streamed, files):
        np.testing.assert_array_equal(got, _png(path))
    # batches of 3 take other convolution kernels: the same frames within one level
    for got, path in zip(s.frames(frames, style, size="keep", batch=3), files):
        assert np.abs(got.astype(int) - _png(path)).max() <= 1


def test_weights_for_magenta_are_refused_by_every_command(magenta_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    style = data_dir / "styles" / "tfjs__bricks.jpg"
    clip = data_dir / "video" / "imageio__realshort.mp4"
    runs = {
        "image": ["image", data_dir / "content" / "sklearn__china.jpg", "--style", style, "-o", tmp_path / "o.png"],
        "video": ["video", clip, "--style", style, "-o", tmp_path / "o.mp4"],
        "live": ["live", "--camera", clip, "--style", style, "--no-window", "--frames", "1"],
        "export": ["export"],
    }
    for name, argv in runs.items():
        code, _, err = run_cli(capsys, "--home", magenta_store, *argv, "--model", "magenta", "--weights", "my-decoder")
        assert code == 2, name
        assert "--weights selects an AdaIN decoder" in one_line_error(err), name
    assert not list(tmp_path.iterdir())


def test_auto_size_never_enlarges_and_keeps_big_pictures_bounded(adain_store: Path, pictures: dict[str, Path]) -> None:
    from stylize import Stylizer

    s = Stylizer(style_size=64)
    assert s.image(pictures["content"], pictures["style"]).size == (72, 96)  # small: its own size
    big = (rng_image(1200, 1600, 5) * 255).astype(np.uint8)
    assert s.image(big[:, :, :], pictures["style"], size=64).size == (64, 85)
    from stylize.options import AUTO_SIDE, side_for

    assert side_for("auto", 1600, 1200, "image") == AUTO_SIDE["image"]


def test_api_errors_are_user_errors(adain_store: Path, pictures: dict[str, Path], tmp_path: Path) -> None:
    import dataclasses

    from stylize import Stylizer, UserError

    s = Stylizer(style_size=64)
    with pytest.raises(UserError, match="alpha: expected a number in"):
        s.image(pictures["content"], pictures["style"], alpha=2)
    with pytest.raises(UserError, match="2 style weights given for 1 styles"):
        s.image(pictures["content"], pictures["style"], style_weights=[1, 1])
    with pytest.raises(UserError, match="not found"):
        s.image(tmp_path / "nope.png", pictures["style"])
    # an engine without regions (ONNX Runtime), asked for masks: refused in one line
    s.engine.capabilities = dataclasses.replace(s.engine.capabilities, regions=False)
    with pytest.raises(UserError, match="masks need the torch backend"):
        s.image(pictures["content"], pictures["style"], masks=[np.ones((72, 96), np.float32)])
