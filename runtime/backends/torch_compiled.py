"""Warm starts for the torch engine: stylizers compiled once and kept in the store.

``torch.compile`` compiles again in every new process (docs/architecture.md, "Traps"), so
the first CUDA frame of every run waited for it. Two ways to keep the work:

- ``AotiShapes``: AOTInductor. Each input shape is exported (``torch.export``) and
  compiled ahead of time into a package (``torch._inductor.aoti_compile_and_package``),
  saved as ``STORE/compiled/MODEL_ID/NAME.pt2``; a later process loads it
  (``aoti_load_package``) in milliseconds, with no tracing and no compiling. The name holds
  everything the compiled code depends on: the graph, the shape, precision and memory
  format, the device (GPU name and compute capability) and the torch version. alpha goes in
  as a tensor, so changing it never compiles again.
- ``use_inductor_cache``: ``torch.compile`` with Inductor's and Triton's caches pointed into
  the store; a later process still traces the model, but reuses the compiled kernels.

Torch is imported lazily, as everywhere in the runtime.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..files import use_default_permissions
from ..store import Store, make_folder

log = logging.getLogger(__name__)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()


def device_tag(torch: Any, device: Any) -> str:
    """The device compiled code is specific to: ``cpu``, or the GPU's name and compute capability."""
    if device.type != "cuda":
        return "cpu"
    major, minor = torch.cuda.get_device_capability(device)
    return f"{_slug(torch.cuda.get_device_name(device))}-sm{major}{minor}"


def package_name(graph: str, shape: tuple[int, ...], precision: str, channels_last: bool, device: str, torch_version: str) -> str:
    """``stylizer-1x720x1280-fp16-cl-nvidia-h100-80gb-hbm3-sm90-torch2.11.0``."""
    layout = "-cl" if channels_last else ""
    return f"{graph}-{'x'.join(str(v) for v in shape)}-{precision}{layout}-{device}-torch{_slug(torch_version)}"


def _tensor_alpha(torch: Any, module: Any) -> Any:
    """The stylizer with alpha as a 0-d tensor input (a Python float would be baked in)."""

    class TensorAlpha(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module

        def forward(self, frames: Any, style: Any, alpha: Any) -> Any:
            return self.module(frames, style, alpha)

    return TensorAlpha()


class AotiShapes:
    """Callable ``(frames, style, alpha) -> stylised`` on device tensors: one compiled
    package per frame shape, loaded from the store or compiled and saved there."""

    def __init__(self, torch: Any, module: Any, store: Store | None, model_id: str, *, precision: str, channels_last: bool) -> None:
        self._torch = torch
        self._module = module
        self._store = store
        self._model_id = model_id
        self._precision = precision
        self._channels_last = channels_last
        self._loaded: dict[tuple[int, ...], Any] = {}
        self._alpha: Any = None
        self.compiled = 0  # packages compiled by this process (0 on a warm start)
        self.loaded = 0  # packages loaded from the store

    def __call__(self, frames: Any, style: Any, alpha: float) -> Any:
        torch = self._torch
        key = tuple(frames.shape)
        run = self._loaded.get(key)
        if run is None:
            run = self._loaded[key] = self._package(frames, style)
        if self._alpha is None or self._alpha.device != frames.device:
            self._alpha = torch.ones((), device=frames.device, dtype=torch.float32)
        self._alpha.fill_(float(alpha))
        return run(frames, style, self._alpha)

    def _package(self, frames: Any, style: Any) -> Any:
        torch = self._torch
        from torch._inductor import aoti_compile_and_package, aoti_load_package

        name = package_name("stylizer", tuple(frames.shape), self._precision, self._channels_last, device_tag(torch, frames.device), torch.__version__)
        path = self._store.compiled_path(self._model_id, name) if self._store is not None else None
        if path is not None and path.is_file():
            try:
                run = aoti_load_package(str(path))
                self.loaded += 1
                return run
            except Exception as e:  # a damaged or foreign package: compile it again
                log.warning("compiled stylizer %s could not be loaded (%s); compiling it again", path.name, str(e).splitlines()[0] if str(e) else type(e).__name__)
        where = f"; kept in {path.parent} for the next start" if path is not None else ""
        log.info("compiling the stylizer for %s frames on %s (once per size%s)", "x".join(str(v) for v in frames.shape), frames.device, where)
        alpha = torch.ones((), device=frames.device, dtype=torch.float32)
        with torch.inference_mode(False), torch.no_grad():
            program = torch.export.export(_tensor_alpha(torch, self._module), (frames.clone(), style.clone(), alpha))
            if path is None:
                with tempfile.TemporaryDirectory() as tmp:
                    run = aoti_load_package(aoti_compile_and_package(program, package_path=os.path.join(tmp, "stylizer.pt2")))
            else:
                make_folder(path.parent)
                with tempfile.TemporaryDirectory(dir=path.parent, prefix=".compiling-") as tmp:
                    built = aoti_compile_and_package(program, package_path=os.path.join(tmp, path.name))
                    use_default_permissions(Path(built), group_write=False)
                    shutil.move(built, path)  # same folder: a rename, so a half-written package never has the final name
                run = aoti_load_package(str(path))
        self.compiled += 1
        return run


def use_inductor_cache(store: Store) -> None:
    """Point torch.compile's Inductor and Triton caches into the store, unless the user
    chose other folders (the environment variables both read)."""
    root = store.inductor_cache_dir
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(root))
    os.environ.setdefault("TRITON_CACHE_DIR", str(root / "triton"))
