"""Magenta from a fresh store: `stylize weights import *.tflite`, then `stylize image`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from stylize.cli import main

pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert", reason="reading .tflite files needs ai-edge-litert (the [tflite] extra)")


def test_magenta_is_the_default_when_only_it_is_installed(magenta_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    content = data_dir / "content" / "adain__cornell.jpg"
    style = data_dir / "styles" / "msgnet21__starry_night.jpg"
    outs = {}
    for alpha in ("1", "0.3"):
        out = tmp_path / f"a{alpha}.png"
        code = main(["--home", str(magenta_store), "image", str(content), "--style", str(style), "--size", "96", "--alpha", alpha, "-o", str(out)])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "magenta" in captured.out
        outs[alpha] = np.asarray(PILImage.open(out), dtype=np.float32) / 255
    assert outs["1"].shape == (96, 137, 3)
    assert np.abs(outs["1"] - outs["0.3"]).mean() > 0.01  # alpha mixes in the photo's own style


def test_stylised_differs_from_content_and_follows_the_style(magenta_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    content = data_dir / "content" / "sklearn__china.jpg"
    means = {}
    for style in ("tfjs__red_circles.jpg", "msgnet21__starry_night.jpg"):
        out = tmp_path / f"{style}.png"
        assert main(["--home", str(magenta_store), "image", str(content), "--style", str(data_dir / "styles" / style), "--model", "magenta", "--size", "96", "-o", str(out)]) == 0
        means[style] = np.asarray(PILImage.open(out), dtype=np.float32).reshape(-1, 3).mean(0) / 255
    capsys.readouterr()
    # red circles paint redder than the blue starry night
    assert means["tfjs__red_circles.jpg"][0] - means["tfjs__red_circles.jpg"][2] > means["msgnet21__starry_night.jpg"][0] - means["msgnet21__starry_night.jpg"][2]


def test_adain_weights_flag_refused_for_magenta(magenta_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code = main(["--home", str(magenta_store), "image", str(data_dir / "content" / "adain__cornell.jpg"), "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"),
                 "--model", "magenta", "--weights", "mine", "-o", str(tmp_path / "o.png")])  # fmt: skip
    assert code == 2 and "does not apply" in capsys.readouterr().err
