"""The /kb command: add (text, URL, form with files), search, status, retrain, rollback, help; scopes."""

from __future__ import annotations

import json

import pytest
from slack_bolt import BoltResponse
from sqlalchemy import func, select, update

from bot.slack.background import PeriodicTask
from bot.slack.client import make_web_client
from bot.slack.deps import IngestOptions
from bot.slack.modals import ACTION_VALUE, BLOCK_FILE, BLOCK_TEXT, BLOCK_TITLE, VIEW_ADD
from bot.slack.reporting import report_finished_runs
from knowledge.chunking import DEFAULT_CHUNKING
from store.adapter_registry import promote, register_adapter, serving_adapter
from store.ranking_registry import CONFIGURED, deploy_ranking_model, ranking_history, serving_ranking_model
from store.schema import Document, TrainingRun
from tests.fakes.slack_api import BOT_TOKEN
from tests.fakes.slack_requests import ASKER, view_submission
from tests.fakes.web_site import StaticSite
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness

RUNBOOK = b"""<html><head><title>On-call runbook</title></head><body><nav>menu</nav><main>
<h1>On-call runbook</h1><p>Page the secondary after 15 minutes without an acknowledgement.</p></main></body></html>"""


def ack_text(response: BoltResponse) -> str:
    """What the user sees from an ack: Bolt sends a bare text body, or JSON when blocks or options come along."""
    return json.loads(response.body)["text"] if response.body.startswith("{") else response.body


def documents(bot: SlackHarness) -> list[tuple[str, str, str, str | None]]:
    return [(d.title, d.source, d.scope, d.added_by) for d in bot.rows(Document)]


def test_add_text_is_ingested_for_the_workspace_and_reported(bot: SlackHarness) -> None:
    ack = bot.command("add # Release checklist\nTag the release, then run make deploy.")
    assert ack_text(ack) == "Adding your text to the knowledge base…"
    assert documents(bot) == [("Release checklist", "text", "workspace", ASKER)]
    [reply] = bot.fake.responses()
    assert reply["text"].startswith("Added *Release checklist*") and "everyone in the workspace" in reply["text"]


def test_add_url_fetches_an_allow_listed_local_page(bot: SlackHarness) -> None:
    with StaticSite({"/runbook.html": ("text/html; charset=utf-8", RUNBOOK)}) as site:
        bot.command(f"add <{site.url}/runbook.html>")
    assert site.requests == ["/runbook.html"]
    assert documents(bot) == [("On-call runbook", "url", "workspace", ASKER)]
    assert bot.rows(Document)[0].uri == f"{site.url}/runbook.html"
    assert "Added *On-call runbook*" in bot.fake.responses()[0]["text"]


def test_add_url_refuses_loopback_without_the_allow_list(make_bot: MakeBot) -> None:
    bot = make_bot(ingest=IngestOptions(url_allowlist=()))
    with StaticSite({"/runbook.html": ("text/html", RUNBOOK)}) as site:
        bot.command(f"add {site.url}/runbook.html")
    assert site.requests == [] and documents(bot) == []
    assert "I couldn't add that" in bot.fake.responses()[0]["text"] and "allow-list" in bot.fake.responses()[0]["text"]


def test_add_alone_opens_the_form_and_the_submission_ingests_text_and_file(bot: SlackHarness) -> None:
    ack = bot.command("add", channel="C7")
    assert ack.status == 200 and not ack.body
    view = bot.fake.one_call("views.open").reply["view"]
    assert view["callback_id"] == VIEW_ADD and json.loads(view["private_metadata"]) == {"channel": "C7"}

    meta = bot.fake.add_file("F1", "oncall.md", b"# Escalation\n\nPage the secondary after 15 minutes.")
    values = {BLOCK_TITLE: {ACTION_VALUE: {"type": "plain_text_input", "value": "Release checklist"}},
              BLOCK_TEXT: {ACTION_VALUE: {"type": "plain_text_input", "value": "Tag, then run make deploy."}},
              BLOCK_FILE: {ACTION_VALUE: {"type": "file_input", "files": [meta]}}}
    assert bot.interact(view_submission(view, values)).status == 200

    assert sorted(documents(bot)) == [("Escalation", "slack_file", "workspace", ASKER),
                                      ("Release checklist", "text", "workspace", ASKER)]
    [download] = [c for c in bot.fake.calls if c.path.startswith("/files-pri/")]
    assert download.auth == f"Bearer {BOT_TOKEN}"
    told = bot.fake.one_call("chat.postEphemeral").body
    assert told["channel"] == "C7" and told["text"].count("Added") == 2


