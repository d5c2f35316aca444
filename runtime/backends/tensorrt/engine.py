"""``TensorRTEngine``: the two exported graphs of a model family as TensorRT engines.

The graphs are the store's (``stylize export``; the FP16 ones where they were exported, else
the FP32 ones, with a note) or those of a folder (``--graphs DIR``), and must match the
digests recorded beside them and carry the ``model_id`` of the weights asked for, as for
ONNX Runtime. For every input shape the engine
takes an engine from the store whose profile covers it (those of ``stylize build-engine``
too), else builds one on first use and keeps it there (a one-line note says so, and why
where a kept engine was stale, foreign or damaged). One execution context per engine, so
per profile; its device buffers are allocated once per shape (``runner``).

Frames: the stylizer graph takes and returns uint8 NHWC RGB, so ``stylize_uint8`` only copies
bytes to and from the GPU; ``stylize`` rounds float frames to 8 bits on the way in.

Tiled stills run ``norm_stats.onnx`` and ``stylize_tiled.onnx`` where they were exported, as
ONNX Runtime does (written to the same graphs; unverified: no TensorRT here). One engine of
the tiled stylizer serves every tile of a picture (``keys.first_use_profile``).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from ...engine import Capabilities, Engine, to_uint8
from ...errors import UserError
from ...models import FAMILIES, ModelWeights
from ...store import Store
from .. import GRAPHS, TILE_GRAPHS, missing_graphs
from ..onnxruntime_backend import check_graph_file, check_graph_metadata
from .build import build_engine, graph_inputs
from .keys import (
    REBUILD,
    Profile,
    Shape3,
    choose_engine,
    covers,
    cudart_or_error,
    device_index,
    first_use_profile,
    gpu_info,
    kept_engines,
    load_checked,
    onnx_or_error,
    parse_shapes,
    profile_text,
    read_record,
    tensorrt_or_error,
)
from .runner import NotDeserialised, TrtRunner

log = logging.getLogger(__name__)


def graph_folder(store: Store, weights: ModelWeights, precision: str | None = None, folder: str | os.PathLike[str] | None = None) -> Path:
    """The folder whose graphs the engine builds from: ``folder`` where given; else the
    store's graphs of ``precision``, or (None) the FP16 ones where exported, else the FP32
    ones with a note that FP16 graphs can be exported."""
    family = weights.family
    if folder is not None:
        folder = Path(folder)
        missing = missing_graphs(folder)
        if missing:
            raise UserError(f"{', '.join(missing)} not found in {folder}; write them with `stylize export --model {family} -o {folder}`")
        return folder
    exported = {p: all((store.graph_folder(weights.model_id, p) / f"{g}.onnx").is_file() for g in GRAPHS) for p in ("fp16", "fp32")}
    if precision is not None:
        if not exported[precision]:
            fp16 = " --fp16" if precision == "fp16" else ""
            raise UserError(f"no exported {precision.upper()} {family} graphs in the store; run `stylize export --model {family}{fp16}` first")
        return store.graph_folder(weights.model_id, precision)
    if exported["fp16"]:
        return store.graph_folder(weights.model_id, "fp16")
    if exported["fp32"]:
        log.info("TensorRT builds from the FP32 graphs: `stylize export --model %s --fp16` writes FP16 ones", family)
        return store.graph_folder(weights.model_id, "fp32")
    raise UserError(f"no exported {family} graphs in the store; run `stylize export --model {family} --fp16` first")


class TensorRTEngine(Engine):
    backend = "tensorrt"

    def __init__(
        self,
        store: Store,
        weights: ModelWeights,
        device: str = "auto",
        precision: str | None = None,
        folder: str | os.PathLike[str] | None = None,
    ) -> None:
        """``precision``: fp16 or fp32 graphs of the store (default: fp16 where exported);
        ``folder``: the graphs of ``stylize export -o DIR`` instead."""
        self.device_index = device_index(device)
        trt = tensorrt_or_error()
        onnx_or_error()
        cudart_or_error()
        self.gpu = gpu_info(self.device_index)
        self.tensorrt_version = str(trt.__version__)
        self.store = store
        self.weights = weights
        self.folder = graph_folder(store, weights, precision, folder)
        self.paths = {g: self.folder / f"{g}.onnx" for g in GRAPHS}
        self.onnx_sha256 = {}
        meta = {}
        for name, path in self.paths.items():
            self.onnx_sha256[name] = check_graph_file(weights, path, self.folder.name, folder)
            meta[name], _ = graph_inputs(path)
            check_graph_metadata(weights, name, path, meta[name])
        if meta["stylizer"].get("input_dtype") != "uint8":
            raise UserError(
                f"{self.paths['stylizer']} takes {meta['stylizer'].get('input_dtype')} frames: the tensorrt backend runs "
                "stylizer graphs with uint8 NHWC frames (the default of `stylize export`)"
            )
        self.precision = meta["stylizer"].get("precision", "fp32")
        self.backend = f"tensorrt-{self.precision}"
        self._folder_arg = folder
        tile_paths = {g: self.folder / f"{g}.onnx" for g in TILE_GRAPHS}
        tiles = FAMILIES[weights.family].tile_multiple is not None and all(p.is_file() for p in tile_paths.values())
        if tiles:
            self.paths.update(tile_paths)  # checked on first use (``_tile_runner``)
        self.capabilities = Capabilities(uint8_frames=True, device=f"cuda:{self.device_index}" if self.device_index else "cuda", tiles=tiles)
        self._runners: dict[str, dict[Profile, TrtRunner]] = {g: {} for g in (*GRAPHS, *TILE_GRAPHS)}
        self._lock = threading.Lock()  # one execution context is not to be run from two threads at once

    # engines ----------------------------------------------------------------------------
    def _runner(self, graph: str, shape: Shape3) -> TrtRunner:
        """The open engine whose profile covers ``shape``; else one from the store; else one
        built now and kept there."""
        for profile, runner in self._runners[graph].items():
            if covers(profile, shape):
                return runner
        onnx_path = self.paths[graph]
        path, why = choose_engine(
            kept_engines(self.store, self.weights.model_id), graph, onnx_path, self.onnx_sha256[graph], self.gpu, self.tensorrt_version, shape
        )
        runner = None
        if path is not None:
            try:
                data = load_checked(path, onnx_path, self.gpu, self.tensorrt_version)
            except UserError as e:  # damaged since it was chosen
                why = str(e).removesuffix(f"; {REBUILD}")
            else:
                try:
                    runner = TrtRunner(data, self.device_index)
                except NotDeserialised as e:
                    why = f"{e} {path.name}"
                else:
                    profile = parse_shapes(str((read_record(path) or {}).get("profile")), "profile")
        if runner is None:
            profile = first_use_profile(graph, self.weights.family, shape)
            what = f"the TensorRT engine of the {self.weights.family} {graph} ({self.precision}) for {profile_text(profile)} on {self.gpu.name}"
            log.info("%sbuilding %s (once: it is kept in the store)", f"{why}; " if why else "", what)
            path = build_engine(self.store, onnx_path, profile, gpu=self.gpu, rebuild=True)
            runner = TrtRunner(load_checked(path, onnx_path, self.gpu, self.tensorrt_version), self.device_index)
        self._runners[graph][profile] = runner
        return runner

    def close(self) -> None:
        """Free the engines' GPU memory (the engine cannot run afterwards)."""
        with self._lock:
            for runners in self._runners.values():
                for runner in runners.values():
                    runner.close()
                runners.clear()

    # tiles ------------------------------------------------------------------------------
    def tiles_refusal(self) -> str:
        if FAMILIES[self.weights.family].tile_multiple is None:
            return f"the {self.weights.family} model cannot stylise a picture in tiles; use --tile off and a size within --max-pixels"
        return (
            f"the graphs in {self.folder} were exported without the graphs of tiled stills ({' and '.join(f'{g}.onnx' for g in TILE_GRAPHS)}); "
            f"export them again with `stylize export --model {self.weights.family}"
            + (f" -o {self._folder_arg}`" if self._folder_arg else (" --fp16`" if self.precision == "fp16" else "`"))
        )

    def _tile_run(self, graph: str, shape: Shape3, **values: np.ndarray) -> np.ndarray:
        """Run a tile graph (checked, as the others, before its first engine is built)."""
        if not self.capabilities.tiles:
            raise UserError(self.tiles_refusal())
        with self._lock:
            if graph not in self.onnx_sha256:
                path = self.paths[graph]
                self.onnx_sha256[graph] = check_graph_file(self.weights, path, self.folder.name, self._folder_arg)
                meta, _ = graph_inputs(path)
                check_graph_metadata(self.weights, graph, path, meta)
            runner = self._runner(graph, shape)
            out = runner({name: values[name] for name in runner.inputs})
        return out[runner.outputs[0]]

    def norm_stats(self, content: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(content, dtype=np.float32).transpose(2, 0, 1)[None])
        vec = np.asarray(style, dtype=np.float32).reshape(1, *FAMILIES[self.weights.family].style_vector_shape)
        return self._tile_run("norm_stats", (1, x.shape[2], x.shape[3]), content=x, style_vector=vec, alpha=np.array([alpha], np.float32))[0]

    def stylize_tiles(self, tiles: np.ndarray, style: np.ndarray, alpha: float, stats: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(tiles, dtype=np.float32).transpose(0, 3, 1, 2))
        vec = np.asarray(style, dtype=np.float32).reshape(1, *FAMILIES[self.weights.family].style_vector_shape)
        feeds = {"frames": x, "style_vector": vec, "alpha": np.array([alpha], np.float32), "stats": np.asarray(stats, np.float32).reshape(1, -1)}
        out = self._tile_run("stylize_tiled", x.shape[:1] + x.shape[2:], **feeds)
        return np.ascontiguousarray(out.transpose(0, 2, 3, 1))

    # Engine -----------------------------------------------------------------------------
    def encode_style(self, style: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(style, dtype=np.float32).transpose(2, 0, 1)[None])
        with self._lock:
            runner = self._runner("style_encoder", (1, x.shape[2], x.shape[3]))
            out = runner({runner.inputs[0]: x})
        return out[runner.outputs[0]][0]

    def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        out = self.stylize_uint8(to_uint8(np.asarray(frames, dtype=np.float32)), style, alpha)
        return out.astype(np.float32) / np.float32(255.0)

    def stylize_uint8(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """uint8 RGB NHWC frames -> uint8 RGB NHWC frames (the host only copies bytes)."""
        if frames.dtype != np.uint8:
            raise TypeError(f"stylize_uint8 takes uint8 frames, got {frames.dtype}")
        n, h, w = frames.shape[:3]
        vec = np.asarray(style, dtype=np.float32).reshape(1, *FAMILIES[self.weights.family].style_vector_shape)
        feeds = {"frames": frames, "style_vector": vec, "alpha": np.array([alpha], np.float32)}
        with self._lock:
            runner = self._runner("stylizer", (n, h, w))
            out = runner(feeds)
        return out[runner.outputs[0]]
