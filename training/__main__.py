"""`kbbot train …` (alias `python -m training …`): datasets, runs, the worker, the adapter registry (entry).

Reads the configuration tree's sections once per command (training, database, models, schedule,
knowledge), builds the engine and configs, and calls one function of the package per command.
Imports of the package, SQLAlchemy and torch happen inside the commands, so `--help` is instant.
Multi-GPU training goes through accelerate (DDP):

    accelerate launch --multi_gpu --num_processes N -m training train [--dataset VERSION]

or TRAINING_LAUNCHER=accelerate TRAINING_NUM_PROCESSES=N for the worker and `run`. The earlier
command names `build-dataset` and `run-once` still work (hidden aliases of `dataset` and `run`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from training.config import DatasetConfig
    from training.settings import TrainingSettings


def _settings() -> TrainingSettings:
    from training.settings import TrainingSettings

    try:
        settings = TrainingSettings().resolved()
        config = settings.loop_config().train
    except ValueError as exc:  # store.config.ConfigError names the variable
        raise click.ClickException(f"bad training settings: {exc}") from exc
    if settings.release_freed_memory:
        from training.heap import return_freed_memory

        return_freed_memory()  # before the first tensor: the allocator's settings apply to what comes after
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    logging.getLogger(__name__).info(
        "training profile %s: %g epochs, batch %d × %d, max_length %s, token budget %s, reference log-probs %s, "
        "%s torch threads", settings.profile, config.epochs, config.batch_size, config.gradient_accumulation_steps,
        config.max_length or f"from the data (≤ {config.max_length_cap})", config.max_train_tokens or "none",
        "precomputed" if config.precompute_ref_log_probs else "per step", settings.torch_threads or "default")
    return settings


def _engine() -> Engine:
    """The product database, reachable and migrated to this code's schema, or a one-line error saying what to do."""
    from store.config import DatabaseSettings
    from store.database import DatabaseUnavailable, check_connection, make_engine, resolve_database_url
    from store.migrate import check_schema_current

    database = DatabaseSettings()
    engine = make_engine(resolve_database_url(database.url, database.pg_data_dir))
    try:
        check_connection(engine)
        check_schema_current(engine)
    except DatabaseUnavailable as exc:
        engine.dispose()
        raise click.ClickException(str(exc)) from exc
    return engine


def _sessions() -> sessionmaker[Session]:
    from store.database import make_session_factory

    return make_session_factory(_engine())


def _base_model() -> Path:
    """The base model every adapter is trained on: `KB_BASE_MODEL`, the one the bot serves."""
    from store.config import ModelsSettings

    return Path(ModelsSettings().base_model_path())


