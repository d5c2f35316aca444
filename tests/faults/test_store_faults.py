"""Faults of the store: damaged weights, graphs and cached style vectors, a digest of the
tensors alone, store folders in the way, permissions whatever the umask.

Every case asserts the exit code, one line on stderr where it fails, no hidden partial files
left behind, and a store that works again afterwards (after the repair command the message
names, or by itself where the damage is to the cache).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from conftest import MAGENTA_TFLITE, MAGENTA_WEIGHTS, one_line_error, rng_image, run_cli

pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert", reason="reading .tflite files needs ai-edge-litert (the [tflite] extra)")

from stylize.runtime.models import FAMILIES, find_weights  # noqa: E402
from stylize.runtime.store import Store, graph_digest_path, sha256_file  # noqa: E402

PREDICTOR, TRANSFORMER = ((MAGENTA_WEIGHTS / f).resolve() for f in MAGENTA_TFLITE)
GRAPHS = ("style_encoder.onnx", "stylizer.onnx")


# --------------------------------------------------------------------------- helpers
@pytest.fixture()
def home(magenta_graphs: tuple[Path, Path], tmp_path: Path) -> Path:
    """A store of its own to damage: a copy of the Magenta weights and their exported FP32
    graphs (ONNX Runtime runs them some 30 times faster than torch on the CPU; the torch
    engine runs where the weights files themselves are what is damaged)."""
    for folder in ("weights", "onnx"):
        shutil.copytree(magenta_graphs[0] / folder, tmp_path / "store" / folder)
    return tmp_path / "store"


@pytest.fixture()
def images(data_dir: Path) -> tuple[Path, Path]:
    return data_dir / "content" / "adain__cornell.jpg", data_dir / "styles" / "msgnet21__starry_night.jpg"


def image(capsys: pytest.CaptureFixture[str], home: Path, images: tuple[Path, Path], out: Path, *extra: str | Path, backend: str = "onnxruntime"):  # noqa: ANN201
    content, style = images
    return run_cli(capsys, "--home", home, "image", content, "--style", style, "--size", "64", "--style-size", "64", "--backend", backend, "-o", out, *extra)


def works(capsys: pytest.CaptureFixture[str], home: Path, images: tuple[Path, Path], out: Path, backend: str = "onnxruntime") -> np.ndarray:
    """A following run succeeds; its picture."""
    from PIL import Image

    code, _, err = image(capsys, home, images, out, backend=backend)
    assert code == 0, err
    return np.asarray(Image.open(out))


def no_partials(*folders: Path) -> None:
    left = [p for folder in folders for p in folder.rglob(".*") if "partial" in p.name or p.name.startswith(".compiling")]
    assert not left, left


def graph_folder(home: Path) -> Path:
    store = Store(home)
    return store.graph_folder(find_weights(store, "magenta").model_id, "fp32")


def damage(path: Path, offset_fraction: float = 0.5, n: int = 4096) -> None:
    """Random bytes written into the middle of a file (its size unchanged)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(int(size * offset_fraction))
        f.write(np.random.default_rng(0).integers(0, 256, min(n, size // 4), dtype=np.uint8).tobytes())


def reimport(capsys: pytest.CaptureFixture[str], home: Path, *files: Path) -> None:
    code, _, err = run_cli(capsys, "--home", home, "weights", "import", *files)
    assert code == 0, err


def cached_vectors(home: Path) -> list[Path]:
    return sorted((home / "styles").rglob("*.npy")) if (home / "styles").is_dir() else []


# --------------------------------------------------------------------------- weights
@pytest.mark.parametrize("how", ["random bytes", "truncated", "emptied", "appended"])
def test_damaged_weights_file_is_refused_until_imported_again(how: str, home: Path, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    target = home / "weights" / "magenta-transformer.safetensors"
    if how == "random bytes":
        damage(target)
    elif how == "truncated":
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 3])
    elif how == "emptied":
        target.write_bytes(b"")
    else:
        with open(target, "ab") as f:
            f.write(b"\0" * 100)
    out = tmp_path / "o.png"
    code, _, err = image(capsys, home, images, out, backend="torch")  # the engine that loads the weights
    line = one_line_error(err)
    assert code == 2 and str(target) in line and "damaged" in line, line
    assert f"stylize weights import {TRANSFORMER}`" in line  # the file it came from: the repair
    assert not out.exists()
    reimport(capsys, home, TRANSFORMER)
    if how == "random bytes":
        works(capsys, home, images, out, backend="torch")
    assert Store(home).load_weights("magenta-transformer")[1]  # what the torch engine loads
    works(capsys, home, images, out)  # the same key: the exported graphs are still found
    no_partials(home, tmp_path)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"name": "magenta-transformer"}', "sha"])
def test_damaged_weights_record_is_one_line(content: str, home: Path, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    meta = home / "weights" / "magenta-transformer.json"
    if content == "sha":  # valid JSON, a digest that is not one
        d = json.loads(meta.read_text())
        content = json.dumps({**d, "sha256": "zz"})
    meta.write_text(content)
    code, _, err = image(capsys, home, images, tmp_path / "o.png")
    line = one_line_error(err)
    assert code == 2 and str(meta) in line and "damaged" in line and "stylize weights import" in line, line
    code, _, err = run_cli(capsys, "--home", home, "weights", "list")
    assert code == 2 and str(meta) in one_line_error(err)
    reimport(capsys, home, TRANSFORMER)
    works(capsys, home, images, tmp_path / "o.png")
    no_partials(home, tmp_path)


def test_same_weights_imported_twice_keep_their_key_and_graphs(home: Path, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """The safetensors header's key order differs between writes; the key does not."""
    store = Store(home)
    before = find_weights(store, "magenta")
    reimport(capsys, home, PREDICTOR, TRANSFORMER)
    reimport(capsys, home, PREDICTOR, TRANSFORMER)
    after = find_weights(store, "magenta")
    assert {role: r.sha256 for role, r in after.records.items()} == {role: r.sha256 for role, r in before.records.items()}
    assert after.model_id == before.model_id
    for role, record in after.records.items():  # each record's file digest is of the file as written now
        assert record.file_sha256 == sha256_file(record.path)
    works(capsys, home, images, tmp_path / "o.png")  # the exported graphs are still found
    no_partials(home, tmp_path)


def test_reimport_replaces_a_damaged_file_atomically(home: Path, capsys) -> None:  # noqa: ANN001
    target = home / "weights" / "magenta-predictor.safetensors"
    target.write_bytes(b"\xff" * 1000)
    target.chmod(0o444)  # not writable: replaced by a rename, not written into
    reimport(capsys, home, PREDICTOR)
    record, tensors = Store(home).load_weights("magenta-predictor")
    assert record.file_sha256 == sha256_file(target) and tensors
    assert not stat.S_IMODE(target.stat().st_mode) & 0o022
    no_partials(home)


def test_record_of_an_earlier_version_is_rekeyed(home: Path, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A record whose sha256 is the file's digest (no file_sha256): checked against its file,
    keyed by the tensors' digest, rewritten; a damaged file under such a record is refused."""
    meta = home / "weights" / "magenta-predictor.json"
    record = json.loads(meta.read_text())
    tensors_digest = record["sha256"]
    old = {k: v for k, v in record.items() if k != "file_sha256"}
    meta.write_text(json.dumps({**old, "sha256": record["file_sha256"]}))
    works(capsys, home, images, tmp_path / "o.png")
    rewritten = json.loads(meta.read_text())
    assert rewritten["sha256"] == tensors_digest and rewritten["file_sha256"] == record["file_sha256"]
    meta.write_text(json.dumps({**old, "sha256": record["file_sha256"]}))
    damage(home / "weights" / "magenta-predictor.safetensors")
    code, _, err = image(capsys, home, images, tmp_path / "p.png")
    assert code == 2 and "magenta-predictor.safetensors is damaged" in one_line_error(err)
    reimport(capsys, home, PREDICTOR)
    works(capsys, home, images, tmp_path / "p.png")
    no_partials(home, tmp_path)


def test_style_cache_key_follows_the_weights_content(home: Path, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    store = Store(home)
    works(capsys, home, images, tmp_path / "a.png", backend="torch")
    first = find_weights(store, "magenta").model_id
    record, tensors = store.load_weights("magenta-transformer")
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] * np.float32(1.01)  # other weights, same name
    store.put_weights("magenta-transformer", tensors, layout=record.layout, source=record.source)
    second = find_weights(store, "magenta").model_id
    assert second != first
    works(capsys, home, images, tmp_path / "b.png", backend="torch")
    assert {p.parent.name for p in cached_vectors(home)} == {first, second}
    no_partials(home, tmp_path)


# --------------------------------------------------------------------------- exported graphs
@pytest.mark.parametrize("graph", GRAPHS)
def test_damaged_graph_is_refused_until_exported_again(graph: str, home: Path, magenta_graphs, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    target = graph_folder(home) / graph
    damage(target)
    out = tmp_path / "o.png"
    code, _, err = image(capsys, home, images, out)
    line = one_line_error(err)
    assert code == 2 and str(target) in line and "damaged" in line and "`stylize export --model magenta`" in line, line
    assert not out.exists()
    _export_again(graph_folder(home), magenta_graphs[1])
    works(capsys, home, images, out)
    no_partials(home, tmp_path)


def _export_again(folder: Path, pristine: Path) -> None:
    """What `stylize export` writes (save_graphs: each graph and its digest), from graphs
    exported before (the export itself takes a minute on a CPU)."""
    onnx = pytest.importorskip("onnx")
    from stylize.export.onnx_export import ExportedGraphs, save_graphs

    models = {name.removesuffix(".onnx"): onnx.load(str(pristine / name)) for name in GRAPHS}
    save_graphs(ExportedGraphs("magenta", "fp32", "uint8-nhwc", models), folder)


def test_truncated_graph_is_refused(home: Path, magenta_graphs, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    target = graph_folder(home) / "stylizer.onnx"
    target.write_bytes(target.read_bytes()[:1000])
    code, _, err = image(capsys, home, images, tmp_path / "o.png")
    assert code == 2 and f"{target} is damaged" in one_line_error(err)
    _export_again(graph_folder(home), magenta_graphs[1])
    works(capsys, home, images, tmp_path / "o.png")


def test_graph_replaced_by_another_valid_graph_is_refused(home: Path, magenta_graphs, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """Another graph in its place (here: the same graph claiming other weights): its bytes are
    not those recorded; with its own digest beside it, its metadata refuses it."""
    onnx = pytest.importorskip("onnx")
    folder = graph_folder(home)
    model = onnx.load(str(folder / "stylizer.onnx"))
    for prop in model.metadata_props:
        if prop.key == "model_id":
            prop.value = "magenta-0000000000000000"
    onnx.save_model(model, str(folder / "stylizer.onnx"))
    code, _, err = image(capsys, home, images, tmp_path / "o.png")
    assert code == 2 and "is damaged or replaced" in one_line_error(err)
    from stylize.runtime.store import record_graph_digest

    record_graph_digest(folder / "stylizer.onnx")  # a consistent pair from other weights
    code, _, err = image(capsys, home, images, tmp_path / "o.png")
    assert code == 2 and "was exported from other weights" in one_line_error(err)
    _export_again(folder, magenta_graphs[1])
    works(capsys, home, images, tmp_path / "o.png")
    no_partials(home, tmp_path)


@pytest.mark.parametrize("how", ["missing", "garbage", "a folder"])
def test_store_graph_without_a_readable_digest_is_refused(how: str, home: Path, magenta_graphs, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    digest = graph_digest_path(graph_folder(home) / "style_encoder.onnx")
    digest.unlink()
    if how == "garbage":
        digest.write_bytes(b"\xff\xfe not a digest")
    elif how == "a folder":
        digest.mkdir()
    code, _, err = image(capsys, home, images, tmp_path / "o.png")
    line = one_line_error(err)
    assert code == 2 and "style_encoder.onnx" in line and "`stylize export --model magenta`" in line, line
    if how == "a folder":
        digest.rmdir()
    _export_again(graph_folder(home), magenta_graphs[1])
    works(capsys, home, images, tmp_path / "o.png")


def test_graphs_folder_is_checked_where_it_has_digests(magenta_graphs, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    home, pristine = magenta_graphs
    folder = Path(shutil.copytree(pristine, tmp_path / "graphs"))
    out = tmp_path / "o.png"
    for graph in GRAPHS:
        damage(folder / graph)
        code, _, err = image(capsys, home, images, out, "--graphs", folder)
        line = one_line_error(err)
        assert code == 2 and f"{folder / graph} is damaged" in line and f"-o {folder}`" in line, line
        shutil.copy2(pristine / graph, folder / graph)
    for graph in GRAPHS:  # graphs copied without their digests still run
        graph_digest_path(folder / graph).unlink()
    code, _, err = image(capsys, home, images, out, "--graphs", folder)
    assert code == 0, err
    no_partials(folder, tmp_path)


# --------------------------------------------------------------------------- cached style vectors
def _vector_cases(shape: tuple[int, ...]) -> dict[str, object]:
    return {
        "nan": np.full(shape, np.nan, np.float32),
        "inf": np.full(shape, np.inf, np.float32),
        "wrong shape": np.zeros((50,), np.float32),
        "wrong dtype": np.zeros(shape, np.float64),
        "truncated": None,
        "not npy": b"garbage",
        "object array": np.array([{"a": 1}], dtype=object),
    }


@pytest.mark.parametrize("how", list(_vector_cases((100,))))
def test_bad_cached_style_vector_is_encoded_again(how: str, home: Path, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    clean = works(capsys, home, images, tmp_path / "clean.png")
    (path,) = cached_vectors(home)
    good = np.load(path)
    bad = _vector_cases(FAMILIES["magenta"].style_vector_shape)[how]
    if bad is None:
        path.write_bytes(path.read_bytes()[:60])
    elif isinstance(bad, bytes):
        path.write_bytes(bad)
    else:
        with open(path, "wb") as f:
            np.save(f, bad, allow_pickle=True)
    again = works(capsys, home, images, tmp_path / "again.png")
    np.testing.assert_array_equal(again, clean)  # the vector was encoded again, not used
    rewritten = np.load(path)
    assert rewritten.dtype == np.float32 and np.array_equal(rewritten, good)  # and the cache repaired
    no_partials(home, tmp_path)


def test_nan_vector_from_the_engine_is_not_cached(tmp_path: Path) -> None:
    from stylize.runtime.models import ModelWeights
    from stylize.runtime.store import WeightsRecord
    from stylize.runtime.style_cache import StyleCache

    class NanEngine:
        def __init__(self, weights) -> None:  # noqa: ANN001
            self.weights = weights

        def encode_style(self, style: np.ndarray) -> np.ndarray:
            return np.full(FAMILIES["magenta"].style_vector_shape, np.nan, np.float32)

    store = Store(tmp_path / "store")
    weights = ModelWeights("magenta", {"predictor": WeightsRecord("p", "magenta_predictor", "1" * 64, Path("p"))})
    cache = StyleCache(NanEngine(weights), store)
    cache.vector(rng_image(64, 64))
    assert not cached_vectors(store.root)


def test_cache_folder_replaced_by_a_file_runs_without_the_cache(home: Path, images, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    shutil.rmtree(home / "styles", ignore_errors=True)
    (home / "styles").write_text("in the way")
    out = tmp_path / "o.png"
    code, _, err = image(capsys, home, images, out, "--quiet")
    assert code == 0 and out.is_file(), err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stylize: warning: ") and "styles" in lines[0], err
    assert (home / "styles").read_text() == "in the way"
    (home / "styles").unlink()
    works(capsys, home, images, out)
    assert len(cached_vectors(home)) == 1  # the cache works again once the file is gone
    no_partials(home, tmp_path)


# --------------------------------------------------------------------------- store folders
@pytest.mark.parametrize("folder", ["weights", "home"])
def test_store_folder_replaced_by_a_file_is_one_line(folder: str, magenta_graphs, tmp_path: Path, images, capsys) -> None:  # noqa: ANN001
    home = tmp_path / "store"
    home.mkdir()
    blocker = home / "weights" if folder == "weights" else home / "nested"
    blocker.write_text("in the way")
    root = home if folder == "weights" else blocker / "store"
    code, _, err = image(capsys, root, images, tmp_path / "o.png", backend="torch")
    assert code == 2 and str(blocker) in one_line_error(err)
    code, _, err = run_cli(capsys, "--home", root, "weights", "import", PREDICTOR, TRANSFORMER)
    line = one_line_error(err)
    assert code == 2 and str(blocker) in line and "is a file" in line, line
    blocker.unlink()
    reimport(capsys, root, PREDICTOR, TRANSFORMER)
    _export_again(graph_folder(root), magenta_graphs[1])
    works(capsys, root, images, tmp_path / "o.png")
    no_partials(home, tmp_path)


def test_store_is_not_group_or_world_writable_with_umask_0(magenta_graphs, tmp_path: Path, images, capsys) -> None:  # noqa: ANN001
    home = tmp_path / "a" / "store"  # parents made by the store too
    before = os.umask(0)
    try:
        reimport(capsys, home, PREDICTOR, TRANSFORMER)
        _export_again(graph_folder(home), magenta_graphs[1])
        works(capsys, home, images, tmp_path / "o.png")
        assert Store(home).inductor_cache_dir.is_dir()  # a folder made by the store itself
    finally:
        os.umask(before)
    made = [tmp_path / "a", *sorted(home.parent.rglob("*"))]
    kinds = {p.suffix for p in made}
    assert {".safetensors", ".json", ".onnx", ".sha256", ".npy"} <= kinds, kinds
    loose = [f"{p} {oct(stat.S_IMODE(p.stat().st_mode))}" for p in made if stat.S_IMODE(p.stat().st_mode) & 0o022]
    assert not loose, loose


@pytest.mark.parametrize("payload", ["code", "object"])
def test_pickle_with_objects_is_refused_without_torchs_advice(payload: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A .pth whose pickle holds more than tensors is never unpickled: one line that says why
    and what to give instead, not torch's advice to turn the safe loader off."""
    import torch

    class Runs:
        def __reduce__(self):  # noqa: ANN204
            return (os.system, ("touch " + str(tmp_path / "ran"),))

    obj = {"decoder.weight": torch.zeros(2)}
    obj["extra"] = Runs() if payload == "code" else Path("/any/object")
    path = tmp_path / "evil.pth"
    torch.save(obj, path)
    home = tmp_path / "store"
    code, _, err = run_cli(capsys, "--home", home, "weights", "import", path)
    line = one_line_error(err)
    assert code == 2 and "holds Python objects besides tensors" in line and "weights_only" not in line
    assert not (tmp_path / "ran").exists()
    assert not list((home / "weights").glob("*")) if (home / "weights").is_dir() else True
