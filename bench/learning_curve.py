"""Proof that the loop learns on real data: a simulated team on the Python docs, one retrain, unseen questions.

1. Simulated team: the dev paraphrases and the team questions written for the dev-split FAQ items
   (bench/question_sets.py, ~255 questions; no test-split item is ever asked) are asked in a
   public channel ("CBENCH") through the product's own `Answerer`, evidence only
   (`summarise=False`: quotes, no model call; the prompt is still recorded on the answer row, which
   is what training reads). A judge votes each published answer 👍 when its token F1 against the
   gold FAQ answer reaches the median F1 of the published answers (so both classes exist), 👎
   otherwise; every other 👎 gets a correction = the gold answer text (`record_reference_answer`).
2. One run of the real pipeline in its own process, as the worker runs it: `python -m training
   run-once` (dataset → train with the cpu profile → gate → promote) with the product's default
   minimums; the child's peak RSS is measured (`resource.getrusage(RUSAGE_CHILDREN)`).
3. Unseen questions: a spread of test paraphrases answered with generation (`AnsweringConfig()`),
   by the base model and then by the trained adapter (promoted, or the rejected candidate, labelled).
4. Control: the serving model is set back to the base, the same answers get the judge's votes
   permuted with a seed (no corrections: they would carry real signal), and the pipeline runs
   again; the gate must reject it.

DESTRUCTIVE for the bench database only: before starting, every row of answers, votes, vote_events,
reference_answers, training_runs, datasets, adapter_deployments and adapters in
var/bench-quality-pg, and every row referencing them (verified answers, escalations), is deleted
(the corpus tables documents/chunks stay). Datasets, adapters and reports are written under
var/bench-learning-curve/.

Run: `python -m bench.learning_curve [--team N] [--unseen N]`; figures go to
bench/results/learning_curve.json (each finished stage also to learning_curve_partial.json at once, so
a run stopped early keeps what it measured). Needs the corpus of `python -m bench.quality` and the default model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

RESULTS = Path("bench/results/learning_curve.json")
WORK = Path("var/bench-learning-curve")
CHANNEL = "CBENCH"
JUDGE = "UJUDGE"
SHUFFLE_SEED = 7
CLEARED_TABLES = ("vote_events", "votes", "reference_answers", "training_runs", "datasets", "adapter_deployments",
                  "answers", "adapters")
SETTINGS_OVERRIDES: dict[str, Any] = {"profile": "cpu", "progress_bar": False, "torch_threads": 2}
"""Explicit settings: the cpu profile and both cores; every other setting is the product's default."""
SUMMARY_KEYS = ("questions", "f1_published", "f1_evidence", "f1_raw_generation", "answered_share",
                "generated_sentences", "published_sentences", "generated_sentences_passing_check",
                "invented_specifics", "invented_examples", "median_final_ms")


def clear_feedback(engine: Engine) -> None:
    """Delete every answer, vote, correction, dataset, adapter and run, and every row made from them
    (CASCADE: verified answers, escalations); the corpus stays."""
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(CLEARED_TABLES)} RESTART IDENTITY CASCADE"))


def clear_votes(engine: Engine) -> None:
    """Delete every vote and correction, and the verified answers made from them; the answers stay.

    Row DELETEs, not `TRUNCATE … CASCADE`: answers reference verified answers (the one served), which
    reference corrections, so a cascading TRUNCATE of the corrections also emptied `answers`, and the
    control stage then found none of the answers it was to vote on.
    """
    with engine.begin() as connection:
        for table in ("vote_events", "votes", "verified_answers", "reference_answers"):
            connection.execute(text(f"DELETE FROM {table}"))


def simulate_team(sessions: sessionmaker[Session], answerer: Any, questions: list[Any]) -> list[dict[str, Any]]:
    """Ask every question in the public bench channel; return (answer id, F1, abstained) per question."""
    from bench.answer_metrics import token_scores
    from bench.answer_quality import plain
    from bot.answering import Question

    rows = []
    for index, asked in enumerate(questions):
        result = answerer.answer(Question(text=asked.text, channel=CHANNEL, conversation_kind="public",
                                          thread_ts=f"{1_800_000_000 + index}.000100", asker=f"U{index % 9}"))
        f1 = None if result.abstained else token_scores(plain(result.text), asked.item.answer).f1
        rows.append({"answer_id": result.answer_id, "f1": f1, "gold": asked.item.answer, "question": asked.text})
    return rows


