"""The torch-free ground floor: store, image I/O, engines, capture, video, CLI.

Nothing here imports torch or ``stylize.training`` at import time (docs/architecture.md, "Floors").
"""
