"""The ONNX Runtime engine: the two exported graphs of a model family behind the Engine protocol.

Torch-free. The graphs come from ``stylize export`` (``ROOT/onnx/MODEL_ID/PRECISION/``),
and must carry the ``model_id`` of the weights asked for: graphs exported from other
weights are refused, never run, and so are graphs whose bytes are not those recorded
beside them when they were exported (``check_graph_file``).

Execution provider: CUDA where ``onnxruntime-gpu`` is installed and a GPU is really usable,
else CPU. ONNX Runtime falls back to CPU silently when the CUDA provider cannot load (missing
CUDA / cuDNN libraries, no device); the engine compares the providers the session really got
with those it asked for and exposes the one in use as ``engine.provider``. With
``device="cuda"`` a fall-back is an error; with ``device="auto"`` it is reported once on stderr.

Frames: ``stylize()`` takes and returns float32 RGB in [0, 1], NHWC (``runtime.engine``).
The default stylizer graph takes uint8 NHWC frames (export/README.md), so ``stylize()``
rounds to 8 bits on the way in and out; ``stylize_uint8()`` is the copy-only path for 8-bit
frames (capture, video), which is what the graph was made for. A float-NCHW graph
(``stylize export --frames float-nchw``) is run as it is.

Tiled stills (``runtime.tiles``) run two more graphs, ``norm_stats.onnx`` and
``stylize_tiled.onnx`` (float frames), loaded on first use; graphs exported by a version that
did not write them leave ``capabilities.tiles`` off, and tiling is refused in one line that
names the command exporting them.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..cores import cpu_cores
from ..engine import Capabilities, Engine, to_uint8
from ..errors import UserError
from ..models import FAMILIES, ModelWeights
from ..store import Store, check_graph
from . import TILE_GRAPHS

log = logging.getLogger(__name__)
GRAPHS = ("style_encoder", "stylizer")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def session_options(threads: int | None = None) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or cpu_cores()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # errors only: its optimiser's notes would break our one-line output
    return so


def choose_providers(device: str = "auto") -> list[str]:
    """The providers to ask for: CUDA first where this onnxruntime build has it."""
    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"unknown device {device!r} for the onnxruntime backend: auto, cpu or cuda")
    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise UserError(
            f"--device cuda: this onnxruntime ({ort.__version__}) has no CUDA provider "
            f"(available: {', '.join(available)}); install onnxruntime-gpu"
        )
    return [CPU]


def open_session(path: Path, providers: list[str], threads: int | None = None) -> tuple[ort.InferenceSession, str]:
    """An InferenceSession and the provider it really uses (first of ``get_providers()``)."""
    try:
        with warnings.catch_warnings():  # the fall-back is detected and reported by the caller
            warnings.simplefilter("ignore")
            session = ort.InferenceSession(str(path), session_options(threads), providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise UserError(f"cannot load ONNX graph {path}: {str(e).splitlines()[0]}") from None
    return session, session.get_providers()[0]


def read_metadata(session: ort.InferenceSession) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


def graph_metadata(path: Path) -> dict[str, str]:
    """The metadata ``stylize export`` wrote into a graph (family, graph, model_id, ...),
    read by ONNX Runtime without optimising the graph; UserError for a file it cannot load."""
    so = session_options(1)
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), so, providers=[CPU])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise UserError(f"cannot load ONNX graph {path}: {str(e).splitlines()[0]}") from None
    return read_metadata(session)


def check_graph_metadata(weights: ModelWeights, name: str, path: Path, meta: dict[str, str]) -> None:
    """A graph runs only as the graph ``name`` of exactly ``weights`` (docs/architecture.md,
    "Artifacts"): one of another family, or exported from other weights, is refused."""
    if meta.get("family") != weights.family or meta.get("graph") != name:
        raise UserError(f"{path} is not the {weights.family} {name} graph (its metadata says {meta.get('family')} {meta.get('graph')})")
    if meta.get("model_id") != weights.model_id:
        raise UserError(
            f"{path} was exported from other weights ({meta.get('model_id')}, installed: {weights.model_id}); "
            f"run `stylize export --model {weights.family}` again"
        )


def export_command(family: str, precision: str = "fp32", folder: str | os.PathLike[str] | None = None) -> str:
    """The command that writes a model's graphs again: into the store, or into ``folder``."""
    if folder is not None:
        return f"stylize export --model {family} -o {folder}"
    return f"stylize export --model {family}" + (" --fp16" if precision == "fp16" else "")


def check_graph_file(weights: ModelWeights, path: Path, precision: str = "fp32", folder: str | os.PathLike[str] | None = None) -> str:
    """A graph's SHA-256, once compared with the digest ``stylize export`` recorded beside it
    (docs/architecture.md, "Digests"): the store's graphs must have one, those of a folder
    (``folder``) are checked where they do; a damaged one is refused in one line naming the
    command that writes it again."""
    return check_graph(path, export_command(weights.family, precision, folder), required=folder is None)


