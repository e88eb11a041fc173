"""Exception handlers: every error becomes ``{"error": {"message", "type"}}`` with the right status.

Library errors a user can fix (``AccelsageError``) answer their ``http_status``; validation
errors 422; timeouts 504; anything unexpected 500 with a generic message (details go to the log).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from index.errors import AccelsageError, Busy, NotFound

log = logging.getLogger("accelsage.api")

_TYPES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          406: "not_acceptable", 409: "conflict", 413: "request_too_large", 415: "unsupported_media_type",
          422: "validation_error", 429: "rate_limited", 503: "unavailable", 504: "timeout"}


class RequestTimeout(Exception):
    """A step of a request ran past ``request_timeout_s``."""


def error_response(status: int, message: str, kind: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The API's error JSON."""
    kind = kind or _TYPES.get(status, "error")
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


def validation_message(exc: RequestValidationError | ValidationError) -> str:
    """First problem as 'body.gpus: Input should be greater than or equal to 1' (+N more)."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body" or len(first.get("loc", ())) == 1)
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc or 'request'}: {first.get('msg', 'invalid')}{more}"


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _on_validation(request: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
    return error_response(422, validation_message(exc))


async def _on_accelsage(request: Request, exc: AccelsageError) -> JSONResponse:
    kind = "not_found" if isinstance(exc, NotFound) else "busy" if isinstance(exc, Busy) else "invalid_request"
    return error_response(exc.http_status, str(exc) or exc.__class__.__name__, kind)


async def _on_timeout(request: Request, exc: RequestTimeout) -> JSONResponse:
    return error_response(504, str(exc) or "the request took too long", "timeout")


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error; the server log has the details", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    # a model built inside a route from query values (roofline) fails the same way as a request body
    app.add_exception_handler(ValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(AccelsageError, _on_accelsage)  # type: ignore[arg-type]
    app.add_exception_handler(RequestTimeout, _on_timeout)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)
