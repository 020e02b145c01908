"""What the journal keeps of a request (emulator.domain.journal): fields summarized within
their bounds, images as their digest and header facts, keys as digests, the filter."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.domain.gateway import owner_of
from emulator.domain.images import Upload
from emulator.domain.journal import (
    FIELDS_BYTES,
    ITEMS,
    TEST_ID,
    TEXT,
    Filter,
    _Summary,
    clean_test_id,
    image_summary,
    json_size,
    key_digest,
    make_entry,
    presented_key,
    summarize,
)
from emulator.domain.records import JournalEntry
from tests.helpers import data_url, jpeg_bytes, png_bytes
from tests.seeds import SEED_GPT_IMAGE_1


def facts(data: bytes, width: int | None, height: int | None, fmt: str | None) -> dict[str, Any]:
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "width": width,
        "height": height,
        "format": fmt,
    }


def test_a_submit_body_is_kept_as_it_came() -> None:
    kept = summarize(SEED_GPT_IMAGE_1)
    assert kept is SEED_GPT_IMAGE_1  # the cheap path: nothing to bound, nothing copied
    assert summarize(None) is None


def test_a_long_prompt_is_its_first_characters_and_its_length() -> None:
    prompt = "a red apple, " * 2462  # 32,006 characters
    kept = summarize({"prompt": prompt, "n": 1})
    assert kept == {"prompt": {"text": prompt[:TEXT], "length": len(prompt)}, "n": 1}
    assert json_size(kept) < TEXT + 100


def test_inline_images_in_json_become_their_digest_and_header_facts() -> None:
    png, jpeg, mask = png_bytes((64, 32)), jpeg_bytes((20, 10)), png_bytes((64, 32), "RGBA")
    body = {
        "prompt": "edit",
        "images": [
            data_url(png),
            base64.b64encode(jpeg).decode(),  # bare base64
            {"image_url": data_url(png)},
            {"image_url": "https://example.com/in.png"},
            {"file_id": "file-01jd5x3k7m9q2w4e6r8t0y1u3i"},
            "https://example.com/other.png",
        ],
        "mask": {"image_url": data_url(mask)},
        "note": data_url(png),  # a data: URL anywhere is an image
    }
    assert summarize(body) == {
        "prompt": "edit",
        "images": [
            facts(png, 64, 32, "png"),
            facts(jpeg, 20, 10, "jpeg"),
            {"image_url": facts(png, 64, 32, "png")},
            {"image_url": "https://example.com/in.png"},
            {"file_id": "file-01jd5x3k7m9q2w4e6r8t0y1u3i"},
            "https://example.com/other.png",
        ],
        "mask": {"image_url": facts(mask, 64, 32, "png")},
        "note": facts(png, 64, 32, "png"),
    }


def test_what_does_not_decode_as_an_image_has_null_header_facts() -> None:
    png = png_bytes((16, 16))
    cut = png[: len(png) // 2]
    assert image_summary(cut) == facts(cut, None, None, None)
    text = base64.b64encode(b"not an image at all, only words " * 4).decode()
    assert summarize({"images": [text]})["images"][0] == facts(
        base64.b64decode(text), None, None, None
    )
    # Text that is no base64 at all stays text.
    assert summarize({"images": ["%" * 100]}) == {"images": ["%" * 100]}


def test_form_parts_become_their_digest_and_header_facts() -> None:
    one, two = png_bytes((8, 8)), png_bytes((4, 2))
    upload = Upload(
        fields={"prompt": "edit", "n": "2"},
        files={"image": [one, two], "mask": [one], "extra": [b"plain text"]},
    )
    assert summarize(upload) == {
        "prompt": "edit",
        "n": "2",
        "image": [facts(one, 8, 8, "png"), facts(two, 4, 2, "png")],
        "mask": facts(one, 8, 8, "png"),  # a part sent once is its summary, not a list
        "extra": facts(b"plain text", None, None, None),
    }


def test_a_sixteen_image_edit_is_bounded_in_bytes() -> None:
    images = [png_bytes((256 + i, 256)) for i in range(16)]
    upload = Upload(fields={"prompt": "x" * 40_000}, files={"image": images})
    kept = summarize(upload)
    assert json_size(kept) <= FIELDS_BYTES
    assert [image["sha256"] for image in kept["image"]] == [
        hashlib.sha256(data).hexdigest() for data in images
    ]
    assert [image["width"] for image in kept["image"]] == [256 + i for i in range(16)]
    # More parts than a list keeps: the first ones, then how many more.
    many = summarize(Upload(fields={}, files={"image": [images[0]] * (ITEMS + 5)}))
    assert len(many["image"]) == ITEMS + 1
    assert many["image"][-1] == {"more": 5}


def test_fields_too_large_for_the_bound_are_cut_tighter_then_left_out() -> None:
    many_texts = {f"field{i}": "y" * 900 for i in range(30)}
    kept = summarize(many_texts)
    assert json_size(kept) <= FIELDS_BYTES
    assert kept["field0"] == {"text": "y" * 80, "length": 900}  # the tightest bounds
    nested: Any = "deep"
    for _ in range(12):
        nested = {f"k{i}": nested for i in range(3)}
    assert json_size(summarize(nested)) <= FIELDS_BYTES


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=30) | st.dictionaries(st.text(), inner, max_size=30),
    max_leaves=200,
)


@given(json_values)
def test_every_summary_is_within_the_bound_and_never_longer_texts(value: Any) -> None:
    kept = summarize(value)
    assert json_size(kept) <= FIELDS_BYTES

    def texts(item: Any) -> list[str]:
        if isinstance(item, str):
            return [item]
        if isinstance(item, list):
            return [text for part in item for text in texts(part)]
        if isinstance(item, dict):
            return [text for part in item.values() for text in texts(part)]
        return []

    assert all(len(text) <= TEXT for text in texts(kept))


flat = st.dictionaries(
    st.text(max_size=12),
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=40),
    max_size=12,
)


@given(flat)
def test_the_cheap_path_keeps_what_the_walk_would(fields: dict[str, Any]) -> None:
    """A flat object kept as it is equals the walk's summary of it."""
    walked = _Summary().of(fields, (TEXT, ITEMS, 64))
    kept = summarize(fields)
    if kept is fields:
        assert json.dumps(walked) == json.dumps(kept)


