"""Rated answers → KTO, SFT and DPO rows, filtered, deduplicated, balanced and split (pure).

The steps, in order, each counting what it drops under a named reason:

1. corrupt rows (empty prompt or completion, passages that are not a list) are dropped;
2. abstentions and answers whose retrieval found nothing are dropped: a 👎 on an honest "not in
   the docs" is a retrieval miss, and training on it would teach the model to make things up;
3. answers from private channels or DMs (or quoting private passages) are dropped unless the
   config lets private scopes into this adapter;
4. votes are summed (the asker's counts `asker_weight` times); ties are "contested" and dropped;
5. prompts, completions, corrections and 👎 reasons are scrubbed of secrets and personal data
   (reasons stay metadata: on the 👎 rows and counted in the stats, never trained on);
6. exact duplicates (same normalised prompt and completion) keep their oldest copy, or all go
   when their labels disagree; near duplicates (same label, similar question and completion) too;
7. when several channels contribute, no channel keeps more than `max_channel_share` of the
   examples (its newest are kept), but the cap never takes a class below what its minimum counts
   need, nor drops a corrected answer, so it can shape a large dataset and never make a small one skip;
8. whole groups (a Slack thread, joined with every thread asking the same question) go to train
   or eval, the newest groups to eval, so nothing leaks across and eval mimics the future; more
   groups move to eval until it holds `min_eval_per_class` of each label, where train can spare them;
9. minimum counts decide the objective: KTO, the SFT fallback, or a skip with a reason; a
   teammate's correction is a desirable KTO row for the prompt of the answer it corrects (and an
   SFT row), so what teammates teach reaches the main run; a verified answer (a correction someone
   confirmed, possibly edited by an admin) is a desirable example of its own, for the prompt the
   model would read for its question, and replaces the raw reply it came from;
10. training rows are shuffled with a seed and the two labels interleaved, because TRL's KTO
    trainer reads rows in order and estimates its KL term inside each batch.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from knowledge.scrubbing import scrub
from store.datasets_store import RatedAnswer
from store.schema import WORKSPACE_SCOPE
from store.verified_answers import VerifiedExample
from training.config import DatasetConfig
from training.dedupe import content_key, near_duplicates

KTO_TARGET_RATIO = 7 / 6
"""Weighted 👍:👎 ratio aimed for; the KTO paper's Eq. 8 wants it within [1, 4/3]."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    """One labelled, scrubbed answer that survived filtering."""

    answer_id: int
    prompt: str
    completion: str
    label: bool
    question: str
    channel: str
    thread: str
    created_at: datetime
    references: tuple[str, ...] = ()
    reasons: tuple[tuple[str | None, str], ...] = ()
    group: str = ""
    source: str = "vote"
    """"vote" for a rated answer; "verified" for a verified answer, whose `answer_id` is minus its id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltDataset:
    """The rows of every file of a dataset version, or why no run should train on it.

    Attributes:
        objective: "kto", "sft" (the one-class fallback) or None when the run must be skipped.
        skip_reason: one sentence for the admin when `objective` is None.
        files: file stem ("kto_train", "golden", …) → JSON-ready rows, in training order.
        stats: counts for the manifest and the report.
        weights: KTO's desirable/undesirable loss weights, following the class ratio.
    """

    objective: str | None
    skip_reason: str | None
    files: dict[str, list[dict[str, Any]]]
    stats: dict[str, Any]
    weights: dict[str, float] = field(default_factory=dict)


def vote_label(answer: RatedAnswer, *, asker_weight: int) -> int:
    """+1 (👍), -1 (👎) or 0 (no votes, or a tie) from the answer's current votes."""
    score = sum(value * (asker_weight if user == answer.asker else 1) for user, value in answer.votes)
    return (score > 0) - (score < 0)


