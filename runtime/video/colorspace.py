"""Which YUV<->RGB matrix to use, so colours survive decode -> RGB -> encode.

Decoded frames say which matrix they were encoded with, or say nothing. For the silent
ones we assume what players assume: BT.709 from 720 lines up, BT.601 below. The encoder
converts back with the same matrix and writes it into the stream (with the source's
primaries and transfer tags, when it had them), so a player shows what the source showed.
Sources without a matrix (RGB codecs, image sequences) are written as BT.709.
"""

from __future__ import annotations

from dataclasses import dataclass

# AVColorSpace values (libavutil/pixfmt.h)
AVCOL_SPC_RGB = 0
AVCOL_SPC_BT709 = 1
AVCOL_SPC_UNSPECIFIED = 2
AVCOL_SPC_BT470BG = 5
AVCOL_SPC_SMPTE170M = 6
AVCOL_SPC_BT2020_NCL = 9
AVCOL_RANGE_MPEG = 1
AVCOL_PRI_UNSPECIFIED = 2
AVCOL_TRC_UNSPECIFIED = 2

# swscale matrix ids (SWS_CS_*), what VideoReformatter's src/dst_colorspace take
SWS_CS_ITU709 = 1
SWS_CS_ITU601 = 5
SWS_CS_BT2020 = 9

_SPC_TO_SWS = {
    AVCOL_SPC_BT709: SWS_CS_ITU709,
    AVCOL_SPC_BT470BG: SWS_CS_ITU601,
    AVCOL_SPC_SMPTE170M: SWS_CS_ITU601,
    AVCOL_SPC_BT2020_NCL: SWS_CS_BT2020,
}


@dataclass(frozen=True)
class ColorTags:
    """The matrix used for YUV<->RGB (a swscale id) and the tags written to the output."""

    sws_matrix: int
    colorspace: int
    primaries: int = AVCOL_PRI_UNSPECIFIED
    trc: int = AVCOL_TRC_UNSPECIFIED


BT709 = ColorTags(SWS_CS_ITU709, AVCOL_SPC_BT709)


def source_colors(frame: object, is_rgb: bool, declared: object | None = None) -> ColorTags:
    """The matrix a decoded PyAV ``VideoFrame`` should be converted to RGB with.

    ``declared``: the stream's codec context, whose tags stand in for ones the frame leaves
    unspecified. A GPU decoder (NVDEC) may hand back frames without the stream's tags; the
    matrix must not depend on which decoder ran, so both paths read the stream's too.
    """
    if is_rgb:
        return BT709

    def tag(name: str, unspecified: int) -> int:
        value = int(getattr(frame, name, unspecified))
        return int(getattr(declared, name, unspecified)) if value == unspecified and declared is not None else value

    spc = tag("colorspace", AVCOL_SPC_UNSPECIFIED)
    primaries = tag("color_primaries", AVCOL_PRI_UNSPECIFIED)
    trc = tag("color_trc", AVCOL_TRC_UNSPECIFIED)
    if spc in _SPC_TO_SWS:
        return ColorTags(_SPC_TO_SWS[spc], spc, primaries, trc)
    if int(getattr(frame, "height", 0)) >= 720:
        return ColorTags(SWS_CS_ITU709, AVCOL_SPC_BT709, primaries, trc)
    return ColorTags(SWS_CS_ITU601, AVCOL_SPC_SMPTE170M, primaries, trc)
