"""Retrain, roll back (the adapter or the ranking model) and promote on an admin's behalf, shared by `/kb`
and the App Home buttons (orch).

Each returns the sentence to show the admin. The caller has already checked that the user is an
admin; these only act.
"""

from __future__ import annotations

from bot.slack.deps import SlackDeps
from bot.slack.mrkdwn import escape
from store.adapter_registry import promotable_adapter, promote, rollback, serving_adapter
from store.ranking_registry import ANY_MODEL, RankingChanged, RankingVectorsMissing, rollback_ranking_model
from store.training_runs import request_training_run


def queue_retrain(deps: SlackDeps, *, user: str, channel: str | None) -> str:
    """Queue a training run, or join the open one; `channel` (if any) is told the outcome."""
    with deps.sessions.begin() as session:
        run, created = request_training_run(session, trigger="admin", requested_by=user, notify_channel=channel)
    where = "in this channel" if channel else "on this tab and in the admin channel"
    if created:
        return f"Queued training run #{run.id}. I'll post the outcome {where} when it finishes."
    # this request joined the open run: its channel is on the run's list of channels to tell
    return f"Training run #{run.id} is already {run.status}; I'll post its outcome {where} too when it finishes."


def roll_back_model(deps: SlackDeps, *, user: str, reason: str) -> tuple[str, bool]:
    """Serve the previous adapter (or the base model); returns the sentence and whether anything changed."""
    with deps.sessions.begin() as session:
        current = serving_adapter(session)
        if current is None:
            return "The base model is serving; there is nothing to roll back.", False
        restored = rollback(session, actor=user, reason=reason)
    target = f"adapter `{escape(restored.name)}`" if restored else "the base model"
    return (f"Rolled back from adapter `{escape(current.name)}` to {target}. "
            "Running bots switch within a few seconds."), True


def roll_back_ranking(deps: SlackDeps, *, user: str, reason: str,
                      expected: str | None = ANY_MODEL) -> tuple[str, bool]:
    """Serve the ranking model that served before (the configured one when none did); returns the sentence
    and whether anything changed.

    `expected`: the name of the model the admin saw serving (the Home button's); when another serves by
    now (a second click, another admin), nothing changes. A model whose vectors were all deleted (two
    rollbacks back) is not served from here: ranking every passage again is the worker's job.
    """
    try:
        with deps.sessions.begin() as session:
            done = rollback_ranking_model(session, actor=user, reason=reason, expected=expected,
                                          require_vectors=True)
    except RankingChanged:
        return "Nothing was rolled back: the serving ranking model changed meanwhile.", False
    except RankingVectorsMissing as exc:
        return (f"Not rolled back: the ranking model before it, `{escape(exc.name)}`, no longer has its vectors of "
                "the passages (they are deleted when a newer model is deployed). Run `kbbot train "
                "ranking-rollback` where the training worker runs: it computes them first."), False
    if done is None:
        return "There is no earlier ranking model to roll back to; the configured one is serving.", False
    target = f"`{escape(done.entry.name)}`" if done.entry.name else "the configured one"
    return (f"Rolled back the ranking model from `{escape(done.rolled_from.name or 'the configured one')}` to "
            f"{target}. Running bots rank with it within a few seconds."), True


def promote_candidate(deps: SlackDeps, *, user: str, adapter_id: int) -> str:
    """Serve adapter `adapter_id` if it is still the one that may be promoted (it passed its gate, it is not
    serving); anything else, a stale button or a forged id, is refused."""
    with deps.sessions.begin() as session:
        candidate = promotable_adapter(session)
        if candidate is None or candidate.id != adapter_id:
            return ("Nothing was promoted: only the newest adapter that passed the evaluation gate can be, "
                    "and only while it is not serving.")
        promote(session, candidate.id, actor=user, reason="promoted from the App Home")
    return f"Promoted adapter `{escape(candidate.name)}`. Running bots switch within a few seconds."
