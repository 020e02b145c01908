"""Provenance in an image file's metadata: PNG text chunks, a JPEG comment, a WebP XMP packet."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Literal
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from emulator.domain.drawing.inputs import open_image

PNG_PREFIX = "imgemu:"
SOFTWARE = "imgemu"
XMP_NAMESPACE = "https://imgemu.invalid/ns/provenance/1.0/"
MAX_KEY = 64
MAX_COMMENT = 65_000  # a JPEG segment holds at most 65,533 bytes

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_XML_EXTRA_ESCAPES = {"\r": "&#13;"}  # a bare CR would come back as LF

Provenance = tuple[tuple[str, str], ...]


def check_provenance(provenance: Provenance) -> None:
    """Raise ``ValueError`` unless every key is a short XML-safe name and every value is text
    that PNG, JPEG and XMP metadata can all carry."""
    seen: set[str] = set()
    for key, value in provenance:
        if not _KEY.fullmatch(key) or len(key) > MAX_KEY:
            raise ValueError(f"provenance key {key!r} is not a name of at most {MAX_KEY} chars")
        if key in seen:
            raise ValueError(f"provenance key {key!r} is repeated")
        seen.add(key)
        if _FORBIDDEN.search(value):
            raise ValueError(f"provenance value of {key!r} holds a control character or surrogate")
    if len(jpeg_comment(provenance)) > MAX_COMMENT:
        raise ValueError(f"provenance is longer than {MAX_COMMENT} bytes")


def png_text(provenance: Provenance) -> list[tuple[str, str]]:
    """The PNG text chunks (keyword, value) that carry ``provenance``."""
    return [("Software", SOFTWARE), *((PNG_PREFIX + key, value) for key, value in provenance)]


def save_options(fmt: Literal["jpeg", "webp"], provenance: Provenance) -> dict[str, bytes]:
    """The Pillow ``save`` keyword arguments that write ``provenance`` into a jpeg/webp file."""
    if fmt == "jpeg":
        return {"comment": jpeg_comment(provenance)}
    return {"xmp": xmp_packet(provenance)}


def jpeg_comment(provenance: Iterable[tuple[str, str]]) -> bytes:
    """``provenance`` as a JPEG comment: a JSON object of strings."""
    return json.dumps(dict(provenance), ensure_ascii=False, separators=(",", ":")).encode()


def xmp_packet(provenance: Provenance) -> bytes:
    """``provenance`` as an XMP packet (WebP's ``XMP `` chunk)."""
    fields = "".join(
        f"<imgemu:{key}>{escape(value, _XML_EXTRA_ESCAPES)}</imgemu:{key}>"
        for key, value in provenance
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        f' xmlns:imgemu="{XMP_NAMESPACE}" xmp:CreatorTool="{SOFTWARE}">'
        f"{fields}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="r"?>'
    ).encode()


def read_provenance(data: bytes) -> dict[str, str]:
    """The provenance written by ``render`` into a PNG, JPEG or WebP file ({} if there is none).

    Raises ``InvalidImage`` if ``data`` is not an image, ``ValueError`` if the metadata is
    malformed.
    """
    image, info = open_image(data)
    with image:
        if info.format == "png":
            return {
                key.removeprefix(PNG_PREFIX): str(value)
                for key, value in image.info.items()
                if isinstance(key, str) and key.startswith(PNG_PREFIX)
            }
        if info.format == "jpeg":
            comment = image.info.get("comment")
            return _from_comment(comment) if isinstance(comment, bytes) else {}
        xmp = image.info.get("xmp")
        return _from_xmp(xmp) if isinstance(xmp, bytes) else {}


def _from_comment(comment: bytes) -> dict[str, str]:
    try:
        parsed = json.loads(comment)
    except ValueError as exc:
        raise ValueError("the JPEG comment is not JSON") from exc
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ValueError("the JPEG comment is not a JSON object of strings")
    return parsed


def _from_xmp(xmp: bytes) -> dict[str, str]:
    try:
        root = ElementTree.fromstring(xmp)
    except ElementTree.ParseError as exc:
        raise ValueError("the XMP packet is not well-formed XML") from exc
    prefix = "{" + XMP_NAMESPACE + "}"
    found: dict[str, str] = {}
    for description in root.iter(_RDF + "Description"):
        for element in description:
            if element.tag.startswith(prefix):
                found[element.tag.removeprefix(prefix)] = element.text or ""
    return found
