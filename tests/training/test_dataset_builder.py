"""The pure dataset builder: filters, dedupe, balance, weights, scope, split, minimums, ordering."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from store.datasets_store import RatedAnswer
from tests.training.feedback_fixtures import SMALL_DATASET, feedback_items, rated
from training.config import DatasetConfig
from training.dataset_builder import build_dataset, interleave, kto_weights, vote_label


def _ids(rows: list[dict]) -> set[int]:
    return {row["answer_id"] for row in rows}


def _all_kto(built) -> list[dict]:
    return built.files["kto_train"] + built.files["kto_eval"]


def test_balanced_feedback_builds_a_kto_dataset_with_both_classes_on_both_sides() -> None:
    built = build_dataset(rated(feedback_items(24)), SMALL_DATASET)
    assert built.objective == "kto" and built.skip_reason is None
    assert built.stats["train"] == {"desirable": 8, "undesirable": 8, "corrections": 0}
    # min_eval_per_class, not just 25%
    assert built.stats["eval"] == {"desirable": 4, "undesirable": 4, "corrections": 0}
    assert built.weights == {"desirable_weight": 1.0, "undesirable_weight": 1.0}
    assert set(built.files["kto_train"][0]) == {"prompt", "completion", "label", "answer_id", "source"}


def test_exact_duplicates_keep_the_oldest_and_conflicting_copies_are_all_dropped() -> None:
    answers = rated(feedback_items(24))
    same = replace(answers[2], answer_id=101, thread_ts="9.1", created_at=answers[2].created_at + timedelta(days=1))
    noisy = replace(answers[4], answer_id=102, thread_ts="9.2", completion=answers[4].completion.upper() + " !!")
    conflicting = replace(answers[6], answer_id=103, thread_ts="9.3", votes=(("UOTHER", -1),))
    built = build_dataset([*answers, same, noisy, conflicting], SMALL_DATASET)
    kept = _ids(_all_kto(built))
    assert 101 not in kept and 102 not in kept and answers[2].answer_id in kept
    assert 103 not in kept and answers[6].answer_id not in kept
    assert built.stats["excluded"]["duplicate"] == 2
    assert built.stats["excluded"]["conflicting_duplicate"] == 2


def test_near_duplicates_with_the_same_label_are_dropped() -> None:
    answers = rated(feedback_items(24))
    reworded = replace(answers[0], answer_id=200, thread_ts="8.1", completion=answers[0].completion + " thanks")
    built = build_dataset([*answers, reworded], SMALL_DATASET)
    assert 200 not in _ids(_all_kto(built))
    assert built.stats["excluded"]["near_duplicate"] == 1


def test_abstentions_answers_without_passages_and_corrupt_rows_are_excluded() -> None:
    answers = rated(feedback_items(24))
    extra = [
        replace(answers[0], answer_id=301, thread_ts="7.1", abstained=True, question="what is new ?"),
        replace(answers[1], answer_id=302, thread_ts="7.2", passages=[], question="what is old ?"),
        replace(answers[2], answer_id=303, thread_ts="7.3", completion="   "),
        replace(answers[3], answer_id=304, thread_ts="7.4", passages={"not": "a list"}),
        replace(answers[4], answer_id=305, thread_ts="7.5", passages=["not a dict"]),
    ]
    built = build_dataset([*answers, *extra], SMALL_DATASET)
    assert not _ids(_all_kto(built)) & {301, 302, 303, 304, 305}
    assert built.stats["excluded"] == {"abstained": 1, "no_passages": 1, "corrupt": 3}


def test_private_scopes_stay_out_unless_configured() -> None:
    answers = rated(feedback_items(24))
    dm = replace(answers[0], answer_id=401, thread_ts="6.1", scope="D0PRIVATE", question="where is the data ?",
                 prompt="where is the data ?", completion="in the data table .")
    private_passage = replace(answers[1], answer_id=402, thread_ts="6.2", question="where is the page ?",
                              prompt="where is the page ?", completion="in the docs .",
                              passages=[{"scope": "workspace"}, {"scope": "G0SECRET"}])
    default = build_dataset([*answers, dm, private_passage], SMALL_DATASET)
    assert not _ids(_all_kto(default)) & {401, 402}
    assert default.stats["excluded"]["private_scope"] == 2
    allowed = build_dataset([*answers, dm, private_passage], replace(SMALL_DATASET, include_private_scopes=True))
    assert {401, 402} <= _ids(_all_kto(allowed))


def test_votes_are_summed_with_the_asker_counting_double_and_ties_dropped() -> None:
    base = rated(feedback_items(1))[0]
    assert vote_label(replace(base, votes=(("UASKER", 1), ("U2", -1))), asker_weight=2) == 1
    assert vote_label(replace(base, votes=(("U1", 1), ("U2", -1))), asker_weight=2) == 0
    assert vote_label(replace(base, votes=(("U1", -1), ("U2", -1), ("UASKER", 1))), asker_weight=2) == 0
    answers = rated(feedback_items(24))
    tied = replace(answers[0], answer_id=501, thread_ts="5.1", question="what is fast ?",
                   votes=(("U1", 1), ("U2", -1)))
    built = build_dataset([*answers, tied], SMALL_DATASET)
    assert 501 not in _ids(_all_kto(built)) and built.stats["excluded"]["contested"] == 1


def test_one_channel_cannot_dominate() -> None:
    answers = rated(feedback_items(24))
    loud = [replace(a, channel="CLOUD") for a in answers[:20]]
    built = build_dataset([*loud, *answers[20:]], replace(SMALL_DATASET, max_channel_share=0.6))
    assert built.stats["channels"]["CLOUD"] == 15  # ceil(0.6 × 24), the newest of its 20
    assert built.stats["excluded"]["channel_cap"] == 5
    assert _ids(_all_kto(built)) >= {a.answer_id for a in loud[5:]}


def test_the_channel_cap_never_takes_a_class_below_its_minimum_counts() -> None:
    """The issue's case: a loud channel and a quiet one, with no more feedback than the minimums need."""
    answers = rated(feedback_items(24))  # 12 👍, 12 👎
    loud = [replace(a, channel="CLOUD") for a in answers[:20]]
    needs_all = replace(SMALL_DATASET, min_desirable=8, min_undesirable=8, max_channel_share=0.5)  # 8 + 4 each
    built = build_dataset([*loud, *answers[20:]], needs_all)
    assert built.objective == "kto" and "channel_cap" not in built.stats["excluded"]
    assert built.stats["channels"]["CLOUD"] == 20 and built.stats["channel_cap_spared"] == 8

    room_for_some = replace(needs_all, min_desirable=6, min_undesirable=6)  # 10 of each needed: 4 may go
    built = build_dataset([*loud, *answers[20:]], room_for_some)
    assert built.stats["excluded"]["channel_cap"] == 4 and built.stats["channels"]["CLOUD"] == 16
    assert built.stats["train"]["desirable"] + built.stats["eval"]["desirable"] >= 10
    assert built.stats["train"]["undesirable"] + built.stats["eval"]["undesirable"] >= 10