class OnnxRuntimeEngine(Engine):
    backend = "onnxruntime"

    def __init__(
        self,
        store: Store,
        weights: ModelWeights,
        device: str = "auto",
        precision: str = "fp32",
        folder: str | os.PathLike[str] | None = None,
        threads: int | None = None,
    ) -> None:
        self.weights = weights
        self.precision = precision
        self.folder = Path(folder) if folder else store.graph_folder(weights.model_id, precision)
        paths = {name: self.folder / f"{name}.onnx" for name in GRAPHS}
        missing = [p.name for p in paths.values() if not p.is_file()]
        if missing:
            fp16 = " --fp16" if precision == "fp16" else ""
            raise UserError(
                f"no exported {weights.family} graphs ({', '.join(missing)} missing in {self.folder}); "
                f"run `stylize export --model {weights.family}{fp16}` first"
            )
        requested = choose_providers(device)
        self.sessions = {}
        used = set()
        for name, path in paths.items():
            check_graph_file(weights, path, precision, folder)
            session, provider = open_session(path, requested, threads)
            self._check_metadata(name, path, read_metadata(session))
            self.sessions[name] = session
            used.add(provider)
        self.provider = CPU if CPU in used else requested[0]
        self.fell_back = requested[0] != CPU and self.provider == CPU
        if self.fell_back:
            msg = f"onnxruntime could not use {requested[0]} (no usable GPU or CUDA libraries); running on CPU"
            if device == "cuda":
                raise UserError(msg.replace("; running on CPU", ""))
            log.warning(msg)
        stylizer = self.sessions["stylizer"]
        self._inputs = {i.name: i for i in stylizer.get_inputs()}
        self.frames_uint8 = self._inputs["frames"].type == "tensor(uint8)"
        device_name = "cuda" if self.provider == CUDA else "cpu"
        self._folder_arg, self._providers, self._threads = folder, requested, threads
        self.tile_paths = {name: self.folder / f"{name}.onnx" for name in TILE_GRAPHS}
        tiles = FAMILIES[weights.family].tile_multiple is not None and all(p.is_file() for p in self.tile_paths.values())
        self.capabilities = Capabilities(uint8_frames=self.frames_uint8, device=device_name, tiles=tiles)

    def _check_metadata(self, name: str, path: Path, meta: dict[str, str]) -> None:
        check_graph_metadata(self.weights, name, path, meta)

    # Engine -----------------------------------------------------------------------------
    def encode_style(self, style: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(style, dtype=np.float32).transpose(2, 0, 1)[None])
        return self.sessions["style_encoder"].run(None, {"style": x})[0][0]

    def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        frames = np.asarray(frames, dtype=np.float32)
        if self.frames_uint8:
            return self.stylize_uint8(to_uint8(frames), style, alpha).astype(np.float32) / np.float32(255.0)
        x = np.ascontiguousarray(frames.transpose(0, 3, 1, 2))
        out = self._run(x, style, alpha)
        return np.ascontiguousarray(out.transpose(0, 2, 3, 1))

    def stylize_uint8(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """uint8 RGB NHWC frames -> uint8 RGB NHWC frames (the host only copies bytes)."""
        if frames.dtype != np.uint8:
            raise TypeError(f"stylize_uint8 takes uint8 frames, got {frames.dtype}")
        if not self.frames_uint8:
            return super().stylize_uint8(frames, style, alpha)
        return self._run(np.ascontiguousarray(frames), style, alpha)

    # tiles ------------------------------------------------------------------------------
    def tiles_refusal(self) -> str:
        if FAMILIES[self.weights.family].tile_multiple is None:
            return f"the {self.weights.family} model cannot stylise a picture in tiles; use --tile off and a size within --max-pixels"
        missing = " and ".join(p.name for p in self.tile_paths.values() if not p.is_file())
        return (
            f"the graphs in {self.folder} were exported without the graphs of tiled stills ({missing} missing); "
            f"run `{export_command(self.weights.family, self.precision, self._folder_arg)}` again"
        )

    def _tile_session(self, name: str) -> ort.InferenceSession:
        """A tile graph's session, opened (and checked as the others) on first use."""
        if name not in self.sessions:
            if not self.capabilities.tiles:
                raise UserError(self.tiles_refusal())
            path = self.tile_paths[name]
            check_graph_file(self.weights, path, self.precision, self._folder_arg)
            session, _ = open_session(path, self._providers, self._threads)
            self._check_metadata(name, path, read_metadata(session))
            self.sessions[name] = session
        return self.sessions[name]

    def _tile_feeds(self, session: ort.InferenceSession, **values: np.ndarray) -> dict[str, np.ndarray]:
        """The inputs the graph declares, and only those (an exporter may drop an input the
        graph leaves unused, as AdaIN's statistics leave the style and alpha)."""
        return {i.name: values[i.name] for i in session.get_inputs()}

    def _vector(self, style: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(style, dtype=np.float32).reshape(1, *FAMILIES[self.weights.family].style_vector_shape))

    def norm_stats(self, content: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        session = self._tile_session("norm_stats")
        x = np.ascontiguousarray(np.asarray(content, dtype=np.float32).transpose(2, 0, 1)[None])
        feeds = self._tile_feeds(session, content=x, style_vector=self._vector(style), alpha=np.array([alpha], np.float32))
        return session.run(None, feeds)[0][0]

    def stylize_tiles(self, tiles: np.ndarray, style: np.ndarray, alpha: float, stats: np.ndarray) -> np.ndarray:
        session = self._tile_session("stylize_tiled")
        x = np.ascontiguousarray(np.asarray(tiles, dtype=np.float32).transpose(0, 3, 1, 2))
        feeds = self._tile_feeds(
            session, frames=x, style_vector=self._vector(style), alpha=np.array([alpha], np.float32),
            stats=np.ascontiguousarray(np.asarray(stats, dtype=np.float32).reshape(1, -1)),
        )  # fmt: skip
        return np.ascontiguousarray(session.run(None, feeds)[0].transpose(0, 2, 3, 1))

    def _run(self, frames: np.ndarray, style: np.ndarray, alpha: float) -> np.ndarray:
        # one style vector for the whole batch: [1, ...]
        vec = np.ascontiguousarray(np.asarray(style, dtype=np.float32).reshape(1, *FAMILIES[self.weights.family].style_vector_shape))
        feeds = {"frames": frames, "style_vector": vec, "alpha": np.array([alpha], np.float32)}
        return self.sessions["stylizer"].run(None, feeds)[0]