def judge_votes(rows: list[dict[str, Any]]) -> float:
    """Set each answered row's `vote` (+1 at or above the median F1) and `correct` (every other 👎)."""
    answered = [row for row in rows if row["f1"] is not None]
    threshold = statistics.median(row["f1"] for row in answered)
    downs = 0
    for row in answered:
        row["vote"] = 1 if row["f1"] >= threshold else -1
        if row["vote"] == -1:
            row["correct"] = downs % 2 == 0
            downs += 1
    return threshold


def record_feedback(sessions: sessionmaker[Session], rows: list[dict[str, Any]], votes: list[int],
                    *, corrections: bool) -> dict[str, int]:
    from store.interactions import record_reference_answer, record_vote

    counts = {"up": 0, "down": 0, "corrections": 0}
    for row, vote in zip(rows, votes, strict=True):
        with sessions() as session, session.begin():  # the click, then the correction, as the bot records them
            record_vote(session, answer_id=row["answer_id"], user_id=JUDGE, value=vote, source="button")
        counts["up" if vote == 1 else "down"] += 1
        if corrections and row.get("correct"):
            with sessions() as session, session.begin():
                record_reference_answer(session, answer_id=row["answer_id"], author=JUDGE, text=row["gold"])
            counts["corrections"] += 1
    return counts


def retrain(engine: Engine, sessions: sessionmaker[Session], settings: Any, environment: dict[str, str],
            label: str) -> dict[str, Any]:
    """One queued run executed by `python -m training run-once` in a child process, as the worker would.

    Returns its status, message, headline metrics, the child's CPU seconds (user + system: what the
    run costs whatever else shares the cores) and its peak RSS (the largest of the children so far).
    """
    from bench.training_child import run_training_cli
    from bot.model_setup import default_model_dir
    from training.pipeline import request_run

    paths = settings.paths(default_model_dir(Path("var/models")))
    run = request_run(engine, paths, trigger="cli", requested_by=f"bench:{label}")
    child = run_training_cli(["run-once", "--run-id", str(run.id)], environment)
    outcome = child.output
    if child.returncode not in (0, 1) or outcome is None:
        raise RuntimeError(f"training run-once failed ({child.returncode}): {child.stderr[-2000:]}")
    with sessions() as session:
        metrics = session.execute(text("SELECT metrics FROM training_runs WHERE id = :id"), {"id": run.id}).scalar()
    metrics = metrics or {}
    training = metrics.get("training", {})
    stats = metrics.get("dataset", {}).get("stats", {})
    return {"run_id": run.id, "status": outcome.get("status"), "message": outcome.get("message"),
            "adapter_id": outcome.get("adapter_id"), "seconds": round(child.wall_s, 1),
            "cpu_seconds": round(child.cpu_seconds, 1), "peak_rss_mib": child.peak_rss_mib,
            "gate_gain": metrics.get("gate_gain"), "gate_gain_lower": metrics.get("gate_gain_lower"),
            "held_out_good": metrics.get("held_out_good"), "held_out_bad": metrics.get("held_out_bad"),
            "reward_margin_before": metrics.get("reward_margin_before"), "reward_margin": metrics.get("reward_margin"),
            "general_ppl": metrics.get("general_ppl"), "golden_f1": metrics.get("golden_f1"),
            "objective": metrics.get("dataset", {}).get("objective"),
            "phase_seconds": metrics.get("phase_seconds"),
            "golden_answers": _golden_answers(metrics),
            "dataset": {key: stats.get(key) for key in ("answers_read", "train", "eval", "excluded")},
            "training": {key: training.get(key) for key in ("steps", "epochs", "rows", "rows_over_token_budget",
                                                             "max_length", "train_tokens", "runtime_s")}}


