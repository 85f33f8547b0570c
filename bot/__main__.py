"""`python -m bot`: the bot's command line (entry).

`setup-model` prepares the default model; `ask` answers a question from the knowledge base without
Slack (the quickest way to try the product). Each command is a thin wrapper over library code.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

from bot.model_setup import DEFAULT_MODELS_DIR, ModelSetupError, ensure_default_model


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
def cli(verbose: bool) -> None:
    """Team knowledge assistant for Slack."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars would interleave the answer


@cli.command("setup-model")
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_MODELS_DIR,
    show_default=True,
    help="Folder that receives the converted model.",
)
def setup_model(models_dir: Path) -> None:
    """Convert the bundled SmolLM2 GGUF into a fast-loading model folder (once; reruns are no-ops)."""
    started = time.perf_counter()
    try:
        path = ensure_default_model(models_dir)
    except ModelSetupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"default model ready at {path} ({time.perf_counter() - started:.1f} s)")


@cli.command()
@click.argument("question", nargs=-1, required=True)
@click.option("--channel", default=None, help="Ask as if in this Slack channel (sees its scoped documents).")
def ask(question: tuple[str, ...], channel: str | None) -> None:
    """Answer QUESTION from the knowledge base, streaming the answer, then list its sources."""
    from bot.answering import AnswerError, Question
    from bot.generator_protocol import GeneratorError
    from bot.runtime import build_runtime
    from bot.settings import BotSettings
    from store.database import DatabaseUnavailable

    try:
        runtime = build_runtime(BotSettings(), follow_adapters=False)
    except (DatabaseUnavailable, GeneratorError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        result = runtime.answerer.answer(Question(text=" ".join(question), channel=channel),
                                         on_delta=lambda delta: (sys.stdout.write(delta), sys.stdout.flush()))
    except (AnswerError, GeneratorError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.close()
    click.echo("")
    if result.citations:
        click.echo("\nPossibly related:" if result.abstained else "\nSources:")
        for citation in result.citations:
            marker = f"[{citation.number}]" if citation.cited else " - "
            click.echo(f"  {marker} {citation.label} ({citation.uri})")
    click.echo(f"\n(answer {result.answer_id}, adapter {result.adapter_name}, {result.latency_ms / 1000:.1f} s)")


if __name__ == "__main__":
    cli()