def _problem(answer: RatedAnswer, config: DatasetConfig) -> str | None:
    """The reason to drop an answer before labelling, if any (an abstention first: it has no completion)."""
    if answer.abstained:
        return "abstained"
    if not all(isinstance(value, str) for value in (answer.prompt, answer.completion, answer.question)):
        return "corrupt"
    if not answer.prompt.strip() or not answer.completion.strip() or not isinstance(answer.passages, list):
        return "corrupt"
    if not all(isinstance(passage, dict) for passage in answer.passages):
        return "corrupt"
    if config.exclude_without_passages and not answer.passages:
        return "no_passages"
    if not config.include_private_scopes and is_private(answer):
        return "private_scope"
    return None


def is_private(answer: RatedAnswer) -> bool:
    """Whether the answer was given in a private channel or DM, or quotes a passage scoped to one
    (`answer.passages` must be a list of objects)."""
    scopes = {answer.scope} | {p.get("scope") or WORKSPACE_SCOPE for p in answer.passages}
    return scopes != {WORKSPACE_SCOPE}


def _clean(text: str, findings: Counter[str]) -> str:
    """`text` scrubbed, counting what was found."""
    result = scrub(text)
    findings.update(result.findings)
    return result.text


def _scrubbed(answer: RatedAnswer, label: int, findings: Counter[str]) -> Example:
    def clean(text: str) -> str:
        return _clean(text, findings)

    channel = answer.channel or "(unknown)"
    thread = f"{channel}:{answer.thread_ts}" if answer.thread_ts else f"answer:{answer.answer_id}"
    return Example(answer_id=answer.answer_id, prompt=clean(answer.prompt), completion=clean(answer.completion),
                   label=label > 0, question=clean(answer.question), channel=channel, thread=thread,
                   created_at=answer.created_at,
                   references=tuple(clean(text) for text in answer.references if text.strip()),
                   reasons=tuple((code, clean(text or "")) for code, text in answer.reasons))


def _verified_example(verified: VerifiedExample, config: DatasetConfig, findings: Counter[str]) -> Example | None:
    """A verified answer as a desirable example, or None when its scope keeps it out of this adapter."""
    if not config.include_private_scopes and verified.scope != WORKSPACE_SCOPE:
        return None
    channel = verified.channel or "(unknown)"
    thread = f"{channel}:{verified.thread_ts}" if verified.thread_ts else f"verified:{verified.verified_id}"
    return Example(answer_id=-verified.verified_id, prompt=_clean(verified.prompt, findings),
                   completion=_clean(verified.answer_text, findings), label=True,
                   question=_clean(verified.question, findings),
                   channel=channel, thread=thread, created_at=verified.created_at, source="verified")


def _dedupe(examples: list[Example], threshold: float, excluded: Counter[str]) -> list[Example]:
    by_key: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_key[content_key(example.prompt, example.completion)].append(example)
    kept: list[Example] = []
    for copies in by_key.values():
        if len({copy.label for copy in copies}) > 1:
            excluded["conflicting_duplicate"] += len(copies)
            continue
        kept.append(copies[0])
        excluded["duplicate"] += len(copies) - 1
    kept.sort(key=lambda e: (e.created_at, e.answer_id))
    result: list[Example] = []
    for label in (True, False):
        same = [e for e in kept if e.label is label]
        dropped = near_duplicates([f"{e.question}\n{e.completion}" for e in same], threshold)
        excluded["near_duplicate"] += len(dropped)
        result.extend(e for i, e in enumerate(same) if i not in dropped)
    return sorted(result, key=lambda e: (e.created_at, e.answer_id))


def _class_floors(config: DatasetConfig) -> dict[bool, int]:
    """Examples each label needs before the split: its training minimum plus its held-out minimum."""
    return {True: config.min_desirable + config.min_eval_per_class,
            False: config.min_undesirable + config.min_eval_per_class}


