"""The ``accelsage`` command line: a thin click group whose subcommands load lazily.

Each subcommand lives in its own module under ``api/commands/`` and is imported only when it
runs, so ``accelsage --help`` and the light commands never pay for torch or LangChain.
Library errors (:class:`index.errors.AccelsageError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import sys

import click

from index.errors import AccelsageError

# command name -> "module:attribute" of a click.Command; one place lists every command.
COMMANDS: dict[str, str] = {
    "refresh": "api.commands.corpus:refresh",
    "reindex": "api.commands.corpus:reindex",
    "search": "api.commands.corpus:search",
    "papers": "api.commands.catalog:papers",
    "techniques": "api.commands.catalog:techniques",
    "gpus": "api.commands.catalog:gpus",
    "models": "api.commands.catalog:models",
    "estimate": "api.commands.estimate:estimate",
    "estimate-training": "api.commands.estimate:estimate_training",
    "plan": "api.commands.plan:plan",
    "kernel": "api.commands.kernel:kernel",
    "calibrate": "api.commands.kernel:calibrate",
    "ask": "api.commands.ask:ask",
    "serve": "api.commands.serve:serve",
    "mcp": "api.commands.mcp:mcp",
    "doctor": "api.commands.doctor:doctor",
}

SHORT_HELP: dict[str, str] = {
    "plan": "Search TP/PP/EP, dtypes, engines and batch caps for the best configuration under your SLOs.",
    "refresh": "Build or update the corpus (bundled cards, arXiv papers, watch queries).",
    "reindex": "Rebuild the FAISS index from the SQLite store.",
    "search": "Hybrid (lexical + dense) search over the corpus.",
    "papers": "List the papers in the corpus, or show one.",
    "techniques": "List the acceleration techniques in the catalog, or show one.",
    "gpus": "List the GPU specs, or show one with its sources.",
    "models": "List the model shapes, or show one.",
    "estimate": "Estimate inference latency, throughput and memory on a target GPU.",
    "estimate-training": "Estimate training step time and memory per GPU.",
    "kernel": "Analytical roofline of one kernel (gemm, attention, allreduce).",
    "calibrate": "Measure GEMM, attention and copy speed on this machine's device.",
    "ask": "Answer a technique-selection question with citations and estimates.",
    "serve": "Run the HTTP API and web page.",
    "mcp": "Serve the tools to an MCP client (Claude Desktop, IDEs) over stdio.",
    "doctor": "Check the state directory (database, index, lock, calibration); --repair fixes what it can.",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SHORT_HELP.get(name, "")) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(None, "-V", "--version", package_name="accelsage")
def cli() -> None:
    """accelsage: pick the LLM acceleration techniques that pay off on your GPUs, with the papers behind them."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; turn library errors into one clean line and a non-zero exit."""
    try:
        cli.main(args=argv, prog_name="accelsage", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except AccelsageError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
