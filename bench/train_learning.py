"""Proof that the learning loop learns, on the real default model: synthetic votes → KTO → gate → promotion.

Synthesises rated answers about a fictional product ("Lumen Ledger"): every prompt quotes one
passage of its guide; 👍 answers restate the passage's fact and cite it, 👎 answers state a wrong
fact without citing. The newest facts are held out by the builder's time split, so the held-out
metrics measure whether the model learned "answer from the passage" rather than memorised facts.
Then one full pipeline run (embedded Postgres, dataset export, TRL KTO + LoRA, evaluation gate,
registry promotion) and, before vs after: held-out reward margin, 👍/👎 log-likelihoods,
pairwise preference accuracy, general-text perplexity; training tokens/s, wall times, peak RSS.

Run: `python -m bench.train_learning [--rows 200] [--profile bench|defaults|cpu|gpu|auto] [--epochs E]
[--steps N] [--max-length L] [--batch-size B] [--threads T] [--json FILE [--label NAME]]`.
`--profile bench` (the default) is this bench's own settings; `defaults` the library's settings from
before training profiles (2 epochs, batch 4, max_length 1024, reference per step, gate batch 8);
`cpu`/`gpu`/`auto` go through `TrainingSettings` exactly as the worker does. Explicit flags override
any profile. With `--steps` cutting a run short, the JSON also extrapolates the full run's training
time (seconds per step so far × the steps the full run plans) and wall time.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from bench.database import bench_database
from store.adapter_registry import get_adapter, serving_adapter
from store.interactions import record_answer, record_vote
from store.training_runs import get_training_run, request_training_run
from store.types import Passage
from training.config import DatasetConfig, GateConfig, LoopConfig, TrainConfig
from training.dataset_export import export_dataset
from training.dataset_files import read_dataset
from training.pipeline import LoopPaths, process_next_run
from training.scoring import BASE, ScoringModel
from training.settings import TrainingSettings

SYSTEM = ("You are the team's knowledge assistant. Answer using only the quoted passage and cite it as [1]. "
          "Be concise.")

# (section, passage, the fact as a clause, a wrong fact, four ways to ask)
FACTS = [
    ("Exports", "Reports can be exported as CSV and PDF files.", "reports export as CSV and PDF files",
     "reports export only as XML files",
     ["Which export formats are there?", "How do I export a report?", "Can I get my reports out as files?",
      "What file types can reports be saved as?"]),
    ("Plans", "The Starter plan allows up to 5 team members.", "the Starter plan allows up to 5 team members",
     "the Starter plan allows up to 50 team members",
     ["How many people fit on Starter?", "What is the team limit of the Starter plan?",
      "Can 10 people share a Starter account?", "How big can a Starter team be?"]),
    ("Currency", "New ledgers use the euro as the default currency.", "new ledgers default to the euro",
     "new ledgers default to the US dollar",
     ["What currency does a new ledger use?", "Which default currency is set?", "Is the default currency dollars?",
      "What money unit do new ledgers start with?"]),
    ("Retention", "Records are kept for 7 years after an account closes.", "records are kept for 7 years",
     "records are deleted after 30 days",
     ["How long is data retained?", "When are records deleted?", "Do you keep my records after I close?",
      "What is the retention period?"]),
    ("Backups", "Backups run every night at 2 am.", "backups run every night at 2 am", "backups run once a month",
     ["How often are backups made?", "When do backups run?", "Is my data backed up daily?",
      "What is the backup schedule?"]),
    ("Support", "Support answers from 8 am to 6 pm CET on weekdays.", "support works 8 am to 6 pm CET on weekdays",
     "support is available around the clock",
     ["When can I reach support?", "What are the support hours?", "Is support open at night?",
      "Can I call support on Sunday?"]),
    ("Invoices", "Invoice numbers start with the prefix LL-.", "invoice numbers start with LL-",
     "invoice numbers start with INV-",
     ["What prefix do invoice numbers have?", "How are invoices numbered?", "Do invoice numbers start with INV?",
      "What does an invoice number look like?"]),
    ("API", "The API allows 60 requests per minute per key.", "the API allows 60 requests per minute",
     "the API allows 1000 requests per second",
     ["What is the API rate limit?", "How many API calls can I make?", "Is the API throttled?",
      "How fast may a script call the API?"]),
    ("Security", "Two-factor login is required for all admins.", "two-factor login is required for admins",
     "two-factor login is not available",
     ["Do admins need two-factor login?", "Is 2FA supported?", "Can I turn off 2FA for admins?",
      "How are admin logins protected?"]),
    ("Mobile", "Apps are available for iOS and Android.", "there are apps for iOS and Android",
     "there is no mobile app",
     ["Is there a mobile app?", "Can I use it on my phone?", "Which phones are supported?",
      "Do you have an Android app?"]),
    ("Trial", "The free trial lasts 30 days.", "the free trial lasts 30 days", "the free trial lasts 7 days",
     ["How long is the trial?", "When does my trial end?", "Is the trial a week long?",
      "How many free days do I get?"]),
    ("Imports", "You can import data from QuickBooks and Xero.", "data imports from QuickBooks and Xero",
     "data imports only from spreadsheets",
     ["Can I import from QuickBooks?", "Which tools can I migrate from?", "How do I bring in old books?",
      "Does import work with Xero?"]),
    ("Tax", "A quarterly VAT report is generated automatically.", "a quarterly VAT report is generated",
     "there are no tax reports",
     ["Is there a VAT report?", "How do I get tax figures?", "Does it produce tax reports?",
      "How often is the VAT report made?"]),
    ("SSO", "SAML single sign-on is included in the Business plan.", "SAML sign-on comes with the Business plan",
     "only Google login is supported",
     ["Do you support SAML?", "Which plan has single sign-on?", "Can we log in with our identity provider?",
      "Is SSO available?"]),
    ("Passwords", "Password reset links expire after 30 minutes.", "reset links expire after 30 minutes",
     "reset links stay valid for 7 days",
     ["How long is a reset link valid?", "When does the password link expire?", "My reset link is old, will it work?",
      "What is the reset link lifetime?"]),
    ("Attachments", "Attachments can be up to 25 MB each.", "attachments can be up to 25 MB",
     "attachments can be up to 1 GB",
     ["What is the attachment size limit?", "How large can a file be?", "Can I attach a 100 MB scan?",
      "Is there a maximum upload size?"]),
    ("Offline", "Offline mode is read-only.", "offline mode is read-only", "offline mode allows full editing",
     ["Can I edit offline?", "What works without internet?", "Does offline mode sync my edits?",
      "Is offline mode read-only?"]),
    ("Audit", "The audit log is kept for 2 years.", "the audit log is kept for 2 years", "no audit log is kept",
     ["Is there an audit log?", "How long is the audit trail kept?", "Can I see who changed an entry?",
      "What history do you keep of changes?"]),
    ("Pricing", "The Pro plan costs 12 euro per user per month.", "Pro costs 12 euro per user per month",
     "Pro costs 99 euro per user per month",
     ["How much is Pro?", "What does the Pro plan cost?", "Is Pro expensive?", "What is the Pro price per user?"]),
    ("Fiscal year", "The fiscal year starts in January unless changed in settings.",
     "the fiscal year starts in January and can be changed", "the fiscal year always starts in July",
     ["When does the fiscal year start?", "Can I change the fiscal year?", "Is the year fixed to July?",
      "How is the financial year set?"]),
    ("Receipts", "Receipts can be emailed to your ledger inbox.", "receipts can be emailed to the ledger inbox",
     "receipts cannot be uploaded",
     ["How do I add receipts?", "Can I email a receipt?", "Where do scanned receipts go?",
      "Is receipt capture supported?"]),
    ("Companies", "The Pro plan covers up to 3 companies.", "Pro covers up to 3 companies",
     "Pro covers unlimited companies",
     ["How many companies can I manage?", "Can Pro handle several businesses?", "Is there a company limit?",
      "How many ledgers for different firms?"]),
    ("Bank sync", "Bank feeds sync daily at 6 am.", "bank feeds sync daily at 6 am", "bank feeds sync in real time",
     ["How often do bank feeds update?", "When does bank sync run?", "Are transactions imported instantly?",
      "What is the bank feed schedule?"]),
    ("Recurring", "Recurring invoices can repeat weekly, monthly or yearly.",
     "recurring invoices repeat weekly, monthly or yearly", "recurring invoices repeat only monthly",
     ["Can invoices repeat?", "Which recurrence options exist?", "Can I bill a client every week?",
      "How do recurring invoices work?"]),
    ("Hosting", "All data is stored on servers in Frankfurt.", "data is stored on servers in Frankfurt",
     "data is stored on servers in the US",
     ["Where is my data stored?", "Which country hosts the servers?", "Is data kept in the EU?",
      "Where are your data centres?"]),
]
GOOD = ["{fact} [1].", "According to the guide, {fact} [1].", "The docs say {fact} [1].", "{Fact}, as [1] states."]
BAD = ["{fact}.", "I believe {fact}.", "As far as I know, {fact}.", "{Fact}, I think."]


def synthesise(rows: int) -> list[dict]:
    """`rows` rated answers, fact by fact (so the newest facts end up held out), alternating 👍/👎."""
    answers = []
    per_fact = 8
    for index in range(rows):
        section, passage, fact, wrong, questions = FACTS[(index // per_fact) % len(FACTS)]
        turn = index % per_fact
        good = turn % 2 == 0
        template = (GOOD if good else BAD)[(turn // 2 + index // (per_fact * len(FACTS))) % 4]
        clause = fact if good else wrong
        answers.append({"section": section, "passage": passage, "question": questions[(turn // 2) % 4],
                        "completion": template.format(fact=clause, Fact=clause[0].upper() + clause[1:]),
                        "up": good, "channel": ("CHELP", "CDEV", "CSALES")[index % 3], "thread": f"{1700 + index}.1"})
    return answers


def seed(sessions, tokenizer, answers: list[dict]) -> None:
    for number, answer in enumerate(answers):
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"Passage [1] (Lumen Ledger guide › {answer['section']}): "
                                                f"{answer['passage']}\n\nQuestion: {answer['question']}"}]
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        passage = Passage(chunk_id=number + 1, document_id=1, title="Lumen Ledger guide", uri="docs/guide.md",
                          heading=answer["section"], text=answer["passage"], score=0.8, scope="workspace")
        with sessions() as session, session.begin():  # the answer, then the click on it, as the bot records them
            answer_id = record_answer(session, question=answer["question"], prompt=prompt,
                                      completion=answer["completion"], passages=[passage], abstained=False,
                                      adapter_id=None, adapter_name="base", latency_ms=None, channel=answer["channel"],
                                      thread_ts=answer["thread"], asker=f"U{number % 7}")
        with sessions() as session, session.begin():
            record_vote(session, answer_id=answer_id, user_id=f"V{number % 5}", value=1 if answer["up"] else -1,
                        source="button")


def preference_accuracy(model: ScoringModel, name: str, rows: list[dict], max_length: int) -> float:
    """Share of (👍, 👎) pairs over the same passage where the 👍 completion scores higher."""
    with model.using(name):
        scores = model.completion_logprobs([(r["prompt"], r["completion"]) for r in rows], max_length=max_length,
                                           batch_size=8)
    by_passage: dict[str, dict[bool, list[float]]] = {}
    for row, score in zip(rows, scores, strict=True):
        passage = row["prompt"].split("Passage [1]", 1)[1].split("\n", 1)[0]
        by_passage.setdefault(passage, {True: [], False: []})[row["label"]].append(score)
    pairs = [(g, b) for sides in by_passage.values() for g in sides[True] for b in sides[False]]
    return sum(g > b for g, b in pairs) / len(pairs) if pairs else float("nan")


DATASET = DatasetConfig(min_desirable=8, min_undesirable=8, min_eval_examples=4, max_channel_share=0.5)


def loop_config(args: argparse.Namespace) -> tuple[LoopConfig, int]:
    """The run's configs and torch threads (0: torch's default) for `--profile`, explicit flags winning."""
    explicit = {name: value for name, value in (("epochs", args.epochs), ("max_steps", args.steps),
                                                ("batch_size", args.batch_size), ("max_length", args.max_length))
                if value is not None}
    common = {"learning_rate": args.lr, "beta": args.beta, "lora_r": args.lora_r, "lora_alpha": 2 * args.lora_r,
              "progress_bar": False}
    if args.profile in ("bench", "defaults"):
        bench = args.profile == "bench"
        train = TrainConfig(**(({"epochs": 2.0, "batch_size": 4, "max_length": 160} if bench else {})
                               | common | explicit))
        gate = GateConfig(max_length=max(train.max_length, 256)) if bench else GateConfig()
        threads = args.threads if args.threads is not None else 2 if bench else 0
        return LoopConfig(dataset=DATASET, train=train, gate=gate), threads
    settings = TrainingSettings(profile=args.profile, min_desirable=8, min_undesirable=8, min_eval_examples=4,
                                max_channel_share=0.5, **common, **explicit,
                                **({"torch_threads": args.threads} if args.threads is not None else {})).resolved()
    return settings.loop_config(), settings.torch_threads or 0


def planned_steps(rows: int, train: TrainConfig) -> int:
    """Optimiser steps a full run over `rows` plans (as transformers' Trainer counts them, one process)."""
    per_epoch = max(1, math.ceil(math.ceil(rows / train.batch_size) / train.gradient_accumulation_steps))
    return math.ceil(train.epochs * per_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--profile", choices=("bench", "defaults", "auto", "cpu", "gpu"), default="bench")
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--steps", type=int, help="max optimiser steps (default: the profile's epochs)")
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--threads", type=int, help="torch threads (default: the profile's)")
    parser.add_argument("--model", type=Path, default=Path("var/models/SmolLM2-135M-Instruct"))
    parser.add_argument("--out", type=Path, help="datasets/adapters/reports go here (default: bench/results/…)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--label", help="keep the figures under this key of the --json file, next to other runs'")
    parser.add_argument("--note", default="", help="free text kept in the JSON (what else the machine ran)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config, threads = loop_config(args)
    if threads:
        torch.set_num_threads(threads)
    load_start = os.getloadavg()
    started = time.perf_counter()
    work = args.out or Path("bench/results") / f"train-learning-{time.strftime('%Y%m%d-%H%M%S')}"
    paths = LoopPaths(base_model=args.model, datasets_root=work / "datasets", adapters_root=work / "adapters",
                      reports_root=work / "reports")

    engine, sessions, _url = bench_database("train-learning")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    t = time.perf_counter()
    seed(sessions, tokenizer, synthesise(args.rows))
    seed_s = time.perf_counter() - t
    t = time.perf_counter()
    export = export_dataset(sessions, datasets_root=paths.datasets_root, config=config.dataset)
    export_s = time.perf_counter() - t
    assert export.dataset is not None, export.skip_reason
    with sessions.begin() as session:
        run, _ = request_training_run(session, trigger="cli", requested_by="bench")
    t = time.perf_counter()
    outcome = process_next_run(engine, paths=paths, config=config)
    pipeline_s = time.perf_counter() - t
    with sessions() as session:
        record = get_training_run(session, run.id)
    if outcome is None or record.adapter_id is None:
        raise SystemExit(f"run {run.id} ended {record.status}: {record.message}")
    training, gate = record.metrics.get("training", {}), record.metrics.get("gate", {})
    with sessions() as session:
        serving = serving_adapter(session)
        candidate = get_adapter(session, record.adapter_id)
    loss_curve = json.loads(Path(record.report_path).with_name("report.json").read_text())["loss_curve"]

    dataset = read_dataset(Path(export.dataset.path))
    model = ScoringModel(args.model, {"candidate": Path(candidate.path)})
    held_out = dataset.rows["kto_eval"]
    accuracy = {name: preference_accuracy(model, name, held_out, config.gate.max_length)
                for name in (BASE, "candidate")}
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total_s = time.perf_counter() - started

    stats = export.stats
    print(f"dataset {export.dataset.version}: {stats['answers_read']} rated answers → train "
          f"{stats['train']['desirable']}👍/{stats['train']['undesirable']}👎, held out "
          f"{stats['eval']['desirable']}👍/{stats['eval']['undesirable']}👎 (unseen facts), excluded "
          f"{stats['excluded'] or 'none'}")
    print(f"run {run.id}: {record.status} — {record.message}")
    print(f"serving adapter: {serving.name if serving else 'base model'}")
    print("held-out metrics (mean log-likelihood per completion token):")
    print(f"  {'':10} {'👍 loglik':>10} {'👎 loglik':>10} {'margin':>8} {'pref.acc':>9} {'general ppl':>12}")
    for label, key, acc in (("before", "base", accuracy[BASE]), ("after", "candidate", accuracy["candidate"])):
        s = gate[key]
        print(f"  {label:10} {s['good']:10.4f} {s['bad']:10.4f} {s['margin']:8.4f} {acc:9.3f} "
              f"{s['general_perplexity']:12.3f}")
    print(f"training: {training['objective']} {training['steps']} steps, {training['epochs']} epochs, "
          f"{training['rows']} rows ({training['rows_dropped_too_long']} too long), loss "
          f"{loss_curve[0][1]:.4f} → {loss_curve[-1][1]:.4f}, {training['train_tokens']} tokens in "
          f"{training['runtime_s']:.1f} s = {training['tokens_per_s']:.1f} tokens/s on {training['device']}")
    print(f"wall time: seed {seed_s:.1f} s, export {export_s:.2f} s, pipeline {pipeline_s:.1f} s (train "
          f"{training['runtime_s']:.1f} s + load/gate/register {pipeline_s - training['runtime_s']:.1f} s), "
          f"total {total_s:.1f} s")
    print(f"peak RSS: {peak_rss_mb:.0f} MiB; report: {record.report_path}")
    if args.json:
        figures = result_figures(args, config, threads, training=training, record=record, loss_curve=loss_curve,
                                 pipeline_s=pipeline_s, total_s=total_s, peak_rss_mb=peak_rss_mb, gate=gate,
                                 accuracy=accuracy, load=(load_start, os.getloadavg()))
        if args.label:
            earlier = json.loads(args.json.read_text()) if args.json.is_file() else {}
            figures = earlier | {args.label: figures}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        print(f"figures: {args.json}")
    engine.dispose()


def result_figures(args: argparse.Namespace, config: LoopConfig, threads: int, *, training: dict[str, Any],
                   record: Any, loss_curve: list, pipeline_s: float, total_s: float, peak_rss_mb: float,
                   gate: dict[str, Any], accuracy: dict[str, float],
                   load: tuple[tuple[float, ...], tuple[float, ...]]) -> dict[str, Any]:
    """What the JSON keeps: settings, times (the full run's extrapolated when `--steps` cut it short), memory."""
    steps, runtime = int(training["steps"]), float(training["runtime_s"])
    full_steps = planned_steps(int(training["rows"]), config.train)
    figures: dict[str, Any] = {
        "profile": args.profile, "rows": args.rows, "torch_threads": threads or torch.get_num_threads(),
        "train_config": config.train.as_dict(), "gate_config": config.gate.as_dict(),
        "status": record.status, "message": record.message,
        "training": {key: training.get(key) for key in (
            "objective", "steps", "epochs", "rows", "rows_dropped_too_long", "rows_over_token_budget", "max_length",
            "train_tokens", "runtime_s", "tokens_per_s", "device")},
        "loss_first": loss_curve[0][1], "loss_last": loss_curve[-1][1],
        "seconds_per_step": round(runtime / steps, 2) if steps else None,
        "pipeline_s": round(pipeline_s, 1), "gate_and_overhead_s": round(pipeline_s - runtime, 1),
        "wall_s": round(total_s, 1), "peak_rss_mib": round(peak_rss_mb),
        "held_out": {label: {"good": gate[key]["good"], "bad": gate[key]["bad"], "margin": gate[key]["margin"],
                             "general_perplexity": gate[key]["general_perplexity"], "preference_accuracy": acc}
                     for label, key, acc in (("before", "base", accuracy[BASE]),
                                             ("after", "candidate", accuracy["candidate"]))},
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load[0], "loadavg_end": load[1], "note": args.note},
    }
    if args.steps is not None and steps < full_steps:
        full_train_s = runtime / steps * full_steps
        figures["extrapolated_full_run"] = {
            "steps": full_steps, "train_s": round(full_train_s), "wall_s": round(total_s - runtime + full_train_s),
            "method": f"measured {steps} of the {full_steps} steps the profile plans: seconds per step so far × "
                      f"{full_steps}, plus the measured load, gate and bench time (the gate scores the same rows "
                      "however long training ran)"}
    return figures


if __name__ == "__main__":
    main()
