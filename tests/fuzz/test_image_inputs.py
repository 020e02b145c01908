"""Random and broken image bytes and references fed to the domain's decoding entry points.

Each entry point answers its documented result or raises its documented error, whatever it
is given (tests/support/bad_images.py draws the bytes):

- ``decode_inline``: bytes, None for an http(s) URL, or ``InvalidImage``; base64 text
  round-trips whatever its alphabet, padding and line breaks;
- ``probe``: the header's facts (the format its magic bytes name, a size of at least one
  pixel and at most Pillow's limit), or ``InvalidImage``, before decoding any pixel: a header
  that declares a huge image over a few bytes is refused;
- ``render``, ``fit_base``, ``fit_mask`` from any input ``probe`` accepts: a decodable image,
  or ``InvalidImage``;
- ``InputResolver.resolve``: a ``ResolvedImage`` or a ``Violation`` at the reference's place;
  ``InputResolver.inspect`` then ``fit`` over an edit's images and mask: what a record keeps
  of them, or a ``Violation`` naming the first that cannot be decoded;
  ``record_params``: the parameters with each long reference replaced by its digest.

The inputs here are small (their declared sizes up to 512 pixels a side) so every example
stays cheap; what a large declared size costs a running server is fuzzed over HTTP
(test_bad_requests.py). An example that meets a failure already known (``KNOWN_FAILURES``,
tests/support/bad_requests.py) is set aside, and the test ends xfailed naming it.
"""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from PIL import Image

from emulator.domain.drawing import InvalidImage, RenderSpec, decode_inline, probe, render
from emulator.domain.drawing.inputs import ImageLimits, sniff
from emulator.domain.drawing.render import fit_base, fit_mask
from emulator.domain.errors import Violation
from emulator.domain.inputs import MAX_KEPT_REFERENCE, Fitted, InputResolver, OwnFile, record_params
from emulator.domain.rules import ResolvedImage
from tests.support import bad_images
from tests.support.bad_requests import fuzz, known_failures_set_aside, unless_known