def _golden_answers(metrics: dict[str, Any]) -> str:
    """Whether the run's gate answered golden-set questions with both models, from its metrics."""
    skipped = metrics.get("gate", {}).get("rules", {}).get("golden_answers")
    if skipped:
        return skipped
    return "generated" if metrics.get("golden_f1") is not None else "no golden-set rows (no corrections held out)"


class StageLog:
    """Each finished stage's figures written at once to a side file, so a run stopped before its end
    (session time, a crash in a later stage) still leaves its measured figures as JSON; the complete
    results file is written only at the end."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stages: dict[str, Any] = {}

    def record(self, stage: str, figures: Any) -> None:
        self._stages[stage] = figures
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(json.dumps({"complete": False, "stages": self._stages}, indent=2,
                                         ensure_ascii=False) + "\n")


def budget_caveat(run: dict[str, Any]) -> str:
    """How much of the training set the cpu profile's token budget let one run see, from its metrics."""
    training, train = run["training"], (run["dataset"].get("train") or {})
    rows = sum(value for key, value in train.items() if key != "corrections" and isinstance(value, int))
    return (f"The cpu profile's token budget ({training.get('train_tokens')} tokens trained) keeps one CPU "
            f"retrain to {training.get('rows')} of {rows} training rows (product prompts are ~800 tokens); "
            "the gate still scores every held-out row. A GPU profile trains them all.")


def training_environment(url: str, overrides: dict[str, Any]) -> dict[str, str]:
    """The child's environment: this database, the bench's work folder and the settings overrides."""
    from bot.model_setup import default_model_dir

    variables = {f"TRAINING_{key.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
                 for key, value in overrides.items()}
    return {**os.environ, "DATABASE_URL": url, "TRAINING_DATA_DIR": str(WORK),
            "TRAINING_BASE_MODEL": str(default_model_dir(Path("var/models"))), **variables}


