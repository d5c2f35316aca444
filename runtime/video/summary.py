"""What a conversion reports back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ConversionSummary:
    """What a conversion did and how long each stage worked.

    ``decode_s``/``process_s``/``encode_s`` are the seconds each pipeline stage spent
    working rather than waiting on its queues. With perfect overlap the slowest stage is
    busy the whole run: ``efficiency`` = its busy time / wall time (1.0 is ideal). On a
    machine with fewer cores than busy stages the busy times include time spent waiting
    for a core (or for the GIL), so they overstate each stage's own cost.
    """

    source: str
    output: str
    frames_in: int
    """Frames decoded (corrupt ones not counted)."""
    frames_out: int
    """Frames written (differs from ``frames_in`` only when ``fps`` converts the rate)."""
    frames_skipped: int
    """Corrupt packets or frames skipped."""
    frames_dropped: int
    """Frames left out by ``fps`` rate conversion."""
    timestamps_adjusted: int
    """Frames whose timestamp was moved to keep timestamps strictly increasing."""
    input_size: tuple[int, int]
    """(width, height) of the decoded frames (display orientation)."""
    output_size: tuple[int, int]
    """(width, height) given to ``process`` and written."""
    audio_copied: int
    audio_transcoded: int
    audio_dropped: int
    """Audio streams not written (PNG frame folders hold no audio)."""
    wall_s: float
    fps: float
    """Frames written per second of wall time."""
    decode_s: float
    process_s: float
    encode_s: float
    decoder: str = ""
    """What decoded: ``h264 (cpu, 3 threads)``, ``h264 (nvdec, cuda:0)``, ``image files (...)``."""
    encoder: str = ""
    """What encoded: ``libx264 (cpu, auto threads)``, ``h264_nvenc (cuda:0)``, ``PNG files``."""
    decoder_fallback: str = ""
    """Why NVDEC was wanted and the CPU decoded instead ("" where it was not wanted, or ran)."""
    encoder_fallback: str = ""
    """Why NVENC was wanted and the CPU encoded instead."""
    frames_expected: int | None = None
    """Frames the source states it has (its container's count, or its duration times its
    frame rate); None where unknown (a stream)."""
    ended_early: bool = False
    """The frames stopped well before the end the source states (a cut-off file)."""

    def shortfall(self) -> str:
        """One line where the source was damaged: frames decoded vs expected, and why
        (corrupt data skipped, or an input that ends early); "" for an intact source."""
        if not self.frames_skipped and not self.ended_early:
            return ""
        counted = f"{self.frames_in} of {self.frames_expected}" if self.frames_expected else str(self.frames_in)
        why = [f"{self.frames_skipped} corrupt packet(s) or frame(s) skipped"] if self.frames_skipped else []
        why += ["the input ends early (a cut-off file?)"] if self.ended_early else []
        return f"{self.source}: {counted} frames decoded: {', and '.join(why)}"

    @property
    def bottleneck(self) -> str:
        stages = {"decode": self.decode_s, "process": self.process_s, "encode": self.encode_s}
        return max(stages, key=lambda k: stages[k])

    @property
    def efficiency(self) -> float:
        return max(self.decode_s, self.process_s, self.encode_s) / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bottleneck": self.bottleneck, "efficiency": self.efficiency}

    def describe(self) -> str:
        """One line for the terminal."""
        audio = []
        if self.audio_copied:
            audio.append(f"{self.audio_copied} copied")
        if self.audio_transcoded:
            audio.append(f"{self.audio_transcoded} re-encoded")
        if self.audio_dropped:
            audio.append(f"{self.audio_dropped} dropped")
        extra = f", {self.frames_skipped} corrupt skipped" if self.frames_skipped else ""
        extra += f", {self.frames_in} of {self.frames_expected} decoded (the input ends early)" if self.ended_early else ""
        return (
            f"{self.output}: {self.frames_out} frames {self.output_size[0]}x{self.output_size[1]}{extra}, "
            f"audio {', '.join(audio) or 'none'}; {self.wall_s:.1f} s, {self.fps:.1f} fps "
            f"(busy: decode {self.decode_s:.1f} s, process {self.process_s:.1f} s, encode {self.encode_s:.1f} s)"
            + (f"; decoded by {self.decoder}, encoded by {self.encoder}" if self.decoder and self.encoder else "")
        )
