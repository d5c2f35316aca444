"""Temporal stability for video and live stylisation (torch-free).

- ``flow``: OpenCV optical flow (DIS, Farneback), warping, forward-backward checks;
- ``cuts``: scene-cut detection on tiny frames;
- ``stats``: the state a model uses to smooth its feature statistics across frames;
- ``blend``: the output side, warp and mix (OpenCV here; torch on the engine's device in
  ``runtime.backends.torch_blend``);
- ``stabilizer``: the per-stream state machine (``--temporal off|on|strong``).

The flicker metric (warping error) is ``benchmarks/flicker.py``; ``stylize flicker`` runs it.
"""

from stylize.runtime.temporal.stabilizer import MODES, SETTINGS, Motion, Stabilizer, TemporalSettings, make_stabilizer, settings_for
from stylize.runtime.temporal.stats import FeatureStats, engine_takes_stats, stylize_frames

__all__ = [
    "MODES",
    "SETTINGS",
    "FeatureStats",
    "Motion",
    "Stabilizer",
    "TemporalSettings",
    "engine_takes_stats",
    "make_stabilizer",
    "settings_for",
    "stylize_frames",
]