def unseen(sessions: sessionmaker[Session], embedder: Any, generator: Any, questions: list[Any],
           adapter: tuple[int | None, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from bench.answer_quality import outcome_rows, run_questions, summarise_answers
    from bench.quality import is_gold
    from bot.answering import Answerer, AnsweringConfig

    answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator, config=AnsweringConfig(),
                        adapter_source=lambda: adapter)
    outcomes = run_questions(answerer, questions, is_gold=is_gold)
    figures = summarise_answers(outcomes)
    return {key: figures[key] for key in SUMMARY_KEYS}, outcome_rows(outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--team", type=int, default=0, help="team questions asked (0: all ~255)")
    parser.add_argument("--unseen", type=int, default=24, help="test paraphrases answered before/after")
    parser.add_argument("--pg-data-dir", type=Path, default=Path("var/bench-quality-pg"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--reduced", default="", help="why sizes are below the defaults (kept in the JSON)")
    parser.add_argument("--min-per-class", type=int, help="override the dataset/gate minimums (smoke runs)")
    parser.add_argument("--control-from", type=Path,
                        help="a learning_curve_partial.json whose run stopped before the control: re-run the team "
                             "stage (the same answers and judged votes), take the unseen and judged-retrain figures "
                             "from the file, and run only the control")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    import torch

    from bench.faq import load_faq
    from bench.quality import _generator, ensure_doc_sources, spread
    from bench.question_sets import paraphrases, team_questions
    from bot.answering import Answerer, AnsweringConfig
    from knowledge.embedding import SentenceTransformerEmbedder
    from store.adapter_registry import deploy_base, get_adapter
    from store.database import make_engine, make_session_factory, resolve_database_url
    from store.migrate import upgrade
    from training.settings import TrainingSettings

    started = time.perf_counter()
    timings: dict[str, float] = {}
    overrides = dict(SETTINGS_OVERRIDES)
    if args.min_per_class:
        overrides |= {"min_desirable": args.min_per_class, "min_undesirable": args.min_per_class,
                      "min_eval_examples": args.min_per_class, "min_eval_per_class": args.min_per_class}
    settings = TrainingSettings(data_dir=WORK, **overrides).resolved(cuda_available=False)
    torch.set_num_threads(settings.torch_threads or 2)
    shutil.rmtree(WORK, ignore_errors=True)
    url = resolve_database_url(os.environ.get("BENCH_DATABASE_URL"), args.pg_data_dir)
    upgrade(url)
    environment = training_environment(url, overrides)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    clear_feedback(engine)
    items = load_faq(ensure_doc_sources())
    asked = paraphrases(items, "dev") + team_questions(items)
    asked = spread(asked, args.team) if args.team else asked
    test = spread(paraphrases(items, "test"), args.unseen)
    embedder = SentenceTransformerEmbedder()
    generator = _generator()

    # 1. The simulated team.
    t = time.perf_counter()
    team = Answerer(sessions=sessions, embedder=embedder, generator=generator,
                    config=AnsweringConfig(summarise=False))
    rows = simulate_team(sessions, team, asked)
    threshold = judge_votes(rows)
    voted = [row for row in rows if "vote" in row]
    feedback = record_feedback(sessions, voted, [row["vote"] for row in voted], corrections=True)
    timings["team_answers_and_votes_s"] = round(time.perf_counter() - t, 1)
    f1s = [row["f1"] for row in voted]
    print(f"team: {len(rows)} answers, {len(voted)} answered, F1 threshold {threshold:.3f}, {feedback}")
    stages = StageLog(args.out.with_name(args.out.stem + "_partial.json"))
    stages.record("team", {"questions": len(rows), "answered": len(voted), "votes": feedback,
                           "threshold_median_f1": round(threshold, 4)})

    after: dict[str, Any] | None = None
    before_rows: list[dict[str, Any]] = []
    after_rows: list[dict[str, Any]] = []
    if args.control_from:
        resumed = json.loads(args.control_from.read_text())["stages"]
        if resumed["team"]["votes"] != feedback:
            raise SystemExit(f"the team stage gave other votes ({feedback}) than {args.control_from} "
                             f"({resumed['team']['votes']}): its figures cannot be combined with this control")
        before, real, after = resumed["unseen_base"], resumed["retrain_judged"], resumed.get("unseen_after")
        for stage in ("unseen_base", "retrain_judged", "unseen_after"):
            if stage in resumed:
                stages.record(stage, resumed[stage])
    else:
        # 3a. Unseen questions, base model (before any training touches serving).
        t = time.perf_counter()
        before, before_rows = unseen(sessions, embedder, generator, test, (None, "base"))
        timings["unseen_base_s"] = round(time.perf_counter() - t, 1)
        print(f"unseen, base: {before}")
        stages.record("unseen_base", before)

        # 2. One retrain through the real pipeline.
        t = time.perf_counter()
        real = retrain(engine, sessions, settings, environment, "judged")
        timings["retrain_judged_s"] = round(time.perf_counter() - t, 1)
        print(f"retrain (judged votes): {real}")
        stages.record("retrain_judged", real)

    # 3b. Unseen questions with the trained adapter.
    if real["adapter_id"] is not None and not args.control_from:
        with sessions() as session:
            adapter = get_adapter(session, real["adapter_id"])
        generator.use_adapter(adapter.name, Path(adapter.path))
        t = time.perf_counter()
        after, after_rows = unseen(sessions, embedder, generator, test, (adapter.id, adapter.name))
        timings["unseen_adapter_s"] = round(time.perf_counter() - t, 1)
        generator.use_base()
        print(f"unseen, {'promoted' if real['status'] == 'succeeded' else 'rejected candidate'}: {after}")
        stages.record("unseen_after", after)

    # 4. Control: same answers, the judge's votes permuted, from the base model again.
    t = time.perf_counter()
    with sessions() as session, session.begin():
        deploy_base(session, actor="bench", reason="learning-curve control starts from the base model")
    clear_votes(engine)
    shuffled = [row["vote"] for row in voted]
    random.Random(SHUFFLE_SEED).shuffle(shuffled)
    control_feedback = record_feedback(sessions, voted, shuffled, corrections=False)
    control = retrain(engine, sessions, settings, environment, "shuffled")
    timings["retrain_shuffled_s"] = round(time.perf_counter() - t, 1)
    print(f"control (shuffled votes): {control}")
    stages.record("control_shuffled_votes", control)
    timings["total_s"] = round(time.perf_counter() - started, 1)

    agreement = sum(a == b for a, b in zip(shuffled, [row["vote"] for row in voted], strict=True)) / len(voted)
    delta = {key: round(after[key] - before[key], 4) for key in ("f1_published", "f1_raw_generation",
                                                                 "generated_sentences_passing_check")
             if after and isinstance(after.get(key), float) and isinstance(before.get(key), float)}
    results = {
        "reduced": args.reduced or None,
        "control_resumed_from": str(args.control_from) if args.control_from else None,
        "sizes": {"team_questions": len(rows), "team_answered": len(voted), "unseen_questions": len(test)},
        "judge": {"metric": "token F1 of the published (evidence) answer vs the gold FAQ answer",
                  "threshold_median_f1": round(threshold, 4), "votes": feedback,
                  "f1_mean": round(sum(f1s) / len(f1s), 4), "f1_min": round(min(f1s), 4),
                  "f1_max": round(max(f1s), 4)},
        "settings": {**overrides, "resolved": {key: getattr(settings, key) for key in (
            "epochs", "batch_size", "gradient_accumulation_steps", "max_train_tokens", "learning_rate", "beta",
            "lora_r", "gate_min_margin_gain", "gate_confidence", "eval_fraction")}},
        "retrain_judged": real,
        "unseen_base": before,
        "unseen_after": after,
        "unseen_after_label": None if after is None else "promoted adapter" if real["status"] == "succeeded"
        else f"candidate adapter, gate {real['status']} (evaluated anyway)",
        "unseen_delta_after_minus_base": delta,
        "control_shuffled_votes": {**control, "seed": SHUFFLE_SEED, "votes": control_feedback,
                                   "agreement_with_judge": round(agreement, 4),
                                   "rejected_as_required": control["status"] != "succeeded"},
        "timings_s": timings,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "caveats": [
            "One retrain, one seed, small samples: the unseen-question figures move by single answers; no "
            "confidence interval is claimed for them.",
            "The team's answers are evidence-only (verbatim quotes), so training rows teach which quotes to "
            "show, while the unseen evaluation scores generated summaries: the signal reaches generation "
            "only indirectly.",
            "The published answer is mostly the verbatim evidence, which retrieval and selection decide, "
            "not the model: an adapter can only change the summary part of it.",
            "The judge is token F1 against one gold FAQ answer, thresholded at the median; votes are noisy "
            "labels of retrieval luck as much as of answer quality.",
            *([f"Dataset/gate minimums lowered to {args.min_per_class} per class (--min-per-class)."]
              if args.min_per_class else []),
            budget_caveat(real),
            *(["The run stopped before its control stage (clear_votes' cascade emptied the answers); the team "
               "stage was re-run with the same votes and only the control was run again: the unseen and "
               "judged-retrain figures are those of the first run (control_resumed_from)."]
              if args.control_from else []),
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if not args.control_from:  # a resumed run has the figures of the unseen answers, not the answers
        args.out.with_name(args.out.stem + "_answers.jsonl").write_text(
            "".join(json.dumps({"model": label, **row}, ensure_ascii=False) + "\n"
                    for label, part in (("base", before_rows), ("after", after_rows)) for row in part))
    print(json.dumps({key: results[key] for key in ("sizes", "judge", "unseen_base", "unseen_after",
                                                   "unseen_delta_after_minus_base")}, indent=1, ensure_ascii=False))
    print(f"gate (judged): {real['status']}, gain {real['gate_gain']} (lower {real['gate_gain_lower']}); "
          f"control: {control['status']}, gain {control['gate_gain']} (lower {control['gate_gain_lower']})")
    print(f"wrote {args.out}")
    engine.dispose()


if __name__ == "__main__":
    main()