def test_the_channel_cap_applies_only_when_several_channels_compete() -> None:
    answers = [replace(a, channel="CONLY") for a in rated(feedback_items(24))]
    built = build_dataset(answers, replace(SMALL_DATASET, max_channel_share=0.3))
    assert built.stats["channels"] == {"CONLY": 24} and "channel_cap" not in built.stats["excluded"]


def test_weights_follow_the_class_ratio() -> None:
    assert kto_weights(10, 10) == {"desirable_weight": 1.0, "undesirable_weight": 1.0}
    assert kto_weights(12, 10) == {"desirable_weight": 1.0, "undesirable_weight": 1.0}  # 1.2 is inside [1, 4/3]
    few_up = kto_weights(10, 40)
    assert few_up["undesirable_weight"] == 1.0 and 1.0 <= few_up["desirable_weight"] * 10 / 40 <= 4 / 3
    few_down = kto_weights(40, 10)
    assert few_down["desirable_weight"] == 1.0 and 1.0 <= 40 / (few_down["undesirable_weight"] * 10) <= 4 / 3
    answers = rated(feedback_items(30, only_up=True)) + rated(feedback_items(10))[1::2]
    answers = [replace(a, answer_id=i + 1, thread_ts=f"{i}.5") for i, a in enumerate(answers)]
    built = build_dataset(answers, SMALL_DATASET)
    counts = built.stats["train"]
    ratio = counts["desirable"] * built.weights["desirable_weight"] / (
        counts["undesirable"] * built.weights["undesirable_weight"])
    assert counts["desirable"] > counts["undesirable"] and 1.0 <= ratio <= 4 / 3


def test_a_thread_and_a_repeated_question_never_straddle_the_split() -> None:
    answers = rated(feedback_items(24))
    # Answers 20-23 (the newest, eval side) share one thread with answer 0 (the oldest).
    threaded = [replace(a, channel="C1", thread_ts=answers[0].thread_ts) if i >= 20 else a
                for i, a in enumerate(answers)]
    # Answer 1 asks the same question as answer 22 in another thread.
    threaded[1] = replace(threaded[1], question=answers[22].question)
    built = build_dataset(threaded, replace(SMALL_DATASET, max_channel_share=1.0))
    train, held = _ids(built.files["kto_train"]), _ids(built.files["kto_eval"])
    assert not train & held
    together = {1, 2, 21, 22, 23, 24}  # answer ids are index + 1
    assert together <= train or together <= held


def test_eval_is_the_newest_feedback() -> None:
    built = build_dataset(rated(feedback_items(24)), SMALL_DATASET)
    assert max(_ids(built.files["kto_train"])) < min(_ids(built.files["kto_eval"]))