def _echo(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def _train_step(settings: TrainingSettings) -> Any:
    from training.pipeline import train_in_process

    if settings.launcher == "accelerate":
        from training.launcher import accelerate_train_step

        return accelerate_train_step(settings.num_processes)
    return train_in_process


def _dataset_path(dataset: str | None, run_id: int | None) -> Path:
    from store.datasets_store import dataset_by_id, dataset_by_version, latest_dataset
    from store.training_runs import get_training_run

    if dataset and Path(dataset).is_dir():
        return Path(dataset)
    sessions = _sessions()
    with sessions() as session:
        if run_id is not None:
            run = get_training_run(session, run_id)
            if run is None or run.dataset_id is None:
                raise click.ClickException(f"run {run_id} does not exist or has no dataset yet")
            record = dataset_by_id(session, run.dataset_id)
        else:
            record = dataset_by_version(session, dataset) if dataset else latest_dataset(session)
    if record is None:
        raise click.ClickException("no such dataset; build one with `kbbot train dataset`")
    return Path(record.path)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """The learning loop: feedback → datasets → LoRA adapters → evaluation gate → promotion."""
    from store.log_format import configure_for_process

    # The worker is a server (JSON lines unless KB_LOG_FORMAT says otherwise); the rest are commands.
    configure_for_process(server=ctx.invoked_subcommand == "worker", default_level="DEBUG" if verbose else "INFO")


@cli.command("dataset")
@click.option("--since", type=click.DateTime(), help="Only answers given at or after this time.")
def build_dataset_command(since: datetime | None) -> None:
    """Build (or find) the dataset version for the current feedback and print its counts."""
    from training.dataset_export import export_dataset

    settings = _settings()
    result = export_dataset(_sessions(), datasets_root=settings.paths(_base_model()).datasets_root,
                            config=settings.loop_config().dataset, since=since)
    _echo({"version": result.dataset.version if result.dataset else None, "objective": result.objective,
           "path": result.dataset.path if result.dataset else None, "skipped": result.skip_reason,
           "stats": result.stats})


@cli.command("train")
@click.option("--dataset", help="Dataset version (ds-…) or folder; default: the newest recorded version.")
@click.option("--run-id", type=int, help="Train on this run's dataset and name the adapter after the run.")
@click.option("--output", type=click.Path(path_type=Path), help="Adapter folder to create (must not exist).")
@click.option("--config-json", help="TrainConfig fields as JSON, overriding the TRAINING_* settings.")
@click.option("--base-model", type=click.Path(path_type=Path), help="Base model folder; default KB_BASE_MODEL.")
@click.option("--register/--no-register", default=True, help="Register the adapter as a candidate.")
@click.option("--progress-file", type=click.Path(path_type=Path),
              help="Keep step, loss and ETA in this JSON file (the worker relays it to the run's record).")
def train_command(dataset: str | None, run_id: int | None, output: Path | None, config_json: str | None,
                  base_model: Path | None, register: bool, progress_file: Path | None) -> None:
    """Train a LoRA adapter (works under `accelerate launch`, one process per GPU)."""
    from accelerate import PartialState

    from store.adapter_registry import register_adapter
    from training.config import TrainConfig
    from training.dataset_files import read_dataset
    from training.trainer import train_adapter

    settings = _settings()
    config = settings.loop_config().train
    if config_json:
        fields = json.loads(config_json)
        fields["target_modules"] = tuple(fields.get("target_modules", config.target_modules))
        config = TrainConfig(**fields)
    files = read_dataset(_dataset_path(dataset, run_id))
    name = f"run{run_id}-{datetime.now():%Y%m%d-%H%M%S}" if run_id else f"manual-{datetime.now():%Y%m%d-%H%M%S}"
    base = base_model or _base_model()
    target = output or settings.paths(base).adapters_root / name
    from training.progress import progress_file_writer

    hook = progress_file_writer(progress_file) if progress_file else None
    result = train_adapter(base_model=base, dataset=files, config=config, target=target, on_progress=hook)
    if not PartialState().is_main_process:
        return
    payload: dict[str, Any] = {"adapter_dir": str(result.adapter_dir), "sha256": result.sha256,
                               "metrics": result.metrics}
    if register:
        with _sessions()() as session, session.begin():
            record = register_adapter(session, name=target.name, path=str(target), sha256=result.sha256,
                                      base_model=str(base), training_run_id=run_id,
                                      metrics={"training": result.metrics})
        payload["adapter_id"] = record.id
    _echo(payload)


@cli.command("evaluate")
@click.argument("adapter")
@click.option("--dataset", help="Dataset version or folder whose held-out split to use; default: the newest.")
def evaluate_command(adapter: str, dataset: str | None) -> None:
    """Gate ADAPTER (a folder or a registered id) against the serving model; exit 1 if it would be rejected."""
    from store.adapter_registry import get_adapter, serving_adapter
    from training.dataset_files import read_dataset
    from training.evaluation import evaluate_candidate
    from training.pipeline import load_golden_set

    settings = _settings()
    with _sessions()() as session:
        candidate = Path(get_adapter(session, int(adapter)).path) if adapter.isdigit() else Path(adapter)
        current = serving_adapter(session)
    files = read_dataset(_dataset_path(dataset, None))
    report = evaluate_candidate(base_model=_base_model(), candidate=candidate,
                                current=Path(current.path) if current else None,
                                current_name=current.name if current else "base", eval_rows=files.rows["kto_eval"],
                                golden_rows=files.rows.get("golden", []) + load_golden_set(settings.golden_set),
                                config=settings.loop_config().gate)
    _echo(report.as_dict())
    if not report.passed:
        raise click.ClickException(report.summary())


@cli.command("promote")
@click.argument("adapter_id", type=int)
@click.option("--actor", default="cli", help="Who the deployment log names.")
@click.option("--reason", help="Why, for the deployment log.")
def promote_command(adapter_id: int, actor: str, reason: str | None) -> None:
    """Serve the registered adapter ADAPTER_ID from now on (bypasses the gate: an admin's decision)."""
    from store.adapter_registry import AdapterNotFound, promote

    try:
        with _sessions()() as session, session.begin():
            record = promote(session, adapter_id, actor=actor, reason=reason or "promoted from the command line")
    except AdapterNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"serving {record.name} ({record.path})")


