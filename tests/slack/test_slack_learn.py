"""`/kb learn`: signed commands configure channels, the sync backfills them from the fake Slack, answers cite them."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.answering import Answerer, AnsweringConfig
from bot.slack.home_blocks import HomeData, knowledge_text
from bot.slack.settings import SlackSettings
from bot.slack.wiring import start_slack_bot
from knowledge.embedding import Embedder
from knowledge.search import search_passages
from knowledge.settings import KnowledgeSettings
from knowledge.slack_threads_settings import LearnSettings
from store.learned_channels import configure_channel, learning_summary, mark_dirty
from store.schema import WORKSPACE_SCOPE, Answer, Chunk, LearnedChannel, LearnedThread
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.scripted_generator import ScriptedGenerator
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness
from tests.slack.learn_fixtures import (
    ADMIN,
    DANA,
    ERIK,
    clean_learned_tables,  # noqa: F401 (autouse fixture)
    learned_thread,
    learner,
    seed_deploys,
    seed_thread,
    thread_documents,
)


def last_response(bot: SlackHarness) -> str:
    return str(bot.fake.responses()[-1]["text"])


def document_text(sessions: sessionmaker[Session], document_id: int) -> str:
    with sessions() as session:
        return "\n".join(session.scalars(select(Chunk.text).where(Chunk.document_id == document_id)
                                         .order_by(Chunk.ordinal)))


def test_learn_backfills_the_channels_threads_and_list_shows_the_progress(bot: SlackHarness, sessions,
                                                                          embedder) -> None:
    threads = seed_deploys(bot.fake)
    bot.command("learn <#C1|deploys>", user=ADMIN, channel="C9")
    said = last_response(bot)
    assert said.startswith("Learning from <#C1>: threads since ") and "serves everyone in the workspace" in said
    assert not thread_documents(sessions), "the command only configures; the background task does the work"

    report = learner(bot.fake, sessions, embedder).run_pending()

    assert (report.indexed, report.errors) == (3, {})
    documents = thread_documents(sessions)
    assert {d.title for d in documents} == {
        "#deploys · Dana: How did we fix the staging deploy last time? It hung on the database migrations.",
        "#deploys · Erik Lund: Where are the TLS certificates for the public load balancer renewed?",
        "#deploys · Dana: Reminder: the release freeze starts on Friday at noon, no production deploys until Monday "
        "morning."}
    assert {d.scope for d in documents} == {"workspace"}
    staging = next(d for d in documents if "staging" in d.title)
    assert staging.uri == f"https://fake.slack.com/archives/C1/p{threads['staging'].ts.replace('.', '')}"
    text = document_text(sessions, staging.id)
    assert "Erik Lund: Run\n\n```\nmake unlock-migrations\n```" in text and "Thanks @Erik Lund" in text
    assert not any("joined" in document_text(sessions, d.id) or "Deploy #4312" in document_text(sessions, d.id)
                   for d in documents), "joins and bot messages are not knowledge"
    assert len(bot.fake.calls_to("conversations.replies")) == 2, "a root without replies needs no replies call"
    users_info = Counter(c.body["user"] for c in bot.fake.calls_to("users.info"))
    assert users_info[DANA] == 1 and users_info[ERIK] == 1, "names are looked up once"

    bot.command("learn list", user=ADMIN)
    listing = last_response(bot)
    assert "<#C1> (public) — in sync · 6 messages in 3 threads since " in listing and "synced just now" in listing
    with sessions() as session:
        summary = learning_summary(session, scopes=[WORKSPACE_SCOPE])
    home = knowledge_text(HomeData(scopes=[], latest_titles=[], questions=[], learning=summary))
    assert "Learning from *1 channel*: 6 messages in 3 threads, last synced " in home
    # … and a teammate opening the Home tab (a signed event) sees that line, not only the renderer's test.
    bot.event({"type": "app_home_opened", "user": "UTEAMMATE", "channel": "D0HOME", "tab": "home",
               "event_ts": "1700000000.000100"})
    assert "Learning from *1 channel*: 6 messages in 3 threads" in json.dumps(bot.fake.home_views["UTEAMMATE"])


def test_a_crashed_backfill_resumes_from_its_last_thread_without_duplicates(bot: SlackHarness, sessions,
                                                                             embedder: Embedder) -> None:
    bot.fake.set_channel("C1", name="deploys")
    bot.fake.admins.add(ADMIN)
    seeded = [seed_thread(bot.fake, "C1", (DANA, f"Question {n}: how do we rotate the signing key of service {n}?"),
                          (ERIK, f"For service {n}, run rotate-key --service s{n} and restart its pods."),
                          minutes_ago=500 - n) for n in range(24)]
    bot.command("learn <#C1|deploys>", user=ADMIN)

    class DyingEmbedder:
        """The process is killed (kill -9 cannot be caught; an uncatchable BaseException is the same here)."""

        def __init__(self, after: int) -> None:
            self.left = after

        def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
            if self.left == 0:
                raise KeyboardInterrupt("killed")
            self.left -= 1
            return embedder.embed_documents(texts)

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_query(text)

    with pytest.raises(KeyboardInterrupt):
        learner(bot.fake, sessions, DyingEmbedder(after=9), page_size=5).run_pending()
    with sessions() as session:
        channel = session.get(LearnedChannel, "C1")
        assert channel is not None and not channel.backfill_done and channel.resume_ts == seeded[-9].ts
    calls_before = len(bot.fake.calls_to("conversations.history"))

    restarted = learner(bot.fake, sessions, embedder, page_size=5, step_threads=10)
    for _ in range(10):
        restarted.run_pending()
        with sessions() as session:
            channel = session.get(LearnedChannel, "C1")
            if channel is not None and channel.backfill_done:
                break

    resumed = bot.fake.calls_to("conversations.history")[calls_before]
    assert resumed.body["latest"] == seeded[-9].ts, "the restart continues below the last finished thread"
    assert any("cursor" in c.body for c in bot.fake.calls_to("conversations.history")), "pages follow cursors"
    documents = thread_documents(sessions)
    assert len(documents) == 24 and len({d.uri for d in documents}) == 24, "every thread once: none skipped or doubled"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(LearnedThread)
                              .where(LearnedThread.document_id.is_not(None))) == 24


def test_a_paced_backfill_stays_under_the_rate_tiers(bot: SlackHarness, sessions, embedder) -> None:
    bot.fake.set_channel("C1", name="deploys")
    bot.fake.admins.add(ADMIN)
    for n in range(16):
        seed_thread(bot.fake, "C1", (DANA, f"How is queue {n} drained when the consumer group lags behind?"),
                    (ERIK, f"Scale consumer group {n} to six replicas and watch the lag dashboard."),
                    minutes_ago=100 - n)
    bot.command("learn <#C1|deploys>", user=ADMIN)
    # Slack's tiers, on a one-second "minute": Tier 3 is 50 calls, Tier 4 100
    tiers = bot.fake.rate_limit({"conversations.history": 50, "conversations.replies": 50, "conversations.info": 50,
                                 "users.info": 100, "chat.getPermalink": 200}, window_s=1.0)
    report = learner(bot.fake, sessions, embedder, rate_scale=60 * 0.9).run_pending()  # 90% of the scaled tiers
    assert report.errors == {} and report.indexed == 16
    assert sum(tiers.refused.values()) == 0, f"no 429 at all: {dict(tiers.refused)}"


def test_an_unpaced_backfill_waits_out_every_429(bot: SlackHarness, sessions, embedder) -> None:
    bot.fake.set_channel("C1", name="deploys")
    bot.fake.admins.add(ADMIN)
    for n in range(8):
        seed_thread(bot.fake, "C1", (DANA, f"Which dashboard shows the error budget of checkout region {n}?"),
                    (ERIK, f"The SLO board, tab region-{n}, shows the remaining error budget."), minutes_ago=50 - n)
    bot.command("learn <#C1|deploys>", user=ADMIN)
    for method, times in (("conversations.history", 1), ("conversations.replies", 2), ("chat.getPermalink", 1)):
        bot.fake.fail_next(method, status=429, retry_after=0, times=times)
    report = learner(bot.fake, sessions, embedder, rate_scale=1e6).run_pending()
    refused = [str(c.method) for c in bot.fake.calls if c.status == 429]
    assert sorted(refused) == ["chat.getPermalink", "conversations.history", "conversations.replies",
                               "conversations.replies"]
    assert report.errors == {} and report.indexed == 8, "every 429 was waited out (Retry-After) and retried"


def test_the_bot_must_be_a_member_and_only_admins_or_allowed_members_choose(bot: SlackHarness, sessions,
                                                                           embedder) -> None:
    seed_deploys(bot.fake)
    bot.fake.set_channel("C5", name="random", is_member=False)
    bot.command("learn <#C5|random>", user=ADMIN)
    assert last_response(bot) == ("I'm not a member of <#C5>, so I can't read it. Invite me there (`/invite @kb` in "
                                  "<#C5>), then run this again.")
    bot.command("learn <#G404|hidden>", user=ADMIN)
    assert last_response(bot).startswith("I can't see <#G404>: if it is a private channel, invite me there first")
    bot.command("learn deploys", user=ADMIN)
    assert "is not a channel: pick it with #" in last_response(bot)
    bot.command("learn <#C1|deploys> since forever", user=ADMIN)
    assert "“since forever” is not a period" in last_response(bot)

    bot.command("learn <#C1|deploys>", user=DANA, channel="C1")
    assert last_response(bot).startswith("Only admins can choose the channels I learn from. An admin can let")
    bot.command("learn members on", user=DANA)
    assert last_response(bot) == "Only admins can decide who may start learning a channel."
    bot.command("learn members on", user=ADMIN)
    bot.command("learn <#C1|deploys>", user=DANA, channel="C9")
    assert last_response(bot).startswith("Only admins can choose"), "a member must run it inside the channel"
    bot.command("learn <#C1|deploys> from <@UERIK|erik> since 30d", user=DANA, channel="C1")
    assert "replies by <@UERIK> only" in last_response(bot)
    with sessions() as session:
        channel = session.get(LearnedChannel, "C1")
        assert channel is not None and channel.trusted_users == [ERIK] and channel.added_by == DANA

    learner(bot.fake, sessions, embedder).run_pending()
    staging = next(d for d in thread_documents(sessions) if "staging" in d.title)
    assert "Thanks @Erik Lund" not in document_text(sessions, staging.id), "only the trusted person's replies"

    bot.fake.not_member.add("C1")  # someone removed the bot without the event reaching it
    bot.fake.messages["C1"].clear()
    learner(bot.fake, sessions, embedder).resync_all()
    bot.command("learn list", user=ADMIN)
    assert "⚠️ I'm not a member of this channel" in last_response(bot)
    with sessions.begin() as session:
        mark_dirty(session, "C1", "1700000000.000001")
    before = len(bot.fake.calls_to("conversations.info"))
    learner(bot.fake, sessions, embedder).run_pending()
    assert len(bot.fake.calls_to("conversations.info")) == before, "a failing channel is left alone for a while"


def test_private_channel_threads_answer_only_there(make_bot: MakeBot, sessions, embedder) -> None:
    bot = make_bot(generator=ScriptedGenerator("Rotate the vault root token with vault-rotate --root [1]."))
    bot.fake.set_channel("G7", is_private=True, name="secops")
    bot.fake.admins.add(ADMIN)
    bot.fake.add_user(DANA, display_name="Dana")
    secret = seed_thread(bot.fake, "G7", (DANA, "How do we rotate the vault root token after an incident?"),
                         (ADMIN, "Run vault-rotate --root from the break-glass laptop, then reseal."))
    bot.command("learn <#G7|secops>", user=ADMIN, channel="C9")
    assert "questions asked in <#G7> only (it is private)" in last_response(bot)
    learner(bot.fake, sessions, embedder).run_pending()
    [document] = thread_documents(sessions)
    assert document.scope == "G7"

    question = "How do we rotate the vault root token?"
    assert search_passages(sessions, embedder, question, channel="G7")[0].document_id == document.id
    assert all(p.document_id != document.id for p in search_passages(sessions, embedder, question, channel="C1"))
    asked = bot.ask(question, channel="C1")
    shown = str(bot.fake.bot_replies("C1", asked)[-1])
    assert "vault-rotate" not in shown and secret.ts.replace(".", "") not in shown

    inside = bot.ask(question, channel="G7")
    cited = "\n".join(b["text"]["text"] for b in bot.final_answer("G7", inside)["blocks"] if b["type"] == "section")
    assert document.uri in cited and "vault-rotate --root" in cited, "inside the private channel it answers"
    scopes = {row.channel: row.scope for row in bot.rows(Answer)}
    assert scopes == {"C1": "workspace", "G7": "G7"}, "the private answer stays out of workspace training"

    bot.command("learn list", user=DANA, channel="C1")
    assert "G7" not in last_response(bot), "a private channel is not listed to outsiders"


def test_an_answer_cites_the_thread_and_quotes_the_key_message(make_bot: MakeBot, sessions, embedder) -> None:
    bot = make_bot(generator=ScriptedGenerator("Run make unlock-migrations on the bastion, then redeploy [1]."))
    threads = seed_deploys(bot.fake)
    bot.command("learn <#C1|deploys>", user=ADMIN)
    learner(bot.fake, sessions, embedder).run_pending()

    asked = bot.ask("How do we fix a staging deploy stuck on database migrations?", channel="C2")
    answer = bot.final_answer("C2", asked)
    sections = "\n".join(b["text"]["text"] for b in answer["blocks"] if b["type"] == "section")
    permalink = f"https://fake.slack.com/archives/C1/p{threads['staging'].ts.replace('.', '')}"
    assert f"<{permalink}|#deploys · Dana: How did we fix the staging deploy last time?" in sections
    assert "make unlock-migrations" in sections.split("*Sources*")[0], "the key message is quoted as evidence"
    assert "Erik Lund" in sections.split("*Sources*")[0], "the quote says who said it"


def test_forget_me_retires_a_persons_messages_and_stop_retires_the_channel(bot: SlackHarness, sessions,
                                                                          embedder) -> None:
    seed_deploys(bot.fake)
    bot.command("learn <#C1|deploys>", user=ADMIN)
    sync = learner(bot.fake, sessions, embedder)
    sync.run_pending()

    bot.command("forget-me", user=ERIK)
    assert last_response(bot).startswith("Done: 2 learned threads holding your messages are no longer used")
    assert all("Erik" not in d.title for d in thread_documents(sessions))
    sync.run_pending()
    texts = [document_text(sessions, d.id) for d in thread_documents(sessions)]
    assert texts and not any("Erik Lund:" in t for t in texts), "rebuilt without anything Erik wrote"
    assert any("How did we fix the staging deploy" in t for t in texts)

    bot.command("learn stop <#C1|deploys>", user=ADMIN)
    assert last_response(bot).startswith("Stopped learning from <#C1>; the ")
    assert thread_documents(sessions) == []
    bot.command("learn list", user=ADMIN)
    assert "<#C1> (public) — stopped" in last_response(bot)
    assert learned_thread(sessions, "C1", "1") is None


def test_the_bot_process_background_task_runs_the_backfill(fake_slack: FakeSlack, sessions, embedder) -> None:
    seed_deploys(fake_slack)
    running = start_slack_bot(
        settings=SlackSettings(slack_bot_token=BOT_TOKEN, slack_api_url=fake_slack.api_url,
                               slack_signing_secret="s", kb_report_interval_s=3600.0),
        knowledge=KnowledgeSettings(), sessions=sessions, embedder=embedder,
        answerer=Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator(),
                          config=AnsweringConfig(timeout_s=30.0)),
        learn=LearnSettings(poll_s=3600.0, rate_scale=1000.0))
    try:
        [task] = [t for t in running.tasks if t.name == "kb-channel-learning"]
        with sessions.begin() as session:
            configure_channel(session, channel="C1", name="deploys", kind="public", scope="workspace",
                              trusted_users=(), trusted_groups=(), oldest_ts="0", added_by=ADMIN)
        task.run_once()
    finally:
        running.close()
    assert len(thread_documents(sessions)) == 3
