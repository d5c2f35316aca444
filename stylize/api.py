"""The Python API: make a ``Stylizer`` (a model on an engine, with its style cache), then run it.

    from stylize import Stylizer

    s = Stylizer(model="magenta")                               # weights from the store
    picture = s.image("photo.jpg", style="starry.jpg", alpha=0.8)
    s.image_file("photo.jpg", "out.png", style=["a.jpg", "b.jpg"], style_weights=[0.7, 0.3])
    report = s.video("clip.mp4", "clip_starry.mp4", style="starry.jpg")
    for frame in s.frames(my_frames, style="starry.jpg"): ...  # RGB uint8 in, RGB uint8 out
    s.live(style="starry.jpg", camera=0)

Every command of ``stylize`` calls this class, so the command line and the API give the
same pixels for the same options. Arguments are checked by ``stylize.options`` (the same
checks and defaults as the command line); anything a user can fix raises
``stylize.UserError`` with one line that says what. Notes (which backend and why) go to the
``stylize`` logger.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import cv2
import numpy as np

from stylize import options
from stylize.options import ALPHA, BACKEND, BATCH, CRF, DEVICE, MAX_PIXELS, PRESERVE_COLOR, PRESET, SIZE, STYLE_COLORS, TEMPORAL, TILE, check, side_for
from stylize.runtime.backends import check_graphs, graphs_family, open_engine
from stylize.runtime.budget import check_decodable, check_pixels
from stylize.runtime.color import ColorStats, ColorTransfer, color_stats, match_color, mix_color_stats
from stylize.runtime.engine import Engine
from stylize.runtime.errors import UserError
from stylize.runtime.files import check_writable, refuse_overwriting_inputs
from stylize.runtime.frames import FrameStylizer
from stylize.runtime.images import Image, load_image, resize, resize_shorter_side, save_image
from stylize.runtime.live import autosize
from stylize.runtime.live.capture import Capture, parse_source
from stylize.runtime.live.outputs import check_window_support, open_virtual_camera
from stylize.runtime.live.recorder import Recorder
from stylize.runtime.live.session import LiveOptions, LiveSession, LiveSummary
from stylize.runtime.models import FAMILIES, ModelWeights, default_family, find_weights, mix_styles, only_network, style_shape
from stylize.runtime.sizing import scaled
from stylize.runtime.stills import fit_mask, stylize_still
from stylize.runtime.store import Store
from stylize.runtime.style_cache import StyleCache
from stylize.runtime.tiles import check_tiled, in_bands, sample, tile_side
from stylize.runtime.video.containers import output_format
from stylize.runtime.video.convert import check_budget, check_request, convert_video
from stylize.runtime.video.reader import iter_frames
from stylize.runtime.video.summary import ConversionSummary

if TYPE_CHECKING:
    from stylize.cluster import ClusterReport

log = logging.getLogger("stylize")

PathLike = Union[str, "os.PathLike[str]"]
Picture = Union[PathLike, np.ndarray]
"""An image file, or an RGB array: H x W x 3 uint8, or float in [0, 1] (H x W: grayscale)."""


def resolve_weights(store: Store, model: str | None, weights: str | None) -> ModelWeights:
    """The weights a command runs: ``model`` (default: johnson where ``weights`` names a
    johnson network, else adain where installed, else magenta) with ``weights`` naming an
    AdaIN decoder or a johnson network (default for johnson: the one in the store); UserError
    naming how to get missing ones."""
    if model is None and weights:
        record = store.weights(weights)
        if record is not None and record.layout == FAMILIES["johnson"].roles["transformer"][0]:
            model = "johnson"
    family = model or default_family(store)
    role = FAMILIES[family].weights_role
    if weights and role is None:
        raise UserError(f"--weights selects an AdaIN decoder or a johnson network; it does not apply to {family}")
    if role is not None and not weights:
        weights = only_network(store, family)
    return find_weights(store, family, {role: weights} if role and weights else None)


# Stands for the style a per-style network (johnson) was trained on, where other families take images.
_OWN_STYLE = np.zeros((16, 16, 3), np.float32)


class Stylizer:
    """One model on one engine, the store and the style cache: what every command uses."""

    def __init__(
        self,
        model: str | None = None,
        *,
        weights: str | None = None,
        backend: str = BACKEND,
        device: str = DEVICE,
        home: PathLike | None = None,
        style_size: int | None = None,
        graphs: PathLike | None = None,
    ) -> None:
        """``model``: adain or magenta (default: adain where installed, else magenta; with
        ``graphs``, the family they were exported from); ``weights``: an AdaIN decoder in the
        store; ``backend``: auto, torch, onnxruntime or tensorrt; ``device``: auto, cpu, cuda
        or cuda:N; ``home``: the store folder; ``style_size``: the size style images are
        encoded at (default: each model's training size); ``graphs``: a folder of graphs
        written by ``stylize export -o DIR``, run instead of the store's (onnxruntime or
        tensorrt). The engine opens on first use."""
        self.store = Store(check("home", home) if home is not None else None)
        self.graphs = check("graphs", graphs)
        self.backend_choice = check("backend", backend)
        if self.graphs is not None and self.backend_choice == "torch":
            raise UserError("--graphs runs exported graphs, which the torch backend does not: use --backend onnxruntime, tensorrt or auto")
        model = check("model", model)
        if model is None and self.graphs is not None:
            model = graphs_family(self.graphs)
        self.weights = resolve_weights(self.store, model, check("weights", weights))
        if self.graphs is not None:
            check_graphs(self.graphs, self.weights)
        self.family = self.weights.family
        self.device = check("device", device)
        self.style_size = check("style_size", style_size)
        self._engine: Engine | None = None
        self._cache: StyleCache | None = None
        self._style_images: dict[tuple[str, float], np.ndarray] = {}
        # what a worker on a Ray cluster (``stylize.cluster``) builds its own Stylizer from
        self.arguments: dict[str, Any] = {
            "model": self.family, "weights": weights, "backend": self.backend_choice, "device": self.device, "home": home,
            "style_size": self.style_size, "graphs": self.graphs,
        }  # fmt: skip

    # the engine and the styles ----------------------------------------------------------
    @property
    def engine(self) -> Engine:
        return self._open()

    def _open(self, regions: bool = False) -> Engine:
        if self._engine is None:
            backend = self.backend_choice
            if regions and backend == "auto" and self.graphs is None:
                backend = "torch"
                log.info("backend torch: masks need it")
            self._engine = open_engine(self.store, self.weights, backend, self.device, graphs=self.graphs)
            self._cache = StyleCache(self._engine, self.store, self.style_size)
        if regions and not self._engine.capabilities.regions:
            raise UserError(f"masks need the torch backend (this Stylizer runs {self._engine.backend})")
        return self._engine

    def style_vectors(
        self, style: Picture | Sequence[Picture], *, colors_of: np.ndarray | None = None, max_pixels: int = MAX_PIXELS
    ) -> list[np.ndarray]:
        """One style vector per style image (encoded once per image and weights: the store
        caches them). ``colors_of``: an RGB picture whose colours the styles take first;
        ``max_pixels``: the memory budget the style images are read and encoded under."""
        images = [self._style_image(s, max_pixels) for s in self._styles(style)]
        if FAMILIES[self.family].fixed_style:  # the style is in the weights: nothing to encode or match
            self._open()
            return [np.zeros(FAMILIES[self.family].style_vector_shape, np.float32) for _ in images]
        if colors_of is not None:
            images = [match_color(s, _float_rgb(colors_of)) for s in images]
        self._open()
        assert self._cache is not None
        return [self._cache.vector(s) for s in images]

    def _styles(
        self,
        style: Picture | Sequence[Picture] | None,
        *,
        style_weights: Sequence[float] | None = None,
        masks: Sequence[Picture] | None = None,
        preserve_color: str | None = None,
        style_colors: bool = False,
    ) -> list[Any]:
        """The styles a call paints with. A per-style network (johnson) paints the style in its
        weights: a style image, a mix, masks or the style's colours cannot apply to it and are
        refused in one line; its own style stands in their place."""
        styles = _as_list(style)
        if not FAMILIES[self.family].fixed_style:
            return styles
        if styles and all(s is _OWN_STYLE for s in styles):
            return styles
        given = {
            "a style image (--style)": bool(styles), "style weights": style_weights is not None, "masks": masks is not None,
            "preserve-color color": preserve_color == "color", "style colours": style_colors,
        }  # fmt: skip
        refused = [what for what, present in given.items() if present]
        if refused:
            record = next(iter(self.weights.records.values()))
            trained = f" (trained on {record.style})" if record.style else ""
            raise UserError(
                f"the johnson network {record.name!r} paints the one style in its weights{trained}: "
                f"{', '.join(refused)} cannot apply to it; drop {'them' if len(refused) > 1 else 'it'}"
            )
        return [_OWN_STYLE]

    def style_vector(
        self,
        style: Picture | Sequence[Picture],
        *,
        style_weights: Sequence[float] | None = None,
        colors_of: np.ndarray | None = None,
        max_pixels: int = MAX_PIXELS,
    ) -> np.ndarray:
        """The styles' vectors mixed by ``style_weights`` (default: equal)."""
        styles = self._styles(style, style_weights=style_weights)
        style_weights = check("style_weights", style_weights)
        options.check_style_count(styles, style_weights)
        return mix_styles(self.style_vectors(styles, colors_of=colors_of, max_pixels=max_pixels), style_weights)

    def style_colors(
        self, style: Picture | Sequence[Picture], *, style_weights: Sequence[float] | None = None, max_pixels: int = MAX_PIXELS
    ) -> ColorStats:
        """The styles' colour mean and covariance, pooled by ``style_weights`` (default: equal):
        what ``style_colors=True`` moves a result's colours to."""
        images = [self._style_image(s, max_pixels) for s in _as_list(style)]
        return mix_color_stats([color_stats(i) for i in images], None if style_weights is None else list(style_weights))

    def _style_image(self, style: Picture, max_pixels: int = MAX_PIXELS) -> np.ndarray:
        """A style image's pixels, once its size as encoded (``--style-size``) is within the budget."""
        if style is _OWN_STYLE:
            return _OWN_STYLE
        if isinstance(style, np.ndarray):
            rgb = _picture(style, "style image", max_pixels).rgb
        else:
            path = Path(style)
            key = (str(path.resolve()), path.stat().st_mtime if path.exists() else 0.0)
            if key not in self._style_images:
                self._style_images[key] = load_image(path, max_pixels=max_pixels, what="style image").rgb
            rgb = self._style_images[key]
        encoded = style_shape(self.family, rgb.shape[1], rgb.shape[0], self.style_size)
        check_pixels(*encoded, max_pixels, f"encoding style image {_name(style, 'style')}", hint="a smaller --style-size")
        return rgb

    # stills -------------------------------------------------------------------------------
    def image(
        self,
        content: Picture,
        style: Picture | Sequence[Picture] | None = None,
        *,
        alpha: float = ALPHA,
        style_weights: Sequence[float] | None = None,
        preserve_color: str | None = PRESERVE_COLOR,
        masks: Sequence[Picture] | None = None,
        size: str | int = SIZE,
        max_pixels: int = MAX_PIXELS,
        style_colors: bool = STYLE_COLORS,
        tile: str | int = TILE,
        progress: bool = True,
    ) -> Image:
        """A stylised still: ``Image`` (rgb H x W x 3 float in [0, 1], the content's alpha
        channel where it has one). ``masks``: one per style (white: this style).
        ``style_colors``: the result's colours moved to the styles' (``--style-colors``).
        ``tile``: ``auto`` stylises a picture above ``max_pixels`` in tiles that share the
        whole picture's statistics (``runtime.tiles``), ``off`` refuses it, N forces tiles of N
        (``--tile``); ``progress``: a bar over the tiles."""
        alpha, style_weights, preserve_color, size, max_pixels, style_colors, tile = _checked(
            alpha=alpha, style_weights=style_weights, preserve_color=preserve_color, size=size, max_pixels=max_pixels,
            style_colors=style_colors, tile=tile,
        )  # fmt: skip
        options.check_colors(preserve_color, style_colors)
        styles = self._styles(style, style_weights=style_weights, masks=masks, preserve_color=preserve_color, style_colors=style_colors)
        masks = None if masks is None else _as_list(masks)
        options.check_style_count(styles, style_weights, masks)
        style_images = [self._style_image(s, max_pixels) for s in styles]  # every input read before the engine opens
        picture = _picture(content, "content image", max_pixels)
        h0, w0 = picture.size
        side = side_for(size, w0, h0, "image")
        what = f"stylising {_name(content, 'the content image')}"
        tiles = tile_side(tile, *scaled(w0, h0, side), max_pixels, self.family, what)  # None: whole
        if tiles is None:
            check_pixels(*scaled(w0, h0, side), max_pixels, what, hint="a smaller --size" + (", --tile auto" if tile == "off" else ""))
        else:
            check_tiled(*scaled(w0, h0, side), max_pixels, what)
        rgb = resize_shorter_side(picture.rgb, side)
        h, w = rgb.shape[:2]
        if size == "auto" and (h, w) != (h0, w0):
            log.info("%s: %dx%d stylised at %dx%d (size keep: its own size)", _name(content, "content"), w0, h0, w, h)
        fitted = None
        if masks is not None:
            fitted = [fit_mask(_picture(m, "mask", max_pixels).rgb, h, w, _name(m, "mask")) for m in masks]
        engine = self._open(regions=fitted is not None)
        if tiles is not None and not engine.capabilities.tiles:
            raise UserError(engine.tiles_refusal())
        colors_of = (rgb if tiles is None else sample(rgb)) if preserve_color == "color" else None  # tiled: a sample's colours
        vectors = self.style_vectors(style_images, colors_of=colors_of, max_pixels=max_pixels)
        out = stylize_still(
            engine, rgb, vectors, alpha=alpha, style_weights=style_weights, masks=fitted, luminance_only=preserve_color == "luminance",
            tile=tiles, stats_pixels=max_pixels, progress=progress,
        )  # fmt: skip
        if style_colors:
            transfer = ColorTransfer(color_stats(out if tiles is None else sample(out)), self.style_colors(style_images, style_weights=style_weights))
            out = transfer.apply(out) if tiles is None else in_bands(transfer.apply, out)
        alpha_channel = resize(picture.alpha[..., None], h, w)[..., 0] if picture.alpha is not None else None
        return Image(rgb=out, alpha=alpha_channel, source=picture.source, was_gray=picture.was_gray)

    def image_file(self, content: PathLike, output: PathLike, style: Picture | Sequence[Picture] | None = None, **kwargs: Any) -> Image:
        """``image`` from a file into a file (format from the extension; written atomically;
        an output that is one of the inputs, or a folder that cannot be written, is refused
        before the work)."""
        inputs = [content, *[s for s in _as_list(style) if not isinstance(s, np.ndarray)]]
        inputs += [m for m in kwargs.get("masks") or [] if not isinstance(m, np.ndarray)]
        refuse_overwriting_inputs(output, inputs)
        check_writable(Path(output).parent)
        result = self.image(content, style, **kwargs)
        save_image(output, result.rgb, result.alpha)
        return result

    # moving pictures ------------------------------------------------------------------------
    def video(
        self,
        source: PathLike,
        output: PathLike,
        style: Picture | Sequence[Picture] | None = None,
        *,
        alpha: float = ALPHA,
        style_weights: Sequence[float] | None = None,
        preserve_color: str | None = PRESERVE_COLOR,
        size: str | int = SIZE,
        temporal: str = TEMPORAL,
        batch: int = BATCH,
        crf: float = CRF,
        preset: str = PRESET,
        fps: float | None = None,
        audio: bool = True,
        progress: bool = True,
        decoder: str = options.DECODER,
        encoder: str = options.ENCODER,
        max_pixels: int = MAX_PIXELS,
        style_colors: bool = STYLE_COLORS,
        ray: str | None = options.RAY,
        segment: float = options.SEGMENT,
        worker_cpus: int = options.WORKER_CPUS,
    ) -> VideoReport | ClusterReport:
        """A video file, URL, image folder or glob -> a video file (audio and timing kept) or
        a folder of PNG frames (``output`` ending in '/'). See ``stylize video --help``.
        ``ray``: convert a video file on a Ray cluster instead (``videos``), which returns its
        ``ClusterReport``; ``segment`` and ``worker_cpus`` as there.

        ``decoder``/``encoder``: ``auto`` decodes with NVDEC and encodes with NVENC when the
        engine runs on CUDA and the GPU can (else the CPU, with one line saying why);
        ``cuda``/``nvenc`` insist (a UserError where they cannot); ``cpu`` never uses the GPU.
        ``report.conversion.decoder``/``.encoder`` say which ran. ``max_pixels``: the memory
        budget (``--max-pixels``): a batch of frames at the output size larger than it is
        refused once the input is open, before any frame is stylised. A damaged input (frames
        missing, corrupt ones skipped) is reported in one warning on the ``stylize`` logger.
        ``style_colors``: the frames' colours moved to the styles' by one map, computed from the
        first stylised frame (``--style-colors``)."""
        alpha, style_weights, preserve_color, size, temporal, batch, crf, preset, fps, decoder, encoder, max_pixels = _checked(
            alpha=alpha, style_weights=style_weights, preserve_color=preserve_color, size=size, temporal=temporal,
            batch=batch, crf=crf, preset=preset, fps=fps, decoder=decoder, encoder=encoder, max_pixels=max_pixels,
        )  # fmt: skip
        options.check_colors(preserve_color, check("style_colors", style_colors))
        styles = self._styles(style, style_weights=style_weights, preserve_color=preserve_color, style_colors=style_colors)
        options.check_style_count(styles, style_weights)
        if check("ray", ray) is not None:
            report = self.videos(
                [source], [output], style, ray=ray, segment=segment, worker_cpus=worker_cpus, alpha=alpha, style_weights=style_weights,
                preserve_color=preserve_color, size=size, temporal=temporal, batch=batch, crf=crf, preset=preset, fps=fps, audio=audio,
                progress=progress, decoder=decoder, encoder=encoder, max_pixels=max_pixels, style_colors=style_colors,
            )  # fmt: skip
            if report.failed:
                raise UserError(report.failed[0].describe())
            return report
        check_request(source, output, batch, crf, preset, fps, decoder=decoder, encoder=encoder)  # before anything is loaded
        refuse_overwriting_inputs(output, [s for s in styles if not isinstance(s, np.ndarray)])

        def frame_side(w: int, h: int) -> int | None:
            return side_for(size, w, h, "video")

        check_budget(source, output, frame_side, batch, max_pixels, fps)  # before the model loads
        colors_of = _first_frame(source, fps) if preserve_color == "color" else None
        process = self._frame_stylizer(styles, style_weights, alpha, preserve_color, temporal, style_colors, colors_of, max_pixels)
        try:
            summary = convert_video(
                source, output, process,
                size=frame_side, batch=batch, crf=crf, preset=preset, fps=fps,
                progress=progress, audio=audio, prefetch=process.prefetch, decoder=decoder, encoder=encoder,
                device=self.engine.capabilities.device, max_pixels=max_pixels,
            )  # fmt: skip
        finally:
            process.close()  # the stabiliser's threads
        stab = process.stabilizer
        return VideoReport(
            summary, self.family, self.engine.backend, temporal,
            process.engine.capabilities.device if process.on_device else None, stab.cuts if stab is not None else 0,
        )  # fmt: skip

    def videos(
        self,
        sources: Sequence[PathLike],
        outputs: Sequence[PathLike],
        style: Picture | Sequence[Picture] | None = None,
        *,
        ray: str = "local",
        segment: float = options.SEGMENT,
        worker_cpus: int = options.WORKER_CPUS,
        alpha: float = ALPHA,
        style_weights: Sequence[float] | None = None,
        preserve_color: str | None = PRESERVE_COLOR,
        size: str | int = SIZE,
        temporal: str = TEMPORAL,
        batch: int = BATCH,
        crf: float = CRF,
        preset: str = PRESET,
        fps: float | None = None,
        audio: bool = True,
        progress: bool = True,
        decoder: str = options.DECODER,
        encoder: str = options.ENCODER,
        max_pixels: int = MAX_PIXELS,
        style_colors: bool = STYLE_COLORS,
    ) -> ClusterReport:
        """Video files converted on a Ray cluster (``stylize video IN... --ray``), each into its
        output, all sharing one pool of workers: each input cut into segments of at least
        ``segment`` seconds at keyframes, the segments converted by the workers (one per GPU,
        else one per ``worker_cpus`` CPUs), joined without re-encoding, the audio taken from
        the source. ``ray``: ``local`` (a Ray started on this machine for the run), ``auto``,
        ``ray://HOST:PORT`` or ``HOST:PORT``; a Ray already initialised in this process is used
        as it is. The other arguments as for ``video``; the pixels are a single run's with
        ``temporal="off"``, and with the stabiliser on, differ only where its warm-up before
        each segment has not forgotten where it started (``stylize.cluster``).

        An input that fails (missing, corrupt, a stream or image sequence, which cannot be cut)
        is reported in the report's ``failed`` and the others are converted. A run stopped
        (Ctrl-C, a crash) resumes from its finished segments when started again with the same
        inputs and options. Needs the ``[cluster]`` extra (Ray)."""
        alpha, style_weights, preserve_color, size, temporal, batch, crf, preset, fps, decoder, encoder, max_pixels, ray, segment, worker_cpus = _checked(
            alpha=alpha, style_weights=style_weights, preserve_color=preserve_color, size=size, temporal=temporal,
            batch=batch, crf=crf, preset=preset, fps=fps, decoder=decoder, encoder=encoder, max_pixels=max_pixels, ray=ray,
            segment=segment, worker_cpus=worker_cpus,
        )  # fmt: skip
        options.check_colors(preserve_color, check("style_colors", style_colors))
        styles = self._styles(style, style_weights=style_weights, preserve_color=preserve_color, style_colors=style_colors)
        options.check_style_count(styles, style_weights)
        if ray is None:
            raise UserError("ray: give where the Ray cluster is (local, auto, ray://HOST:PORT)")
        if len(sources) != len(outputs):
            raise UserError(f"{len(sources)} inputs given with {len(outputs)} outputs: give one output each")
        seen: dict[str, str] = {}
        for source, output in zip(sources, outputs):
            refuse_overwriting_inputs(output, [*sources, *[s for s in styles if not isinstance(s, np.ndarray)]])
            target = os.path.realpath(output)
            if target in seen:
                raise UserError(f"{seen[target]} and {os.fspath(source)} would both be written to {os.fspath(output)}")
            seen[target] = os.fspath(source)
        from stylize.cluster import convert_on_ray  # Ray is imported there, only for a cluster run

        return convert_on_ray(
            self, list(zip(sources, outputs)), _as_list(style) or None, style_weights=style_weights, alpha=alpha,
            preserve_color=preserve_color, size=size, temporal=temporal, batch=batch, crf=crf, preset=preset, fps=fps, audio=audio,
            progress=progress, decoder=decoder, encoder=encoder, max_pixels=max_pixels, style_colors=style_colors, ray_address=ray,
            segment=segment, worker_cpus=worker_cpus,
        )  # fmt: skip

    def frames(
        self,
        frames: Iterable[np.ndarray],
        style: Picture | Sequence[Picture] | None = None,
        *,
        alpha: float = ALPHA,
        style_weights: Sequence[float] | None = None,
        preserve_color: str | None = PRESERVE_COLOR,
        size: str | int = SIZE,
        temporal: str = TEMPORAL,
        batch: int = BATCH,
        max_pixels: int = MAX_PIXELS,
        style_colors: bool = STYLE_COLORS,
    ) -> Iterator[np.ndarray]:
        """Stylise a stream of RGB uint8 frames (H x W x 3, one size), in order: the frames
        come out as RGB uint8 at the stylised size (``size`` as for ``video``). A batch of
        frames at that size over ``max_pixels`` is refused at the first frame. ``style_colors``:
        as for ``video`` (one map, from the first stylised frame)."""
        alpha, style_weights, preserve_color, size, temporal, batch, max_pixels = _checked(
            alpha=alpha, style_weights=style_weights, preserve_color=preserve_color, size=size, temporal=temporal, batch=batch,
            max_pixels=max_pixels,
        )  # fmt: skip
        options.check_colors(preserve_color, check("style_colors", style_colors))
        style = self._styles(style, style_weights=style_weights, preserve_color=preserve_color, style_colors=style_colors)
        options.check_style_count(style, style_weights)
        process: FrameStylizer | None = None
        target = None
        pending: list[np.ndarray] = []
        try:
            for frame in frames:
                frame = _uint8_rgb(frame)
                if process is None:
                    h, w = frame.shape[:2]
                    target = scaled(w, h, side_for(size, w, h, "video"))
                    check_pixels(*target, max_pixels, "stylising frames", frames=batch, hint="a smaller size or batch")
                    colors_of = frame if preserve_color == "color" else None
                    process = self._frame_stylizer(style, style_weights, alpha, preserve_color, temporal, style_colors, colors_of, max_pixels)
                pending.append(_resized(frame, target))
                if len(pending) == batch:
                    yield from process(np.stack(pending))
                    pending = []
            if pending and process is not None:
                yield from process(np.stack(pending))
        finally:
            if process is not None:
                process.close()

    def _frame_stylizer(
        self,
        styles: Picture | Sequence[Picture],
        style_weights: Sequence[float] | None,
        alpha: float,
        preserve_color: str | None,
        temporal: str,
        style_colors: bool,
        colors_of: np.ndarray | None,
        max_pixels: int,
    ) -> FrameStylizer:
        """The per-batch function of ``video`` and ``frames``: the mixed style vector (colours
        of ``colors_of`` where given), the stabiliser, and the styles' colours where asked."""
        vector = self.style_vector(styles, style_weights=style_weights, colors_of=colors_of, max_pixels=max_pixels)
        process = FrameStylizer(self.engine, vector, alpha=alpha, luminance_only=preserve_color == "luminance", temporal=temporal)
        if style_colors:
            process.set_style_colors(self.style_colors(styles, style_weights=style_weights, max_pixels=max_pixels))
        return process

    def live(
        self,
        style: Picture | Sequence[Picture] | None = None,
        *,
        camera: int | str = 0,
        alpha: float = ALPHA,
        preserve_color: str | None = PRESERVE_COLOR,
        size: str | int = SIZE,
        temporal: str = TEMPORAL,
        window: bool = True,
        frames: int = 0,
        record: PathLike | None = None,
        virtual_cam: bool = False,
        loop: bool = False,
        realtime: bool | None = None,
        snapshot_dir: PathLike = ".",
        max_pixels: int = MAX_PIXELS,
        style_colors: bool = STYLE_COLORS,
    ) -> LiveReport:
        """A camera (index), stream URL or video file stylised as it comes, shown in a
        window and/or recorded, until q, the end of the source or ``frames`` frames. Ctrl-C
        (and SIGTERM or SIGHUP under the command line) ends it as q does: the recording is
        finished and kept, and the summary says what stopped it.

        ``size="auto"``: the largest size (``runtime.live.autosize.LADDER``) at which the
        frame path keeps up with the source, measured on its first frame. ``realtime``: a
        file is paced at its frame rate and stale frames are dropped, as from a camera
        (default: when it is shown in the window or sent to a virtual camera); otherwise
        every frame of the file is stylised, as fast as the engine goes. ``max_pixels``: the
        memory budget: the source's frames at the size asked for (for ``auto``, the largest
        size of the ladder the source allows) must fit it, checked on the first frame before
        the model loads. A file with corrupt frames is read past them, as ``video`` does, and
        a file that ends early or had frames skipped is reported in one warning.
        ``style_colors``: the frames' colours moved to the shown style's (one map, computed
        again when the style changes)."""
        alpha, preserve_color, size, temporal, max_pixels, style_colors = _checked(
            alpha=alpha, preserve_color=preserve_color, size=size, temporal=temporal, max_pixels=max_pixels,
            style_colors=style_colors,
        )  # fmt: skip
        options.check_colors(preserve_color, style_colors)
        styles = self._styles(style, preserve_color=preserve_color, style_colors=style_colors)
        if not 1 <= len(styles) <= 9:
            raise UserError(f"give 1 to 9 styles (keys 1-9), got {len(styles)}")
        if frames < 0:
            raise UserError(f"frames: expected 0 (no limit) or more, got {frames}")
        if window:
            check_window_support()
        source = parse_source(str(camera))
        if record is not None:
            refuse_overwriting_inputs(record, [*[s for s in styles if not isinstance(s, np.ndarray)], *([source] if isinstance(source, str) else [])])
            if output_format(record) is None:
                raise UserError(f"--record needs a video file (.mp4, .mkv, ...), not a folder: {record}")
            check_writable(Path(record).parent)  # before the camera opens and the models load
        images = [self._style_image(s, max_pixels) for s in styles]
        # first: a missing camera fails before the models load
        capture = Capture(source, loop=loop, realtime=window or virtual_cam if realtime is None else realtime)
        recorder = vcam = None
        ok = False
        try:
            first = capture.peek()
            if first is None:
                raise UserError(capture.error or f"{camera} gave no frames")
            h, w = first.bgr.shape[:2]
            named = f"camera {source}" if isinstance(source, int) else Path(source).name or source
            check_decodable(w, h, max_pixels, f"{named}'s frames")
            largest = autosize.rungs_for(w, h)[0] if size == "auto" else side_for(size, w, h, "live")
            check_pixels(*scaled(w, h, largest), max_pixels, f"stylising {named}")  # before the model loads
            vectors = self.style_vectors(images, max_pixels=max_pixels)  # once per style, before the first frame
            opts = LiveOptions(side=None, alpha=alpha, preserve_color=preserve_color, temporal=temporal, window=window,
                               max_frames=frames, snapshot_dir=Path(snapshot_dir))  # fmt: skip
            names = [self._own_style_name() if s is _OWN_STYLE else _name(s, f"style {i + 1}") for i, s in enumerate(styles)]
            session = LiveSession(self.engine, vectors, names, opts,
                                  recolor=lambda rgb: self.style_vectors(images, colors_of=rgb, max_pixels=max_pixels),
                                  style_colors=[color_stats(i) for i in images] if style_colors else None)  # fmt: skip
            opts.side = self._live_side(size, session, first.bgr, capture.fps)
            recorder = Recorder(record, capture.fps) if record is not None else None
            if virtual_cam:
                vcam = open_virtual_camera(*scaled(w, h, opts.side), capture.fps)
            summary = session.run(capture, recorder, vcam)
            ok = True
        finally:
            capture.close()
            if recorder is not None:
                recorder.close(ok=ok)
            if vcam is not None:
                vcam.close()
        if capture.error and summary.frames == 0:
            raise UserError(capture.error)
        if shortfall := capture.shortfall():
            log.warning("%s", shortfall)
        return LiveReport(summary, self.engine.backend, Path(record) if record else None, recorder.frames if recorder else 0, capture.error)

    def _own_style_name(self) -> str:
        """A per-style network's name for its style (live shows it)."""
        return next(iter(self.weights.records.values())).name

    def _live_side(self, size: str | int, session: LiveSession, bgr: np.ndarray, fps: float) -> int | None:
        """``--size`` for live: a number or keep as given; auto measured on the first frame."""
        h, w = bgr.shape[:2]
        if size != "auto":
            return side_for(size, w, h, "live")
        probe = FrameStylizer(self.engine, session.vectors[0], alpha=session.opt.alpha,
                              luminance_only=session.opt.preserve_color == "luminance", temporal=session.opt.temporal)  # fmt: skip
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

        def measure(side: int) -> float:
            frame = _resized(rgb, scaled(w, h, side))[None]
            return autosize.median_ms(lambda: probe(frame))

        try:
            choice = autosize.choose_side(measure, w, h, fps, top_down=self.engine.capabilities.device != "cpu")
        finally:
            probe.close()
        log.info(choice.describe())
        return choice.side