@cli.command("rollback")
@click.option("--actor", default="cli", help="Who the deployment log names.")
@click.option("--reason", help="Why, for the deployment log.")
def rollback_command(actor: str, reason: str | None) -> None:
    """Serve again what served before the current deployment."""
    from store.adapter_registry import rollback

    with _sessions()() as session, session.begin():
        record = rollback(session, actor=actor, reason=reason or "rolled back from the command line")
    click.echo(f"serving {record.name if record else 'the base model'}")


@cli.command("deploy-base")
@click.option("--actor", default="cli", help="Who the deployment log names.")
@click.option("--reason", help="Why, for the deployment log.")
def deploy_base_command(actor: str, reason: str | None) -> None:
    """Serve the base model without an adapter from now on (the adapter serving until now is retired)."""
    from store.adapter_registry import deploy_base

    with _sessions()() as session, session.begin():
        deploy_base(session, actor=actor, reason=reason or "base model deployed from the command line")
    click.echo("serving the base model")


def _plain(value: Any) -> Any:
    """A store record as JSON-ready data."""
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


@cli.command("status")
def status_command() -> None:
    """Print what the registries serve (adapter, ranking model), the open run (queued or running) and the last
    finished run, as JSON."""
    from store.adapter_registry import promotable_adapter, serving_adapter
    from store.ranking_registry import serving_ranking_model
    from store.training_runs import latest_finished_run, open_training_run

    sessions = _sessions()
    with sessions() as session:
        serving, promotable = serving_adapter(session), promotable_adapter(session)
        open_run, last_finished = open_training_run(session), latest_finished_run(session)
        ranking = serving_ranking_model(session)
    _echo({"serving": _plain(serving) or "base", "promotable": _plain(promotable),
           "ranking_model": ranking.name or "configured (KB_RANKING_MODEL)",
           "open_run": _plain(open_run), "last_finished_run": _plain(last_finished)})


@cli.command("ranking")
@click.option("--since", type=click.DateTime(), help="Only answers given at or after this time.")
@click.option("--base", type=click.Path(path_type=Path, file_okay=False),
              help="Model folder to tune from; default: the bundled all-mpnet-base-v2 under KB_MODELS_DIR.")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where the kept model's folder goes; default: KB_MODELS_DIR/ranking-tuned.")
@click.option("--min-train", default=20, show_default=True, type=click.IntRange(1),
              help="Fewest 👍-voted questions to train on.")
@click.option("--min-held-out", default=5, show_default=True, type=click.IntRange(1),
              help="Fewest held-out 👍-voted questions the gate needs.")
@click.option("--force", is_flag=True, help="Keep the tuned model even if the gate refuses it (the manifest says so).")
@click.option("--rank/--no-rank", default=False, show_default=True,
              help="Also compute the kept model's vectors of every passage now, beside the serving model's.")
@click.option("--deploy", is_flag=True,
              help="Rank every passage with the kept model, deploy it (every answering process switches to it "
                   "within seconds; `ranking-rollback` undoes it) and delete the vectors of models no longer needed.")
