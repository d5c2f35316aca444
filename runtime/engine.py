"""The engine interface: one model family's two graphs, run by one backend.

Every model is two graphs (docs/architecture.md, "Engines"): ``encode_style`` (a style image
to a style vector, once per style) and ``stylize`` (frames, a style vector, alpha to
stylised frames, per frame). Frames are RGB, NHWC: float32 in [0, 1] for ``stylize``,
uint8 for ``stylize_uint8``.

What an engine can do beyond that is declared in its ``capabilities``; the frame path
(``runtime.frames``) and the stills (``runtime.stills``) read it once and never probe for
methods. Every method exists on every engine: where a capability is missing, the base
class either computes the result another way (``stylize_uint8`` through the float path)
or refuses with a one-line ``UserError`` (``stylize_regions``, ``norm_stats``, ``stylize_tiles``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import UserError
from .models import ModelWeights


@dataclass(frozen=True)
class Capabilities:
    """What an engine offers beyond ``encode_style`` and ``stylize``."""

    uint8_frames: bool = False
    """``stylize_uint8`` is native: bytes go in and out, converted on the engine's side
    (otherwise the base class converts on the host around ``stylize``)."""
    device_frames: bool = False
    """``stylize_uint8_device`` keeps the stylised frames on the engine's device and
    ``temporal_blender`` blends them there (the CUDA torch engine)."""
    regions: bool = False
    """``stylize_regions``: one style per mask in one picture."""
    tiles: bool = False
    """``norm_stats`` and ``stylize_tiles`` (and ``stylize_regions`` with ``stats``): a picture
    stylised tile by tile, every tile normalised with the whole picture's statistics, so that
    the tiles agree (``runtime.tiles``); otherwise ``tiles_refusal`` says why not."""
    max_batch: int | None = None
    """The most frames one call takes (None: no limit)."""
    device: str = "cpu"
    """Where the engine computes: ``cpu``, ``cuda``, ``cuda:1``, ..."""


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounding half to even (as the engines' own byte paths do)."""
    return np.rint(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


class Engine(ABC):
    """Base class of every backend. Subclasses set ``backend``, ``weights`` and
    ``capabilities`` and implement ``encode_style`` and ``stylize``."""

    backend: str
    weights: ModelWeights
    capabilities: Capabilities = Capabilities()

    @abstractmethod
    def encode_style(self, style: np.ndarray) -> np.ndarray:
        """Prepared style image (H x W x 3 float32 in [0, 1]) -> style vector."""

    @abstractmethod
    def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """Frames (N x H x W x 3 float32 in [0, 1]) with one style vector -> stylised frames
        of the same shape (values may leave [0, 1] slightly: callers clip)."""

    def stylize_uint8(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """uint8 RGB N x H x W x 3 in and out. Native where ``capabilities.uint8_frames``;
        here through ``stylize`` on the host."""
        out = self.stylize(frames.astype(np.float32) * np.float32(1.0 / 255.0), style, alpha)
        return to_uint8(out)

    def stylize_uint8_device(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> Any:
        """uint8 host frames -> float32 N x 3 x H x W in [0, 1] on the engine's device, for
        the device blender; only where ``capabilities.device_frames``."""
        raise NotImplementedError(f"the {self.backend} engine keeps no frames on a device")

    def temporal_blender(self) -> Callable[[Any], Any] | None:
        """A factory for the stabiliser's output side on the engine's device (settings ->
        ``runtime.temporal.blend.Blender``), or None: the stabiliser then blends on the
        host with OpenCV. Not None exactly where ``capabilities.device_frames``."""
        return None

    def stylize_regions(
        self, frame: np.ndarray, styles: list[np.ndarray], masks: np.ndarray, alpha: float = 1.0, stats: list[np.ndarray] | None = None
    ) -> np.ndarray:
        """One frame (H x W x 3 float) painted with style k where ``masks[k]`` (K x H x W in
        [0, 1]) is set; only where ``capabilities.regions``. ``stats``: one ``norm_stats``
        per style, for a tile of a larger picture (only where ``capabilities.tiles`` too)."""
        raise UserError(f"spatial masks need the torch backend (this engine is {self.backend})")

    def norm_stats(self, content: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """The normalisation statistics the network computes on a whole picture (H x W x 3
        float in [0, 1], usually a reduced copy of it) stylised with ``style`` at ``alpha``, as
        one flat float32 vector: AdaIN's relu4_1 mean and std of the content; Magenta's
        content style vector and every instance norm's mean and variance, layer by layer.
        Only where ``capabilities.tiles``."""
        raise UserError(self.tiles_refusal())

    def stylize_tiles(self, tiles: np.ndarray, style: np.ndarray, alpha: float, stats: np.ndarray) -> np.ndarray:
        """``stylize`` for tiles of a larger picture (N x h x w x 3 float32 in [0, 1]),
        normalised with the picture's ``stats`` (``norm_stats``) instead of each tile's own,
        so neighbouring tiles agree; float32 out, unclipped. Only where ``capabilities.tiles``."""
        raise UserError(self.tiles_refusal())

    def tiles_refusal(self) -> str:
        """Why this engine cannot stylise in tiles (one line, for the UserError)."""
        return f"the {self.backend} engine cannot stylise a picture in tiles; use --tile off and a size within --max-pixels"
