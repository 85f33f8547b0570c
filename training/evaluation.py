"""The evaluation gate: may the candidate adapter replace the serving one? (orch, with pure rules)

Every model (the candidate, the serving adapter or base, and the base itself) is scored on the
same frozen inputs, row by row:

* the held-out split: log-likelihood of each 👍 and each 👎 completion. The gain is the
  candidate's reward margin (mean 👍 minus mean 👎) minus the serving model's; it counts only when
  at least `min_per_class` rows of each class were held out and the lower bound of a paired
  bootstrap over those rows (`training.bootstrap`) is above zero and above `min_margin_gain`, so a
  gain measured on 1 👍 against 7 👎, or one that resampling shows could as well be noise, never
  promotes. With fewer 👎 held out than that (the SFT fallback) the rule applies to the 👍 likelihood
  alone;
* the 👍 likelihood must not fall by more than a tolerance (a margin can also grow by the model
  unlearning good answers a little less than bad ones);
* the golden set (teammates' reference answers held out, plus an optional curated file): the
  likelihood of the reference answers must not fall by more than the same tolerance, and, on the
  first `golden_generate_rows` rows, the token F1 of each model's greedy answer against the
  reference must not fall by more than `golden_f1_tolerance`. That F1 is of the model's raw
  answer: training cannot import the bot's evidence-and-support pipeline that turns it into the
  published answer, which the learning bench measures end to end;
* a small general-English text bundled with this package, whose perplexity must stay within a
  tolerance of the *base* model's, so drift cannot compound over generations of adapters.

`judge` holds the rules and is pure; `evaluate_candidate` measures and then judges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import fmean
from typing import Any

from training.answer_f1 import token_f1
from training.bootstrap import GainEstimate, paired_gain
from training.config import GateConfig
from training.scoring import BASE, ScoringModel

GENERAL_TEXT = Path(__file__).with_name("general_text.txt")


def _mean(values: Sequence[float]) -> float | None:
    return fmean(values) if values else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelScores:
    """What the gate measured for one model: per-row log-likelihoods (mean nats per token) and more.

    Attributes:
        good_rows, bad_rows: each held-out 👍 / 👎 completion's log-likelihood, in row order.
        golden_rows: each golden reference answer's log-likelihood.
        general_perplexity: perplexity on the bundled general English text.
        golden_f1: mean token F1 of greedy answers against references (None when not measured).
    """

    good_rows: tuple[float, ...] = ()
    bad_rows: tuple[float, ...] = ()
    golden_rows: tuple[float, ...] = ()
    general_perplexity: float = math.nan
    golden_f1: float | None = None

    @property
    def good(self) -> float | None:
        return _mean(self.good_rows)

    @property
    def bad(self) -> float | None:
        return _mean(self.bad_rows)

    @property
    def golden(self) -> float | None:
        return _mean(self.golden_rows)

    @property
    def margin(self) -> float | None:
        good, bad = self.good, self.bad
        return None if good is None or bad is None else good - bad

    def as_dict(self) -> dict[str, Any]:
        return {"good": self.good, "bad": self.bad, "margin": self.margin, "golden": self.golden,
                "golden_f1": self.golden_f1, "general_perplexity": self.general_perplexity,
                "n_good": len(self.good_rows), "n_bad": len(self.bad_rows), "n_golden": len(self.golden_rows)}


@dataclass(frozen=True, slots=True, kw_only=True)
class GateReport:
    """The verdict and its grounds: `reasons` lists every failed rule, or what passed."""

    passed: bool
    reasons: list[str]
    candidate: ModelScores
    current: ModelScores
    base: ModelScores
    current_name: str
    gain: GainEstimate | None = None
    rules: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": self.reasons, "current_name": self.current_name,
                "gain": self.gain.as_dict() if self.gain else None, "rules": self.rules,
                "candidate": self.candidate.as_dict(), "current": self.current.as_dict(),
                "base": self.base.as_dict()}

    def summary(self) -> str:
        return ("gate passed: " if self.passed else "gate rejected: ") + "; ".join(self.reasons)


def _gain_rule(candidate: ModelScores, current: ModelScores, config: GateConfig,
               current_name: str) -> tuple[GainEstimate | None, str, bool]:
    """The gain, the line that describes it and whether it passes."""
    n_good, n_bad = len(candidate.good_rows), len(candidate.bad_rows)
    if n_good < config.min_per_class:
        return None, (f"too few held-out examples to tell signal from noise: {n_good} 👍 and {n_bad} 👎; "
                      f"the gate needs at least {config.min_per_class} 👍 (and as many 👎 for a reward margin)"), False
    margin = n_bad >= config.min_per_class  # else (the SFT fallback) judge the 👍 likelihood alone
    gain = paired_gain(candidate_good=candidate.good_rows, current_good=current.good_rows,
                       candidate_bad=candidate.bad_rows if margin else (),
                       current_bad=current.bad_rows if margin else (),
                       resamples=config.bootstrap_resamples, confidence=config.confidence, seed=config.seed)
    required = max(0.0, config.min_margin_gain)
    passed = gain.lower > required
    ignored = f"; {n_bad} 👎 too few for a margin" if 0 < n_bad < config.min_per_class else ""
    line = (f"{gain.statistic} gain {gain.point:+.4f} over {current_name}, {gain.confidence:.0%} lower bound "
            f"{gain.lower:+.4f} {'>' if passed else '≤'} required {required:g} "
            f"({n_good} 👍, {n_bad} 👎 held out{ignored}; {gain.resamples} bootstrap resamples)")
    return gain, line, passed


def judge(candidate: ModelScores, current: ModelScores, base: ModelScores, config: GateConfig,
          *, current_name: str = "base") -> GateReport:
    """Apply the gate's rules to measured scores (candidate and current scored on the same rows)."""
    failures: list[str] = []
    passes: list[str] = []

    def check(ok: bool, line: str) -> None:
        (passes if ok else failures).append(line)

    gain, line, ok = _gain_rule(candidate, current, config, current_name)
    check(ok, line)
    for label, mine, theirs in (("held-out 👍", candidate.good, current.good),
                                ("golden-set", candidate.golden, current.golden)):
        if mine is None or theirs is None:
            continue
        drop = theirs - mine
        line = f"{label} log-likelihood {mine:.4f} vs {theirs:.4f}"
        check(drop <= config.good_tolerance,
              line + (f": fell by {drop:.4f} > tolerance {config.good_tolerance}"
                      if drop > config.good_tolerance else ""))
    if candidate.golden_f1 is not None and current.golden_f1 is not None:
        drop = current.golden_f1 - candidate.golden_f1
        line = f"golden-set answer F1 {candidate.golden_f1:.3f} vs {current.golden_f1:.3f}"
        check(drop <= config.golden_f1_tolerance,
              line + (f": fell by {drop:.3f} > tolerance {config.golden_f1_tolerance}"
                      if drop > config.golden_f1_tolerance else ""))
    limit = base.general_perplexity * (1 + config.general_tolerance)
    line = f"general-text perplexity {candidate.general_perplexity:.3f} vs base {base.general_perplexity:.3f}"
    ok = candidate.general_perplexity <= limit  # NaN fails too
    check(ok, line + ("" if ok else f": above the {config.general_tolerance:.0%} tolerance ({limit:.3f})"))
    rules = {"min_per_class": config.min_per_class, "min_margin_gain": config.min_margin_gain,
             "confidence": config.confidence, "bootstrap_resamples": config.bootstrap_resamples,
             "good_tolerance": config.good_tolerance, "golden_f1_tolerance": config.golden_f1_tolerance,
             "general_tolerance": config.general_tolerance}
    return GateReport(passed=not failures, reasons=failures or passes, candidate=candidate, current=current,
                      base=base, current_name=current_name, gain=gain, rules=rules)


