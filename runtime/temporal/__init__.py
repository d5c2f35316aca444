"""Temporal stability for video and live stylisation (torch-free).

- ``flow``: OpenCV optical flow (DIS, Farneback), warping, forward-backward checks;
- ``cuts``: scene-cut detection on tiny frames;
- ``blend``: the output side, warp and mix (OpenCV here; torch on the engine's device in
  ``runtime.backends.torch_blend``);
- ``stabilizer``: the per-stream state machine (``--temporal off|on|strong``).

- ``metric``: the flicker metric (warping error, Lai et al. 2018) that ``stylize flicker`` runs.
"""

from .stabilizer import MODES, SETTINGS, Motion, Stabilizer, TemporalSettings, make_stabilizer, settings_for

__all__ = [
    "MODES",
    "SETTINGS",
    "Motion",
    "Stabilizer",
    "TemporalSettings",
    "make_stabilizer",
    "settings_for",
]
