"""Reading a ``multipart/form-data`` body: every way it can be malformed is one refusal.

Starlette's parser takes a body that ends inside a part (a client cut off, a closing boundary
that names another boundary) as a complete form without that part, and leaves the part's
spooled file open. ``read_form`` watches the body go by for the closing delimiter
(``CRLF--boundary--``, or ``--boundary--`` as the whole form) and fails the parse where the body
ends without one, so the parser closes what it opened and the request is refused like any
other malformed form. Watching costs a search of each chunk and a few bytes of memory.
"""

from __future__ import annotations

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message, Receive

from emulator.domain.errors import DomainError, InvalidBody


async def read_form(
    request: Request, *, max_files: int, max_fields: int, max_part_size: int = 1024 * 1024
) -> FormData:
    """The request's form, whose parts the caller closes (``await form.close()``); raises
    ``InvalidBody("bad_form", <the parser's words>)`` for a form it cannot read whole, and lets
    a ``DomainError`` of the body's reading through (a size limit, a server stopping)."""
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary", b"")
    watched = Request(request.scope, require_closing(request.receive, boundary))
    try:
        return await watched.form(
            max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
        )
    except DomainError:  # the server began to stop, or the body passed its size limit
        raise
    except HTTPException as exc:  # Starlette's answer to a parse error, inside an app
        raise InvalidBody("bad_form", str(exc.detail)) from None
    except Exception as exc:  # python-multipart's and Starlette's errors share no base
        raise InvalidBody("bad_form", str(exc)) from None


def require_closing(receive: Receive, boundary: bytes) -> Receive:
    """``receive``, raising ``MultipartParseError`` in place of the last chunk of a body that
    held no closing delimiter for ``boundary`` (a form parser closes what it opened then)."""
    closing = b"\r\n--" + boundary + b"--"
    keep = len(closing) - 1
    # The body's start counts as a line start: a form of no parts is ``--boundary--``.
    tail = b"\r\n"
    closed = not boundary  # no boundary: the parser refuses the form before reading it

    async def checked() -> Message:
        nonlocal tail, closed
        message = await receive()
        if message["type"] != "http.request" or closed:
            return message
        window = tail + message.get("body", b"")
        if closing in window:
            closed = True
        elif not message.get("more_body", False):
            raise MultipartParseError("The body ends before its closing boundary.")
        else:
            tail = window[-keep:]
        return message

    return checked