def _cap_channels(examples: list[Example], config: DatasetConfig,
                  excluded: Counter[str]) -> tuple[list[Example], int]:
    """Drop the oldest examples of channels above `max_channel_share`, never taking a label below its floor.

    A teammate's correction is never dropped either: it is the rarest and most instructive feedback.
    Returns the kept examples and how many the cap spared (it would have dropped them otherwise).
    """
    channels = Counter(e.channel for e in examples)
    if len(channels) < 2:
        return examples, 0  # one channel is the whole dataset; a share cap would only shrink it
    cap = max(1, math.ceil(config.max_channel_share * len(examples)))
    counts = Counter(e.label for e in examples)
    floors = _class_floors(config)
    dropped: set[int] = set()
    spared = 0
    for channel, size in channels.items():
        if size <= cap:
            continue
        oldest_first = sorted((e for e in examples if e.channel == channel), key=lambda e: (e.created_at, e.answer_id))
        excess = size - cap
        for example in oldest_first:
            if excess == 0:
                break
            if counts[example.label] <= floors[example.label] or example.references or example.source == "verified":
                continue  # its label needs it to reach the minimum counts, or a teammate corrected or verified it
            counts[example.label] -= 1
            dropped.add(example.answer_id)
            excess -= 1
        spared += excess
    excluded["channel_cap"] += len(dropped)
    return [e for e in examples if e.answer_id not in dropped], spared


def _grouped(examples: list[Example]) -> list[Example]:
    """Each example with the id of its split group: threads joined by shared questions."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for e in examples:
        parent[find("q:" + content_key(e.question))] = find("t:" + e.thread)
    return [replace(e, group=find("t:" + e.thread)) for e in examples]


def split_by_group(examples: Sequence[Example], eval_fraction: float,
                   min_per_class: int = 1) -> tuple[list[Example], list[Example]]:
    """Newest whole groups to eval until it holds `eval_fraction` of the examples.

    Then, while eval holds fewer than `min_per_class` of a label, the newest train group carrying
    it moves over too (never the last one), so the gate can measure both sides of the margin on
    enough rows to tell signal from noise.
    """
    groups: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        groups[e.group].append(e)
    order = sorted(groups, key=lambda g: min((e.created_at, e.answer_id) for e in groups[g]))
    wanted = math.ceil(eval_fraction * len(examples))
    held: list[str] = []
    for group in reversed(order):
        if sum(len(groups[g]) for g in held) >= wanted or len(held) == len(order) - 1:
            break
        held.append(group)
    for label in (True, False):
        while sum(e.label is label for g in held for e in groups[g]) < min_per_class:
            carriers = [g for g in order if g not in held and any(e.label is label for e in groups[g])]
            if len(carriers) < 2:  # never move the only group carrying a label out of train
                break
            held.append(carriers[-1])
    train = [e for g in order if g not in held for e in groups[g]]
    evaluation = [e for g in order if g in held for e in groups[g]]
    return train, evaluation


def kto_weights(desirable: int, undesirable: int) -> dict[str, float]:
    """Up-weight the rarer class so the weighted 👍:👎 ratio sits inside the KTO paper's [1, 4/3]."""
    if desirable == 0 or undesirable == 0:
        return {"desirable_weight": 1.0, "undesirable_weight": 1.0}
    ratio = desirable / undesirable
    if 1.0 <= ratio <= 4 / 3:
        return {"desirable_weight": 1.0, "undesirable_weight": 1.0}
    if ratio < 1.0:
        return {"desirable_weight": round(KTO_TARGET_RATIO / ratio, 4), "undesirable_weight": 1.0}
    return {"desirable_weight": 1.0, "undesirable_weight": round(ratio / KTO_TARGET_RATIO, 4)}


def interleave(rows: Sequence[dict[str, Any]], *, seed: int) -> list[dict[str, Any]]:
    """Rows shuffled with `seed` within each label, then merged so the labels spread evenly."""
    rng = random.Random(seed)
    good = [r for r in rows if r["label"]]
    bad = [r for r in rows if not r["label"]]
    rng.shuffle(good)
    rng.shuffle(bad)
    merged: list[dict[str, Any]] = []
    g = b = 0
    while g < len(good) or b < len(bad):
        # Bresenham-style: take from the label that is furthest behind its share.
        take_good = b >= len(bad) or (g < len(good) and (g + 0.5) / len(good) <= (b + 0.5) / len(bad))
        if take_good:
            merged.append(good[g])
            g += 1
        else:
            merged.append(bad[b])
            b += 1
    return merged


