"""The OpenAI Images protocol (OpenAI, AGCloud) without I/O: requests, typed answers, SSE."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypedDict, cast

import httpx

from clients._core import Core, Flow, body_of, fail, providers_of
from clients._errors import ProviderError, ServerError, UsageError, provider_error

IMAGES_PROVIDERS = providers_of("images")
ImageInput = bytes | str | os.PathLike[str] | IO[bytes]
"""An input image: its bytes, a file path, or a binary file object."""

# Relative to the base URL, which includes ``/v1`` (``https://api.openai.com/v1``).
_EDIT_PATHS = {"openai": "/images/edits", "agcloud": "/image/edits"}
_GENERATE_PATHS = {"openai": "/images/generations"}
_MAGIC = ((b"\x89PNG", "image/png", "png"), (b"\xff\xd8", "image/jpeg", "jpg"))


class ImageParams(TypedDict, total=False):
    """The optional fields of a generation or an edit, as the Images API names them.

    Example::

        params: ImageParams = {"size": "1536x1024", "quality": "low", "n": 2}
        client.generate("a red apple", **params)
    """

    n: int
    size: str
    quality: str
    background: str
    output_format: str
    output_compression: int
    moderation: str
    input_fidelity: str
    partial_images: int
    user: str


@dataclass(frozen=True, slots=True)
class ImageUsage:
    """Tokens a request used (``input_tokens`` = text + image input tokens).

    Example::

        print(result.usage.total_tokens if result.usage else "no usage")
    """

    input_tokens: int
    output_tokens: int
    total_tokens: int
    text_tokens: int = 0
    image_tokens: int = 0

    @classmethod
    def parse(cls, body: Mapping[str, Any] | None) -> ImageUsage | None:
        """The usage object of a response or event; None when absent.

        Example::

            ImageUsage.parse({"input_tokens": 10, "output_tokens": 20, "total_tokens": 30})
        """
        if not body:
            return None
        details = body.get("input_tokens_details") or {}
        return cls(
            input_tokens=body.get("input_tokens", 0),
            output_tokens=body.get("output_tokens", 0),
            total_tokens=body.get("total_tokens", 0),
            text_tokens=details.get("text_tokens", 0),
            image_tokens=details.get("image_tokens", 0),
        )


@dataclass(frozen=True, slots=True)
class ImagesResult:
    """A generation's or an edit's images, decoded, with the settings the provider resolved.

    Example::

        result = client.generate("a red apple", size="1536x1024")
        Path(f"apple.{result.output_format}").write_bytes(result.images[0])
    """

    images: tuple[bytes, ...]
    created: int
    size: str | None
    quality: str | None
    background: str | None
    output_format: str | None
    usage: ImageUsage | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class PartialImage:
    """A stream's partial render: ``index`` counts from 0, ``image`` is the decoded bytes.

    Example::

        if isinstance(event, PartialImage):
            print("partial", event.index, len(event.image))
    """

    type: str
    index: int
    image: bytes
    created_at: int | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None


@dataclass(frozen=True, slots=True)
class ImageCompleted:
    """A stream's final image, with the tokens it used.

    Example::

        if isinstance(event, ImageCompleted):
            Path("out.png").write_bytes(event.image)
    """

    type: str
    image: bytes
    usage: ImageUsage | None
    created_at: int | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None


ImageEvent = PartialImage | ImageCompleted


@dataclass(slots=True)
class SSEDecoder:
    """Server-sent events, line by line: ``feed`` returns the ``(event, data)`` pairs ended."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> list[tuple[str, str]]:
        line = line.rstrip("\r\n")
        if not line:
            if not self._data:
                self._event = ""
                return []
            done = [(self._event or "message", "\n".join(self._data))]
            self._event, self._data = "", []
            return done
        if line.startswith(":"):
            return []
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return []


def _error_parts(body: Any) -> tuple[str, str | None]:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message")), error.get("code")
    return str(body), None


def raise_for(response: httpx.Response) -> None:
    """Raise the provider error of an ``{"error": {...}}`` answer; pass a success."""
    if response.is_error:
        body = body_of(response)
        message, code = _error_parts(body)
        raise fail(response, body, message, code, None)


