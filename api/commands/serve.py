"""`accelsage serve`: the HTTP API and web page under uvicorn."""

from __future__ import annotations

import os

import click


def app_factory():  # noqa: ANN201 - uvicorn calls this in each worker process
    """The app for uvicorn's ``--factory`` mode: settings are read in the worker, not at import time."""
    from api.app import create_app

    return create_app()


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (default: ACCELSAGE_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Port (default: ACCELSAGE_PORT, 8000).")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Worker processes (default: ACCELSAGE_WORKERS, 1).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(host: str | None, port: int | None, workers: int | None, log_level: str) -> None:
    """Serve the REST API, the OpenAI-compatible endpoint and the web page.

    Configuration comes from ACCELSAGE_* environment variables and .env (see README). With
    ACCELSAGE_REFRESH_SCHEDULE set, each worker runs the cron schedule; the refresh lock lets only
    one of them refresh at a time and every worker reloads the new index when it lands.
    """
    import uvicorn

    from api.settings import load_settings

    settings = load_settings()
    host = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.workers
    # worker processes read their settings afresh: tell them how many share the cores (answer pool size)
    os.environ["ACCELSAGE_WORKERS"] = str(workers)
    click.echo(f"accelsage serving on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''})", err=True)
    uvicorn.run("api.commands.serve:app_factory", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_graceful_shutdown=10)
