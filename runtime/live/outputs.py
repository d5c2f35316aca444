"""Where live frames can go besides a recording: a window, a virtual camera."""

from __future__ import annotations

from typing import Any

import cv2

from ..errors import UserError


def check_window_support() -> None:
    """UserError where this OpenCV build cannot open a window (opencv-python-headless)."""
    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() == "NONE":
        raise UserError(
            "this OpenCV build has no window support (opencv-python-headless); use --no-window, "
            "or pip uninstall opencv-python-headless && pip install opencv-python"
        )


def open_virtual_camera(width: int, height: int, fps: float) -> Any:
    """A pyvirtualcam camera (written to its documented API; unverified)."""
    try:
        import pyvirtualcam
    except ImportError:
        raise UserError("a virtual camera needs pyvirtualcam: pip install 'stylize[virtualcam]'") from None
    try:
        return pyvirtualcam.Camera(width=width, height=height, fps=fps)
    except RuntimeError as e:
        raise UserError(f"cannot open a virtual camera: {e}") from None
