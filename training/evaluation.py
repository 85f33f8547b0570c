"""The evaluation gate: may the candidate adapter replace the serving one? (orch, with pure rules)

Every model (the candidate, the serving adapter or base, and the base itself) is scored on the
same frozen inputs:

* the held-out split: mean log-likelihood of 👍 completions and of 👎 completions; their
  difference is the reward margin, which must improve on the serving model's;
* the same 👍 likelihood, which must not fall by more than a tolerance (a margin can also grow
  by the model unlearning good answers a little less than bad ones);
* the golden set (teammates' reference answers held out, plus an optional curated file), whose
  likelihood must not fall by more than the same tolerance;
* a small general-English text bundled with this package, whose perplexity must stay within a
  tolerance of the *base* model's, so drift cannot compound over generations of adapters.

`judge` holds the rules and is pure; `evaluate_candidate` measures and then judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import fmean
from typing import Any

from training.config import GateConfig
from training.scoring import BASE, ScoringModel

GENERAL_TEXT = Path(__file__).with_name("general_text.txt")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelScores:
    """What the gate measured for one model (log-likelihoods in mean nats per token)."""

    good: float | None
    bad: float | None
    golden: float | None
    general_perplexity: float

    @property
    def margin(self) -> float | None:
        return None if self.good is None or self.bad is None else self.good - self.bad

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "margin": self.margin}


@dataclass(frozen=True, slots=True, kw_only=True)
class GateReport:
    """The verdict and its grounds: `reasons` lists every failed rule, or what passed."""

    passed: bool
    reasons: list[str]
    candidate: ModelScores
    current: ModelScores
    base: ModelScores
    current_name: str

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": self.reasons, "current_name": self.current_name,
                "candidate": self.candidate.as_dict(), "current": self.current.as_dict(),
                "base": self.base.as_dict()}

    def summary(self) -> str:
        return ("gate passed: " if self.passed else "gate rejected: ") + "; ".join(self.reasons)


def judge(candidate: ModelScores, current: ModelScores, base: ModelScores, config: GateConfig,
          *, current_name: str = "base") -> GateReport:
    """Apply the gate's rules to measured scores."""
    failures: list[str] = []
    passes: list[str] = []
    if candidate.margin is not None and current.margin is not None:
        gain = candidate.margin - current.margin
        line = f"reward margin {candidate.margin:+.4f} vs {current.margin:+.4f} ({current_name}), gain {gain:+.4f}"
        (passes if gain > config.min_margin_gain else failures).append(
            line + ("" if gain > config.min_margin_gain else f" ≤ required {config.min_margin_gain}"))
    elif candidate.good is not None and current.good is not None:
        gain = candidate.good - current.good
        line = f"👍 log-likelihood gain {gain:+.4f} (no held-out 👎 to form a margin)"
        (passes if gain > config.min_margin_gain else failures).append(
            line + ("" if gain > config.min_margin_gain else f" ≤ required {config.min_margin_gain}"))
    else:
        failures.append("no held-out examples to measure the candidate on")
    for label, mine, theirs in (("held-out 👍", candidate.good, current.good),
                                ("golden-set", candidate.golden, current.golden)):
        if mine is None or theirs is None:
            continue
        drop = theirs - mine
        line = f"{label} log-likelihood {mine:.4f} vs {theirs:.4f}"
        if drop > config.good_tolerance:
            failures.append(f"{line}: fell by {drop:.4f} > tolerance {config.good_tolerance}")
        else:
            passes.append(line)
    limit = base.general_perplexity * (1 + config.general_tolerance)
    line = f"general-text perplexity {candidate.general_perplexity:.3f} vs base {base.general_perplexity:.3f}"
    if not candidate.general_perplexity <= limit:  # NaN fails too
        failures.append(f"{line}: above the {config.general_tolerance:.0%} tolerance ({limit:.3f})")
    else:
        passes.append(line)
    return GateReport(passed=not failures, reasons=failures or passes, candidate=candidate, current=current,
                      base=base, current_name=current_name)


def _mean(values: Sequence[float]) -> float | None:
    return fmean(values) if values else None


def measure(model: ScoringModel, name: str, *, eval_rows: Sequence[dict[str, Any]],
            golden_rows: Sequence[dict[str, Any]], general_text: str, config: GateConfig) -> ModelScores:
    """Score one of `model`'s adapters (or `BASE`) on the gate's inputs."""
    def score(rows: Sequence[dict[str, Any]]) -> float | None:
        pairs = [(row["prompt"], row["completion"]) for row in rows]
        return _mean(model.completion_logprobs(pairs, max_length=config.max_length, batch_size=config.batch_size))

    with model.using(name):
        return ModelScores(good=score([r for r in eval_rows if r["label"]]),
                           bad=score([r for r in eval_rows if not r["label"]]),
                           golden=score(golden_rows),
                           general_perplexity=model.perplexity(general_text, max_length=config.max_length))


def evaluate_candidate(*, base_model: Path, candidate: Path, current: Path | None, current_name: str = "base",
                       eval_rows: Sequence[dict[str, Any]], golden_rows: Sequence[dict[str, Any]],
                       config: GateConfig, general_text: str | None = None) -> GateReport:
    """Score candidate, serving adapter (`current`, None for the base model) and base; judge."""
    adapters = {"candidate": candidate} | ({"current": current} if current is not None else {})
    model = ScoringModel(base_model, adapters)
    text = general_text if general_text is not None else GENERAL_TEXT.read_text()
    inputs: dict[str, Any] = {"eval_rows": eval_rows, "golden_rows": golden_rows, "general_text": text,
                              "config": config}
    base = measure(model, BASE, **inputs)
    scored_candidate = measure(model, "candidate", **inputs)
    scored_current = measure(model, "current", **inputs) if current is not None else base
    return judge(scored_candidate, scored_current, base, config, current_name=current_name)