@click.option("--if-new", is_flag=True, help="Do nothing when no answer was voted on since the newest deployed model.")
def ranking_command(since: datetime | None, base: Path | None, output_dir: Path | None, min_train: int,
                    min_held_out: int, force: bool, rank: bool, deploy: bool, if_new: bool) -> None:
    """Tune the ranking model on the team's 👍 votes; keep it unless the gate finds it ranks held-out votes worse.

    Prints the run as JSON; exit status 3 when the gate refused the tuned model (nothing is kept, unless
    --force).
    """
    from knowledge.ranking_model import is_model_folder, ranking_off
    from store.config import ModelsSettings
    from store.database import make_session_factory
    from store.ranking_registry import RankingChangeBusy
    from training.ranking_loop import RankingLoopSettings, run_ranking_loop, serving_folder
    from training.ranking_tuning import NotEnoughVotes, RankingTuningConfig

    settings, models = _settings(), ModelsSettings()
    if deploy and ranking_off(models.ranking_model):
        raise click.ClickException("KB_RANKING_MODEL is off: no process would serve a deployed ranking model")
    loop = RankingLoopSettings(setting=models.ranking_model, models_dir=models.models_dir, base=base,
                               out_root=output_dir, deploy=deploy, rank=rank, force=force, only_if_new=if_new,
                               tuning=RankingTuningConfig(min_train=min_train, min_held_out=min_held_out))
    engine = _engine()
    sessions = make_session_factory(engine)
    if not is_model_folder(loop.base_folder()):
        raise click.ClickException(f"no sentence-transformers model at {loop.base_folder()} (--base): run `kbbot "
                                   "setup-model`, or name a model folder")
    if not is_model_folder(serving := serving_folder(sessions, loop)):
        raise click.ClickException(f"the serving ranking model's folder {serving} is missing: "
                                   "restore it, or serve the one before (`kbbot train ranking-rollback`)")
    try:
        outcome = run_ranking_loop(engine, sessions, loop, settings.loop_config().dataset, since=since)
    except (NotEnoughVotes, FileExistsError, RankingChangeBusy) as exc:
        raise click.ClickException(str(exc)) from exc
    result, votes, serving = outcome.result, outcome.votes, outcome.serving
    if result is None:
        _echo({"kept": False, "skipped": outcome.skipped, "serving": serving.name})
        click.echo(f"nothing tuned: {outcome.skipped}", err=True)
        return
    votes_gate = result.gate_votes()
    compared = f"{serving.name} (the ranking model is off: compared with the base)" \
        if ranking_off(models.ranking_model) else serving.name
    _echo({"kept": result.kept, "gate_passed": result.gate_passed, "forced": result.kept and not result.gate_passed,
           "name": result.name, "folder": result.folder, "train_pairs": result.train_pairs,
           "held_out": result.held_out, "excluded": votes.excluded, "train_s": result.train_s,
           "votes_on_removed_passages": len(votes.train) - result.train_pairs, "serving": compared,
           "gate": {"serving": result.serving.as_json(), "tuned": result.tuned.as_json(), **votes_gate},
           "passages_ranked": outcome.ranked, "rank_error": outcome.rank_error,
           "deployed": outcome.deployed, "vectors_pruned": outcome.pruned})
    verdict = ("scores that are not numbers" if not result.tuned.finite else
               f"{votes_gate['lost']} held-out votes lost and {votes_gate['won']} won against {serving.name}")
    if result.folder is None:
        click.echo(f"not kept: the gate refused the tuned model ({verdict})", err=True)
        raise SystemExit(3)
    if not result.gate_passed:
        click.echo(f"warning: the gate refused the tuned model ({verdict}); kept because of --force", err=True)
    if outcome.deployed is not None:
        click.echo(f"deployed {result.name}: every answering process ranks with it within seconds; "
                   "`kbbot train ranking-rollback` serves the one before", err=True)
    elif deploy:
        click.echo(f"kept {result.name} but not deployed: {outcome.rank_error}", err=True)
        raise SystemExit(1)
    else:
        click.echo(f"kept {result.name}: to serve it, rerun with --deploy (or deploy this folder with "
                   f"`kbbot train ranking-deploy {result.folder}`)", err=True)


