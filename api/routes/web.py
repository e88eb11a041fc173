"""The web page at ``/`` (static HTML and vanilla JS from ``api/static``, no build step) and the API docs at ``/docs``.

``/docs`` is FastAPI's Swagger UI page with its script and stylesheet served from ``api/static/swagger-ui``
(swagger-ui-dist, Apache-2.0, licence and notice beside the files), so it works offline. Its one inline
script is allowed by its sha256 in the page's own Content-Security-Policy, nothing else inline is.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
SWAGGER_URL = "/static/swagger-ui"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)

router = APIRouter(tags=["web"])


@router.get("/", include_in_schema=False, summary="The web page")
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def docs_csp(html: bytes) -> str:
    """A CSP for the Swagger UI page: local files, its inline scripts by hash, data: images (icons in its CSS).

    Checked in Chromium (tests/test_api_hardening.py): the page renders, expands and runs "Try it out"
    with no violation; the styles Swagger UI sets from script go through the DOM, which CSP allows.
    """
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
                      for body in _INLINE_SCRIPT.findall(html))
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


@lru_cache(maxsize=4)
def _docs_page(openapi_url: str, title: str) -> tuple[bytes, str]:
    html = get_swagger_ui_html(
        openapi_url=openapi_url, title=f"{title} - API docs",
        swagger_js_url=f"{SWAGGER_URL}/swagger-ui-bundle.js", swagger_css_url=f"{SWAGGER_URL}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_URL}/favicon-32x32.png",
        # no online validator badge: it would load an image from validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None},
    ).body
    return html, docs_csp(html)


@router.get("/docs", include_in_schema=False, summary="Swagger UI for the API, served without a CDN")
def docs(request: Request) -> HTMLResponse:
    html, csp = _docs_page(request.app.openapi_url, request.app.title)
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})
