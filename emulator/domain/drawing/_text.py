"""Captions drawn on a picture: the prompt wrapped at the top, the labels at the bottom."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

ELLIPSIS = "\u2026"
MAX_PROMPT_LINES = 12
MAX_PROMPT_CHARS = 4000  # far more than twelve lines hold; bounds the work for huge prompts
PANEL_SHADE = 0.4  # the panel behind text keeps this share of the picture's brightness
PANEL_ALPHA = 160  # and on a transparent picture, at least this opacity

_SHADE = [round(v * PANEL_SHADE) for v in range(256)]
_PANEL_LUT = {
    "RGB": _SHADE * 3,
    "RGBA": _SHADE * 3 + [max(v, PANEL_ALPHA) for v in range(256)],
}


@functools.lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` pixels (loaded once per size)."""
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=8192)
def _advance(size: int, char: str) -> float:
    return font(size).getlength(char)


def text_width(text: str, size: int) -> float:
    """The drawn width of ``text`` at ``size``: the built-in font lays out without kerning, so
    summing cached advances is exact and much faster than measuring each candidate line."""
    return sum(_advance(size, char) for char in text)


def draw_caption(image: Image.Image, prompt: str, labels: Sequence[tuple[str, str]]) -> None:
    """Draw ``prompt`` and ``labels`` on ``image`` (RGB or RGBA) in place, sized to the image.

    White text on a darkened panel stays readable on any colour and on transparency.
    """
    width, height = image.size
    unit = min(width, height)
    size = max(8, round(unit / 28))
    label_size = max(8, round(size * 0.75))
    margin = max(2, round(unit / 32))
    room = max(1, width - 2 * margin)

    line_height = round(size * 1.25)
    max_lines = max(1, min(MAX_PROMPT_LINES, int((height * 0.6 - margin) // line_height)))
    lines = wrap(_clean(prompt), size, room, max_lines)
    _block(image, lines, size, (margin, margin), line_height)

    label_height = round(label_size * 1.3)
    label_lines = [truncate(_clean(f"{key}: {value}"), label_size, room) for key, value in labels]
    top = height - margin - len(label_lines) * label_height
    _block(image, label_lines, label_size, (margin, top), label_height)


def _block(
    image: Image.Image, lines: list[str], size: int, xy: tuple[int, int], line_height: int
) -> None:
    if not lines:
        return
    x, y = xy
    pad = max(1, size // 3)
    longest = max(text_width(line, size) for line in lines)
    box = (
        max(1, x - pad),
        max(1, y - pad),
        min(image.width - 1, round(x + longest + pad)),
        min(image.height - 1, y + len(lines) * line_height + pad),
    )
    if box[2] > box[0] and box[3] > box[1]:
        image.paste(image.crop(box).point(_PANEL_LUT[image.mode]), box[:2])
    draw = ImageDraw.Draw(image)
    face = font(size)
    for number, line in enumerate(lines):
        draw.text((x, y + number * line_height), line, fill="white", font=face)


def _clean(text: str) -> str:
    # One line of printable characters: control characters and lone surrogates cannot be drawn.
    words = text[:MAX_PROMPT_CHARS].split()
    return " ".join("".join(ch for ch in word if ch.isprintable()) for word in words)


def wrap(text: str, size: int, room: int, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines`` lines of at most ``room`` pixels.

    A word wider than a line is broken; text that does not fit ends with an ellipsis.
    """
    lines: list[str] = []
    current = ""
    used = 0.0
    space = _advance(size, " ")
    for word in text.split():
        word_width = text_width(word, size)
        if not current and word_width <= room:
            current, used = word, word_width
            continue
        if current and used + space + word_width <= room:
            current, used = f"{current} {word}", used + space + word_width
            continue
        if current:
            lines.append(current)
            if len(lines) == max_lines:
                return _ellipsize(lines, size, room)
        while text_width(word, size) > room:
            cut = _fitting_prefix(word, size, room)
            lines.append(word[:cut])
            word = word[cut:]
            if len(lines) == max_lines:
                return _ellipsize(lines, size, room)
        current, used = word, text_width(word, size)
    if current:
        lines.append(current)
    return lines


def truncate(text: str, size: int, room: int) -> str:
    """``text`` if it fits in ``room`` pixels, else its longest fitting prefix and an ellipsis."""
    return text if text_width(text, size) <= room else _ellipsized(text, size, room)


def _ellipsized(text: str, size: int, room: int) -> str:
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if text_width(text[:middle].rstrip() + ELLIPSIS, size) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS


def _ellipsize(lines: list[str], size: int, room: int) -> list[str]:
    lines[-1] = _ellipsized(lines[-1], size, room)
    return lines


def _fitting_prefix(text: str, size: int, room: int) -> int:
    """The length of the longest prefix of ``text`` (at least one character) that fits."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if text_width(text[:middle], size) <= room:
            low = middle
        else:
            high = middle - 1
    return low