@cli.command("ranking-deploy")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--actor", default="cli", help="Who the deployment log names.")
@click.option("--reason", help="Why, for the deployment log.")
def ranking_deploy_command(folder: Path, actor: str, reason: str | None) -> None:
    """Serve the ranking model in FOLDER (a kept tuned model): its vectors of every passage are computed
    first, then every answering process switches to it."""
    from knowledge.passage_ranking import PassageRanker, rank_missing
    from knowledge.ranking_model import RankingModelError, ensure_query_export, is_model_folder, ranking_off
    from store.config import ModelsSettings
    from store.database import make_session_factory
    from store.ranking_registry import RankingChangeBusy, deploy_ranking_model, ranking_change_lock

    if ranking_off(ModelsSettings().ranking_model):
        raise click.ClickException("KB_RANKING_MODEL is off: no process would serve a deployed ranking model")
    folder = folder.resolve()
    if not is_model_folder(folder):
        raise click.ClickException(f"no sentence-transformers model at {folder}")
    try:
        ensure_query_export(folder)
    except RankingModelError as exc:
        raise click.ClickException(str(exc)) from exc
    engine = _engine()
    sessions = make_session_factory(engine)
    try:
        with ranking_change_lock(engine):  # no prune deletes its vectors between the ranking and the deployment
            ranked = rank_missing(sessions, PassageRanker(folder))
            with sessions.begin() as session:
                entry = deploy_ranking_model(session, folder=str(folder), name=folder.name, actor=actor,
                                             reason=reason)
    except RankingChangeBusy as exc:
        raise click.ClickException(str(exc)) from exc
    _echo({"deployed": entry.id, "name": folder.name, "passages_ranked": ranked})


@cli.command("ranking-rollback")
@click.option("--actor", default="cli", help="Who the deployment log names.")
@click.option("--reason", help="Why, for the deployment log.")
def ranking_rollback_command(actor: str, reason: str | None) -> None:
    """Serve again the ranking model that served before the current one (the configured one when none did).

    Its vectors of every passage are computed first where some are missing (a model two rollbacks back
    was pruned when a newer one was deployed), so the answers never rank with half its vectors.
    """
    from knowledge.passage_ranking import PassageRanker, rank_missing
    from knowledge.ranking_model import is_model_folder
    from store.database import make_session_factory
    from store.ranking_registry import (
        RankingChangeBusy,
        RankingChanged,
        RankingVectorsMissing,
        lacks_vectors,
        ranking_change_lock,
        rollback_ranking_model,
        rollback_target_now,
        serving_ranking_model,
    )

    engine = _engine()
    sessions = make_session_factory(engine)
    try:
        with ranking_change_lock(engine):  # no deployment prunes the target's vectors between ranking and serving
            with sessions() as session:
                current, target = serving_ranking_model(session), rollback_target_now(session)
                missing = target.name is not None and lacks_vectors(session, target.name)
            ranked = 0
            if missing and target.folder is not None and is_model_folder(target.folder):
                ranked = rank_missing(sessions, PassageRanker(Path(target.folder)))
            with sessions.begin() as session:
                done = rollback_ranking_model(session, actor=actor, reason=reason, expected=current.name,
                                              require_vectors=True)
    except (RankingChangeBusy, RankingChanged) as exc:
        raise click.ClickException(str(exc)) from exc
    except RankingVectorsMissing as exc:
        raise click.ClickException(f"{exc}, and its folder {target.folder} is missing: deploy another "
                                   "(`kbbot train ranking-deploy`)") from exc
    if done is None:
        raise click.ClickException("no earlier ranking model to roll back to (the configured one serves)")
    _echo({"entry": done.entry.id, "rolled_back_from": done.rolled_from.name, "passages_ranked": ranked,
           "serving": done.entry.name or "the configured model (KB_RANKING_MODEL)"})


@cli.command("ranking-history")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 500), help="Entries, newest first.")
def ranking_history_command(limit: int) -> None:
    """Print the ranking models' deployment log (deployments, rollbacks), newest first, as JSON."""
    from store.database import make_session_factory
    from store.ranking_registry import ranking_history

    sessions = make_session_factory(_engine())
    with sessions() as session:
        entries = ranking_history(session, limit=limit)
    _echo({"deployments": [_plain(entry) for entry in entries]})


@cli.command("history")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 500),
              help="Deployments and runs to show, newest first.")
