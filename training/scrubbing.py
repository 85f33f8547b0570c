"""Remove secrets and personal data from text before it enters a dataset (pure).

Slack-specific tokens and mentions first, then common API keys, then emails and phone numbers.
Each finding becomes a typed placeholder (`<SLACK_TOKEN>`, `<EMAIL>`, …) so the text stays
readable and the model learns the shape "a token goes here" rather than any real value. The same
scrubber runs on prompts, completions and teammates' corrections.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

SCRUBBER_VERSION = "1"
"""Bumped whenever the rules change; recorded in every dataset manifest."""

# Order matters: specific patterns run before generic ones that would otherwise eat their text.
_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("private_key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
     "<PRIVATE_KEY>"),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/-]+"),
     "<SLACK_WEBHOOK>"),
    ("slack_token", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}"), "<SLACK_TOKEN>"),
    ("slack_token", re.compile(r"\bxapp-\d-[A-Za-z0-9-]{10,}"), "<SLACK_TOKEN>"),
    ("user_mention", re.compile(r"<@[UW][A-Z0-9]{2,}(?:\|[^>]*)?>"), "<@USER>"),
    ("api_key", re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "<API_KEY>"),
    ("api_key", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"), "<API_KEY>"),
    ("api_key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"), "<API_KEY>"),
    ("api_key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"), "<API_KEY>"),
    ("api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "<API_KEY>"),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "<JWT>"),
    ("bearer", re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{16,}"), r"\1<TOKEN>"),
    ("assigned_secret",
     re.compile(r"(?i)\b((?:api[_-]?key|secret|token|password|passwd)\s*[:=]\s*)(['\"]?)[^\s'\"<>]{6,}\2"),
     r"\1<SECRET>"),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "<EMAIL>"),
    # Needs separators between digit groups, so dates (2026-11-23), versions and ports stay.
    ("phone", re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])"
                         r"\d{3,4}[ .-]\d{3,4}(?![\w-])"), "<PHONE>"),
)


@dataclass(frozen=True, slots=True)
class Scrubbed:
    """Scrubbed text and how many findings of each kind were replaced."""

    text: str
    findings: dict[str, int] = field(default_factory=dict)


def scrub(text: str) -> Scrubbed:
    """Replace every secret and piece of personal data the rules recognise in `text`."""
    findings: Counter[str] = Counter()
    for kind, pattern, replacement in _RULES:
        text, count = pattern.subn(replacement, text)
        if count:
            findings[kind] += count
    return Scrubbed(text, dict(findings))
