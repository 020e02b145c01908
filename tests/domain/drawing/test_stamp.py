"""Provenance stamped into an encoded file: readable as a fresh render's, the pixels untouched."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from emulator.domain.drawing import RenderSpec, read_provenance, render
from emulator.domain.drawing.metadata import Provenance
from emulator.domain.drawing.stamp import stamp
from tests.helpers import examples

KINDS = [("png", False), ("png", True), ("jpeg", False), ("webp", False), ("webp", True)]
_BASES: dict[tuple[str, bool], bytes] = {}


def _base(fmt: str, transparent: bool) -> bytes:
    if (fmt, transparent) not in _BASES:
        spec = RenderSpec(7, "a red apple", 0, 96, 64, fmt, 80, transparent, (), ())  # type: ignore[arg-type]
        _BASES[fmt, transparent] = render(spec)
    return _BASES[fmt, transparent]


def _pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.mode, image.size, image.tobytes()


_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_values = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=40,
)
provenances = st.dictionaries(_keys, _values, max_size=6).map(lambda d: tuple(d.items()))


@pytest.mark.parametrize(("fmt", "transparent"), KINDS)
@settings(max_examples=examples(20 / 60), deadline=None)
@given(provenance=provenances)
def test_stamped_provenance_reads_back_and_the_pixels_stay(
    fmt: str, transparent: bool, provenance: Provenance
) -> None:
    base = _base(fmt, transparent)
    stamped = stamp(base, provenance)
    assert read_provenance(stamped) == dict(provenance)
    assert _pixels(stamped) == _pixels(base)
    # Stamping a stamped file replaces the provenance rather than adding to it (not PNG's
    # text chunks, which the load mode only ever stamps once, onto the bare render).
    if fmt != "png":
        assert read_provenance(stamp(stamped, (("again", "yes"),))) == {"again": "yes"}


@pytest.mark.parametrize(("fmt", "transparent"), KINDS)
def test_a_stamp_matches_a_fresh_render_with_the_same_provenance(
    fmt: str, transparent: bool
) -> None:
    provenance = (("request_id", "mmsu_01abc"), ("prompt", "une pomme rouge, 林檎"))
    spec = RenderSpec(7, "a red apple", 0, 96, 64, fmt, 80, transparent, (), provenance)  # type: ignore[arg-type]
    fresh = render(spec)
    stamped = stamp(_base(fmt, transparent), provenance)
    assert read_provenance(stamped) == read_provenance(fresh) == dict(provenance)
    assert _pixels(stamped) == _pixels(fresh)


def test_provenance_metadata_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="control character"):
        stamp(_base("png", False), (("k", "a\x00b"),))


def test_a_file_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PNG, JPEG or WebP"):
        stamp(b"GIF89a....", ())