def test_an_empty_form_is_refused_inside_the_form(bot: SlackHarness) -> None:
    bot.command("add")
    view = bot.fake.one_call("views.open").reply["view"]
    response = bot.interact(view_submission(view, {}))
    assert json.loads(response.body)["response_action"] == "errors"
    assert BLOCK_TEXT in json.loads(response.body)["errors"] and documents(bot) == []


@pytest.mark.usefixtures("documents")
def test_search_answers_only_the_asker_with_matching_passages(bot: SlackHarness) -> None:
    bot.command("search when do backups run")
    [reply] = bot.fake.responses()
    assert reply["response_type"] == "ephemeral"
    assert "Database backups" in reply["blocks"][1]["text"]["text"]


def test_search_without_a_query_shows_usage(bot: SlackHarness) -> None:
    assert ack_text(bot.command("search")).startswith("Usage: `/kb search")


@pytest.mark.usefixtures("documents")
def test_status_reports_documents_votes_model_and_last_run(bot: SlackHarness) -> None:
    bot.command("status")
    text = json.dumps(bot.fake.responses()[0]["blocks"])
    assert "*Documents:* 2" in text and "the base model" in text and "No training run yet" in text
    assert "older chunker" not in text

    with bot.sessions.begin() as session:  # one stored before the chunker was recorded (revision 0018)
        session.execute(update(Document).where(Document.id == select(func.min(Document.id)).scalar_subquery())
                        .values(chunking=None))
    bot.command("status")
    text = json.dumps(bot.fake.responses()[-1]["blocks"])
    assert "1 cut by an older chunker: add their files or URLs again to re-chunk them" in text
    with bot.sessions.begin() as session:
        session.execute(update(Document).values(chunking=DEFAULT_CHUNKING.signature()))

    with bot.sessions.begin() as session:
        session.add(TrainingRun(status="rejected", trigger="schedule", message="the gate rejected the candidate",
                                metrics={"win_rate": 0.41}, report_path="var/reports/run-1.md"))
    bot.command("status")
    text = json.dumps(bot.fake.responses()[-1]["blocks"], ensure_ascii=False)
    assert "Training run #1 (schedule): *rejected*" in text and "the gate rejected the candidate" in text
    assert "win_rate=0.41" in text and "var/reports" not in text, "a path on the worker's disk helps nobody in Slack"


def test_status_tells_a_dead_running_run_from_a_live_one_and_shows_gate_figures(bot: SlackHarness) -> None:
    from sqlalchemy import func

    with bot.sessions.begin() as session:  # a run whose worker died: no process holds its lock any more
        session.add(TrainingRun(status="running", trigger="admin", requested_by="UADMIN",
                                heartbeat_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 95),
                                progress={"phase": "training", "step": 12, "max_steps": 40, "loss": 0.4123,
                                          "eta_s": 150}))
    bot.command("status")
    text = json.dumps(bot.fake.responses()[0]["blocks"], ensure_ascii=False)
    assert "Progress: training · step 12/40 · loss 0.412 · ETA 2m30s" in text
    assert "*its worker is gone*" in text

    with bot.sessions.begin() as session:
        session.execute(update(TrainingRun).values(status="promoted", metrics={
            "gate_gain": 0.53, "gate_gain_lower": 0.21, "held_out_good": 6, "held_out_bad": 5, "zzz": 1.0}))
    bot.command("status")
    text = json.dumps(bot.fake.responses()[-1]["blocks"], ensure_ascii=False)
    assert "Gate: margin gain 0.53 · its 95% lower bound 0.21 · held-out 👍 6 · held-out 👎 5" in text
    assert "Progress" not in text


def test_retrain_by_a_non_admin_is_refused_and_queues_nothing(bot: SlackHarness) -> None:
    bot.command("retrain", user="UNOBODY")
    assert "Only admins" in bot.fake.responses()[0]["text"]
    assert bot.rows(TrainingRun) == []
    assert bot.fake.one_call("users.info").body["user"] == "UNOBODY"


def test_configured_admins_replace_workspace_admins(make_bot: MakeBot) -> None:
    bot = make_bot(admin_user_ids=("UCONF",))
    bot.fake.admins.add("UADMIN")
    bot.command("retrain", user="UADMIN")
    assert bot.rows(TrainingRun) == [] and not bot.fake.calls_to("users.info")
    bot.command("retrain", user="UCONF")
    assert [r.requested_by for r in bot.rows(TrainingRun)] == ["UCONF"]