def history_command(limit: int) -> None:
    """Print the deployment log (promotions, rollbacks, base deployments) and the recent runs, as JSON."""
    from store.adapter_registry import deployment_history
    from store.training_runs import recent_training_runs

    sessions = _sessions()
    with sessions() as session:
        deployments = deployment_history(session, limit=limit)
        runs = recent_training_runs(session, limit=limit)
    _echo({"deployments": [_plain(entry) for entry in deployments], "runs": [_plain(run) for run in runs]})


@cli.command("run")
@click.option("--run-id", type=int, help="Execute this queued run; default: the oldest queued, or a new one.")
def run_once_command(run_id: int | None) -> None:
    """Execute a run now, without the queue (queues one with trigger 'cli' when none is waiting)."""
    from training.pipeline import has_queued_run, process_next_run, request_run

    settings = _settings()
    engine, paths = _engine(), settings.paths(_base_model())
    if run_id is None and not has_queued_run(engine, paths):
        request_run(engine, paths, trigger="cli")
    outcome = process_next_run(engine, paths=paths, config=settings.loop_config(), run_id=run_id,
                               train_step=_train_step(settings))
    if outcome is None:
        raise click.ClickException("no queued run to execute (another worker may be running it)")
    _echo({"run_id": outcome.run_id, "status": outcome.status, "message": outcome.message,
           "adapter_id": outcome.adapter_id, "report": outcome.report_path})
    if outcome.status == "failed":
        raise SystemExit(1)


def _document_refresh(engine: Engine) -> Callable[[], object]:
    """Re-fetches the URL documents with the knowledge settings; the embedder loads on the first re-fetch."""
    from knowledge.embedding import Embedder, make_embedder
    from knowledge.refresh import refresh_url_documents
    from knowledge.settings import KnowledgeSettings
    from store.config import ModelsSettings
    from store.database import make_session_factory

    knowledge, models = KnowledgeSettings(), ModelsSettings()
    sessions = make_session_factory(engine)

    @functools.cache
    def embedder() -> Embedder:
        return make_embedder(knowledge.embedding_backend, model=models.embedding_model, models_dir=models.models_dir)

    return lambda: refresh_url_documents(sessions, embedder(), allowlist=knowledge.allowlist_entries(),
                                         max_bytes=knowledge.max_document_bytes, timeout_s=knowledge.fetch_timeout_s)


def _channel_resync(engine: Engine) -> tuple[Callable[[], object] | None, str]:
    """Re-syncs the learned Slack channels (KB_LEARN_*), and when; None without SLACK_BOT_TOKEN."""
    from knowledge.embedding import Embedder, make_embedder
    from knowledge.settings import KnowledgeSettings
    from knowledge.slack_threads_client import SlackReader, make_client
    from knowledge.slack_threads_settings import LearnSettings
    from knowledge.slack_threads_sync import ChannelSync
    from store.config import ModelsSettings
    from store.database import make_session_factory

    learn, models = LearnSettings(), ModelsSettings()
    if not learn.slack_bot_token.strip():
        logging.getLogger(__name__).info("SLACK_BOT_TOKEN is not set: learned Slack channels are not re-synced")
        return None, learn.cron
    reader = SlackReader(make_client(learn.slack_bot_token, base_url=learn.slack_api_url or None), learn.pacer())
    sessions, options = make_session_factory(engine), learn.sync_options()

    @functools.cache
    def embedder() -> Embedder:
        return make_embedder(KnowledgeSettings().embedding_backend, model=models.embedding_model,
                             models_dir=models.models_dir)

    return lambda: ChannelSync(sessions, embedder(), reader, options).resync_all(), learn.cron


