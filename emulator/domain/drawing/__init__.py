"""Image bytes for the emulator: input images checked and decoded, outputs synthesised.

Plain Pillow, no HTTP. ``render`` draws a deterministic picture for a ``RenderSpec``;
``probe`` and ``decode_inline`` check what requests send; ``read_provenance`` reads back the
metadata ``render`` writes.
"""

from emulator.domain.drawing.inputs import (
    ImageInfo,
    ImageLimits,
    ImageTooLarge,
    InvalidImage,
    decode_inline,
    probe,
)
from emulator.domain.drawing.metadata import read_provenance
from emulator.domain.drawing.render import RenderSpec, placeholder, render

__all__ = [
    "ImageInfo",
    "ImageLimits",
    "ImageTooLarge",
    "InvalidImage",
    "RenderSpec",
    "decode_inline",
    "placeholder",
    "probe",
    "read_provenance",
    "render",
]
