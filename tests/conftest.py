"""Shared fixtures: the ../shared folder, random AdaIN weights in the official layout, stores."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# ../shared beside the checkout; STYLIZE_TEST_SHARED points elsewhere (e.g. a copy on a GPU machine)
SHARED = Path(os.environ.get("STYLIZE_TEST_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
MAGENTA_WEIGHTS = SHARED / "weights" / "magenta"


def need_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real test data not found: {DATA} (the ../shared folder beside the repository)")
    return DATA


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return need_data()


@pytest.fixture(scope="session")
def adain_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """vgg_normalised.pth and decoder.pth with random weights in the release layout."""
    pytest.importorskip("torch")
    from stylize.training.adain.random_weights import write_random_adain

    return write_random_adain(tmp_path_factory.mktemp("adain_weights"), seed=0)


@pytest.fixture()
def empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "store"
    monkeypatch.setenv("STYLIZE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def adain_store_dir(adain_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from stylize.runtime.store import Store
    from stylize.training.weights_io import import_weights

    home = tmp_path_factory.mktemp("adain_store")
    store = Store(home)
    for f in adain_files:
        import_weights(store, f)
    return home


@pytest.fixture()
def adain_store(adain_store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STYLIZE_HOME", str(adain_store_dir))
    return adain_store_dir


def rng_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image in [0, 1] (smooth so features are not pure noise)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.random((max(2, h // 8), max(2, w // 8), 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """Run ``stylize`` in-process: (exit code, stdout, stderr)."""
    from stylize.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    """Assert that stderr is exactly one ``stylize: error:`` line, no traceback; return it."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("stylize: error: ") and "Traceback" not in err
    return lines[0]


MAGENTA_TFLITE = ("style_predict_int8_256.tflite", "style_transfer_fp16_384.tflite")


@pytest.fixture(scope="session")
def magenta_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the real Magenta weights, imported once per test session via the CLI."""
    pytest.importorskip("torch")
    pytest.importorskip("ai_edge_litert", reason="reading .tflite files needs ai-edge-litert (the [tflite] extra)")
    files = [MAGENTA_WEIGHTS / f for f in MAGENTA_TFLITE]
    if not all(f.is_file() for f in files):
        pytest.skip(f"Magenta .tflite files not found in {MAGENTA_WEIGHTS}")
    from stylize.cli import main

    home = tmp_path_factory.mktemp("magenta_store")
    assert main(["--home", str(home), "weights", "import", *map(str, files)]) == 0
    return home


@pytest.fixture(scope="session")
def magenta_graphs(magenta_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a store of its own with the Magenta weights and their FP32 graphs, a folder with the same
    two graphs as `stylize export -o DIR` wrote them), exported once per session. The store is a
    copy: graphs in ``magenta_store`` would change what ``--backend auto`` picks elsewhere."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    import shutil

    from stylize.cli import main
    from stylize.runtime.models import find_weights
    from stylize.runtime.store import Store

    home = tmp_path_factory.mktemp("magenta_graphs_store")
    shutil.copytree(magenta_store / "weights", home / "weights")
    folder = tmp_path_factory.mktemp("magenta_graphs")
    assert main(["--home", str(home), "export", "--model", "magenta", "-o", str(folder)]) == 0
    in_store = Store(home).graph_folder(find_weights(Store(home), "magenta").model_id, "fp32")
    in_store.mkdir(parents=True)
    for name in ("style_encoder.onnx", "stylizer.onnx", "style_encoder.onnx.sha256", "stylizer.onnx.sha256"):
        shutil.copy2(folder / name, in_store / name)
    return home, folder