def _ranking_tuning(engine: Engine, setting: str, dataset: DatasetConfig) -> Callable[[], object] | None:
    """Tunes the ranking model on the votes given since the last tuning and deploys it (the worker's
    `training.ranking`); None when the ranking model or its schedule is off."""
    from knowledge.ranking_model import ranking_off
    from store.config import ModelsSettings
    from store.database import make_session_factory
    from store.ranking_registry import RankingChangeBusy
    from training.ranking_loop import RankingLoopSettings, run_ranking_loop
    from training.ranking_tuning import NotEnoughVotes

    models = ModelsSettings()
    if setting.strip().lower() == "off" or ranking_off(models.ranking_model):
        return None
    loop = RankingLoopSettings(setting=models.ranking_model, models_dir=models.models_dir, deploy=True,
                               only_if_new=True, actor="schedule")
    sessions, log = make_session_factory(engine), logging.getLogger(__name__)

    def tune() -> None:
        try:
            outcome = run_ranking_loop(engine, sessions, loop, dataset)
        except (NotEnoughVotes, RankingChangeBusy) as exc:
            log.info("ranking model not tuned: %s", exc)
            return
        except Exception:  # a broken folder, the database gone: logged; the next tick tries again
            log.exception("tuning the ranking model failed")
            return
        if outcome.skipped:
            log.info("ranking model not tuned: %s", outcome.skipped)
        elif outcome.result is not None and outcome.deployed is None:
            log.warning("tuned ranking model %s not deployed: %s", outcome.result.name,
                        outcome.rank_error or "the gate refused it")

    return tune


@cli.command("worker")
def worker_command() -> None:
    """Run the training worker: periodic retrain (TRAINING_CRON), bot-queued runs, URL re-fetch (KB_REFRESH_CRON),
    ranking model tuning (TRAINING_RANKING_CRON, and after every executed run)."""
    from knowledge.settings import ScheduleSettings
    from training.jobs import QUEUE, REFRESH_QUEUE, build_app, psycopg_conninfo
    from training.pipeline import has_queued_run, process_queued_runs, recover, request_run

    settings, schedule = _settings(), ScheduleSettings()
    engine, paths, config = _engine(), settings.paths(_base_model()), settings.loop_config()
    step = _train_step(settings)
    recover(engine, paths)  # a run this worker's killed predecessor held is failed (with its report) at once
    from store.database import make_session_factory
    from store.process_heartbeats import HeartbeatWriter, Served

    # /kb status lists the worker beside the bot processes (a worker serves no adapter: it trains on this model).
    served = Served(adapter_id=None, adapter_name=None, model=str(paths.base_model))
    heartbeat = HeartbeatWriter(make_session_factory(engine), kind="worker", served=lambda: served).start()
    resync, resync_cron = _channel_resync(engine)  # learned Slack channels (KB_LEARN_CRON)
    tune_ranking = _ranking_tuning(engine, schedule.ranking_cron, config.dataset)  # the ranking model on the votes
    app = build_app(conninfo=psycopg_conninfo(engine.url.render_as_string(hide_password=False)),
                    schedule_cron=schedule.training_cron, poll_cron=settings.poll_cron,
                    execute=lambda: process_queued_runs(engine, paths=paths, config=config, train_step=step,
                                                        heartbeat_s=settings.heartbeat_s),
                    request_scheduled_run=lambda: request_run(engine, paths, trigger="schedule"),
                    poll=lambda: has_queued_run(engine, paths), stalled_after_s=settings.stalled_after_s,
                    refresh=_document_refresh(engine), refresh_cron=schedule.refresh_cron,
                    resync=resync, resync_cron=resync_cron, tune_ranking=tune_ranking,
                    ranking_cron=schedule.ranking_cron)
    # Four slots: the poll and the schedule keep running while a run trains (a cron tick during a run
    # joins it instead of queueing a second run behind it), a re-fetch never waits behind either, and
    # neither does the ranking model's tuning; the database lets only one run train.
    try:
        app.run_worker(queues=[QUEUE, REFRESH_QUEUE], concurrency=4, update_heartbeat_interval=settings.heartbeat_s,
                       stalled_worker_timeout=settings.stalled_after_s)
    finally:
        heartbeat.stop()


def _alias(command: click.Command, name: str) -> None:
    """`command` also under its earlier `name`, hidden from the help (scripts and docs still use it)."""
    alias = copy.copy(command)
    alias.hidden = True
    cli.add_command(alias, name)


_alias(build_dataset_command, "build-dataset")
_alias(run_once_command, "run-once")

if __name__ == "__main__":
    cli(prog_name="python -m training")
