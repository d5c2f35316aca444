"""``stylize live``: the webcam (or a stream, or a file) stylised as it comes."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylize.cli.common import add_model_options, add_temporal_option, store_from, unit_interval
from stylize.runtime.errors import UserError

HELP = "stylise a webcam, stream or video file live, in a window or headless"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live",
        help=HELP,
        description=HELP + ". Keys: 1-9 switch style, [ ] alpha, c colour preservation, t temporal stabilisation, o original beside, "
        "s snapshot, q or Esc quit. The window needs an OpenCV build with GUI support (opencv-python, not "
        "opencv-python-headless).",
        epilog="examples: stylize live --style a.jpg --style b.jpg   |   "
        "stylize live --camera clip.mp4 --style a.jpg --no-window --frames 100 --record out.mp4",
    )
    p.add_argument("--camera", default="0", help="camera index, stream URL or video file (default 0)")
    p.add_argument("--style", action="append", required=True, type=Path, metavar="S", help="style image; repeat for keys 1-9")
    p.add_argument("--alpha", type=unit_interval, default=1.0, help="content-style trade-off (default 1)")
    p.add_argument("--size", type=int, default=360, help="shorter side the frames are stylised at (default 360)")
    p.add_argument("--preserve-color", action="store_true", help="start with colour preservation (luminance) on")
    p.add_argument("--no-window", action="store_true", help="run headless (no window)")
    p.add_argument("--frames", type=int, default=0, help="stop after N frames (default: until q or the source ends)")
    p.add_argument("--record", type=Path, metavar="OUT", help="also record the stylised feed to a video file")
    p.add_argument("--virtual-cam", action="store_true", help="send the stylised feed to a virtual camera (pip install 'stylize[virtualcam]')")
    p.add_argument("--loop", action="store_true", help="loop a video file used as the camera")
    p.add_argument("--snapshot-dir", type=Path, default=Path("."), help="where s saves snapshots (default: here)")
    add_temporal_option(p)
    add_model_options(p)
    p.set_defaults(func=run)


def _check_window_support() -> None:
    import cv2

    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() == "NONE":
        raise UserError(
            "this OpenCV build has no window support (opencv-python-headless); use --no-window, "
            "or pip uninstall opencv-python-headless && pip install opencv-python"
        )


def _open_virtual_cam(width: int, height: int, fps: float):  # noqa: ANN202
    try:
        import pyvirtualcam
    except ImportError:
        raise UserError("--virtual-cam needs pyvirtualcam: pip install 'stylize[virtualcam]'") from None
    try:
        return pyvirtualcam.Camera(width=width, height=height, fps=fps)
    except RuntimeError as e:
        raise UserError(f"cannot open a virtual camera: {e}") from None


def run(args: argparse.Namespace) -> int:
    from stylize.runtime.backends import open_engine
    from stylize.runtime.engine import StyleCache
    from stylize.runtime.files import refuse_overwriting_inputs
    from stylize.runtime.images import load_image, shorter_side_size
    from stylize.runtime.live.capture import Capture, parse_source
    from stylize.runtime.live.recorder import Recorder
    from stylize.runtime.live.session import LiveOptions, LiveSession
    from stylize.runtime.models import default_family, find_weights

    if len(args.style) > 9:
        raise UserError("at most 9 styles (keys 1-9)")
    if args.size < 16:
        raise UserError("--size must be at least 16 pixels")
    if not args.no_window:
        _check_window_support()
    source = parse_source(args.camera)
    if args.record is not None:
        refuse_overwriting_inputs(args.record, [*args.style, *([source] if isinstance(source, str) else [])])
        from stylize.runtime.video.containers import output_format

        if output_format(args.record) is None:
            raise UserError(f"--record needs a video file (.mp4, .mkv, ...), not a folder: {args.record}")
    styles = [load_image(s, what="style image").rgb for s in args.style]
    store = store_from(args)
    family = args.model or default_family(store)
    weights = find_weights(store, family, {"decoder": args.weights} if args.weights else None)
    capture = Capture(source, loop=args.loop)  # first: a missing camera fails before models load
    try:
        engine = open_engine(store, weights, args.backend, args.device, verbose=True)
        cache = StyleCache(engine, store)
        vectors = [cache.vector(s) for s in styles]  # once per style, before the first frame
    except BaseException:
        capture.close()
        raise
    options = LiveOptions(
        size=args.size,
        alpha=args.alpha,
        preserve_color=args.preserve_color,
        window=not args.no_window,
        max_frames=args.frames,
        record=args.record,
        virtual_cam=args.virtual_cam,
        snapshot_dir=args.snapshot_dir,
        temporal=args.temporal,
    )
    recorder = Recorder(args.record, capture.fps) if args.record else None
    vcam = None
    ok = False
    try:
        if args.virtual_cam:
            first = capture.latest()
            if first is None:
                raise UserError(capture.error or f"{args.camera} gave no frames")
            h, w = shorter_side_size(first.bgr.shape[0], first.bgr.shape[1], args.size)
            vcam = _open_virtual_cam(w, h, capture.fps)
        session = LiveSession(engine, vectors, [s.stem for s in args.style], options)
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
    med = summary.times.medians()
    print(
        f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} fps), {summary.dropped} stale frames dropped; "
        f"median ms: pre {med['preprocess']:.1f}, inference {med['inference']:.1f}, temporal {med['temporal']:.1f}, "
        f"post {med['postprocess']:.1f}, "
        f"latency {med['latency']:.1f} ({engine.backend})"
    )
    if recorder is not None and recorder.frames:
        print(f"recorded {recorder.frames} frames to {args.record}")
    if capture.error:
        raise UserError(capture.error, exit_code=1)
    return 0
