"""`stylize image` and `stylize weights` end to end, and every bad input of issue 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error as _one_line_error
from conftest import run_cli as _run
from PIL import Image as PILImage

pytest.importorskip("torch")

SMALL = ["--size", "64", "--style-size", "64"]



@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from conftest import rng_image

    folder = tmp_path_factory.mktemp("images")
    paths = {}
    for name, (h, w, seed) in {"content": (72, 96, 1), "content2": (80, 80, 2), "style": (64, 64, 3), "style2": (64, 64, 4)}.items():
        paths[name] = folder / f"{name}.png"
        PILImage.fromarray((rng_image(h, w, seed) * 255).astype(np.uint8)).save(paths[name])
    paths["mask"] = folder / "mask.png"
    mask = np.zeros((72, 96), np.uint8)
    mask[:, :48] = 255
    PILImage.fromarray(mask).save(paths["mask"])
    paths["mask_inv"] = folder / "mask_inv.png"
    PILImage.fromarray(255 - mask).save(paths["mask_inv"])
    paths["mask_tall"] = folder / "mask_tall.png"
    PILImage.fromarray(np.zeros((200, 50), np.uint8)).save(paths["mask_tall"])
    return paths


def test_missing_weights_name_both_ways_in(empty_store: Path, images: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "o.png"
    code, _, err = _run(capsys, "image", images["content"], "--style", images["style"], "-o", out)
    line = _one_line_error(err)
    assert code == 2 and not out.exists()
    assert "stylize weights download" in line and "stylize weights import" in line


def test_stylizes_at_the_requested_size(adain_store: Path, images: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "new_folder" / "o.png"  # the output's folder is created
    code, _, err = _run(capsys, "image", images["content"], "--style", images["style"], *SMALL, "-o", out)
    assert code == 0, err
    assert PILImage.open(out).size == (85, 64)  # 96x72 scaled to a shorter side of 64
    code, _, _ = _run(capsys, "image", images["content"], "--style", images["style"], "--size", "0", "--style-size", "64", "-o", out)
    assert code == 0 and PILImage.open(out).size == (96, 72)


def test_controls(adain_store: Path, images: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    base = ["image", images["content"], "--style", images["style"], *SMALL]
    two = ["image", images["content"], "--style", images["style"], "--style", images["style2"], *SMALL]
    runs = {
        "alpha": [*base, "--alpha", "0.5"],
        "interp": [*two, "--style-weights", "0.7,0.3"],
        "color": [*base, "--preserve-color"],
        "luma": [*base, "--preserve-color", "luminance"],
        "mask": [*two, "--mask", images["mask"], "--mask", images["mask_inv"]],
    }
    results = {}
    for name, argv in runs.items():
        out = tmp_path / f"{name}.png"
        code, _, err = _run(capsys, *argv, "-o", out)
        assert code == 0, (name, err)
        results[name] = np.asarray(PILImage.open(out), dtype=np.float32)
    plain = tmp_path / "plain.png"
    assert _run(capsys, *base, "-o", plain)[0] == 0
    plain_img = np.asarray(PILImage.open(plain), dtype=np.float32)
    for name, img in results.items():
        assert img.shape == plain_img.shape
        assert np.abs(img - plain_img).max() > 0, f"--{name} changed nothing"


def test_many_contents_into_a_folder(adain_store: Path, images: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "outdir"
    code, _, err = _run(capsys, "image", images["content"], images["content2"], "--style", images["style"], *SMALL, "-o", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["content2__style.png", "content__style.png"]


def test_grayscale_and_alpha_inputs(adain_store: Path, data_dir: Path, images: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    gray_out, rgba_out = tmp_path / "gray.png", tmp_path / "rgba.png"
    assert _run(capsys, "image", data_dir / "content" / "skimage__camera.png", "--style", images["style"], *SMALL, "-o", gray_out)[0] == 0
    assert PILImage.open(gray_out).mode == "RGB"
    gray_style = data_dir / "styles" / "msgnet21__pencil.jpg"
    assert _run(capsys, "image", images["content"], "--style", gray_style, *SMALL, "-o", gray_out)[0] == 0
    assert _run(capsys, "image", data_dir / "content" / "opencv__chicky_512.png", "--style", images["style"], *SMALL, "-o", rgba_out)[0] == 0
    assert PILImage.open(rgba_out).mode == "RGBA"


def _bad_cases(images: dict[str, Path], tmp: Path, wrong_layout: Path) -> dict[str, tuple[list, str]]:
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage" * 10)
    (tmp / "afolder").mkdir(exist_ok=True)
    c, s, s2 = images["content"], images["style"], images["style2"]
    out = tmp / "bad_out.png"
    return {
        "missing": (["image", tmp / "nope.jpg", "--style", s, "-o", out], "not found"),
        "empty": (["image", tmp / "empty.png", "--style", s, "-o", out], "empty file"),
        "corrupt": (["image", c, "--style", tmp / "corrupt.jpg", "-o", out], "cannot decode"),
        "folder": (["image", tmp / "afolder", "--style", s, "-o", out], "no images in folder"),
        "style_folder": (["image", c, "--style", tmp / "afolder", "-o", out], "is a folder"),
        "weights_count": (["image", c, "--style", s, "--style", s2, "--style-weights", "1,2,3", "-o", out], "3 style weights given for 2 styles"),
        "mask_size": (["image", c, "--style", s, "--mask", images["mask_tall"], *SMALL, "-o", out], "cannot match"),
        "mask_count": (["image", c, "--style", s, "--style", s2, "--mask", images["mask"], "-o", out], "one mask per style"),
        "max_pixels": (["image", c, "--style", s, "--max-pixels", "1000", "-o", out], "max-pixels"),
        "output_is_input": (["image", c, "--style", s, "-o", c], "output path is one of the inputs"),
        "wrong_layout": (["weights", "import", wrong_layout], "does not match layout adain_decoder"),
        "not_weights": (["weights", "import", tmp / "corrupt.jpg"], "unknown weights format"),
    }


def test_bad_inputs_one_line_exit_2_no_output(adain_store: Path, images: dict[str, Path], tmp_path: Path, adain_files, capsys) -> None:  # noqa: ANN001
    import torch

    state = torch.load(adain_files[1], weights_only=True)
    state["1.weight"] = state["1.weight"][:, :256]
    wrong = tmp_path / "wrong.pth"
    torch.save(state, wrong)
    for name, (argv, message) in _bad_cases(images, tmp_path, wrong).items():
        code, _, err = _run(capsys, *argv)
        line = _one_line_error(err)
        assert code == 2, name
        assert message in line, (name, line)
        assert not (tmp_path / "bad_out.png").exists(), name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_console_script_help_and_exit_code(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "stylize", "image", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--preserve-color" in done.stdout and "--style-weights" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "stylize", "image", str(tmp_path / "no.png"), "--style", str(tmp_path / "no2.png"), "-o", str(tmp_path / "o.png")],
        capture_output=True,
        text=True,
        env={"STYLIZE_HOME": str(tmp_path / "home"), "PATH": ""},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.startswith("stylize: error:")


# --------------------------------------------------------------------------- --graphs DIR


def test_graphs_folder_gives_the_store_graphs_pixels(magenta_graphs: tuple[Path, Path], images: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """`--graphs DIR` (no --model: the family is read from the graphs) runs the same graphs as
    `--backend onnxruntime` from the store, pixel for pixel; the API's `graphs=` too."""
    from stylize import Stylizer

    home, folder = magenta_graphs
    base = ["--home", home, "image", images["content"], "--style", images["style"], *SMALL]
    code, _, err = _run(capsys, *base, "--graphs", folder, "-o", tmp_path / "graphs.png")
    assert code == 0, err
    assert f"backend onnxruntime: the graphs of {folder}" in err
    code, _, err = _run(capsys, *base, "--backend", "onnxruntime", "-o", tmp_path / "store.png")
    assert code == 0, err
    from_folder = np.asarray(PILImage.open(tmp_path / "graphs.png"))
    np.testing.assert_array_equal(from_folder, np.asarray(PILImage.open(tmp_path / "store.png")))
    api = Stylizer(home=home, graphs=folder, style_size=64)
    assert api.family == "magenta"
    api.image_file(images["content"], tmp_path / "api.png", images["style"], size=64)
    np.testing.assert_array_equal(from_folder, np.asarray(PILImage.open(tmp_path / "api.png")))