def test_keys_are_kept_as_digests_only() -> None:
    assert key_digest("sk-secret") == owner_of("sk-secret") == owner_of("sk-secret")
    assert "sk-secret" not in key_digest("sk-secret")
    assert len(key_digest("sk-secret")) == 16
    assert presented_key("Bearer sk-1") == "sk-1"
    assert presented_key("  Key   k-2  ") == "k-2"
    assert presented_key("Bearer") is None
    assert presented_key(None) is None
    entry = make_entry(1.0, "openai", "images.generate", "POST", "/v1/images/generations",
                       None, "sk-secret", None, 200, 0.5, None, None)  # fmt: skip
    assert entry.key == key_digest("sk-secret")


def test_test_ids_are_bounded_and_printable() -> None:
    assert clean_test_id("  tests/test_a.py::test_b[1]  ") == "tests/test_a.py::test_b[1]"
    assert clean_test_id("x" * 500) == "x" * TEST_ID
    assert clean_test_id("a\tb\x7fc") == "abc"
    assert clean_test_id("   ") is None


def entry(**values: Any) -> JournalEntry:
    base: dict[str, Any] = {
        "time": 100.0, "provider": "openai", "operation": "images.edit", "method": "POST",
        "path": "/v1/images/edits", "query": None, "key": key_digest("sk-1"), "test_id": "t1",
        "status": 429, "seconds": 0.01, "request_id": None, "fields": None,
    }  # fmt: skip
    base.update(values)
    return JournalEntry(**base)


@pytest.mark.parametrize(
    ("where", "matches"),
    [
        (Filter(), True),
        (Filter(provider="openai"), True),
        (Filter(provider="agcloud"), False),
        (Filter(operation="images.edit"), True),
        (Filter(operation="images.generate"), False),
        (Filter(path="/v1/images/*"), True),
        (Filter(path="*/edits"), True),
        (Filter(path="/v1/image/*"), False),
        (Filter(path="/V1/*"), False),  # case-sensitive
        (Filter(status=429), True),
        (Filter(status=400), False),
        (Filter(status_class=4), True),
        (Filter(status_class=2), False),
        (Filter(key=key_digest("sk-1")), True),
        (Filter(key=key_digest("sk-2")), False),
        (Filter(test_id="t1"), True),
        (Filter(test_id="t2"), False),
        (Filter(since=100.0), True),
        (Filter(since=100.5), False),
        (Filter(provider="openai", status_class=4, since=50.0, path="*edits"), True),
        (Filter(provider="openai", status_class=5), False),
    ],
)
def test_each_condition_of_the_filter(where: Filter, matches: bool) -> None:
    assert where.matches(entry()) is matches
