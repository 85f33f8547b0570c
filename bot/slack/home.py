"""The App Home tab: rendered per user on `app_home_opened`, with admin-only insight and buttons (orch).

Opening the Home tab publishes a fresh view for that user (`views.publish`) from the database on
the background pool; nothing polls. Admins get the insight part, and their clicks (retrain, roll
back, promote the adapter that passed its gate) are checked again (a forged click from anyone else
changes nothing; a promote click is re-checked against what may be promoted now) and answered by
re-publishing their tab with a notice. Who opened the tab is recorded in the database, so
`HomeTabs.refresh_after_runs` re-publishes the admins' tabs once after each finished training run,
from whichever process notices it first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import Ack, App
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.admin_actions import promote_candidate, queue_retrain, roll_back_model, roll_back_ranking
from bot.slack.deps import SlackDeps
from bot.slack.gap_finder import GapFinder
from bot.slack.home_blocks import (
    ACTION_HOME_PROMOTE,
    ACTION_HOME_RANKING_ROLLBACK,
    ACTION_HOME_RETRAIN,
    ACTION_HOME_ROLLBACK,
    HOME_DEPLOYMENTS,
    AdminData,
    HomeData,
    home_view,
)
from bot.slack.notices import APOLOGY
from bot.slack.work import WorkRejected
from knowledge.schedule import next_fire
from store.adapter_registry import deployment_history, promotable_adapter, serving_adapter
from store.home_viewers import claim_runs_for_home_refresh, home_viewers_since, record_home_opened
from store.insight import (
    answer_outcomes,
    documents_by_scope,
    downvote_reasons,
    feedback_by_channel,
    latest_document_titles,
    questions_of,
    recent_feedback_weeks,
)
from store.learned_channels import learning_summary
from store.ranking_registry import newest_deployed_metrics, ranking_history
from store.schema import WORKSPACE_SCOPE
from store.training_runs import latest_finished_run, recent_training_runs

logger = logging.getLogger(__name__)

OUTCOME_DAYS = 30
VIEWER_DAYS = 30
"""Admins who opened the Home tab this recently get it re-published after a run."""


def home_data(sessions: sessionmaker[Session], user: str) -> HomeData:
    with sessions() as session:
        return HomeData(scopes=documents_by_scope(session),
                        latest_titles=latest_document_titles(session, scope=WORKSPACE_SCOPE),
                        questions=questions_of(session, user),
                        learning=learning_summary(session, scopes=[WORKSPACE_SCOPE]))  # public channels: for everyone


def admin_data(sessions: sessionmaker[Session], *, gaps: GapFinder, training_cron: str) -> AdminData:
    """Everything the admin part shows, read now (`bench/app_home.py` times this with `home_data`)."""
    now = datetime.now(UTC)
    with sessions() as session:
        adapter = serving_adapter(session)
        deployments = deployment_history(session, limit=HOME_DEPLOYMENTS)
        promotable = promotable_adapter(session)
        weeks = recent_feedback_weeks(session)
        channels, reasons = feedback_by_channel(session), downvote_reasons(session)
        outcomes = answer_outcomes(session, since=now - timedelta(days=OUTCOME_DAYS))
        runs, latest_report = recent_training_runs(session, limit=3), latest_finished_run(session)
        ranking = ranking_history(session, limit=HOME_DEPLOYMENTS)
        ranking_metrics = newest_deployed_metrics(session, ranking[0].name) if ranking and ranking[0].name else None
    return AdminData(weeks=weeks, channels=channels, reasons=reasons, outcomes=outcomes,
                     outcome_days=OUTCOME_DAYS, adapter_name=adapter.name if adapter else "base",
                     runs=runs, gaps=gaps.clusters(), latest_report=latest_report, deployments=deployments,
                     next_retrain=next_fire(training_cron, after=now), training_cron=training_cron,
                     promotable=promotable, ranking=ranking, ranking_metrics=ranking_metrics)


def publish_home(deps: SlackDeps, user: str, *, notice: str | None = None) -> None:
    """Render and publish `user`'s Home tab (the admin part only for admins)."""
    admin = (admin_data(deps.sessions, gaps=deps.gaps, training_cron=deps.training_cron)
             if deps.admins.is_admin(user) else None)
    deps.client.views_publish(user_id=user, view=home_view(home_data(deps.sessions, user), admin, notice=notice))


