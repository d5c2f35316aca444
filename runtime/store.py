"""The on-disk layout of everything stylize keeps: weights, ONNX graphs, engines, style vectors.

This is the only module that knows the layout. The root is, in order: an explicit
``--home``, the ``STYLIZE_HOME`` environment variable, or the platform's user cache folder
(``~/.cache/stylize`` on Linux)::

    ROOT/weights/NAME.safetensors      tensors (safetensors, numpy API: no torch needed)
    ROOT/weights/NAME.json             {name, layout, sha256, source, source_sha256, ...}
    ROOT/onnx/MODEL_ID/PRECISION/      exported graphs (style_encoder.onnx, stylizer.onnx)
    ROOT/engines/MODEL_ID/NAME.engine  TensorRT engines, each with its record NAME.json
    ROOT/engines/timing-NAME.cache     TensorRT timing caches (one per GPU and TensorRT version)
    ROOT/compiled/MODEL_ID/NAME.pt2    PyTorch engines compiled ahead of time (AOTInductor), per shape
    ROOT/compiled/inductor/            torch.compile's own caches (Inductor, Triton)
    ROOT/styles/MODEL_ID/IMAGE_SHA.npy             cached style vectors (MODEL_ID names the weights)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import platformdirs
from safetensors.numpy import load_file, save_file

from .errors import UserError
from .files import atomic_output

ENV_VAR = "STYLIZE_HOME"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def default_root() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()

    return Path(platformdirs.user_cache_dir("stylize", appauthor=False))


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_array(array: np.ndarray) -> str:
    """Hash of an image's pixels (shape and dtype included): the style cache key."""
    h = hashlib.sha256()
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class WeightsRecord:
    name: str
    layout: str
    sha256: str
    path: Path
    source: str = ""
    source_sha256: str = ""
    created: float = 0.0

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["path"] = self.path.name
        return d


class Store:
    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root else default_root()

    # folders -----------------------------------------------------------------------
    def _dir(self, *parts: str) -> Path:
        d = self.root.joinpath(*parts)
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def weights_dir(self) -> Path:
        return self._dir("weights")

    @property
    def onnx_dir(self) -> Path:
        return self._dir("onnx")

    def graph_folder(self, model_id: str, precision: str = "fp32") -> Path:
        """Where ``stylize export`` puts a model's two ONNX graphs."""
        return self.root / "onnx" / model_id / precision

    @property
    def engines_dir(self) -> Path:
        return self._dir("engines")

    def engine_folder(self, model_id: str) -> Path:
        """Where the TensorRT engines of a model's graphs are kept (not created here)."""
        return self.root / "engines" / model_id

    def engine_path(self, model_id: str, name: str) -> Path:
        return self.engine_folder(model_id) / f"{name}.engine"

    def engine_paths(self, model_id: str) -> list[Path]:
        """Every engine kept for ``model_id`` (any graph, GPU, TensorRT version or profile)."""
        folder = self.engine_folder(model_id)
        return sorted(folder.glob("*.engine")) if folder.is_dir() else []

    @staticmethod
    def engine_record_path(engine: Path) -> Path:
        """The JSON record beside an engine: what it was built from, for and with."""
        return engine.with_suffix(".json")

    def timing_cache_path(self, name: str) -> Path:
        return self.engines_dir / f"timing-{name}.cache"

    def compiled_path(self, model_id: str, name: str) -> Path:
        """A compiled PyTorch stylizer (AOTInductor package) of a model's weights (folder not created here)."""
        return self.root / "compiled" / model_id / f"{name}.pt2"

    @property
    def inductor_cache_dir(self) -> Path:
        """Where torch.compile keeps its Inductor and Triton caches, so a new process reuses them."""
        return self._dir("compiled", "inductor")

    # weights -----------------------------------------------------------------------
    @staticmethod
    def check_name(name: str) -> str:
        if not _NAME_RE.match(name):
            raise UserError(f"invalid weights name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
        return name

    def put_weights(
        self,
        name: str,
        tensors: dict[str, np.ndarray],
        *,
        layout: str,
        source: str = "",
        source_sha256: str = "",
    ) -> WeightsRecord:
        """Write tensors as safetensors (atomically) and record their layout and SHA-256."""
        self.check_name(name)
        target = self.weights_dir / f"{name}.safetensors"
        arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
        with atomic_output(target) as tmp:
            save_file(arrays, str(tmp), metadata={"layout": layout, "name": name})
        record = WeightsRecord(
            name=name,
            layout=layout,
            sha256=sha256_file(target),
            path=target,
            source=source,
            source_sha256=source_sha256,
            created=time.time(),
        )
        meta = self.weights_dir / f"{name}.json"
        with atomic_output(meta) as tmp:
            tmp.write_text(json.dumps(record.to_json(), indent=2))
        return record

    def weights(self, name: str) -> WeightsRecord | None:
        meta = self.root / "weights" / f"{name}.json"
        data_file = self.root / "weights" / f"{name}.safetensors"
        if not (meta.is_file() and data_file.is_file()):
            return None
        try:
            d = json.loads(meta.read_text())
            return WeightsRecord(
                name=d["name"],
                layout=d["layout"],
                sha256=d["sha256"],
                path=data_file,
                source=d.get("source", ""),
                source_sha256=d.get("source_sha256", ""),
                created=float(d.get("created", 0.0)),
            )
        except (ValueError, KeyError) as e:
            raise UserError(f"the store's record {meta} is damaged ({e}); import the weights again") from None

    def list_weights(self) -> list[WeightsRecord]:
        folder = self.root / "weights"
        if not folder.is_dir():
            return []
        records = [self.weights(p.stem) for p in sorted(folder.glob("*.json"))]
        return [r for r in records if r is not None]

    def load_weights(self, name: str) -> tuple[WeightsRecord, dict[str, np.ndarray]]:
        record = self.weights(name)
        if record is None:
            raise UserError(f"weights {name!r} are not in the store ({self.root})")
        try:
            return record, load_file(str(record.path))
        except Exception as e:  # safetensors raises its own error types for damaged files
            raise UserError(f"weights file {record.path} is damaged ({e}); import it again") from None

    # style vectors -----------------------------------------------------------------
    def style_vector_path(self, model_id: str, image_sha256: str) -> Path:
        return self.root / "styles" / model_id / f"{image_sha256}.npy"

    def load_style_vector(self, model_id: str, image_sha256: str) -> np.ndarray | None:
        path = self.style_vector_path(model_id, image_sha256)
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError):
            return None  # a damaged cache entry is recomputed, never trusted

    def save_style_vector(self, model_id: str, image_sha256: str, vector: np.ndarray) -> Path:
        path = self.style_vector_path(model_id, image_sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(vector, dtype=np.float32), allow_pickle=False)
        return path
