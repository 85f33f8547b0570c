"""The README's benchmark tables, rendered from the committed results (`python -m bench.readme_tables`).

Every benchmark writes its figures to `bench/results/<name>.json`. Each table the README shows for a
benchmark sits between `<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->` and is rendered
here from `bench/results/<name>.json` alone, by the one small renderer registered for `<name>`; the
same text is written to `bench/results/<name>.md`. A table therefore shows only what the JSON holds,
baseline rows included (each is the same-run baseline its bench measured), and cannot drift from it:

* `--write` renders every registered result file that exists to its `.md` and replaces each README
  block with its rendering;
* `--check` (CI: tests/test_readme_numbers.py does the same) exits 1 naming every block that differs
  from its rendering, names a result file that does not exist, or has no renderer.

A bench writes its figures with `write_result(name, figures, path)`: the JSON, then its `.md` beside
it from the same renderer, so a bench never formats a table of its own.

Renderers read JSON and format numbers; they import no model, database or benchmark machinery, so
the check takes well under a second. Prose around a block is written by hand: keep its figures to
what the block shows.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"

Renderer = Callable[[dict[str, Any]], str]
RENDERERS: dict[str, Renderer] = {}
"""Result name (the JSON file's stem in bench/results) → its renderer."""

_BLOCK = re.compile(r"<!-- bench:(?P<name>[A-Za-z0-9_.-]+):start -->\n(?P<body>.*?)<!-- bench:(?P=name):end -->",
                    re.DOTALL)
_MARKER = re.compile(r"<!-- bench:(?P<name>[A-Za-z0-9_.-]+):(?P<edge>start|end) -->")


def renders(name: str) -> Callable[[Renderer], Renderer]:
    """Register `function` as the renderer of bench/results/<name>.json."""
    def register(function: Renderer) -> Renderer:
        if name in RENDERERS:
            raise ValueError(f"two renderers for bench/results/{name}.json")
        RENDERERS[name] = function
        return function
    return register


# --- formatting -------------------------------------------------------------------------------------------

def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table; cells are already formatted strings (or numbers shown as they are)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fixed(value: float | None, digits: int = 3) -> str:
    """`value` with `digits` decimals; a missing figure as an em dash (never 'None')."""
    return "—" if value is None else f"{value:.{digits}f}"


def thousands(value: float | None, digits: int = 0) -> str:
    """`value` with a thousands separator (15,633; 4,769.0)."""
    return "—" if value is None else f"{value:,.{digits}f}"


def share(value: float | None) -> str:
    """A fraction as a percentage with one decimal (0.8824 → 88.2%)."""
    return "—" if value is None else f"{100 * value:.1f}%"


def on_machine(machine: dict[str, Any]) -> str:
    """Where a run was measured (bench/machine.py's record): cores and the 1-minute load at start and end."""
    start, end = machine["load_average_at_start"][0], machine["load_average_at_end"][0]
    return f"on {machine['cores']} cores (1-minute load average {start:.2f} at the start, {end:.2f} at the end)"


# --- renderers, one per result file -----------------------------------------------------------------------

_BLIND_HOLDOUTS = (("holdout3", "third holdout"), ("holdout4", "fourth holdout"))
"""The holdout sets written blind after the ranking model: each gets the same rows."""
_HOLDOUT_RULES = (("shipped default", "with_default"),
                  ("shipped default before the ranking model's own search", "before_search"),
                  ("shipped default over the top 10 re-ranked", "top10"),
                  ("shipped default before the ranking model", "before_ranking"),
                  ("shipped before the re-ranking", "before_rerank"))
"""Each blind holdout's abstention rows: the rule, and its key's suffix in the results."""
_HOLDOUT_ORDERS = (("", ""), (", before the ranking model's own search", "_before_search"),
                   (", top 10 re-ranked", "_top10"), (", before the ranking model", "_before_ranking"),
                   (", before the re-ranking", "_before_rerank"))
"""Each blind holdout's evidence rows: the order, and its key's suffix in the results."""
_ABSTENTION_RULES = [("passage similarity ≥ 0.3 only (first build)", "test_similarity_only_0.3"),
                     ("passage similarity ≥ 0.36 + key-term coverage ≥ 0.6 in the top passages", "test_coverage_0.6"),
                     ("passage similarity ≥ 0.32, ≥ 0.53 with an unknown name (shipped before)",
                      "test_passage_rule_before"),
                     ("best evidence unit's score ≥ 0.35, ≥ 0.47 with an unknown name", "test_evidence_only"),
                     ("shipped default", "test_with_default"),
                     ("shipped default before the ranking model's own search", "test_before_search"),
                     ("shipped before, on the **holdout** set", "holdout_passage_rule_before"),
                     ("best evidence unit's score alone, on the **holdout** set", "holdout_evidence_only"),
                     ("shipped default, on the **holdout** set", "holdout_with_default"),
                     ("shipped before the re-ranking (same figure ≥ 0.33, ≥ 0.47; the search's order)",
                      "test_before_rerank"),
                     ("shipped before the re-ranking, on the **holdout** set", "holdout_before_rerank"),
                     ("shipped before the re-ranking, on the **second holdout** set (blind)", "holdout2_before_rerank"),
                     ("shipped default, on the **second holdout** set (blind)", "holdout2_with_default"),
                     ("shipped default before the ranking model (re-ranked by best unit alone)", "test_before_ranking"),
                     ("shipped default before the ranking model, on the **holdout** set", "holdout_before_ranking"),
                     ("shipped default before the ranking model, on the **second holdout** set (blind)",
                      "holdout2_before_ranking"),
                     ("shipped default over the top 10 re-ranked (before the top 20)", "test_top10"),
                     ("shipped default over the top 10 re-ranked, on the **holdout** set", "holdout_top10"),
                     ("shipped default over the top 10 re-ranked, on the **second holdout** set (blind)",
                      "holdout2_top10"),
                     *[(f"{rule}, on the **{name}** set (blind)", f"{split}_{key}")
                       for split, name in _BLIND_HOLDOUTS for rule, key in _HOLDOUT_RULES]]
_ANSWER_VARIANTS = [("evidence only (test)", "evidence_only_test"),
                    ("evidence only, before the ranking model's own search (test)",
                     "evidence_only_test_before_search"),
                    ("evidence only, before the re-ranking (test)", "evidence_only_test_before_rerank"),
                    ("evidence + checked summary (test)", "answers_test"),
                    ("evidence only (**holdout**)", "evidence_only_holdout"),
                    ("evidence only, before the re-ranking (**holdout**)", "evidence_only_holdout_before_rerank"),
                    ("evidence only (**second holdout**, blind)", "evidence_only_holdout2"),
                    ("evidence only, before the re-ranking (**second holdout**, blind)",
                     "evidence_only_holdout2_before_rerank"),
                    ("evidence only, before the ranking model (test)", "evidence_only_test_before_ranking"),
                    ("evidence only, before the ranking model (**holdout**)", "evidence_only_holdout_before_ranking"),
                    ("evidence only, before the ranking model (**second holdout**, blind)",
                     "evidence_only_holdout2_before_ranking"),
                    ("evidence only, top 10 re-ranked (before the top 20) (test)", "evidence_only_test_top10"),
                    ("evidence only, top 10 re-ranked (**holdout**)", "evidence_only_holdout_top10"),
                    ("evidence only, top 10 re-ranked (**second holdout**, blind)", "evidence_only_holdout2_top10"),
                    *[(f"evidence only{order} (**{name}**, blind)", f"evidence_only_{split}{key}")
                      for split, name in _BLIND_HOLDOUTS for order, key in _HOLDOUT_ORDERS]]


def _abstention_rule(rule: dict[str, Any]) -> str:
    if "note" in rule:
        return str(rule["note"])
    figure = {"evidence": "best evidence unit's score", "passage": "best passage's similarity"}.get(
        rule["figure"], "mean of best passage's similarity and best evidence unit's score")
    coverage = f", coverage ≥ {rule['min_coverage']}" if rule["min_coverage"] else ""
    return f"{figure} ≥ {rule['min_score']}, ≥ {rule['unknown_score']} with an unknown name{coverage}"


def _abstention_rows(rules: list[tuple[str, dict[str, Any]]]) -> str:
    return table(["abstention rule (test split unless marked)", "answerable answered", "unanswerable refused",
                  "precision", "n"],
                 [[label, fixed(f["answerable_answered"]), fixed(f["unanswerable_refused"]), fixed(f["precision"]),
                   f"{f['answerable']} + {f['unanswerable']}"] for label, f in rules])


@renders("quality")
def quality(results: dict[str, Any]) -> str:
    """Per corpus: retrieval per search mode and question set, abstention rules, answers on test paraphrases."""
    parts: list[str] = []
    for name, corpus in results["corpora"].items():
        parts.append(f"**Corpus `{name}`**: {corpus['label']} ({thousands(corpus['corpus']['chunks'])} chunks)")
        parts.append(table(
            ["search", "question set", "hit@1", "hit@5", "hit@10", "MRR", "p50 ms"],
            [[search, set_name, fixed(f["hit_at_1"]), fixed(f["hit_at_5"]), fixed(f["hit_at_10"]), fixed(f["mrr"]),
              fixed(f["p50_ms"], 0)]
             for search, sets in corpus["retrieval"].items() for set_name, f in sets.items()]))
        abstention = corpus["abstention"]
        rules = [*_ABSTENTION_RULES, (f"calibrated on this corpus's dev split "
                                      f"({_abstention_rule(abstention['calibrated_on_dev'])})", "test_with_calibrated")]
        parts.append(_abstention_rows([(label, abstention[key]) for label, key in rules if key in abstention]))
        answers = [(label, corpus[key]) for label, key in _ANSWER_VARIANTS if key in corpus]
        if answers:
            parts.append(table(
                ["answers (paraphrases)", "n", "F1 published", "F1 when answered", "F1 evidence",
                 "F1 raw generation", "F1 top-passage baseline", "baseline when answered", "answered",
                 "sentences generated / published", "invented specifics", "median first text / final ms"],
                [[label, f["questions"], fixed(f["f1_published"]), fixed(f["f1_published_when_answered"]),
                  fixed(f["f1_evidence"]), fixed(f["f1_raw_generation"]), fixed(f["f1_top_passage_baseline"]),
                  fixed(f["f1_baseline_when_answered"]), share(f["answered_share"]),
                  f"{f['generated_sentences']} / {f['published_sentences']}", f["invented_specifics"],
                  f"{thousands(f['median_first_text_ms'])} / {thousands(f['median_final_ms'])}"]
                 for label, f in answers]))
    joint = results.get("abstention_joint")
    if joint:
        default = "the shipped default" if joint["default_is_calibrated"] else "not the shipped default"
        parts.append(f"**Abstention calibrated on the dev splits of {', '.join(joint['knowledge_bases'])} together** "
                     f"({_abstention_rule(joint['calibrated_on_dev'])}; {default}), "
                     "on each test split and holdout set:")
        holdouts = [("holdout", "**holdout** set"), ("holdout2", "**second holdout** set (blind)"),
                    *[(split, f"**{name}** set (blind)") for split, name in _BLIND_HOLDOUTS]]
        parts.append(_abstention_rows([(f"`{name}`", f) for name, f in joint["test"].items()]
                                      + [(f"`{name}`, {label}", f) for split, label in holdouts
                                         for name, f in joint.get(split, {}).items()]))
        if joint.get("blind_pooled"):
            parts.append(table(
                ["blind sets pooled", "answerable answered (95% interval)", "unanswerable refused (95% interval)",
                 "loose matches: answerable / unanswerable answered", "n"],
                [[f"`{name}`, {' + '.join(f['splits'])}",
                  f"{fixed(f['answerable_answered'])} ({fixed(f['answered_interval'][0])}–"
                  f"{fixed(f['answered_interval'][1])})",
                  f"{fixed(f['unanswerable_refused'])} ({fixed(f['refused_interval'][0])}–"
                  f"{fixed(f['refused_interval'][1])})", _loose_cell(f), f"{f['answerable']} + {f['unanswerable']}"]
                 for name, f in joint["blind_pooled"].items()]))
    return "\n\n".join(parts)


def _loose_cell(pooled: dict[str, Any]) -> str:
    """How many answered questions were loose matches, of the answerable and of the answered unanswerable
    ones ("—" for results measured before loose matches were counted)."""
    if "loose_answerable" not in pooled:
        return "—"
    return (f"{pooled['loose_answerable']} / {pooled['loose_unanswerable']} (of the "
            f"{pooled['answered_unanswerable']} unanswerable answered)")


@renders("abstention_features")
def abstention_features(results: dict[str, Any]) -> str:
    """Per knowledge base and non-blind set: each figure's AUC, the shipped rule and the learned one."""
    figures = list(results["groups"][0]["auc"]) if results["groups"] else []

    def shares(rule: dict[str, Any]) -> str:
        return f"{share(rule['answerable_answered'])} / {share(rule['unanswerable_refused'])}"

    rows = [[f"`{g['knowledge_base']}` {g['set']}", *[fixed(g["auc"][f]) for f in figures], shares(g["shipped_rule"]),
             shares(g["learned_rule"]), f"{g['shipped_rule']['answerable']} + {g['shipped_rule']['unanswerable']}"]
            for g in results["groups"]]
    means = [[f"mean of `{base}`'s sets", *[""] * len(figures), shares(rules["shipped_rule"]),
              shares(rules["learned_rule"]), ""] for base, rules in results["means"].items()]
    parts = [table(["set", *[f"AUC {f}" for f in figures], "shipped rule: answered / refused",
                    "learned rule (left out): answered / refused", "n"], rows + means)]
    if results.get("loose_matches"):
        shipped = f"{results['shipped_rule']['loose_margin']:g}"

        def cell(counts: dict[str, Any]) -> str:
            return (f"{counts['answered']}: {counts['right']} right / {counts['other']} other section first / "
                    f"{counts['unanswerable']} unanswerable ({share(counts['right_share'])} right)")

        parts.append(table(
            ["knowledge base", "loose margin", "loose matches", "clear answers"],
            [[f"`{base}`", f"**{margin}** (shipped)" if margin == shipped else margin, cell(f["loose"]),
              cell(f["clear"])]
             for base, margins in results["loose_matches"].items() for margin, f in margins.items()]))
    return "\n\n".join(parts)


@renders("support_labels")
def support_labels(results: dict[str, Any]) -> str:
    """Per rule and split: the default model's labelled sentences published, and how many are faithful."""
    return table(["support rule", "split", "labelled sentences (faithful)", "published", "faithful published",
                  "precision", "recall"],
                 [[rule, split, f"{f['sentences']} ({f['faithful']})", f["published"], f["published_faithful"],
                   fixed(f["precision"], 2), fixed(f["recall"], 2)]
                  for rule, splits in results["figures"].items() for split, f in splits.items()])


@renders("quality_generation_ablation")
def quality_generation_ablation(results: dict[str, Any]) -> str:
    """Each generation setting against the default, answered in the same run."""
    parts = [f"_{results['note']}_"] if results.get("note") else []
    parts.append(table(
        ["generation setting", "n", "F1 raw", "F1 published", "sentences", "passing check", "invented",
         "median ms"],
        [[name, f["questions"], fixed(f["f1_raw_generation"]), fixed(f["f1_published"]), f["generated_sentences"],
          share(f["generated_sentences_passing_check"]), f["invented_specifics"], thousands(f["median_final_ms"])]
         for name, f in results["variants"].items()]))
    return "\n\n".join(parts)


_ACK_KINDS = [("event", "signed events (reactions, channel chatter)"),
              ("command", "slash commands (`/kb help`, `/kb status`)"), ("all", "all")]


@renders("slack_ack")
def slack_ack(results: dict[str, Any]) -> str:
    """Mention → first visible reply, first answer text, final answer; then the ack latencies under a burst.

    The ack table shows when the result holds `acks` (files written before the script recorded them
    hold the answers alone, and render as they did).
    """
    f = results["answers"]
    parts = [table(["mention of the bot → …", "median", "max"], [
        ["first visible reply (thread status / placeholder)", f"{f['first_visible_ms_median']:.0f} ms",
         f"{f['first_visible_ms_max']:.0f} ms"],
        ["first answer text (the quoted evidence)", f"{f['first_text_s_median']:.2f} s",
         f"{f['first_text_s_max']:.2f} s"],
        ["final answer (quotes + checked summary, up to 128 tokens)", f"{f['final_s_median']:.1f} s",
         f"{f['final_s_max']:.1f} s"],
    ])]
    acks = results.get("acks")
    if acks:
        parts.append(table(
            ["ack of …, during a long generation", "requests", "p50", "p99", "max"],
            [[label, acks[kind]["requests"], f"{acks[kind]['p50_ms']:.1f} ms", f"{acks[kind]['p99_ms']:.1f} ms",
              f"{acks[kind]['max_ms']:.1f} ms"] for kind, label in _ACK_KINDS]))
        parts.append(f"Non-200 acks: {acks['non_200']} of {acks['all']['requests']}, sent {acks['concurrency']} at a "
                     f"time; the generation was {'still' if acks['generation_running_at_last_ack'] else 'no longer'} "
                     "running when the last ack returned.")
    settings = results.get("settings")
    served = f", gunicorn {settings['workers']} gthread worker(s) × {settings['threads']} threads," if settings else ""
    where = on_machine(results["machine"]) if "machine" in results else f"on {results['cores']} cores"
    parts.append(f"{f['questions']} questions{served} {where}.")
    return "\n\n".join(parts)


def _spread(figures: dict[str, float] | None, unit: str = "s", digits: int = 2) -> str:
    """p50 / p95 / max of one measure (bench/burst.py's `spread`), or an em dash when nothing was measured."""
    if figures is None:
        return "—"
    return " / ".join(f"{figures[key]:.{digits}f}" for key in ("p50", "p95", "max")) + f" {unit}"


@renders("unit_vector_cache")
def unit_vector_cache(results: dict[str, Any]) -> str:
    """Time to the evidence with unit vectors embedded per question, stored on first read, read back."""
    rows = [[way, f"{fixed(row['wall_ms_p50'], 1)} ms", f"{fixed(row['wall_ms_p95'], 1)} ms",
             f"{fixed(row['cpu_ms_p50'], 1)} ms", _ratio(row["x_baseline"])]
            for way, row in results["ways"].items()]
    stored = results["stored_for_all_questions"]
    per_unit = stored["table_bytes"] / stored["units"] if stored["units"] else 0
    note = (f"{results['questions']} test paraphrases on the `{results['corpus']}` knowledge base, embeddings "
            f"`{results['embedding_backend']}`, interleaved question by question; the same evidence the first three "
            f"ways for {results['same_evidence_all_ways']} of {results['questions']}"
            + (f", and the re-ranking changed it for {results['evidence_changed_by_the_reranking']}"
               if "evidence_changed_by_the_reranking" in results else "")
            + f". Their passages stored: "
            f"{stored['chunks']} chunks, {stored['units']} units, {stored['table_bytes'] / 1024:,.0f} KiB with "
            f"indexes ({per_unit:,.0f} bytes a unit); {on_machine(results['machine'])}.")
    return table(["unit vectors", "prepare p50", "p95", "CPU p50", "× before"], rows) + "\n\n" + note


@renders("unit_vector_herd")
def unit_vector_herd(results: dict[str, Any]) -> str:
    """A wave of cold questions in one process: units embedded and time to the evidence, per way."""
    return (table(["way", "units embedded per wave", "× before", "evidence p50 (from the wave's start)", "× before",
                   "evidence p95", "wave wall", "process CPU per wave"],
                  [[way, thousands(f["units_per_wave"], 1), f"×{f['units_x_baseline']:.2f}",
                    f"{f['evidence_s_p50']:.2f} s", f"×{f['evidence_p50_x_baseline']:.2f}",
                    f"{f['evidence_s_p95']:.2f} s", f"{f['wall_s_per_wave']:.2f} s", f"{f['cpu_s_per_wave']:.2f} s"]
                   for way, f in results["ways"].items()])
            + f"\n\n{results['rounds']} waves of {results['wave']} FAQ test paraphrases per way on "
              f"{results['workers']} threads, the `unit_vectors` table emptied before each, ways alternating first; "
              f"embeddings `{results['embedding_backend']}`; {on_machine(results['machine'])}.")


@renders("ranking_switch")
def ranking_switch(results: dict[str, Any]) -> str:
    """A ranking-model deployment reaching a running answerer: the switch's seconds, the evidence's time."""
    rows = [[way, str(f["n"]), f"{f['p50_ms']:.1f} ms", f"{f['p95_ms']:.1f} ms", f"{f['max_ms']:.1f} ms",
             _ratio(f["p50_x_baseline"]) if "p50_x_baseline" in f else "—"]
            for way, f in results["evidence"].items()]
    switch = results["switch_s"]
    return (table(["questions prepared", "n", "evidence p50", "p95", "max", "p50 × baseline"], rows)
            + f"\n\n{results['switches']} switches (deployments and rollbacks alternating): the answerer ranked with "
              f"the new model {switch['p50']:.2f} s (median; at most {switch['max']:.2f} s) after the deployment "
              f"committed. A stand-in model (the bundled weights under another name, {results['copied_rows']} "
              f"vectors copied; its ONNX export took {results['export_s']:.0f} s); FAQ test paraphrases prepared "
              f"one after another (no generation), every one prepared once before; {on_machine(results['machine'])}.")


@renders("repeated_sections")
def repeated_sections(results: dict[str, Any]) -> str:
    """npm's repeated option sections: distinct passages and hit@k with every copy and with each text once."""
    return (table(["search", "different passages in the top 10", "hit@1", "hit@5", "hit@10", "MRR"],
                  [[way, f"{f['distinct_in_top_10']:.1f}", fixed(f["hit_at_1"]), fixed(f["hit_at_5"]),
                    fixed(f["hit_at_10"]), fixed(f["mrr"])] for way, f in results["ways"].items()])
            + f"\n\n{results['questions']} questions over npm's docs ({results['documents']} pages, "
              f"{results['failed']} failed), embeddings `{results['embedding_backend']}`, both ways in one run; "
              f"{on_machine(results['machine'])}.")


def _ranking_pass(ranking: dict[str, Any] | None) -> str:
    """", ranking model `X` (its pass over N chunks took S s)" for a result that ranked its knowledge base."""
    if not ranking:
        return ""
    return (f", ranking model `{ranking['model']}` (its pass over {thousands(ranking['chunks'])} chunks took "
            f"{ranking['seconds']:.0f} s)")


@renders("new_docs")
def new_docs(results: dict[str, Any]) -> str:
    """pip's docs added as found: retrieval of the right section, and where the answers' quotes come from."""
    retrieval = table(["order", "hit@1", "hit@5", "hit@10", "MRR"],
                      [[name, fixed(f["hit_at_1"]), fixed(f["hit_at_5"]), fixed(f["hit_at_10"]), fixed(f["mrr"])]
                       for name, f in results["retrieval"].items()])
    a, answerable, unanswerable = results["answers"], results["answerable"], results["unanswerable"]
    answers = table(["answerable questions", "answered", "first quote from the right section",
                     "right section quoted", "wrong section only", "abstained"],
                    [[str(answerable), str(a["answered"]), str(a["first_quote_right"]), str(a["right_quoted"]),
                      str(a["wrong_only"]), str(a["abstained"])]])
    return (retrieval + "\n\n" + answers
            + f"\n\nThe {unanswerable} questions the docs do not answer: {a['unanswerable_refused']} refused, "
              f"{a['unanswerable_answered']} answered. pip's docs as Debian installs them ({results['documents']} "
              f"documents added, {results['failed']} failed, {results['skipped']} skipped), shipped answering "
              f"defaults, summaries off, embeddings `{results['embedding_backend']}`"
              + _ranking_pass(results.get("ranking_model"))
              + f"; {on_machine(results['machine'])}.")


@renders("prefill_chunks")
def prefill_chunks(results: dict[str, Any]) -> str:
    """The longest forward pass (what a question arriving mid-generation waits for) per prompt-reading way."""
    rows = [[way, f"{fixed(f['longest_pass_ms']['p50'], 0)} ms", f"{fixed(f['longest_pass_ms']['max'], 0)} ms",
             _ratio(f["longest_pass_ratio"]), f"{fixed(f['prompt_reading_ms_p50'], 0)} ms",
             _ratio(f["prompt_reading_ratio"]), f"{f['same_answers']} / {results['settings']['prompts']}"]
            for way, f in results["variants"].items()]
    settings = results["settings"]
    note = (f"{settings['prompts']} answering prompts (p50 {thousands(settings['prompt_tokens']['p50'])} tokens, "
            f"max {thousands(settings['prompt_tokens']['max'])}), {settings['rounds']} rounds, model "
            f"`{settings['quantize']}` on {settings['torch_threads']} torch thread(s); same answers: the first "
            f"{settings['answer_tokens']} tokens equal to the whole-prompt way's; {on_machine(results['machine'])}.")
    return table(["prompt read", "longest pass p50", "max", "× whole", "prompt reading p50", "× whole",
                  "same answers"], rows) + "\n\n" + note


def _burst_cpu(cpu: dict[str, Any]) -> str:
    """Where the cores went during the burst (bench/burst.py's CpuMeter)."""
    return (f"CPU during the burst's {fixed(cpu['wall_s'], 2)} s on {cpu['cores']} cores: the app "
            f"{fixed(cpu['app_cpu_s'], 2)} s, the bench's fake Slack and senders {fixed(cpu['bench_cpu_s'], 2)} s, "
            f"the rest (Postgres, anything else on the host) {fixed(cpu['other_cpu_s'], 2)} s; ")


def _burst_watch(watch: dict[str, Any]) -> str:
    """The app's warnings and the listen-queue overflows during the burst (bench/burst.py's BurstWatch)."""
    warnings = watch["app_warnings"]
    logged = "none" if not warnings else "; ".join(f"{count} × {what}" for what, count in sorted(warnings.items()))
    overflows = watch["listen_overflows"]
    return (f"app warnings and errors logged during the burst: {logged}; connections dropped by a full listen "
            f"queue: {'not measured' if overflows is None else overflows}; ")


@renders("burst_update_tier_before")
@renders("burst_update_tier")
@renders("burst_int8_embedder")
@renders("burst_bf16_embedder")
@renders("burst_evidence_only_no_unit_cache")
@renders("burst_evidence_only")
@renders("burst_no_unit_cache")
@renders("burst_unit_cache")
@renders("burst_nice_0")
@renders("burst_nice_10")
@renders("burst_nice_10_round2")
@renders("burst_no_pause_r1")
@renders("burst_no_pause_r2")
@renders("burst_no_pause_r3")
@renders("burst_no_pause_r4")
@renders("burst_no_pause_r5")
@renders("burst_no_pause_r6")
@renders("burst_process_r1")
@renders("burst_process_r2")
@renders("burst_process_r3")
@renders("burst_shared_r5")
@renders("burst_shared_r6")
@renders("burst_no_pause_r7")
@renders("burst_no_pause_r8")
@renders("burst_shared_r7")
@renders("burst_shared_r8")
@renders("burst_previous_code_r1")
@renders("burst_rerank_r1")
@renders("burst_rerank_r2")
@renders("burst_search_order_r1")
@renders("burst_search_order_r2")
@renders("burst_whole_prompt_r1")
@renders("burst_whole_prompt_r2")
@renders("burst_whole_prompt_r3")
@renders("burst_pieces_r1")
@renders("burst_pieces_r2")
@renders("burst_pieces_r3")
@renders("burst_before_fixes_r1")
@renders("burst_before_fixes_r2")
@renders("burst_fixed_r1")
@renders("burst_fixed_r2")
@renders("burst_ranking_unshed")
@renders("burst_ranking_max2")
@renders("burst_ranking_torch_queries")
@renders("burst_evidence_only_ranking_torch_queries")
@renders("burst_evidence_only_ranking_max2")
@renders("burst_evidence_only_ranking_unshed")
@renders("burst")
def burst(results: dict[str, Any]) -> str:
    """A burst of questions sent at once against the same questions one at a time, same app, same run."""
    s, ratios = results["settings"], results["ratios"]
    runs = [results["burst"], results.get("sequential")]

    def row(label: str, cell: Callable[[dict[str, Any]], str], ratio: float | None = None) -> list[str]:
        return [label, *(cell(run) if run else "—" for run in runs), _ratio(ratio)]

    def outcomes(run: dict[str, Any]) -> str:
        o = run["outcomes"]
        return f"{o['busy']} / {o['failed']} / {o['no reply']}"

    rows = [
        row("questions (acked 200)", lambda r: f"{r['questions']} ({r['accepted']})"),
        row("answered / abstained", lambda r: f"{r['outcomes']['answered']} / {r['outcomes']['abstained']}"),
        row("handbook questions answered / others abstained",
            lambda r: f"{r['answerable_answered']} of {r['answerable']} / {r['unanswerable_abstained']} of "
                      f"{r['unanswerable']}"),
        row("answered with the evidence alone, the model busy (no summary)",
            lambda r: str(r["summary_skipped"]) if "summary_skipped" in r else "—"),
        row(f"told busy / failed / no reply in {s['timeout_s']:.0f} s", outcomes),
        row("questions per minute sustained (answered + abstained, first sent → last reply)",
            lambda r: f"{fixed(r['questions_per_minute'], 1)} (over {fixed(r['wall_s'], 1)} s)",
            ratios["questions_per_minute"]),
        row("ack p50 / p95 / max", lambda r: _spread(r["ack_ms"], "ms", 0)),
        row("first visible reply p50 / p95 / max", lambda r: _spread(r["first_visible_s"])),
        row("first answer text (the quoted evidence) p50 / p95 / max, admitted",
            lambda r: _spread(r["first_text_s"]), ratios["first_text_p50"]),
        row("admitted with first text ≤ 1 s", lambda r: f"{r['first_text_within_target']} of {r['admitted']}"),
        row("reply end (answered + abstained) p50 / p95 / max", lambda r: _spread(r["final_s"]),
            ratios["final_p50"]),
    ]
    answer = f"quotes + checked summary (up to {s['max_new_tokens']} tokens)" if s["summary"] else \
        "quoted evidence only (KB_ANSWER_SUMMARY=false, no model call)"
    settings = (f"gunicorn {s['workers']} gthread workers × {s['threads']} threads, `KB_SLACK_WORKERS` "
                f"{s['slack_workers']}, `KB_SLACK_QUEUE` {s['slack_queue']}, `KB_MAX_CONCURRENT_GENERATIONS` "
                f"{s['max_concurrent_generations']}, `KB_MAX_WAITING_GENERATIONS` {s['max_waiting_generations']}; "
                f"{s['model']}, answers {answer}"
                + (f", embeddings `{s['embedding_backend']}`" if "embedding_backend" in s else "")
                + ((f", the search's top {s['rerank_depth']} re-ranked by best sentence" if s["rerank_depth"]
                    else ", the search's order (no re-ranking)") if "rerank_depth" in s else "")
                + (f" and the ranking model `{s['ranking_model']}`" if s.get("ranking_model") not in (None, "off")
                   and s.get("rerank_depth") else "")
                + (f", summaries and their generation at nice +{s['summary_nice']}" if s.get("summary_nice") else "")
                + ((f", a generation pauses up to {s['evidence_first_pause_s']:g} s for waiting questions' evidence"
                    if s["evidence_first_pause_s"] else ", generation never pauses for waiting questions' evidence")
                   if "evidence_first_pause_s" in s else "")
                + ((f", reading its prompt in pieces of {s['prefill_chunk_tokens']} tokens"
                    if s["prefill_chunk_tokens"] else ", reading its prompt in one pass")
                   if s.get("evidence_first_pause_s") and "prefill_chunk_tokens" in s else "")
                + (", shown answers recorded and finished on a pool of their own after waiting questions' evidence"
                   if s.get("finishing_after_evidence") else "")
                + ((", passages' unit vectors kept once embedded (emptied before the burst)"
                    if s["unit_vector_cache"] else ", passages' unit vectors embedded for every question")
                   if "unit_vector_cache" in s else "")
                + (f"; the fake Slack allowed {s['update_tier_per_minute']} `chat.update` calls a minute during the "
                   f"burst (answered 429: " + (", ".join(f"{n} `{m}`" for m, n in results["rate_limited_calls"].items())
                                                 if results.get("rate_limited_calls") else "none") + ")"
                   if s.get("update_tier_per_minute") else "")
                + f"; the burst's {s['questions']} questions sent from {s['senders']} "
                f"threads, {s['sequential_questions']} of them one at a time first; "
                + (_burst_cpu(results["burst_cpu"]) if "burst_cpu" in results else "")
                + (_burst_watch(results["burst_watch"]) if "burst_watch" in results else "")
                + f"{on_machine(results['machine'])}.")
    return table(["", "burst (all at once)", "one at a time", "burst ÷ one at a time"], rows) + "\n\n" + settings


_PROFILE_RUNS = [("before_defaults", "defaults before profiles"),
                 ("before_defaults_one_thread", "the same, 1 thread"),
                 ("after_cpu_profile", "`cpu` profile")]


@renders("train_profile")
def train_profile(results: dict[str, Any]) -> str:
    """Held-out figures before/after the cpu-profile run, and time and memory of the three runs."""
    held_out = results["after_cpu_profile"]["held_out"]
    learned = table(
        ["held out (`cpu` profile run)", "👍 log-lik", "👎 log-lik", "reward margin", "pairwise pref. accuracy",
         "general-text ppl"],
        [[label, fixed(f["good"]), fixed(f["bad"]), fixed(f["margin"]), fixed(f["preference_accuracy"]),
          fixed(f["general_perplexity"], 2)]
         for label, f in [("before (base)", held_out["before"]), ("after (promoted)", held_out["after"])]])
    rows = []
    for key, label in _PROFILE_RUNS:
        run = results[key]
        training = run["training"]
        extrapolated = run.get("extrapolated_full_run")
        if extrapolated:
            train = (f"{run['seconds_per_step']:.1f} s/step × {extrapolated['steps']} → "
                     f"{thousands(extrapolated['train_s'])} s (extrapolated from {training['steps']} steps)")
            wall = f"{thousands(extrapolated['wall_s'])} s (extrapolated)"
        else:
            train = (f"{training['runtime_s']:.0f} s for {training['steps']} steps; "
                     f"{training['tokens_per_s']:.1f} tokens/s")
            wall = f"{thousands(run['wall_s'])} s"
        rows.append([label, run["torch_threads"], train, f"{run['gate_and_overhead_s']:.0f} s", wall,
                     f"{thousands(run['peak_rss_mib'])} MiB"])
    timing = table(["settings", "torch threads", "training", "gate, loading, bench", "wall, 200 examples",
                    "peak RSS"], rows)
    return f"{learned}\n\n{timing}"


@renders("learning_curve")
def learning_curve(results: dict[str, Any]) -> str:
    """Unseen questions before/after one retrain, and the gate's verdict on judged and permuted votes."""
    unseen = [("base model", results["unseen_base"]), (results["unseen_after_label"], results["unseen_after"])]
    before_after = table(
        [f"{results['sizes']['unseen_questions']} unseen test paraphrases", "published F1", "raw generation F1",
         "generated sentences passing the check", "invented specifics", "answered"],
        [[label, fixed(f["f1_published"], 4), fixed(f["f1_raw_generation"], 4),
          f"{share(f['generated_sentences_passing_check'])} ({f['published_sentences']} of {f['generated_sentences']})",
          f["invented_specifics"], share(f["answered_share"])] for label, f in unseen])
    judged, control = results["retrain_judged"], results["control_shuffled_votes"]
    margin = results["settings"]["resolved"]["gate_min_margin_gain"]
    runs = table(
        ["run", "gate gain (reward margin)", "95% lower bound", "required", "outcome"],
        [["judged votes + corrections", f"{judged['gate_gain']:+.4f}", f"{judged['gate_gain_lower']:+.4f}", margin,
          judged["status"]],
         [f"control: the same votes permuted (seed {control['seed']}, {share(control['agreement_with_judge'])} agree "
          f"with the judge), no corrections", f"{control['gate_gain']:+.4f}", f"{control['gate_gain_lower']:+.4f}",
          margin, control["status"]]])
    costs = table(RUN_COST_HEADER, [_run_cost_row("judged votes + corrections", judged),
                                    _run_cost_row("shuffled control", control)])
    return f"{before_after}\n\n{runs}\n\n{costs}"


RUN_COST_HEADER = ["run (each alone on the cores)", "wall", "CPU-seconds", "peak RSS", "training", "gate",
                   "golden-set answers"]


def _run_cost_row(label: str, run: dict[str, Any]) -> list[str]:
    """One training run's cost from the learning-curve bench's `retrain` figures."""
    phases = run.get("phase_seconds") or {}
    return [label, f"{run['seconds']:,.0f} s ({run['seconds'] / 60:.1f} min)", thousands(run["cpu_seconds"]),
            f"{thousands(run['peak_rss_mib'])} MiB", f"{phases['training']:.0f} s" if "training" in phases else "—",
            f"{phases['evaluating']:.0f} s" if "evaluating" in phases else "—", run.get("golden_answers") or "—"]


@renders("embedder_adaptation")
def embedder_adaptation(results: dict[str, Any]) -> str:
    """First-stage retrieval per question set for the bundled embedder and each fine-tuned one (each seed)."""
    sets = [("dev", "dev (trained on)"), ("test", "test"), ("holdout", "first holdout"),
            ("holdout2", "**second holdout** (blind)")]
    first = results["variants"][0]["abstention"]
    return (_adapted_models_table("embedder", results, sets,
                                  lambda v: v["variant"] + (f", seed {v['seed']}" if v["seed"] is not None else ""))
            + f"\n\n{results['chunks']} FAQ chunks; first stage only (no re-ranking), scored as the product's "
              f"vector search (heading weight {results['heading_weight']}); AUC over {first['answerable']} answerable "
              f"(test and second holdout) and {first['unanswerable']} unanswerable questions; "
              f"batch {results['batch_size']}, learning rate {results['learning_rate']:g}; "
              f"{on_machine(results['machine'])}.")


def _adapted_models_table(model: str, results: dict[str, Any], sets: list[tuple[str, str]],
                          label: Callable[[dict[str, Any]], str]) -> str:
    """One row per model variant (the untuned baseline first): its training, hit@1 / hit@5 / MRR per
    question set (key, column name), AUC and mean top scores."""
    rows = []
    for variant in results["variants"]:
        trained = f"{variant['pairs']} pairs, {variant['train_s']:.0f} s" if variant["pairs"] else "—"
        a = variant["abstention"]
        rows.append([label(variant), trained]
                    + [f"{fixed(variant[key]['hit_at_1'])} / {fixed(variant[key]['hit_at_5'])} / "
                       f"{fixed(variant[key]['mrr'])}" for key, _ in sets]
                    + [fixed(a["auc"]), f"{fixed(a['answerable_mean_top'])} / {fixed(a['unanswerable_mean_top'])}"])
    return table([model, "training"] + [f"{name}: hit@1 / hit@5 / MRR" for _, name in sets]
                 + ["AUC answerable vs unanswerable", "mean top score answerable / unanswerable"], rows)


@renders("ranking_adaptation")
def ranking_adaptation(results: dict[str, Any]) -> str:
    """The ranking model alone per question set, untuned and tuned on the simulated team's votes."""
    sets = [("dev", "dev (voted on)"), ("test", "test"), ("holdout", "first holdout"), ("holdout2", "second holdout"),
            ("holdout3", "**third holdout** (blind)"), ("holdout4", "**fourth holdout** (blind)")]
    first = results["variants"][0]["abstention"]
    return (_adapted_models_table("ranking model", results, sets, lambda v: v["variant"])
            + f"\n\n{results['chunks']} FAQ chunks; the ranking model alone over all of them, scored as its search "
              f"scores (heading weight {results['heading_weight']}), without the first stage or the best-unit term; "
              f"{results['voted_questions']} voted questions, all on `dev` items; AUC over {first['answerable']} "
              f"answerable (test and second holdout) and {first['unanswerable']} unanswerable questions; "
              f"epochs {results['epochs']}, batch {results['batch_size']}, learning rate {results['learning_rate']:g}, "
              f"seed {results['seed']}; {on_machine(results['machine'])}.")


@renders("ranking_votes_answers")
def ranking_votes_answers(results: dict[str, Any]) -> str:
    """The answers' retrieval and abstention with the untuned ranking model and the one tuned on 👍 votes."""
    names = {"test": "test", "holdout": "first holdout", "holdout2": "second holdout",
             "holdout3": "**third holdout** (blind)", "holdout4": "**fourth holdout** (blind)",
             "holdout5": "**fifth holdout** (blind)"}

    def retrieval(figures: dict[str, Any]) -> str:
        r = figures["retrieval"]
        return f"{fixed(r['hit_at_1'])} / {fixed(r['hit_at_5'])} / {fixed(r['mrr'])}"

    def shares(figures: dict[str, Any]) -> str:
        return f"{share(figures['answerable_answered'])} / {share(figures['unanswerable_refused'])}"

    rows = [[names[split], retrieval(results["untuned"][split]), retrieval(results["tuned"][split]),
             shares(results["untuned"][split]["abstention"]), shares(results["tuned"][split]["abstention"]),
             f"{results['tuned'][split]['abstention']['answerable']} + "
             f"{results['tuned'][split]['abstention']['unanswerable']}"] for split in results["splits"]]
    pooled = [results[key]["blind_pooled"] for key in ("untuned", "tuned")]
    rows.append(["blind sets pooled", "", "", *(
        f"{share(p['answerable_answered'])} ({share(p['answered_interval'][0])}–{share(p['answered_interval'][1])}) "
        f"/ {share(p['unanswerable_refused'])} ({share(p['refused_interval'][0])}–{share(p['refused_interval'][1])})"
        for p in pooled), f"{pooled[1]['answerable']} + {pooled[1]['unanswerable']}"])
    gate, votes = results["gate"], results["gate_votes"]
    return (table(["question set", "sources hit@1 / hit@5 / MRR, untuned", "tuned on 👍 votes",
                   "answered / refused, untuned", "tuned on 👍 votes", "n"], rows)
            + f"\n\n`faq` knowledge base, the answers' shipped order and abstention rule (evidence only); "
              f"{results['thumbs_up']} of the {results['voted_questions']} voted questions (all on `dev` items) got a "
              f"👍 (own section first); {results['train_pairs']} trained on ({results['train_s']:.0f} s), "
              f"{results['held_out']} held out for the gate (hit@1 / MRR {fixed(gate['serving']['hit_at_1'])} / "
              f"{fixed(gate['serving']['mrr'])} untuned, {fixed(gate['tuned']['hit_at_1'])} / "
              f"{fixed(gate['tuned']['mrr'])} tuned; {votes['lost']} lost, {votes['won']} won, sign test "
              f"p = {votes['p']:.3g}: {'passed' if results['gate_passed'] else 'refused, kept here to measure it'}); "
              f"{results['passages_ranked']} passages ranked by the tuned model in {results['rank_s']:.0f} s; "
              f"one seed; {on_machine(results['machine'])}.")


@renders("run_cost")
def run_cost(results: dict[str, Any]) -> str:
    """One default CPU run down the gate's slowest path (the margin rule's minimum set to 0)."""
    changed = ", ".join(f"`{key}={value:g}`" for key, value in results["changed_setting"].items())
    run = results["run"]
    return (table(RUN_COST_HEADER, [_run_cost_row(f"judged votes + corrections, {changed}", run)])
            + f"\n\n{results['answers_judged']} judged answers, `{results['profile']}` profile, "
              f"{results['torch_threads']} torch threads, {results['golden_generate_rows']} golden-set rows answered "
              f"per model; outcome: {run['status']}; {on_machine(results['machine'])}.")


@renders("train_memory_precision")
@renders("train_memory")
def train_memory(results: dict[str, Any]) -> str:
    """Peak RSS and CPU time of each training setting on the same product-length rows."""
    return table(
        ["setting", "peak RSS", "CPU seconds", "wall s", "optimiser steps", "rows", "tokens", "tokens/s"],
        [[name, f"{thousands(f['peak_rss_mib'])} MiB", fixed(f["cpu_seconds"], 1), fixed(f["wall_s"], 1),
          f["steps"], f["rows"], thousands(f["train_tokens"]), fixed(f["tokens_per_s"], 1)]
         for name, f in results["variants"].items()])


@renders("app_home")
def app_home(results: dict[str, Any]) -> str:
    """Admin Home tab render time at the baseline schema and at head, one run."""
    known = [("at_0007", "before (revision 0007)"), ("at_head", "with 0008's indexes")]
    schemas = [(key, label) for key, label in known if key in results]
    return table(
        ["schema", "renders", "p50", "p95", "max", "cold render (embeds the gap questions)"],
        [[label, results[key]["renders"], f"{results[key]['p50_ms']:.0f} ms", f"{results[key]['p95_ms']:.0f} ms",
          f"{results[key]['max_ms']:.0f} ms", f"{thousands(results[key]['cold_render_ms'])} ms"]
         for key, label in schemas])


@renders("scrubber")
def scrubber(results: dict[str, Any]) -> str:
    """Precision and recall of the previous and current rules, on the whole corpus and on the held-out lines."""
    rows = []
    for part, label in [("scrubbers", f"all {results['lines']} lines"), ("holdout", f"{results['holdout_lines']} "
                                                                                     "held-out lines")]:
        for rules, name in [("old", "previous rules"), ("new", "current rules")]:
            f = results[part][rules]["overall"]
            rows.append([label, name, f["labels"], fixed(f["precision"], 2), fixed(f["recall"], 2), f["leaked"],
                         f["negative_lines_changed"]])
    speed = results["ms_per_10k_chars"]
    return (table(["lines", "rules", "findings", "precision", "recall", "findings leaked", "look-alike lines changed"],
                  rows)
            + f"\n\nSpeed: {speed['new']:.1f} ms per 10,000 characters (previous rules {speed['old']:.1f} ms), "
              "median of the script's timing repeats.")


@renders("verified_match")
def verified_match(results: dict[str, Any]) -> str:
    """Serving rule against cosine alone at the serve threshold (dev and test), and the served path's latency."""
    threshold = results["serve_threshold"]
    rows = [[f"served (cosine ≥ {threshold}, no term swap)", "at_serve_threshold"],
            [f"cosine ≥ {threshold} alone", "cosine_only_at_serve_threshold"],
            [f"offered above the evidence (cosine ≥ {results['offer_threshold']})", "offered_at_offer_threshold"]]
    served = results["served_path"]
    return (table(["", "dev precision / recall", "test precision / recall"],
                  [[label, *(f"{fixed(results[key][half]['precision'], 2)} / {fixed(results[key][half]['recall'], 3)}"
                             for half in ("dev", "test"))] for label, key in rows])
            + f"\n\nServed path ({served['answers']} answers × {served['passes']} passes): "
              f"{served['generator_calls']} generator calls, p50 {served['latency_ms_p50']:.0f} ms, "
              f"p95 {served['latency_ms_p95']:.0f} ms, max {served['latency_ms_max']:.0f} ms; embedding the "
              f"question alone p50 {served['of_which_embedding_ms_p50']:.0f} ms; load average "
              f"{served['load_average_1m']} on {served['cpus']} cores.")


@renders("cli_startup")
def cli_startup(results: dict[str, Any]) -> str:
    """`--help` wall-clock times of every command and the two baselines, one run."""
    return table(["command", "median s", "best s"],
                 [[f"`{name}`", fixed(f["median_s"], 2), fixed(f["best_s"], 2)]
                  for name, f in results["commands"].items()])


@renders("learn_retrieval")
def learn_retrieval(results: dict[str, Any]) -> str:
    """Questions answered only by a Slack thread: thread documents against one document per message."""
    return table(
        ["indexed as", "questions", "hit@1", "hit@5", "MRR"],
        [[label, f["questions"], fixed(f["hit_at_1"]), fixed(f["hit_at_5"]), fixed(f["mrr"])]
         for label, f in [("one document per thread (the product)", results["threads_as_documents"]),
                          ("baseline: one document per message", results["messages_as_documents_baseline"])]])



@renders("observability_cost")
def observability_cost(results: dict[str, Any]) -> str:
    """Per log line, per answer's metrics and per scrape, each against its same-run baseline."""
    rows: list[list[object]] = []
    for group, label, unit in [("log_us_per_record", "log line", "µs"), ("metrics_us_per_answer", "metrics per answer",
                                                                          "µs")]:
        figures = results[group]
        baseline = next(value for name, value in figures.items() if name.endswith("(baseline)"))
        for name, value in figures.items():
            versus = f"×{value / baseline:.2f}" if group == "log_us_per_record" else f"+{value - baseline:.2f} µs"
            rows.append([f"{label}: {name}", f"{value:.2f} {unit}", "" if name.endswith("(baseline)") else versus])
    rows.append(["`/metrics` exposition (without the database query)", f"{results['exposition_ms_per_scrape']:.2f} ms",
                 ""])
    return (table(["what", "cost", "against the same-run baseline"], rows)
            + f"\n\n{thousands(results['records'])} records per repeat; load average {results['load_average_1m']} on "
              f"{results['cpus']} cores.")


def _calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{method} {count:,}" for method, count in calls.items())


@renders("learn_backfill_tight")
@renders("learn_backfill")
def learn_backfill(results: dict[str, Any]) -> str:
    """A learned channel's backfill, paced and unpaced (the baseline), and the resume after kill -9."""
    runs = [("paced (the product)", results["paced"]), ("baseline: unpaced, 429 retries only",
                                                        results["unpaced_baseline"])]
    backfills = table(
        ["backfill", "seconds", "HTTP 429", "paced wait s", "errors", "threads with a document", "Slack calls"],
        [[label, fixed(run["seconds"], 1), sum(run["http_429"].values()), fixed(run["paced_wait_s"], 1),
          len(run["errors"]), f"{thousands(run['threads_with_document'])} of {thousands(results['threads'])}",
          _calls(run["calls"])] for label, run in runs])
    resume = results["kill_9_resume"]
    return (f"{backfills}\n\n"
            + table(["killed with SIGKILL after", "resume seconds", "threads with a document", "duplicate documents",
                     "skipped threads", "errors"],
                    [[f"{thousands(resume['killed_after_threads'])} threads", fixed(resume["resume_seconds"], 1),
                      f"{thousands(resume['threads_with_document'])} of {thousands(results['threads'])}",
                      resume["duplicate_documents"], resume["skipped_threads"], len(resume["errors"])]])
            + f"\n\n{thousands(results['threads'])} threads, {thousands(results['messages'])} messages; the fake "
              f"Slack's tiers on a {results['window_s']:g}-second \"minute\" "
              f"(Slack's minute scaled ×{results['scale']:g}).")



@renders("ingest_speed_idle")
@renders("ingest_speed_repeat")
@renders("ingest_speed")
def ingest_speed(results: dict[str, Any]) -> str:
    """Ingest speed per path and backend against per-document torch, and retrieval per backend against torch."""
    parts: list[str] = []
    if "speed" in results:
        speed = results["speed"]
        parts.append(table(
            ["ingest path, embedding backend", "files", "chunks", "failed", "seconds", "chunks/s", "× the baseline"],
            [[name, f["files"], thousands(f["chunks"]), f["failed"], fixed(f["seconds"], 1),
              fixed(f["chunks_per_s"], 2), f"×{f['ratio_to_before']:.2f}"] for name, f in speed["variants"].items()]))
        if speed.get("repeats", 1) > 1:
            parts.append(f"Median of {speed['repeats']} runs per variant, round-robin; every run's seconds: "
                         + "; ".join(f"{name} " + ", ".join(fixed(s, 1) for s in f["runs_seconds"])
                                     for name, f in speed["variants"].items()) + ".")
    if "retrieval" in results:
        retrieval = results["retrieval"]
        rows = []
        for backend, f in retrieval["backends"].items():
            difference = f.get("difference_from_torch", {})
            for set_name, figures in f.items():
                if not isinstance(figures, dict) or set_name == "difference_from_torch":
                    continue
                delta = difference.get(set_name, {})
                rows.append([backend, f"{set_name} (n={figures['questions']})", fixed(figures["hit_at_1"]),
                             fixed(figures["hit_at_5"]), fixed(figures["hit_at_10"]), fixed(figures["mrr"]),
                             fixed(figures.get("p50_ms"), 0),
                             f"{delta['hit_at_1']:+.3f} / {delta['mrr']:+.3f}" if delta else "—"])
        parts.append(table(["backend", "question set", "hit@1", "hit@5", "hit@10", "MRR", "p50 ms",
                            "hit@1 / MRR − torch"], rows))
        parts.append(f"Retrieval on the {retrieval['corpus']}, search `{retrieval['search']}`.")
    return "\n\n".join(parts)


def _score_difference(largest: float) -> str:
    if largest == 0:
        return "every row's two scores are identical"
    return f"largest difference between the two scores of a row {largest:.1e}"


@renders("gate_cost")
def gate_cost(results: dict[str, Any]) -> str:
    """The gate's scoring at scored positions only against full logits (the baseline), same rows, one run."""
    rows = [[name, f"{thousands(f['peak_rss_mib'])} MiB", fixed(f["cpu_seconds"], 1), fixed(f["wall_s"], 1),
             thousands(f["tokens"])] for name, f in results["variants"].items()]
    return (table(["gate scoring", "peak RSS", "CPU seconds", "wall s", "tokens"], rows)
            + f"\n\n{results['rows']} held-out rows scored by each, in its own child process; the baseline takes "
              f"×{results['cpu_seconds_ratio']:.2f} the CPU seconds and ×{results['peak_rss_ratio']:.2f} the peak "
              f"memory; {_score_difference(results['max_score_difference'])}.")


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"×{value:.2f}"


@renders("generation_speed_prefill_chunks")
@renders("generation_speed_lookup")
@renders("generation_speed_int8_all")
@renders("generation_speed_40")
@renders("generation_speed")
def generation_speed(results: dict[str, Any]) -> str:
    """Decoding speed, time to first token and answer F1 per generator setting, beside bare `generate`."""
    alone = any("decode_alone_tokens_per_s" in f for f in results["variants"].values())
    rows = [[name, fixed(f["tokens_per_s"], 1), _ratio(f["tokens_per_s_ratio"]),
             *([fixed(f.get("decode_alone_tokens_per_s"), 1), _ratio(f.get("decode_alone_ratio"))] if alone else []),
             fixed(f["ttft_median_s"], 2), _ratio(f["ttft_ratio"]), fixed(f["f1_published"]),
             fixed(f["f1_raw_generation"]), f"{f['questions_with_baseline_f1']} of {f['questions']}",
             f["invented_specifics"]]
            for name, f in results["variants"].items()]
    header = ["generator", "tokens/s (answer path)" if alone else "tokens/s", "× baseline",
              *(["tokens/s (decoding alone)", "× baseline"] if alone else []), "first token s (median)", "× baseline",
              "F1 published", "F1 raw", "answers with the baseline's F1", "invented specifics"]
    prompts = next((f["decode_alone_prompts"] for f in results["variants"].values() if "decode_alone_prompts" in f), 0)
    return (table(header, rows)
            + f"\n\n{results['answered_questions']} of {len(results['questions'])} test paraphrases answered by "
              "every variant, interleaved."
            + (f" Decoding alone: the median over {prompts} of those prompts, {results.get('decode_tokens', '')} "
               "tokens forced, nothing running beside." if alone else "")
            + "".join(f" Not measured: {name} ({reason})."
                      for name, reason in results.get("failed_variants", {}).items()))


@renders("search_scale_1m")
def search_scale_1m(results: dict[str, Any]) -> str:
    """1M chunks: `vector(384)` against `halfvec(384)` HNSW, build and query figures (recall against exact)."""
    rows = []
    for kind, index in results.get("index", {}).items():
        queries = results.get("query", {}).get(kind, {})
        filters = [(label, f) for label, f in queries.items() if isinstance(f, dict)] or [("(not queried yet)", {})]
        for number, (label, f) in enumerate(filters):
            first = number == 0
            rows.append([f"`{kind}(384)`" if first else "",
                         thousands(results.get("table_mb", {}).get(kind)) + " MB" if first else "",
                         f"{index['build_seconds']:,.0f} s" if first else "",
                         f"{thousands(index['index_mb'])} MB" if first else "", label,
                         fixed(f.get("p50_ms"), 2), fixed(f.get("p95_ms"), 2), fixed(f.get("recall_at_10")),
                         f"{thousands(queries.get('postgres_rss_mb_after_queries'))} MB" if first else ""])
    stages = ", ".join(results.get("stages_done", []))
    load = results.get("load", {})
    loaded = f"loaded in {thousands(load['seconds'])} s; " if "seconds" in load else ""
    exact = results.get("exact_seconds_per_query")
    scan = f"the exact scan (the recall's truth) took {exact:.2f} s per query; " if exact is not None else ""
    return (table(["column", "table", "HNSW build", "index", "filter", "p50 ms", "p95 ms", "recall@10",
                   "Postgres RSS after queries"], rows)
            + f"\n\n{thousands(results['rows'])} rows; {loaded}{scan}stages done: {stages}.")


@renders("search_scale")
def search_scale(results: dict[str, Any]) -> str:
    """10k/100k chunks: load and HNSW build, then per filter p50/p95 and recall@10 against the same run's exact scan."""
    explicit_ef = any(q["ef_search"] is not None for size in results["sizes"] for q in size["queries"])
    rows = []
    for size in results["sizes"]:
        for number, q in enumerate(size["queries"]):
            first = number == 0
            rows.append([thousands(size["rows"]) if first else "", thousands(size["copy_rows_per_s"]) if first else "",
                         f"{size['index_build_s']:.1f} s" if first else "", q["filter"],
                         *([q["ef_search"] or "default"] if explicit_ef else []), fixed(q["p50_ms"], 2),
                         fixed(q["p95_ms"], 2), fixed(q["recall_at_10"]), fixed(q["rows_returned"], 1),
                         f"{thousands(q['postgres_rss_mb'])} MB"])
    settings = results["settings"]
    parts = [table(["chunks", "COPY rows/s", "HNSW build", "filter", *(["ef_search"] if explicit_ef else []),
                    "p50 ms", "p95 ms", "recall@10", "rows returned", "Postgres RSS"], rows),
             f"{settings['queries']} queries per filter; HNSW m {settings['m']}, ef_construction "
             f"{settings['ef_construction']}; {on_machine(results['machine'])}."]
    ingest = results.get("ingest")
    if ingest:
        parts.append(f"Ingest through the product path ({ingest['embedder']}): {thousands(ingest['chunks'])} chunks "
                     f"at {ingest['chunks_per_s']:.1f} chunks/s ({thousands(ingest['chars_per_s'])} characters/s); "
                     f"bench process RSS {thousands(ingest['process_rss_mb'])} MB.")
    return "\n\n".join(parts)


@renders("answer_latency")
def answer_latency(results: dict[str, Any]) -> str:
    """Per torch-thread setting: the answer pipeline against bare `generate` on the same prompt, one run."""
    settings = results["settings"]
    rows = []
    for threads, f in results["threads"].items():
        pipeline, bare = f["pipeline"], f["bare_generate"]
        rows.append([threads, f"{pipeline['first_text_s']:.2f} s",
                     f"{pipeline['first_token_s']:.2f} s / {bare['first_token_s']:.2f} s",
                     _ratio(f["first_token_ratio"]),
                     f"{pipeline['tokens_per_s']:.1f} / {bare['tokens_per_s']:.1f}", _ratio(f["tokens_per_s_ratio"]),
                     f"{pipeline['outside_generation_s']:.2f} s",
                     f"{pipeline['end_to_end_s']:.1f} s ({pipeline['tokens']:.0f} tokens)",
                     f"{f['projected_answer_s']:.1f} s"])
    rss = results["rss_mb"]
    return (table(["torch threads", "first text (evidence)", "first token: pipeline / bare", "× bare",
                   "tokens/s: pipeline / bare", "× bare", "pipeline outside generation", "answer end to end",
                   f"projected {settings['max_new_tokens']}-token answer"], rows)
            + f"\n\nMedians of {settings['runs']} runs per setting; a {results['prompt_tokens']}-token prompt; "
              f"model loaded in {results['model_load_s']:.1f} s; RSS {thousands(rss['added'])} MB added by "
              f"the embedder and generator, process {thousands(rss['process'])} MB; {on_machine(results['machine'])}.")

# --- README blocks ----------------------------------------------------------------------------------------

class ReadmeBlocksError(ValueError):
    """The README's bench markers are unbalanced or name a table that cannot be rendered."""


@dataclass(frozen=True, slots=True)
class Block:
    """One README block: its result name and the text between (and including) its markers."""

    name: str
    text: str
    start: int
    end: int


def result_path(name: str, results_dir: Path = RESULTS) -> Path:
    return results_dir / f"{name}.json"


def _renderer(name: str) -> Renderer:
    if name not in RENDERERS:
        raise ReadmeBlocksError(f"no renderer for bench/results/{name}.json in bench/readme_tables.py")
    return RENDERERS[name]


def render(name: str, results_dir: Path = RESULTS) -> str:
    """The Markdown of bench/results/<name>.json; a clear error when either the file or its renderer is missing."""
    renderer = _renderer(name)
    path = result_path(name, results_dir)
    if not path.is_file():
        raise ReadmeBlocksError(f"bench/results/{name}.json does not exist")
    return renderer(json.loads(path.read_text())) + "\n"


def write_result(name: str, figures: dict[str, Any], path: Path | None = None) -> Path:
    """Write `figures` as JSON to `path` (default bench/results/<name>.json), then `name`'s rendering beside it.

    The `.md` is what `--write` renders from that JSON (the figures go through JSON first), so a
    bench's own table and the README's block are the same text. The JSON is written before the
    renderer runs: a renderer that fails on new figures loses no run. Returns the JSON's path.
    """
    renderer = _renderer(name)
    path = path or result_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(figures, indent=2) + "\n"
    path.write_text(text)
    path.with_suffix(".md").write_text(renderer(json.loads(text)) + "\n")
    return path


def block_text(name: str, rendered: str) -> str:
    """A whole README block: markers, a do-not-edit note naming the source, the rendering."""
    return (f"<!-- bench:{name}:start -->\n<!-- Rendered from bench/results/{name}.json by "
            f"`python -m bench.readme_tables --write`; do not edit by hand. -->\n\n{rendered}"
            f"<!-- bench:{name}:end -->")


def blocks(readme: str) -> list[Block]:
    """Every bench block of `readme`, in order; unbalanced or nested markers are an error naming them."""
    matches = list(_BLOCK.finditer(readme))
    for match in matches:
        if _MARKER.search(match["body"]):
            raise ReadmeBlocksError(f"README block bench:{match['name']} contains another block's marker")
    covered = [(match.start(), match.end()) for match in matches]
    for marker in _MARKER.finditer(readme):
        if not any(start <= marker.start() < end for start, end in covered):
            raise ReadmeBlocksError(f"README marker {marker.group()} has no matching "
                                    f"{'end' if marker['edge'] == 'start' else 'start'} marker")
    return [Block(match["name"], match.group(), match.start(), match.end()) for match in matches]


def problems(readme: str, results_dir: Path = RESULTS) -> list[str]:
    """One line per README block that is not exactly its result file's rendering (empty: all agree)."""
    found: list[str] = []
    for block in blocks(readme):
        try:
            expected = block_text(block.name, render(block.name, results_dir))
        except ReadmeBlocksError as error:
            found.append(f"bench:{block.name}: {error}")
            continue
        if block.text != expected:
            found.append(f"bench:{block.name}: differs from bench/results/{block.name}.json "
                         "(run `python -m bench.readme_tables --write`)")
    return found


def with_rendered(readme: str, results_dir: Path = RESULTS) -> str:
    """`readme` with every bench block replaced by its rendering (errors name the block that cannot be)."""
    pieces, position = [], 0
    for block in blocks(readme):
        pieces += [readme[position:block.start], block_text(block.name, render(block.name, results_dir))]
        position = block.end
    return "".join(pieces) + readme[position:]


def write_tables(results_dir: Path = RESULTS) -> list[Path]:
    """bench/results/<name>.md for every registered result file that exists."""
    written = []
    for name in RENDERERS:
        if result_path(name, results_dir).is_file():
            target = results_dir / f"{name}.md"
            target.write_text(render(name, results_dir))
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readme_tables", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true",
                        help="write bench/results/<name>.md and replace the README's blocks with them")
    action.add_argument("--check", action="store_true",
                        help="exit 1 naming each README block that differs from its result file")
    parser.add_argument("--readme", type=Path, default=README, help="[default: %(default)s]")
    parser.add_argument("--results", type=Path, default=RESULTS, help="[default: %(default)s]")
    args = parser.parse_args(argv)
    readme = args.readme.read_text()
    try:
        if args.check:
            found = problems(readme, args.results)
            for line in found:
                print(line, file=sys.stderr)
            return 1 if found else 0
        tables = write_tables(args.results)
        updated = with_rendered(readme, args.results)
    except ReadmeBlocksError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if updated != readme:
        args.readme.write_text(updated)
    print(f"wrote {len(tables)} tables under {args.results}; {len(blocks(updated))} README blocks rendered")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