def measure(model: ScoringModel, name: str, *, eval_rows: Sequence[dict[str, Any]],
            golden_rows: Sequence[dict[str, Any]], general_text: str, config: GateConfig) -> ModelScores:
    """Score one of `model`'s adapters (or `BASE`) on the gate's inputs: likelihoods and perplexity, no generation.

    The held-out and golden rows are scored in one call, so a row in both (a held-out correction is
    also a golden reference) is read once (`ScoringModel.completion_logprobs` scores each distinct
    pair once).
    """
    good = [r for r in eval_rows if r["label"]]
    bad = [r for r in eval_rows if not r["label"]]
    pairs = [(row["prompt"], row["completion"]) for row in (*good, *bad, *golden_rows)]
    with model.using(name):
        scores = model.completion_logprobs(pairs, max_length=config.max_length, batch_size=config.batch_size)
        perplexity = model.perplexity(general_text, max_length=config.max_length)
    return ModelScores(good_rows=tuple(scores[: len(good)]), bad_rows=tuple(scores[len(good) : len(good) + len(bad)]),
                       golden_rows=tuple(scores[len(good) + len(bad) :]), general_perplexity=perplexity)


def golden_answer_f1(model: ScoringModel, name: str, *, golden_rows: Sequence[dict[str, Any]],
                     config: GateConfig) -> float | None:
    """Mean token F1 of adapter `name`'s greedy answers to the first `golden_generate_rows` golden rows."""
    generated = list(golden_rows[: config.golden_generate_rows])
    if not generated:
        return None
    with model.using(name):
        answers = model.generate([row["prompt"] for row in generated], max_new_tokens=config.golden_max_new_tokens,
                                 max_length=config.max_length)
    return _mean([token_f1(answer, row["completion"]) for answer, row in zip(answers, generated, strict=True)])