def _settings(data: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("size", "quality", "background", "output_format")
    return {key: data.get(key) for key in keys}


def event_of(name: str, text: str, response: httpx.Response) -> Iterator[ImageEvent]:
    """The typed event of one SSE pair; an ``error`` event raises; unknown types are skipped."""
    data = json.loads(text)
    kind = data.get("type", name) if isinstance(data, dict) else name
    if kind == "error":
        message, code = _error_parts(data)
        error = data.get("error") or {}
        cls: type[ProviderError] = ServerError
        if error.get("type") != "server_error":
            cls = type(provider_error(response, message="", code=code, request_id=None, body=None))
        raise cls(
            message,
            status=500 if cls is ServerError else 400,
            code=code,
            request_id=response.headers.get("x-request-id"),
            body=data,
            response=response,
        )
    if kind.endswith(".partial_image"):
        image = base64.b64decode(data["b64_json"])
        index = data.get("partial_image_index", 0)
        yield PartialImage(kind, index, image, data.get("created_at"), **_settings(data))
    elif kind.endswith(".completed"):
        image = base64.b64decode(data["b64_json"])
        usage = ImageUsage.parse(data.get("usage"))
        yield ImageCompleted(kind, image, usage, data.get("created_at"), **_settings(data))


def _read(source: ImageInput) -> tuple[str, bytes]:
    """(file name, bytes) of an input image."""
    if isinstance(source, bytes | bytearray):
        return "image", bytes(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        return path.name, path.read_bytes()
    name = getattr(source, "name", "image")
    return Path(str(name)).name, source.read()


def _part(source: ImageInput) -> tuple[str, bytes, str]:
    name, data = _read(source)
    for magic, content_type, suffix in _MAGIC:
        if data.startswith(magic):
            return (name if "." in name else f"{name}.{suffix}"), data, content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return (name if "." in name else f"{name}.webp"), data, "image/webp"
    return name, data, "application/octet-stream"


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _image_parts(image: ImageInput | Sequence[ImageInput]) -> list[tuple[str, Any]]:
    """One ``image`` part, or a list as repeated ``image[]`` parts (even a list of one)."""
    if isinstance(image, bytes | bytearray | str | os.PathLike):
        return [("image", _part(image))]
    if isinstance(image, Sequence):
        return [("image[]", _part(item)) for item in cast(Sequence[ImageInput], image)]
    return [("image", _part(image))]


class ImagesCore(Core):
    """Generations and edits as flows; streams answer the open response."""

    def _generate_path(self) -> str:
        path = _GENERATE_PATHS.get(self.config.provider.name)
        if path is None:
            raise UsageError(f"{self.config.provider.name} has no generation endpoint; use edit")
        return path

    def generate(
        self, prompt: str, model: str, params: ImageParams, *, stream: bool = False
    ) -> Flow[httpx.Response]:
        body = {"model": model, "prompt": prompt, **params}
        if stream:
            body["stream"] = True
        response = yield from self.call("POST", self._generate_path(), json=body, stream=stream)
        raise_for(response)
        return response

    def edit(
        self,
        prompt: str,
        image: ImageInput | Sequence[ImageInput],
        mask: ImageInput | None,
        model: str,
        params: ImageParams,
        *,
        stream: bool = False,
    ) -> Flow[httpx.Response]:
        files = _image_parts(image)
        if mask is not None:
            files.append(("mask", _part(mask)))
        fields = {"model": model, "prompt": prompt, **params}
        if stream:
            fields["stream"] = True
        data = {key: _form_value(value) for key, value in fields.items()}
        path = _EDIT_PATHS[self.config.provider.name]
        response = yield from self.call("POST", path, data=data, files=files, stream=stream)
        raise_for(response)
        return response


def images_result(response: httpx.Response) -> ImagesResult:
    """The typed ``ImagesResponse``."""
    body = response.json()
    return ImagesResult(
        images=tuple(base64.b64decode(item["b64_json"]) for item in body.get("data", [])),
        created=body.get("created", 0),
        usage=ImageUsage.parse(body.get("usage")),
        request_id=response.headers.get("x-request-id"),
        **_settings(body),
    )


class EventParser:
    """Turns a stream's lines into typed events (one per stream)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._decoder = SSEDecoder()

    def __call__(self, line: str) -> Iterator[ImageEvent]:
        for name, text in self._decoder.feed(line):
            yield from event_of(name, text, self._response)
