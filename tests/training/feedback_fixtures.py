"""Synthetic feedback with a learnable preference, and small configs for the learning-loop tests.

The synthetic feedback uses only words the tiny model's tokenizer knows. Every 👍 answer states the
same "fact" in the same style ("use the new … config . yes it is fast ( 1 ) ."), every 👎 answer
the opposite ("use the old … version . no it is slow ."), over distinct questions, so a model that
learned the preference scores held-out 👍 answers higher without having seen their questions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from store.datasets_store import RatedAnswer
from store.types import Passage
from tests.answers import store_answer, vote
from training.config import DatasetConfig, GateConfig, LoopConfig, TrainConfig
from training.dataset_builder import build_dataset
from training.dataset_files import DatasetFiles, files_section, read_dataset, write_files, write_manifest

VERBS = ("deploy", "build", "run", "fix", "update", "add", "remove", "train", "tune", "test", "search", "release")
OBJECTS = ("bot", "model", "adapter", "index", "table", "config", "code", "docs", "file", "page", "query", "data")

SMALL_DATASET = DatasetConfig(min_desirable=4, min_undesirable=4, min_eval_examples=2, eval_fraction=0.25)
FAST_TRAINING = TrainConfig(learning_rate=5e-3, epochs=6, batch_size=4, lora_r=8, lora_alpha=16, lora_dropout=0.0,
                            max_length=128, progress_bar=False)
# The tiny random model's perplexity on English is ~1e6 whatever it learned (its vocabulary covers few of the
# words), so the general-text rule gets a wide tolerance here; `judge`'s tests pin the rule itself down and
# bench/train_learning.py runs it at the default 5% on the real model.
GATE = GateConfig(max_length=128, batch_size=8, general_tolerance=4.0)
LOOP = LoopConfig(dataset=SMALL_DATASET, train=FAST_TRAINING, gate=GATE)


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    """One synthetic answer and its vote."""

    question: str
    prompt: str
    completion: str
    up: bool
    channel: str
    thread_ts: str


def question_text(index: int) -> str:
    verb, thing = VERBS[index % len(VERBS)], OBJECTS[(index + index // len(VERBS) * 5) % len(OBJECTS)]
    return f"how do we {verb} the {thing} ?"


def render_prompt(question: str) -> str:
    """The prompt as the bot records it: the chat template applied, ending with the assistant turn."""
    thing = question.split()[-2]
    return (f"<|im_start|>system\nanswer with the docs .<|im_end|>\n<|im_start|>user\n"
            f"( 1 ) the {thing} config is new .\n{question}<|im_end|>\n<|im_start|>assistant\n")


def good_completion(question: str) -> str:
    return f"use the new {question.split()[-2]} config . yes it is fast ( 1 ) ."


def bad_completion(question: str) -> str:
    return f"use the old {question.split()[-2]} version . no it is slow ."


def feedback_items(count: int, *, flip: bool = False, only_up: bool = False, start: int = 0) -> list[FeedbackItem]:
    """`count` answers alternating 👍/👎 (all 👍 with `only_up`); `flip` votes for the opposite style."""
    items = []
    for index in range(start, start + count):
        question = question_text(index)
        good = only_up or index % 2 == 0
        completion = good_completion(question) if good else bad_completion(question)
        items.append(FeedbackItem(question=question, prompt=render_prompt(question), completion=completion,
                                  up=good != flip, channel=("C1", "C2")[index % 2], thread_ts=f"{1000 + index}.0001"))
    return items


def shuffled_votes(items: list[FeedbackItem], *, seed: int) -> list[FeedbackItem]:
    """The same answers with their votes shuffled among them: as many 👍 and 👎, but no information."""
    votes = [item.up for item in items]
    random.Random(seed).shuffle(votes)
    return [replace(item, up=vote) for item, vote in zip(items, votes, strict=True)]


def rated(items: list[FeedbackItem]) -> list[RatedAnswer]:
    """The items as the store would return them (no database)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [RatedAnswer(answer_id=i + 1, question=item.question, prompt=item.prompt, completion=item.completion,
                        channel=item.channel, thread_ts=item.thread_ts, asker="UASKER", scope="workspace",
                        passages=[{"n": 1, "scope": "workspace"}], abstained=False, adapter_name="base",
                        created_at=start + timedelta(minutes=i), votes=(("UVOTER", 1 if item.up else -1),),
                        references=())
            for i, item in enumerate(items)]


PASSAGE = Passage(chunk_id=1, document_id=1, title="Guide", uri="docs/guide.md", heading="Guide",
                  text="the config is new .", score=0.9, scope="workspace")


def seed_feedback(sessions: sessionmaker[Session], items: list[FeedbackItem]) -> list[int]:
    """Record each item as an answer with one vote, through the bot's own store functions."""
    ids = []
    for item in items:
        answer_id = store_answer(sessions, question=item.question, prompt=item.prompt, completion=item.completion,
                                 passages=[PASSAGE], abstained=False, adapter_id=None, adapter_name="base",
                                 latency_ms=None, channel=item.channel, thread_ts=item.thread_ts, asker="UASKER")
        vote(sessions, answer_id=answer_id, user_id="UVOTER", value=1 if item.up else -1, source="button")
        ids.append(answer_id)
    return ids


def write_dataset(folder: Path, items: list[FeedbackItem], config: DatasetConfig = SMALL_DATASET) -> DatasetFiles:
    """Build the items into a dataset version folder without a database and read it back verified."""
    built = build_dataset(rated(items), config)
    assert built.objective is not None, built.skip_reason
    folder.mkdir(parents=True)
    write_files(folder, built.files)
    write_manifest(folder, {"version": folder.name, "objective": built.objective, "weights": built.weights,
                            "files": files_section(built.files)})
    return read_dataset(folder)
