"""Secrets and personal data never reach a dataset; ordinary technical text passes untouched."""

from __future__ import annotations

import datetime
import inspect
import ipaddress
from types import ModuleType

import pytest

from knowledge.scrubbing import Scrubbed, find, scrub

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(("text", "expected", "kind"), [
    # phones: E.164, national, with a phone word when the digits carry no punctuation
    ("call +14155550134 now", "call <PHONE> now", "phone"),
    ("my cell is 4155550134", "my cell is <PHONE>", "phone"),
    ("Dana, UK mobile +44 7946 095800", "Dana, UK mobile <PHONE>", "phone"),
    ("call +1 415-555-0132", "call <PHONE>", "phone"),
    ("call (415) 555 0132", "call <PHONE>", "phone"),
    ("call 020 7946 0958", "call <PHONE>", "phone"),
    ("Paris: +33 1 42 68 53 00 (ask for Luc)", "Paris: <PHONE> (ask for Luc)", "phone"),
    # cards: Luhn-valid, replaced whole
    ("card 4111 1111 1111 1111 exp 12/27", "card <CARD> exp 12/27", "card"),
    ("Amex 3782 822463 10005 failed", "Amex <CARD> failed", "card"),
    ("card=6011000990139424&amount=1999", "card=<CARD>&amount=1999", "card"),
    # IBANs: mod-97 valid, spaced or not, stopping where the IBAN stops
    ("wire it to GB82 WEST 1234 5698 7654 32 by Friday", "wire it to <IBAN> by Friday", "iban"),
    ("vendor IBAN: DE89 3704 0044 0532 0130 00 EUR", "vendor IBAN: <IBAN> EUR", "iban"),
    ("payout NL91ABNA0417164300.", "payout <IBAN>.", "iban"),
    # SSNs
    ("employee SSN 536-22-4819 got pasted", "employee SSN <SSN> got pasted", "ssn"),
    ("SSN: 536224819 (remove this)", "SSN: <SSN> (remove this)", "ssn"),
    ("W-2 shows 219 45 6032", "W-2 shows <SSN>", "ssn"),
    # emails and mentions
    ("mail dana.smith+kb@example.co.uk today", "mail <EMAIL> today", "email"),
    ("ask <@U012AB3CD> about it", "ask <@USER> about it", "user_mention"),
    ("ask <@W0123ABCD|dana> about it", "ask <@USER> about it", "user_mention"),
    # Slack
    ("bot token xoxb-1234567890-0987654321-AbCdEfGhIjKl ok", "bot token <SLACK_TOKEN> ok", "slack_token"),
    ("user token xoxp-11111111111-22222222222", "user token <SLACK_TOKEN>", "slack_token"),
    ("app token xapp-1-A0123456-789-abcdef0123456789", "app token <SLACK_TOKEN>", "slack_token"),
    ("refresh xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTA", "refresh <SLACK_TOKEN>", "slack_token"),
    ("post to https://hooks.slack.com/services/T000/B000/XXXXXXXX now", "post to <SLACK_WEBHOOK> now",
     "slack_webhook"),
    # AWS
    ("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY_ID=<API_KEY>", "api_key"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SECRET_ACCESS_KEY=<SECRET>", "secret"),
    ("creds ASIAY34FZKBOKMUTVV7A and Xq7vZ2pL9mK4nR8sT1wY3uB6cD0eF5gH7jA2kM9n",
     "creds <API_KEY> and <SECRET>", "secret"),
    # vendor keys (detect-secrets' formats and ours)
    ("gh ghp_" + "a1B2" * 9 + " x", "gh <API_KEY> x", "api_key"),
    ("stripe sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc" * 2, "stripe <API_KEY>", "api_key"),
    ("gitlab glpat-xR9vKq2LmN4pT7wZ1bYc done", "gitlab <API_KEY> done", "api_key"),
    ("openai sk-proj-" + "x" * 40, "openai <API_KEY>", "api_key"),
    ("google AIza" + "S" * 35, "google <API_KEY>", "api_key"),
    ("jwt " + JWT, "jwt <JWT>", "jwt"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "<PRIVATE_KEY>", "private_key"),
    ("```\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n```", "```\n<PRIVATE_KEY>```", "private_key"),
    # secrets assigned to key-like names: only the value goes, the code around it stays
    ("Authorization: Bearer abcdefghijklmnop0123456789", "Authorization: Bearer <SECRET>", "secret"),
    ("password: hunter2hunter2", "password: <SECRET>", "secret"),
    ('api_key="abc123def456"', 'api_key="<SECRET>"', "secret"),
    ('SECRET_KEY = "django-insecure-8k2#x!p9q@w3e"', 'SECRET_KEY = "<SECRET>"', "secret"),
    ("db postgres://admin:s3cr3tP4ss@db.internal:5432/app", "db postgres://admin:<SECRET>@db.internal:5432/app",
     "secret"),
    ("mysql -u root -p'Tr0ub4dor&3' prod", "mysql -u root -p'<SECRET>' prod", "secret"),
])
def test_secret_is_replaced_whole_by_its_placeholder(text: str, expected: str, kind: str) -> None:
    result = scrub(text)
    assert result.text == expected
    assert result.findings.get(kind, 0) >= 1


@pytest.mark.parametrize("text", [
    "upgrade to Python 3.11.4; we pinned torch==2.13.0",
    "the message ts is 1700000000.123456, thread_ts=1712345678.001200",
    "https://team.slack.com/archives/C0123ABC/p1712345678001200",
    "released on 2026-11-23 as version 1.2.3, logged at 2024-01-15T10:30:00Z",
    "fixed in 9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d, see a1b2c3d",
    "request id 123e4567-e89b-12d3-a456-426614174000 failed",
    "error in bot/answering.py line 4155",
    "postgres listens on port 5432; set work_mem = 64MB",
    "ssh to 10.0.12.34 or 192.168.1.100:8443",
    "order #100234567 shipped; INC0012345; invoice INV-2024-000871 for $1,234,567.89",
    "```python\nfor i in range(10):\n    total += i * 3.14159\nprint(total, 2 ** 16, 65536)\n```",
    "int32 max is 2147483647 and SELECT * FROM answers WHERE id = 4155550134",
    "colours: #4155AA for links, #1a2b3c for the header",
    "Luhn-invalid 4111 1111 1111 1112 and 1234 5678 9012 3456",
    "invalid IBAN GB82 WEST 1234 5698 7654 33",
    "not SSNs: 000-12-3456, 666-45-1234, 912-34-5678, 536-00-4819",
    "call 555-0134 from the lobby; processed 4155550 rows",
    "logged at 2024-01-15 10:30:00 by cron; Decimal('+35236450.6')",
    "password = os.environ[\"DB_PASSWORD\"]; secret_key = settings.SECRET_KEY; pwd = Path.cwd()",
    "max_tokens = 4096; token_limit: 2048; password: ${DB_PASSWORD}; Token: expired yesterday",
    "openai_api_key: KB_OPENAI_*, for the openai backend",
    'tokenizer = AutoTokenizer.from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")',
    "git clone git@github.com:org/repo.git and npm install lodash@4.17.21",
    "docs at https://docs.python.org/3/library/re.html#re.sub and <#C0123ABC|general>",
    "docker image sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b4b0b822cd15d6c15b0f00a08",
    "use xoxb tokens from the app settings page",
])
def test_look_alikes_and_ordinary_text_are_unchanged(text: str) -> None:
    result = scrub(text)
    assert result.text == text
    assert result.findings == {}


@pytest.mark.parametrize("module", [datetime, ipaddress])
def test_real_python_full_of_numbers_dates_and_addresses_passes_unchanged(module: ModuleType) -> None:
    source = inspect.getsource(module)
    assert find(source) == []


def test_overlapping_findings_keep_the_more_specific_kind_and_leave_no_fragment() -> None:
    text = 'SLACK_TOKEN="xoxb-1234567890-0987654321-AbCdEfGhIjKl" card 4111 1111 1111 1111'
    assert [(f.kind, text[f.start:f.end]) for f in find(text)] == [
        ("slack_token", "xoxb-1234567890-0987654321-AbCdEfGhIjKl"), ("card", "4111 1111 1111 1111")]
    assert scrub(text).text == 'SLACK_TOKEN="<SLACK_TOKEN>" card <CARD>'


def test_scrubbing_scrubbed_text_finds_nothing_more() -> None:
    once = scrub("ask <@U012AB3CD> or call +14155550134, password: hunter2hunter2, card 4111111111111111")
    assert once.text == "ask <@USER> or call <PHONE>, password: <SECRET>, card <CARD>"
    assert scrub(once.text) == Scrubbed(once.text, {})


def test_every_finding_is_counted() -> None:
    result = scrub("a@b.io and c@d.io, <@U0AAAA1> and <@U0BBBB2>, call +14155550134")
    assert result.findings == {"email": 2, "user_mention": 2, "phone": 1}
