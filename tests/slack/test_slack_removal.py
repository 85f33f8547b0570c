"""`/kb remove`: scope-checked removal from Slack; a removed document stops being retrieved at once."""

from __future__ import annotations

from knowledge.search import search_passages
from store.schema import Chunk, Document
from tests.slack.conftest import MakeBot
from tests.slack.harness import BACKUP_DOC, DEPLOY_DOC, add_document

ADMIN = "UADMIN"


def test_removal_is_refused_outside_the_channels_scope_and_takes_effect_at_once(make_bot: MakeBot, sessions,
                                                                               embedder) -> None:
    bot = make_bot(admin_user_ids=[ADMIN])
    bot.fake.set_channel("G1", is_private=True)
    workspace = add_document(sessions, embedder, *DEPLOY_DOC).document_id
    private = add_document(sessions, embedder, *BACKUP_DOC, scope="G1").document_id

    bot.command(f"remove {private}", channel="C1", user="UOTHER")
    assert "belongs to another conversation" in bot.fake.responses()[-1]["text"]
    assert "Database backups" not in bot.fake.responses()[-1]["text"], "a private document is never named"
    bot.command(f"remove {workspace}", channel="G1", user="UOTHER")
    assert "serves the whole workspace" in bot.fake.responses()[-1]["text"]
    assert {d.id for d in bot.rows(Document)} == {workspace, private}

    bot.command("remove <https://wiki.example.com/deploying-the-billing-service>", channel="C1", user="UOTHER")
    assert "Removed *Deploying the billing service*" in bot.fake.responses()[-1]["text"]
    assert not search_passages(sessions, embedder, "How do I deploy the billing service?", channel="C1"), \
        "the removed document is no longer retrieved"
    bot.command(f"remove {private}", channel="C1", user=ADMIN)
    assert "Removed *Database backups*" in bot.fake.responses()[-1]["text"], "admins remove from anywhere"
    assert bot.rows(Document) == [] and bot.rows(Chunk) == []