def test_graphs_folder_refusals(magenta_graphs: tuple[Path, Path], images: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    onnx = pytest.importorskip("onnx")
    from stylize import Stylizer, UserError

    home, folder = magenta_graphs
    other = tmp_path / "other_weights"
    other.mkdir()
    for name in ("style_encoder.onnx", "stylizer.onnx"):
        model = onnx.load(str(folder / name))
        for prop in model.metadata_props:
            if prop.key == "model_id":
                prop.value = "magenta-0000000000000000"
        onnx.save_model(model, str(other / name))
    (tmp_path / "empty").mkdir()
    out = tmp_path / "o.png"
    base = ["--home", home, "image", images["content"], "--style", images["style"], *SMALL, "-o", out]
    cases = {
        "other weights": ([*base, "--graphs", other], "was exported from other weights"),
        "no folder": ([*base, "--graphs", tmp_path / "nope"], "no folder"),
        "no graphs": ([*base, "--graphs", tmp_path / "empty"], "style_encoder.onnx and stylizer.onnx not found"),
        "torch": ([*base, "--graphs", folder, "--backend", "torch"], "--graphs runs exported graphs"),
    }
    for name, (argv, message) in cases.items():
        code, _, err = _run(capsys, *argv)
        assert code == 2 and message in _one_line_error(err), (name, err)
        assert not out.exists(), name
    with pytest.raises(UserError, match="--graphs runs exported graphs"):
        Stylizer(home=home, graphs=folder, backend="torch")
    with pytest.raises(UserError, match="graphs: no folder"):
        Stylizer(home=home, graphs=tmp_path / "nope")