def _publish_safely(deps: SlackDeps, user: str, notice: str | None = None) -> None:
    try:
        publish_home(deps, user, notice=notice)
    except Exception:
        logger.exception("publishing the Home tab of %s failed", user)


def _act_then_publish(deps: SlackDeps, user: str, act: Callable[[str], str]) -> None:
    try:
        notice = act(user)
    except Exception:
        logger.exception("a Home tab button of %s failed", user)
        notice = APOLOGY
    _publish_safely(deps, user, notice)


class HomeTabs:
    """Refreshes the admins' Home tabs after training runs, from whichever process notices the run.

    Who opened the tab is kept in the database (`store.home_viewers`), so a run noticed by one web
    worker refreshes the tabs of admins whose open another worker (or the Socket Mode process)
    handled; each finished run is claimed by one process, so the tabs are refreshed once per run.
    """

    def __init__(self) -> None:
        self._deps: SlackDeps | None = None

    def bind(self, deps: SlackDeps) -> None:
        """Use `deps` (this process's Slack client and database) for refreshes."""
        self._deps = deps

    def refresh_admins(self) -> int:
        """Re-publish the tab of every admin who opened it in the last `VIEWER_DAYS`; returns how many."""
        deps = self._deps
        if deps is None:
            return 0
        with deps.sessions() as session:
            viewers = home_viewers_since(session, datetime.now(UTC) - timedelta(days=VIEWER_DAYS))
        admins = [user for user in viewers if deps.admins.is_admin(user)]
        for user in admins:
            _publish_safely(deps, user)
        return len(admins)

    def refresh_after_runs(self) -> int:
        """Refresh the admins' tabs if a run finished since the last refresh; returns how many tabs."""
        deps = self._deps
        if deps is None:
            return 0
        with deps.sessions() as session, session.begin():
            runs = claim_runs_for_home_refresh(session)
        return self.refresh_admins() if runs else 0


def register(app: App, deps: SlackDeps, tabs: HomeTabs) -> None:
    """Attach `app_home_opened` and the admin buttons of the Home tab."""
    tabs.bind(deps)

    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab") != "home":
            return  # the Messages tab: nothing to publish
        try:  # remembered in the database: any process refreshes this tab after a run, if it is an admin's
            with deps.sessions() as session, session.begin():
                record_home_opened(session, event["user"])
        except Exception:  # the tab is still published; only the refresh after runs misses this user
            logger.exception("could not record that %s opened the Home tab", event["user"])
        try:
            deps.work.submit(_publish_safely, deps, event["user"])
        except WorkRejected:
            logger.warning("Home tab of %s not refreshed: the work pool is full", event["user"])

    def admin_click(body: dict[str, Any], act: Callable[[str], str]) -> None:
        user = body["user"]["id"]
        if not deps.admins.is_admin(user):
            logger.warning("refused a Home tab admin button from non-admin %s", user)
            return
        try:
            deps.work.submit(_act_then_publish, deps, user, act)
        except WorkRejected:
            logger.warning("Home tab button of %s dropped: the work pool is full", user)

    @app.action(ACTION_HOME_RETRAIN)
    def on_retrain(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        admin_click(body, lambda user: queue_retrain(deps, user=user, channel=None))

    @app.action(ACTION_HOME_PROMOTE)
    def on_promote(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        value = str(action.get("value") or "")
        if not value.isdigit():
            logger.warning("refused a Home tab promote button with value %r", value)
            return
        admin_click(body, lambda user: promote_candidate(deps, user=user, adapter_id=int(value)))

    @app.action(ACTION_HOME_ROLLBACK)
    def on_rollback(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        admin_click(body, lambda user: roll_back_model(deps, user=user, reason="App Home button")[0])

    @app.action(ACTION_HOME_RANKING_ROLLBACK)
    def on_ranking_rollback(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        seen = str(action.get("value") or "")  # the model the admin saw serving: a stale click changes nothing
        admin_click(body, lambda user: roll_back_ranking(deps, user=user, reason="App Home button",
                                                         expected=seen)[0])
