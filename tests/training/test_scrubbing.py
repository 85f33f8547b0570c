"""Secrets and personal data never reach a dataset; ordinary technical text passes untouched."""

from __future__ import annotations

import pytest

from training.scrubbing import scrub


@pytest.mark.parametrize(("text", "expected", "kind"), [
    ("bot token xoxb-1234567890-0987654321-AbCdEfGhIjKl ok", "bot token <SLACK_TOKEN> ok", "slack_token"),
    ("user token xoxp-11111111111-22222222222", "user token <SLACK_TOKEN>", "slack_token"),
    ("app token xapp-1-A0123456-789-abcdef0123456789", "app token <SLACK_TOKEN>", "slack_token"),
    ("post to https://hooks.slack.com/services/T000/B000/XXXXXXXX now", "post to <SLACK_WEBHOOK> now",
     "slack_webhook"),
    ("ask <@U012AB3CD> about it", "ask <@USER> about it", "user_mention"),
    ("ask <@W0123ABCD|dana> about it", "ask <@USER> about it", "user_mention"),
    ("mail dana.smith+kb@example.co.uk today", "mail <EMAIL> today", "email"),
    ("call +1 415-555-0132", "call <PHONE>", "phone"),
    ("call (415) 555 0132", "call <PHONE>", "phone"),
    ("call 020 7946 0958", "call <PHONE>", "phone"),
    ("key AKIAIOSFODNN7EXAMPLE here", "key <API_KEY> here", "api_key"),
    ("gh ghp_" + "a1B2" * 9 + " x", "gh <API_KEY> x", "api_key"),
    ("openai sk-proj-" + "x" * 40, "openai <API_KEY>", "api_key"),
    ("stripe sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "stripe <API_KEY>", "api_key"),
    ("google AIza" + "S" * 35, "google <API_KEY>", "api_key"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "jwt <JWT>", "jwt"),
    ("Authorization: Bearer abcdefghijklmnop0123456789", "Authorization: Bearer <TOKEN>", "bearer"),
    ("password: hunter2hunter2", "password: <SECRET>", "assigned_secret"),
    ('api_key="abc123def456"', "api_key=<SECRET>", "assigned_secret"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "<PRIVATE_KEY>", "private_key"),
])
def test_secret_is_replaced_by_its_placeholder(text: str, expected: str, kind: str) -> None:
    result = scrub(text)
    assert result.text == expected
    assert result.findings.get(kind, 0) >= 1


@pytest.mark.parametrize("text", [
    "released on 2026-11-23 as version 1.2.3",
    "postgres listens on port 5432; set work_mem = 64MB",
    "run `pip install -e .` then `make test`",
    "see <#C0123ABC|general> and issue #4521",
    "the token limit is 4096 and the id is 123456789",
    "use xoxb tokens from the app settings page",
])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert scrub(text).text == text
    assert scrub(text).findings == {}


def test_every_finding_is_counted() -> None:
    result = scrub("a@b.io and c@d.io, <@U0AAAA1> and <@U0BBBB2>")
    assert result.findings == {"email": 2, "user_mention": 2}
