"""Video files through a frame-processing callable: decode -> process -> encode, with audio.

The model is not this package's concern: ``convert_video`` takes any callable that maps
RGB uint8 frames (N, H, W, 3) to frames of the same shape. See ``convert.py``.
"""

from .containers import FORMATS, OutputFormat, is_folder_output, output_format
from .convert import convert_video
from .image_sequence import natural_key
from .reader import iter_frames
from .source import open_source
from .source_types import Source, SourceInfo
from .summary import ConversionSummary

__all__ = [
    "FORMATS",
    "ConversionSummary",
    "OutputFormat",
    "Source",
    "SourceInfo",
    "convert_video",
    "is_folder_output",
    "iter_frames",
    "natural_key",
    "open_source",
    "output_format",
]