EDGE = 512
# Each test runs twice: every day, and (slow) on four times as many examples.
BUDGETS = [
    pytest.param(5.0, id="everyday"),
    # ~35 s on two cores for the module; the [everyday] run is the same test.
    pytest.param(20.0, id="whole", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("scale", BUDGETS)
def test_probe_answers_the_header_or_invalid_image(scale: float) -> None:
    @fuzz(scale)
    @given(data=bad_images.image_bytes(EDGE))
    def run(data: bytes) -> None:
        try:
            info = probe(data)
        except InvalidImage as exc:
            event(f"refused: {exc}"[:48])
            return
        event(f"accepted: {info.format}")
        assert info.format == sniff(data)
        assert info.width >= 1
        assert info.height >= 1
        assert Image.MAX_IMAGE_PIXELS is not None
        assert info.width * info.height <= Image.MAX_IMAGE_PIXELS

    with known_failures_set_aside():
        run()


@pytest.mark.parametrize("scale", BUDGETS)
def test_a_huge_declared_size_is_refused_from_the_header(scale: float) -> None:
    @fuzz(scale)
    @given(data=bad_images.huge_dimensions())
    def run(data: bytes) -> None:
        with pytest.raises(InvalidImage, match=r"too large|not a valid|truncated"):
            probe(data)

    with known_failures_set_aside():
        run()


@pytest.mark.parametrize("scale", BUDGETS)
def test_decode_inline_answers_bytes_none_or_invalid_image(scale: float) -> None:
    @fuzz(scale)
    @given(ref=bad_images.references(EDGE))
    def run(ref: str) -> None:
        try:
            data = decode_inline(ref)
        except InvalidImage as exc:
            event(f"refused: {exc}"[:60])
            return
        if data is None:
            assert ref.strip().lower().startswith(("http://", "https://"))
        else:
            assert isinstance(data, bytes)
            assert data

    with known_failures_set_aside():
        run()


@pytest.mark.parametrize("scale", BUDGETS)
def test_base64_round_trips_in_every_spelling(scale: float) -> None:
    @fuzz(scale)
    @given(data=st.binary(min_size=1, max_size=256), text=st.data())
    def run(data: bytes, text: st.DataObject) -> None:
        encoded = text.draw(bad_images.encoded(data))
        assert decode_inline(encoded) == data
        assert decode_inline(f"data:image/png;base64,{encoded}") == data

    with known_failures_set_aside():
        run()


def _accepted(data: bytes) -> bool:
    try:
        probe(data)
    except InvalidImage:
        return False
    return True


def _spec(**fields: Any) -> RenderSpec:
    values: dict[str, Any] = {
        "seed": 0,
        "prompt": "fuzz",
        "index": 0,
        "width": 64,
        "height": 48,
        "output_format": "png",
        "compression": 100,
        "transparent": False,
        "labels": (),
        "provenance": (),
    }
    values.update(fields)
    return RenderSpec(**values)


def _decodes(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.size


@pytest.mark.parametrize("scale", BUDGETS)
def test_render_from_any_accepted_input_is_an_image_or_invalid_image(scale: float) -> None:
    @fuzz(scale)
    @given(
        data=bad_images.image_bytes(EDGE).filter(_accepted),
        role=st.sampled_from(["base", "mask", "both"]),
        transparent=st.booleans(),
        fmt=st.sampled_from(["png", "jpeg", "webp"]),
    )
    def run(data: bytes, role: str, transparent: bool, fmt: str) -> None:
        inputs: dict[str, bytes] = {}
        if role in ("base", "both"):
            inputs["base"] = data
        if role in ("mask", "both"):
            inputs["base"] = inputs.get("base", bad_images.VALID["png-rgb"])
            inputs["mask"] = data
        spec = _spec(output_format=fmt, transparent=transparent and fmt != "jpeg", **inputs)
        try:
            out = unless_known(lambda: render(spec), "render")
        except InvalidImage as exc:
            event(f"refused: {exc}")
            return
        event("rendered")
        assert _decodes(out) == (64, 48)

    with known_failures_set_aside():
        run()


@pytest.mark.parametrize("scale", BUDGETS)
def test_fitting_an_accepted_input_is_a_png_or_invalid_image(scale: float) -> None:
    @fuzz(scale)
    @given(
        data=bad_images.image_bytes(EDGE).filter(_accepted),
        mask=st.booleans(),
        transparent=st.booleans(),
    )
    def run(data: bytes, mask: bool, transparent: bool) -> None:
        try:
            out = unless_known(
                lambda: fit_mask(data, 32, 24) if mask else fit_base(data, 32, 24, transparent),
                "fit",
            )
        except InvalidImage as exc:
            event(f"refused: {exc}")
            return
        if out is None:  # no larger than the output: a record keeps it as sent
            event("kept as sent")
            return
        event("fitted")
        assert out.startswith(bad_images.PNG_MAGIC)
        assert _decodes(out) == (32, 24)

    with known_failures_set_aside():
        run()


async def _no_own_file(own: OwnFile, owner: str) -> bytes | None:
    return None


@pytest.mark.parametrize("scale", BUDGETS)
def test_resolving_a_reference_answers_an_image_or_a_violation(scale: float) -> None:
    @fuzz(scale)
    @given(ref=bad_images.references(EDGE), index=st.integers(0, 15))
    def run(ref: str, index: int) -> None:
        resolver = InputResolver(_no_own_file, fetcher=None)
        loc = ("images", index)
        found = unless_known(lambda: asyncio.run(resolver.resolve(ref, loc, owner="k")), "resolve")
        if isinstance(found, Violation):
            event(f"violation: {found.message}"[:60])
            assert found.loc == loc
            assert found.message
            return
        event(f"resolved: {found.info.format}")
        assert isinstance(found, ResolvedImage)
        assert found.info == probe(found.data)

    with known_failures_set_aside():
        run()


@pytest.mark.parametrize("scale", BUDGETS)
def test_decoding_an_edits_inputs_answers_what_a_record_keeps_or_a_violation(
    scale: float,
) -> None:
    @fuzz(scale)
    @given(
        images=st.lists(bad_images.image_bytes(EDGE), min_size=1, max_size=3),
        mask=st.one_of(st.none(), bad_images.image_bytes(EDGE)),
        transparent=st.booleans(),
    )
    def run(images: list[bytes], mask: bytes | None, transparent: bool) -> None:
        resolver = InputResolver(_no_own_file, fetcher=None, limits=ImageLimits())

        async def decode() -> Fitted | Violation | None:
            inspected = [resolver.inspect(data, ("image", i)) for i, data in enumerate(images)]
            mask_found = resolver.inspect(mask, ("mask",)) if mask is not None else None
            found = [*inspected, mask_found]
            if any(isinstance(item, Violation) for item in found):
                return None  # refused from the header: the request is answered 400 already
            usable = [item for item in inspected if isinstance(item, ResolvedImage)]
            kept_mask = mask_found if isinstance(mask_found, ResolvedImage) else None
            return await resolver.fit(usable, kept_mask, 64, 48, transparent=transparent)

        fitted = unless_known(lambda: asyncio.run(decode()), "fit")
        if fitted is None:
            event("refused from the header")
        elif isinstance(fitted, Violation):
            event(f"violation: {fitted.message}"[:60])
            assert fitted.loc[0] in ("images", "mask")
        else:
            event("decoded")
            assert fitted.base is not None
            for kept in (fitted.base, fitted.mask):
                if kept is not None:
                    assert probe(kept).width <= max(64, EDGE)

    with known_failures_set_aside():
        run()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("scale", BUDGETS)
def test_record_params_keeps_every_other_parameter_and_digests_long_references(
    scale: float,
) -> None:
    @fuzz(scale)
    @given(
        params=st.dictionaries(st.text(max_size=12), JSON, max_size=4),
        images=st.lists(
            st.one_of(
                bad_images.references(EDGE),
                st.builds(lambda ref: {"image_url": ref}, bad_images.references(EDGE)),
                JSON,
            ),
            max_size=3,
        ),
        mask=st.one_of(st.none(), bad_images.references(EDGE), JSON),
        long_data=st.binary(min_size=MAX_KEPT_REFERENCE, max_size=MAX_KEPT_REFERENCE + 64),
    )
    def run(params: dict[str, Any], images: list[Any], mask: Any, long_data: bytes) -> None:
        long_ref = "data:image/png;base64," + base64.b64encode(long_data).decode()
        sent = {**params, "images": [*images, long_ref]}
        if mask is not None:
            sent["mask"] = mask
        kept = record_params(sent)
        for name, value in sent.items():
            if name not in ("images", "mask"):
                assert kept[name] is value
        assert kept["images"][-1]["bytes"] == len(long_data)
        assert len(kept["images"]) == len(sent["images"])

    with known_failures_set_aside():
        run()
