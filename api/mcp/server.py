"""Build the MCP server: the tools of ``tools.py``, the card resources of ``resources.py``, one-line errors.

A tool error reaches the client as ``isError`` with one line a model can act on: argument and request
validation read like the REST API's 422 messages ("k: Input should be less than or equal to 50"), and
library errors (an unknown name with the closest ones, a model that fits nowhere) keep their message.
Anything else is a crash: the SDK logs its traceback and tells the client only which tool failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import metadata
from typing import Any

from fastapi import HTTPException
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError, UnexpectedToolError
from mcp.types import Resource
from pydantic import ValidationError

from api.deps import Services
from api.mcp.resources import MIME_TYPE, URI_TEMPLATE, card_listing, resolve_card
from api.mcp.tools import build_tools
from api.middleware_errors import RequestTimeout, validation_message
from index.errors import AccelsageError

INSTRUCTIONS = (
    "accelsage helps pick the techniques that make LLM training and inference faster on given GPUs. "
    "Use `ask` for a recommendation, `estimate` and `plan` for cost-model numbers, `search` and `paper` "
    "for what the papers say, and `techniques`, `gpus`, `models` to see the names it knows. "
    "Times are in ms, memory in decimal GB (the catalog's GPU memory in GiB), throughput in tokens/s."
)
# errors a caller can fix; their message is what the caller needs
CALLER_ERRORS = (AccelsageError, HTTPException, ValidationError, RequestTimeout)


def one_line(exc: BaseException) -> str:
    """The message of a caller's error on one line, worded as the REST API words it."""
    if isinstance(exc, ValidationError):
        message = validation_message(exc)
    elif isinstance(exc, HTTPException):
        message = str(exc.detail)
    else:
        message = str(exc) or exc.__class__.__name__
    return " ".join(message.split())


class AccelsageServer(MCPServer):
    """An ``MCPServer`` whose tool errors are one line and whose resource list names every paper card."""

    def __init__(self, get_services: Callable[[], Services], **options: Any) -> None:
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        super().__init__(**options)
        # the SDK configures the root logger when built; logging stays the host's (uvicorn's, the CLI's)
        root.handlers[:] = handlers
        root.setLevel(level)
        self.get_services = get_services

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, CALLER_ERRORS):
                raise ToolError(one_line(cause)) from cause
            if isinstance(exc, UnexpectedToolError):
                raise  # a crash: logged with its traceback, the client learns only the tool's name
            raise ToolError(one_line(exc)) from cause  # e.g. an unknown tool

    async def list_resources(self) -> list[Resource]:
        cards = [Resource(**entry) for entry in card_listing(self.get_services().catalog)]
        return [*await super().list_resources(), *cards]


def _version() -> str:
    try:
        return metadata.version("accelsage")
    except metadata.PackageNotFoundError:  # a checkout that was never installed
        return "0"


def build_server(get_services: Callable[[], Services]) -> AccelsageServer:
    """The accelsage MCP server over the services ``get_services`` returns when a request arrives."""
    server = AccelsageServer(get_services, name="accelsage", instructions=INSTRUCTIONS, version=_version())
    for tool in build_tools(get_services):
        server.add_tool(tool)

    def paper_card(paper_id: str) -> str:
        """Our card for one paper (Markdown): problem, idea, results, when to use it, requirements."""
        services = get_services()
        try:
            return resolve_card(services.catalog, services.settings.data_dir, paper_id)
        except AccelsageError as exc:
            raise ResourceNotFoundError(one_line(exc)) from exc

    server.resource(URI_TEMPLATE, name="paper-card", title="Paper card", mime_type=MIME_TYPE,
                    description="Our summary card of one paper, by arXiv id (e.g. paper://2205.14135) or slug.",
                    )(paper_card)
    return server