ANSWERS_SKIPPED = "golden-set answers not generated: the candidate was rejected on the rules above"
"""The gate's note when it stops before its slowest check."""


def evaluate_candidate(*, base_model: Path, candidate: Path, current: Path | None, current_name: str = "base",
                       eval_rows: Sequence[dict[str, Any]], golden_rows: Sequence[dict[str, Any]],
                       config: GateConfig, general_text: str | None = None) -> GateReport:
    """Score candidate, serving adapter (`current`, None for the base model) and base; judge.

    Generating golden-set answers with two models is the gate's slowest part on a CPU, and it can
    only add a reason to reject: it runs after the likelihood rules, and only when they pass.
    """
    adapters = {"candidate": candidate} | ({"current": current} if current is not None else {})
    model = ScoringModel(base_model, adapters)
    text = general_text if general_text is not None else GENERAL_TEXT.read_text()
    inputs: dict[str, Any] = {"eval_rows": eval_rows, "golden_rows": golden_rows, "general_text": text,
                              "config": config}
    base = measure(model, BASE, **inputs)
    scored_candidate = measure(model, "candidate", **inputs)
    scored_current = measure(model, "current", **inputs) if current is not None else base
    first = judge(scored_candidate, scored_current, base, config, current_name=current_name)
    if config.golden_generate_rows == 0 or not golden_rows:
        return first
    if not first.passed:
        return replace(first, rules={**first.rules, "golden_answers": ANSWERS_SKIPPED})
    serving_name = "current" if current is not None else BASE
    serving_f1 = golden_answer_f1(model, serving_name, golden_rows=golden_rows, config=config)
    scored_candidate = replace(scored_candidate,
                               golden_f1=golden_answer_f1(model, "candidate", golden_rows=golden_rows, config=config))
    scored_current = replace(scored_current, golden_f1=serving_f1)
    base = scored_current if current is None else base
    return judge(scored_candidate, scored_current, base, config, current_name=current_name)