def test_below_the_minimums_the_run_is_skipped_with_the_counts() -> None:
    built = build_dataset(rated(feedback_items(6)), DatasetConfig(min_desirable=5, min_undesirable=5,
                                                                  one_class_policy="skip"))
    assert built.objective is None
    assert "not enough feedback" in built.skip_reason and "at least 5 👍 and 5 👎" in built.skip_reason


def test_empty_feedback_is_skipped() -> None:
    built = build_dataset([], SMALL_DATASET)
    assert built.objective is None and built.skip_reason == "no rated answers yet: nothing to learn from"


def test_everything_filtered_out_says_why() -> None:
    answers = [replace(a, abstained=True) for a in rated(feedback_items(8))]
    built = build_dataset(answers, SMALL_DATASET)
    assert built.objective is None and "8 abstained" in built.skip_reason


def test_only_thumbs_up_falls_back_to_sft_or_skips_per_policy() -> None:
    answers = rated(feedback_items(12, only_up=True))
    sft = build_dataset(answers, SMALL_DATASET)
    assert sft.objective == "sft" and len(sft.files["sft_train"]) >= 4
    skip = build_dataset(answers, replace(SMALL_DATASET, one_class_policy="skip"))
    assert skip.objective is None and "SFT fallback is off" in skip.skip_reason


def test_references_become_sft_rows_dpo_pairs_and_golden_rows() -> None:
    answers: list[RatedAnswer] = rated(feedback_items(24))
    corrected = [replace(a, references=("use the new data config . yes",)) if a.votes[0][1] != 1 else a
                 for a in answers]
    built = build_dataset(corrected, SMALL_DATASET)
    references = [r for r in built.files["sft_train"] if r["source"] == "reference"]
    assert len(references) == built.stats["train"]["undesirable"]
    # ...and desirable KTO rows of the main run, for the prompt of the answer they correct.
    corrections = [r for r in built.files["kto_train"] if r["source"] == "correction"]
    assert len(corrections) == built.stats["train"]["corrections"] == len(references)
    assert all(r["label"] and r["completion"] == "use the new data config . yes" for r in corrections)
    downvoted = {r["answer_id"]: r["prompt"] for r in built.files["kto_train"] if not r["label"]}
    assert all(downvoted[r["answer_id"]] == r["prompt"] for r in corrections)
    assert all(pair["chosen"] == "use the new data config . yes" for pair in built.files["dpo_train"])
    assert built.files["golden"] and all(r["answer_id"] in _ids(built.files["kto_eval"])
                                         for r in built.files["golden"])


def test_secrets_in_prompts_and_completions_are_scrubbed() -> None:
    answers = rated(feedback_items(24))
    leaky = replace(answers[0], prompt=answers[0].prompt + " token xoxb-1234567890-abcdefghijk",
                    completion=answers[0].completion + " ask <@U0ABCDEF1>")
    built = build_dataset([leaky, *answers[1:]], SMALL_DATASET)
    row = next(r for r in _all_kto(built) if r["answer_id"] == leaky.answer_id)
    assert "xoxb" not in row["prompt"] and "<SLACK_TOKEN>" in row["prompt"] and "<@USER>" in row["completion"]
    assert built.stats["scrubbed"] == {"slack_token": 1, "user_mention": 1}


def test_thumbs_down_reasons_are_scrubbed_and_kept_as_metadata() -> None:
    answers = rated(feedback_items(24))
    bad = [a for a in answers if a.votes[0][1] < 0]
    leaky = "mail ops@example.com, token xoxb-1234567890-abcdefghijk"
    explained = {bad[0].answer_id: replace(bad[0], reasons=(("wrong", leaky),)),
                 bad[1].answer_id: replace(bad[1], reasons=(("outdated", None), (None, "the old config is gone")))}
    built = build_dataset([explained.get(a.answer_id, a) for a in answers], SMALL_DATASET)
    rows = {r["answer_id"]: r for r in _all_kto(built)}
    assert rows[bad[0].answer_id]["reasons"] == [{"code": "wrong", "text": "mail <EMAIL>, token <SLACK_TOKEN>"}]
    assert [r["code"] for r in rows[bad[1].answer_id]["reasons"]] == ["outdated", None]
    assert "reasons" not in rows[bad[2].answer_id]
    reasons = built.stats["thumbs_down_reasons"]
    assert reasons["codes"] == {"outdated": 1, "unspecified": 1, "wrong": 1} and reasons["with_text"] == 2
    assert reasons["examples"] == ["mail <EMAIL>, token <SLACK_TOKEN>", "the old config is gone"]
    assert built.stats["scrubbed"] == {"email": 1, "slack_token": 1}


def test_training_rows_mix_both_labels_in_every_batch_and_are_reproducible() -> None:
    rows = [{"label": i % 3 != 0, "answer_id": i} for i in range(30)]
    ordered = interleave(rows, seed=7)
    assert ordered == interleave(rows, seed=7) and ordered != interleave(rows, seed=8)
    assert sorted(r["answer_id"] for r in ordered) == list(range(30))
    for start in range(0, 28, 4):
        assert {r["label"] for r in ordered[start : start + 4]} == {True, False}