def _kto_rows(examples: Iterable[Example]) -> list[dict[str, Any]]:
    """KTO rows: each voted answer, plus each teammate's correction as a desirable completion of its prompt.

    A 👎 row carries its scrubbed reasons as metadata (trainers read only prompt, completion, label);
    `source` tells votes from corrections in the files and the stats.
    """
    rows: list[dict[str, Any]] = []
    for e in examples:
        rows.append({"prompt": e.prompt, "completion": e.completion, "label": e.label, "answer_id": e.answer_id,
                     "source": e.source}
                    | ({"reasons": [{"code": code, "text": text} for code, text in e.reasons]} if e.reasons else {}))
        rows.extend({"prompt": e.prompt, "completion": text, "label": True, "answer_id": e.answer_id,
                     "source": "correction"} for text in e.references)
    return rows


def reason_stats(examples: Iterable[Example], *, examples_kept: int = 10) -> dict[str, Any]:
    """How often each 👎 reason was given, and a few of the (scrubbed) free texts for the report."""
    codes: Counter[str] = Counter()
    texts: list[str] = []
    for e in examples:
        for code, text in e.reasons:
            codes[code or "unspecified"] += 1
            if text.strip():
                texts.append(text.strip())
    return {"codes": dict(sorted(codes.items())), "with_text": len(texts), "examples": texts[:examples_kept]}


