"""`kbbot setup-model` and `kbbot ask` (alias `python -m bot …`): the bot's command line (entry).

`setup-model` prepares the default model; `ask` answers a question from the knowledge base without
Slack (the quickest way to try the product). Each command is a thin wrapper over library code, and
imports it inside the command, so `--help` is instant.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
def cli(verbose: bool) -> None:
    """Team knowledge assistant for Slack."""
    from store.log_format import configure_for_process

    configure_for_process(server=False, default_level="INFO" if verbose else "WARNING")


def _quiet_progress_bars() -> None:
    """No "Loading weights" bars interleaved with the answer, unless INFO logging was asked for."""
    if not logging.getLogger().isEnabledFor(logging.INFO):
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


@cli.command("setup-model")
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder that receives the converted model [default: KB_MODELS_DIR, else var/models].",
)
def setup_model(models_dir: Path | None) -> None:
    """Convert the bundled SmolLM2 GGUF into a fast-loading model folder, export the embedding model to ONNX
    and assemble the bundled ranking model.

    Each happens once; reruns are no-ops.
    """
    from bot.model_setup import ModelSetupError, ensure_default_model, ensure_embedding_export
    from knowledge.ranking_model import RankingModelError, ensure_ranking_export, ensure_ranking_model
    from store.config import ModelsSettings

    started = time.perf_counter()
    models = ModelsSettings()
    try:
        path = ensure_default_model(models_dir or models.models_dir)
        click.echo(f"default model ready at {path} ({time.perf_counter() - started:.1f} s)")
        onnx = ensure_embedding_export(models_dir or models.models_dir, models.embedding_model)
        click.echo(f"ONNX embedding model ready at {onnx} ({time.perf_counter() - started:.1f} s)")
        if not models.ranking_model.strip():  # a named folder (or `off`) needs nothing assembled
            ranking = ensure_ranking_model(models_dir or models.models_dir)
            click.echo(f"ranking model ready at {ranking} ({time.perf_counter() - started:.1f} s)")
        export = ensure_ranking_export(models.ranking_model, models_dir or models.models_dir)
        if export is not None:
            click.echo(f"ONNX ranking model (questions) ready at {export} ({time.perf_counter() - started:.1f} s)")
    except (ModelSetupError, RankingModelError) as exc:
        raise click.ClickException(str(exc)) from exc


def _print_delta(delta: str) -> None:
    """Show the answer as it streams."""
    sys.stdout.write(delta)
    sys.stdout.flush()


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

    _quiet_progress_bars()
    try:
        runtime = build_runtime(BotSettings(), follow_adapters=False)
    except (DatabaseUnavailable, GeneratorError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        result = runtime.answerer.answer(Question(text=" ".join(question), channel=channel),
                                         on_delta=_print_delta)
    except (AnswerError, GeneratorError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        refusal = runtime.follower.refusal()
        runtime.close()
    click.echo("")
    if result.citations:
        click.echo("\nPossibly related:" if result.abstained else "\nSources:")
        for citation in result.citations:
            marker = f"[{citation.number}]" if citation.cited else " - "
            click.echo(f"  {marker} {citation.label} ({citation.uri})")
    click.echo(f"\n(answer {result.answer_id}, adapter {result.adapter_name}, {result.latency_ms / 1000:.1f} s)")
    if refusal:
        click.echo(f"note: {refusal}", err=True)


if __name__ == "__main__":
    cli(prog_name="python -m bot")
