"""Options and helpers shared by several subcommands."""

from __future__ import annotations

import argparse

from stylize.runtime.images import DEFAULT_MAX_PIXELS
from stylize.runtime.models import FAMILIES
from stylize.runtime.store import Store


def store_from(args: argparse.Namespace) -> Store:
    return Store(getattr(args, "home", None))


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=sorted(FAMILIES), help="model family (default: adain if installed, else magenta)")
    p.add_argument("--weights", metavar="NAME", help="decoder weights name for adain (e.g. one you trained), default adain-decoder")
    p.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "torch", "onnxruntime"),
        help="engine: torch, onnxruntime (graphs from `stylize export`), or auto (default: torch on a CUDA GPU, "
        "else onnxruntime where graphs are exported, else torch; says which and why)",
    )
    p.add_argument("--device", default="auto", help="torch device: auto, cpu or cuda (default auto)")


def add_temporal_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--temporal",
        choices=("off", "on", "strong"),
        default="on",
        help="temporal stabilisation against flicker: flow-guided blending of the previous stylised frame where the "
        "motion is reliable, reset at scene cuts (default on; strong: steadier, softer; off: frame by frame)",
    )


def add_max_pixels(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-pixels",
        type=float,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"refuse input images larger than N pixels (default {DEFAULT_MAX_PIXELS / 1e6:g} MP)",
    )


def parse_float_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return value