@dataclass(frozen=True)
class VideoReport:
    """What ``Stylizer.video`` did: the conversion and how it was stylised."""

    conversion: ConversionSummary
    family: str
    backend: str
    temporal: str
    blend_device: str | None  # where the stabiliser blended, when not on the host
    scene_cuts: int

    def describe(self) -> str:
        temporal = f", temporal {self.temporal}" + (f" blended on {self.blend_device}" if self.blend_device else "")
        temporal += f" ({self.scene_cuts} scene cut(s) reset)" if self.scene_cuts else ""
        return self.conversion.describe() + f" [{self.family}, {self.backend}{temporal}]"


@dataclass(frozen=True)
class LiveReport:
    """What ``Stylizer.live`` did; ``error``: why the source stopped early, if it did."""

    summary: LiveSummary
    backend: str
    record: Path | None
    recorded: int
    error: str | None

    def describe(self) -> str:
        text = self.summary.describe(self.backend)
        if self.record is not None and self.recorded:
            text += f"\nrecorded {self.recorded} frames to {self.record}"
        return text


# inputs ---------------------------------------------------------------------------------------
def _checked(**values: Any) -> list[Any]:
    """Each argument through its option's parser (``stylize.options.check``), in order."""
    return [check(name, value) for name, value in values.items()]


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, (str, os.PathLike, np.ndarray)):
        return [x]
    return list(x)


