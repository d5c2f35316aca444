"""Several processes on one store at once: each run succeeds, nothing half-written is left,
and the store works afterwards. Real processes (`python -m stylize`), started together."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MAGENTA_TFLITE, MAGENTA_WEIGHTS

pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert", reason="reading .tflite files needs ai-edge-litert (the [tflite] extra)")


@pytest.fixture()
def home(magenta_graphs: tuple[Path, Path], tmp_path: Path) -> Path:
    """A store of its own: the Magenta weights and their exported graphs, no cached styles."""
    for folder in ("weights", "onnx"):
        shutil.copytree(magenta_graphs[0] / folder, tmp_path / "store" / folder)
    return tmp_path / "store"


def _together(home: Path, *commands: list[str | Path]) -> list[subprocess.CompletedProcess[str]]:
    env = {**os.environ, "STYLIZE_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen([sys.executable, "-m", "stylize", "--quiet", *map(str, c)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    results = []
    for p, c in zip(procs, commands):
        out, err = p.communicate(timeout=240)
        results.append(subprocess.CompletedProcess(c, p.returncode, out, err))
    return results


def _no_partials(*folders: Path) -> None:
    left = [p for folder in folders for p in folder.rglob(".*") if "partial" in p.name]
    assert not left, left


def test_two_stills_encode_one_new_style_into_one_cache(home: Path, data_dir: Path, tmp_path: Path) -> None:
    content, style = data_dir / "content" / "adain__cornell.jpg", data_dir / "styles" / "msgnet21__starry_night.jpg"
    runs = _together(home, *[["image", content, "--style", style, "--size", "48", "-o", tmp_path / f"o{i}.png"] for i in range(3)])
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    assert all(r.stderr == "" for r in runs)
    vectors = list((home / "styles").rglob("*.npy"))
    assert len(vectors) == 1 and np.isfinite(np.load(vectors[0])).all()
    from PIL import Image

    pictures = [np.asarray(Image.open(tmp_path / f"o{i}.png")) for i in range(3)]
    assert all(np.array_equal(pictures[0], p) for p in pictures[1:])
    _no_partials(home, tmp_path)


def test_two_imports_of_the_same_weights_at_once(home: Path, data_dir: Path, tmp_path: Path) -> None:
    files = [MAGENTA_WEIGHTS / f for f in MAGENTA_TFLITE]
    before = {p.name: p.read_text() for p in (home / "weights").glob("*.json")}
    runs = _together(home, ["weights", "import", *files], ["weights", "import", *files])
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    import json

    after = {p.name: json.loads(p.read_text()) for p in (home / "weights").glob("*.json")}
    assert {k: json.loads(v)["sha256"] for k, v in before.items()} == {k: v["sha256"] for k, v in after.items()}
    out = _together(home, ["image", data_dir / "content" / "adain__cornell.jpg", "--style", data_dir / "styles" / "tfjs__bricks.jpg", "--size", "48", "--backend", "onnxruntime", "-o", tmp_path / "after.png"])
    assert out[0].returncode == 0, out[0].stderr  # the exported graphs are still those of these weights
    _no_partials(home, tmp_path)


def test_two_conversions_to_one_output_leave_one_whole_video(home: Path, data_dir: Path, tmp_path: Path) -> None:
    import av

    clip, style = data_dir / "video" / "imageio__realshort.mp4", data_dir / "styles" / "tfjs__bricks.jpg"
    out = tmp_path / "same.mp4"
    runs = _together(home, *[["video", clip, "--style", style, "--size", "48", "--temporal", "off", "-o", out] for _ in range(2)])
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    with av.open(str(out)) as c:
        assert len(list(c.decode(video=0))) == 36
    _no_partials(home, tmp_path)