def test_retrain_by_an_admin_queues_a_run_that_is_reported_when_finished(bot: SlackHarness) -> None:
    bot.fake.admins.add("UADMIN")
    bot.command("retrain", user="UADMIN", channel="C9")
    [run] = bot.rows(TrainingRun)
    assert (run.status, run.trigger, run.requested_by, run.notify_channel) == ("queued", "admin", "UADMIN", "C9")
    assert bot.fake.responses()[0]["text"] == f"Queued training run #{run.id}. I'll post the outcome in this " \
                                              "channel when it finishes."
    bot.command("retrain", user="UADMIN", channel="C9")
    assert len(bot.rows(TrainingRun)) == 1 and "already queued" in bot.fake.responses()[1]["text"]

    with bot.sessions.begin() as session:  # what the training worker writes when done
        session.execute(update(TrainingRun).values(status="succeeded", message="promoted adapter kb-v2",
                                                   metrics={"reward_margin": 0.4213, "eval_loss": 1.5},
                                                   finished_at=run.created_at))
    client = make_web_client(BOT_TOKEN, base_url=bot.fake.api_url)
    reporter = PeriodicTask("test-reporter", 0.05, lambda: report_finished_runs(bot.sessions, client)).start()
    try:
        [post] = bot.fake.wait_for("chat.postMessage")
    finally:
        reporter.stop()
    assert post.body["channel"] == "C9"
    text = post.body["blocks"][0]["text"]["text"]
    assert "*succeeded*" in text and "promoted adapter kb-v2" in text and "reward_margin=0.421" in text
    assert report_finished_runs(bot.sessions, client) == 0, "reported once"


def test_rollback_is_for_admins_and_serves_the_previous_adapter(bot: SlackHarness) -> None:
    with bot.sessions.begin() as session:
        first = register_adapter(session, name="kb-v1", path="/adapters/v1", base_model="smol")
        second = register_adapter(session, name="kb-v2", path="/adapters/v2", base_model="smol")
        promote(session, first.id, actor="test")
        promote(session, second.id, actor="test")
    bot.command("rollback", user="UNOBODY")
    assert "Only admins" in bot.fake.responses()[0]["text"]

    bot.fake.admins.add("UADMIN")
    bot.command("rollback", user="UADMIN")
    reply = bot.fake.responses()[1]
    assert reply["text"].startswith("Rolled back from adapter `kb-v2` to adapter `kb-v1`")
    with bot.sessions() as session:
        assert serving_adapter(session).name == "kb-v1"


def test_rollback_ranking_serves_the_previous_ranking_model(bot: SlackHarness) -> None:
    bot.fake.admins.add("UADMIN")
    bot.command("rollback ranking", user="UADMIN")
    assert bot.fake.responses()[0]["text"] == ("There is no earlier ranking model to roll back to; the configured "
                                               "one is serving.")
    with bot.sessions.begin() as session:
        deploy_ranking_model(session, folder="/models/ranking-tuned/mpnet-votes-1", name="mpnet-votes-1",
                             actor="schedule")
    bot.command("rollback ranking", user="UNOBODY")
    assert "Only admins" in bot.fake.responses()[1]["text"]
    bot.command("rollback rankings", user="UADMIN")
    assert bot.fake.responses()[2]["text"].startswith("Usage: `/kb rollback`")
    bot.command("rollback ranking", user="UADMIN")
    reply = bot.fake.responses()[3]
    assert reply["text"] == ("Rolled back the ranking model from `mpnet-votes-1` to the configured one. Running bots "
                             "rank with it within a few seconds.") and reply["response_type"] == "in_channel"
    with bot.sessions() as session:
        assert serving_ranking_model(session) == CONFIGURED
        assert [entry.reason for entry in ranking_history(session)] == ["/kb rollback ranking", None]


def test_help_and_unknown_subcommands(bot: SlackHarness) -> None:
    assert "/kb search <query>" in ack_text(bot.command("help"))
    unknown = ack_text(bot.command("frobnicate now"))
    assert unknown.startswith("I don't know `/kb frobnicate`") and "/kb retrain" in unknown


def test_document_added_in_a_private_channel_is_not_visible_elsewhere(bot: SlackHarness) -> None:
    bot.fake.set_channel("G1", is_private=True)
    bot.command("add # Project Nightjar\nProject Nightjar launches on 14 March behind the nightjar flag.",
                channel="G1")
    assert documents(bot) == [("Project Nightjar", "text", "G1", ASKER)]
    assert "this conversation only" in bot.fake.responses()[0]["text"]

    bot.command("search when does project nightjar launch", channel="C2")
    assert "Project Nightjar" not in json.dumps(bot.fake.responses()[1]["blocks"])
    bot.ask("When does Project Nightjar launch?", channel="C2")
    assert not any("14 March" in m["content"] for call in bot.generator.calls for m in call)

    bot.ask("When does Project Nightjar launch?", channel="G1")
    assert any("14 March" in m["content"] for m in bot.generator.calls[-1])