def _sft_rows(examples: Iterable[Example]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for e in examples:
        if e.label:
            rows.append({"prompt": e.prompt, "completion": e.completion, "answer_id": e.answer_id, "source": e.source})
        rows.extend({"prompt": e.prompt, "completion": text, "answer_id": e.answer_id, "source": "reference"}
                    for text in e.references)
    return rows


def _golden_rows(examples: Iterable[Example]) -> list[dict[str, Any]]:
    return [{"prompt": e.prompt, "completion": text, "answer_id": e.answer_id}
            for e in examples for text in e.references]


def _dpo_rows(examples: Sequence[Example]) -> list[dict[str, Any]]:
    """Real pairs only: a 👍 and a 👎 answer to the same question, or a correction of a 👎 answer.

    Two answers to one question may have seen different passages; the pair uses the prompt of the
    👍 answer, the context in which the good answer was produced.
    """
    rows: list[dict[str, Any]] = []
    by_question: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_question[content_key(e.question)].append(e)
    for same in by_question.values():
        good = [e for e in same if e.label]
        bad = [e for e in same if not e.label]
        rows.extend({"prompt": g.prompt, "chosen": g.completion, "rejected": b.completion,
                     "chosen_answer_id": g.answer_id, "rejected_answer_id": b.answer_id}
                    for g, b in zip(good, bad, strict=False))
    for e in examples:
        if not e.label:
            rows.extend({"prompt": e.prompt, "chosen": text, "rejected": e.completion,
                         "chosen_answer_id": None, "rejected_answer_id": e.answer_id} for text in e.references)
    return rows


def _class_counts(examples: Iterable[Example]) -> dict[str, int]:
    """KTO rows per label: a correction counts as one more desirable example of its prompt."""
    rows = _kto_rows(examples)
    return {"desirable": sum(row["label"] for row in rows), "undesirable": sum(not row["label"] for row in rows),
            "corrections": sum(row["source"] == "correction" for row in rows)}


def _decide(config: DatasetConfig, train: dict[str, int], eval_: dict[str, int], sft_train: int,
            sft_eval: int) -> tuple[str | None, str | None]:
    per_class = config.min_eval_per_class
    if train["desirable"] >= config.min_desirable and train["undesirable"] >= config.min_undesirable:
        held = eval_["desirable"] + eval_["undesirable"]
        if held < config.min_eval_examples:
            return None, f"only {held} held-out examples; the gate needs at least {config.min_eval_examples}"
        if eval_["desirable"] < per_class or eval_["undesirable"] < per_class:
            return None, (f"only {eval_['desirable']} 👍 and {eval_['undesirable']} 👎 held out; the gate needs at "
                          f"least {per_class} of each to tell signal from noise")
        return "kto", None
    if config.one_class_policy == "sft" and sft_train >= config.min_desirable:
        if sft_eval < config.min_eval_examples or eval_["desirable"] < per_class:
            return None, (f"only {eval_['desirable']} held-out 👍 answers ({sft_eval} counting corrections); the "
                          f"gate needs at least {max(per_class, config.min_eval_examples)}")
        return "sft", None
    return None, (f"not enough feedback: {train['desirable']} 👍 and {train['undesirable']} 👎 training "
                  f"examples after filtering; KTO needs at least {config.min_desirable} 👍 and "
                  f"{config.min_undesirable} 👎"
                  + (f", the SFT fallback at least {config.min_desirable} 👍 answers or corrections"
                     if config.one_class_policy == "sft" else " (the SFT fallback is off)"))


def build_dataset(answers: Sequence[RatedAnswer], config: DatasetConfig,
                  verified: Sequence[VerifiedExample] = ()) -> BuiltDataset:
    """Turn rated answers and verified answers into the rows of one dataset version (see the module docstring)."""
    excluded: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    examples: list[Example] = []
    for answer in answers:
        problem = _problem(answer, config)
        if problem is None:
            label = vote_label(answer, asker_weight=config.asker_weight)
            if label == 0 and not answer.references:
                problem = "contested" if answer.votes else "no_votes"
            elif label == 0:
                label = -1  # a teammate corrected it: the answer itself was not good
        if problem is not None:
            excluded[problem] += 1
            continue
        examples.append(_scrubbed(answer, label, findings))
    for item in verified:
        example = _verified_example(item, config, findings)
        if example is None:
            excluded["private_scope"] += 1
        else:
            examples.append(example)
    examples = _dedupe(examples, config.near_duplicate_threshold, excluded)
    examples, cap_spared = _cap_channels(examples, config, excluded)
    train, evaluation = (split_by_group(_grouped(examples), config.eval_fraction, config.min_eval_per_class)
                         if examples else ([], []))

    train_counts, eval_counts = _class_counts(train), _class_counts(evaluation)
    sft_train, sft_eval = _sft_rows(train), _sft_rows(evaluation)
    objective: str | None
    reason: str | None
    if not answers and not verified:
        objective, reason = None, "no rated answers yet: nothing to learn from"
    elif not examples:
        dropped = ", ".join(f"{count} {why}" for why, count in sorted(excluded.items()) if count)
        objective, reason = None, f"every rated answer was filtered out ({dropped})"
    else:
        objective, reason = _decide(config, train_counts, eval_counts, len(sft_train), len(sft_eval))
    weights = kto_weights(train_counts["desirable"], train_counts["undesirable"])
    files = {
        "kto_train": interleave(_kto_rows(train), seed=config.seed),
        "kto_eval": _kto_rows(evaluation),
        "sft_train": random.Random(config.seed).sample(sft_train, len(sft_train)),
        "sft_eval": sft_eval,
        "dpo_train": _dpo_rows(train),
        "dpo_eval": _dpo_rows(evaluation),
        "golden": _golden_rows(evaluation),
    }
    ratio = (train_counts["desirable"] / train_counts["undesirable"]) if train_counts["undesirable"] else None
    stats = {
        "answers_read": len(answers),
        "excluded": dict(sorted((k, v) for k, v in excluded.items() if v)),
        "scrubbed": dict(sorted(findings.items())),
        "train": train_counts,
        "eval": eval_counts,
        "class_ratio": round(ratio, 4) if ratio is not None else None,
        "channels": dict(sorted(Counter(e.channel for e in examples).items())),
        "verified_answers": sum(e.source == "verified" for e in examples),
        "channel_cap_spared": cap_spared,
        "thumbs_down_reasons": reason_stats(examples),
        "groups": {"train": len({e.group for e in train}), "eval": len({e.group for e in evaluation})},
        "rows": {name: len(rows) for name, rows in files.items()},
    }
    return BuiltDataset(objective=objective, skip_reason=reason, files=files, stats=stats, weights=weights)
