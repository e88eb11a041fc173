"""`accelsage mcp`: the MCP server over stdio, for desktop and IDE clients that start it as a subprocess.

It serves the same tools and resources as ``/mcp`` of `accelsage serve`, over the same services the
HTTP app builds (catalog, searcher, answerer, the worker pool and its time limit), answering in
threads rather than answer processes: one client asks one thing at a time. Stdout carries the
protocol only; logs and errors go to stderr.
"""

from __future__ import annotations

from typing import Any

import click

from index.errors import AccelsageError


def _check_corpus(settings: Any) -> None:
    """One line and exit 2 before the client connects when there is no corpus to search."""
    from index.state import StateDir
    from index.store import Store

    state = StateDir(settings.home)
    if not state.db_path.is_file():
        raise AccelsageError(f"no corpus in {state.root}: run `accelsage refresh` first")
    with Store(state.db_path) as store:
        store.check_sound()
        if store.chunk_count() == 0:
            raise AccelsageError(f"the corpus in {state.root} is empty: run `accelsage refresh` first")


@click.command("mcp")
def mcp() -> None:
    """Serve accelsage's tools (search, ask, estimate, plan, catalog, papers) to an MCP client over stdio.

    Point an MCP client (Claude Desktop, an IDE) at `accelsage mcp`; configuration comes from ACCELSAGE_*
    variables as for every command. For MCP over HTTP, `accelsage serve` serves the same tools at /mcp.
    """
    from api.app import build_services
    from api.mcp.server import build_server
    from api.metrics import Metrics
    from api.settings import load_settings

    settings = load_settings(answer_processes=0)
    _check_corpus(settings)
    services = build_services(settings, Metrics())
    try:
        build_server(lambda: services).run("stdio")
    finally:
        services.executor.shutdown(wait=False, cancel_futures=True)
        if services.answer_executor is not None:
            services.answer_executor.shutdown(wait=False, cancel_futures=True)
