"""The torch-free ground floor: store, image I/O, engines, capture, video, CLI.

Nothing here imports torch or ``training`` at import time (DESIGN.md section 1).
"""