def _name(x: Picture, fallback: str) -> str:
    return fallback if isinstance(x, np.ndarray) else Path(x).stem


def _picture(x: Picture, what: str, max_pixels: int = MAX_PIXELS) -> Image:
    """A file or an array as an ``Image`` (float RGB, alpha where there is one)."""
    if not isinstance(x, np.ndarray):
        return load_image(x, max_pixels=max_pixels, what=what)
    arr = np.asarray(x)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or min(arr.shape[:2]) < 1:
        raise UserError(f"{what}: expected an H x W x 3 RGB array, got shape {x.shape}")
    check_decodable(arr.shape[1], arr.shape[0], max_pixels, what)
    rgb = _float_rgb(arr[..., :3] if arr.shape[2] != 1 else np.repeat(arr, 3, axis=2))
    alpha = _float_rgb(arr[..., 3]) if arr.shape[2] == 4 else None
    return Image(rgb=rgb, alpha=alpha, source=what, was_gray=arr.shape[2] == 1)


def _float_rgb(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    out = np.asarray(x, dtype=np.float32)
    if not np.isfinite(out).all() or out.min(initial=0.0) < 0.0 or out.max(initial=0.0) > 1.0:
        raise UserError("float pictures must hold values in [0, 1]")
    return out


def _uint8_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise UserError(f"frames must be H x W x 3 RGB arrays, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        frame = (np.clip(_float_rgb(frame), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(frame)


def _resized(frame: np.ndarray, target: Any) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == tuple(target):
        return frame
    shrink = target.width * target.height < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, tuple(target), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _first_frame(source: PathLike, fps: float | None) -> np.ndarray:
    """The first frame of a video (small: only its colours are used)."""
    for rgb, _ in iter_frames(source, size=256, fps=fps):
        return rgb
    raise UserError(f"{source} has no frames")
