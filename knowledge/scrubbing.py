"""Remove secrets and personal data from text before it enters a dataset (pure).

Every detector reports spans of the *original* text; where spans overlap, the more specific kind
wins (the order of `PLACEHOLDERS`), then the longer span. Each kept span is replaced whole by its
typed placeholder (`<PHONE>`, `<CARD>`, `<SECRET>`, …), so no fragment of a value survives and the
model learns the shape "a token goes here" rather than any real value. (Rules applied one after the
other used to turn `card 4111 1111 1111 1111` into `card <PHONE> 1111`.)

Who finds what, and why them:
* vendor credentials (AWS key ids, GitHub, GitLab, Stripe, Twilio, SendGrid, npm, PyPI, Discord,
  Telegram, Azure storage, passwords in `scheme://user:pass@host`): the regex plugins of
  detect-secrets (Yelp), a widely used, reviewed list of token formats we would otherwise copy and
  let go stale; its JWT validator (base64 JSON header and payload) too. Formats it lacks are ours:
  Slack `xapp-`/`xoxe.` tokens, `github_pat_`, Google `AIza`, OpenAI project and Anthropic keys,
  whole private-key blocks, AWS secret access keys outside quotes.
* phone numbers (libphonenumber's numbering plans), cards (Luhn), IBANs (mod 97) and US SSNs
  (area, group, serial): `knowledge.personal_numbers`, so look-alike digit runs (versions, Slack
  timestamps, dates, ports, line numbers, ids) stay.
* emails, Slack user mentions, bearer tokens and secrets assigned to key-like names: our patterns.

Kept on purpose: IP addresses and ports (infrastructure, needed to answer, not personal), URLs
without credentials, code, numbers in prose. The same scrubber runs on prompts, completions,
teammates' corrections and 👎 reasons.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from detect_secrets.plugins import (
    aws,
    azure_storage_key,
    basic_auth,
    discord,
    github_token,
    gitlab_token,
    mailchimp,
    npm,
    openai,
    pypi_token,
    sendgrid,
    square_oauth,
    stripe,
    telegram_token,
    twilio,
)
from detect_secrets.plugins.jwt import JwtTokenDetector

from knowledge import personal_numbers

SCRUBBER_VERSION = "2"
"""Bumped whenever the rules change; recorded in every dataset manifest."""

PLACEHOLDERS: dict[str, str] = {
    "private_key": "<PRIVATE_KEY>", "slack_webhook": "<SLACK_WEBHOOK>", "slack_token": "<SLACK_TOKEN>",
    "jwt": "<JWT>", "api_key": "<API_KEY>", "secret": "<SECRET>", "email": "<EMAIL>", "iban": "<IBAN>",
    "card": "<CARD>", "ssn": "<SSN>", "phone": "<PHONE>", "user_mention": "<@USER>",
}
"""Kind → placeholder, most specific first: on overlapping findings the earlier kind wins."""

@dataclass(frozen=True, slots=True)
class Finding:
    """A span `[start, end)` of the original text holding one secret or piece of personal data."""

    start: int
    end: int
    kind: str

    def overlaps(self, other: Finding) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Scrubbed:
    """Scrubbed text and how many findings of each kind were replaced."""

    text: str
    findings: dict[str, int] = field(default_factory=dict)


Detector = Callable[[str], Iterator[Finding]]


def _pattern(kind: str, regex: str, flags: int = 0, *, group: int = 0) -> Detector:
    """A detector reporting every match of `regex` (or its `group`) as `kind`."""
    compiled = re.compile(regex, flags)

    def detect(text: str) -> Iterator[Finding]:
        for match in compiled.finditer(text):
            if match.group(group):
                yield Finding(match.start(group), match.end(group), kind)
    return detect


def _spans(kind: str, finder: Callable[[str], Iterator[personal_numbers.Span]]) -> Detector:
    """A detector reporting every span `finder` yields as `kind`."""
    def detect(text: str) -> Iterator[Finding]:
        for start, end in finder(text):
            yield Finding(start, end, kind)
    return detect


_VENDOR_DETECTORS = (
    aws.AWSKeyDetector, azure_storage_key.AzureStorageKeyDetector, basic_auth.BasicAuthDetector,
    discord.DiscordBotTokenDetector, github_token.GitHubTokenDetector, gitlab_token.GitLabTokenDetector,
    mailchimp.MailchimpDetector, npm.NpmDetector, openai.OpenAIDetector, pypi_token.PypiTokenDetector,
    sendgrid.SendGridDetector, square_oauth.SquareOAuthDetector, stripe.StripeDetector,
    telegram_token.TelegramBotTokenDetector, twilio.TwilioKeyDetector,
)
_VENDOR_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    pattern for detector in _VENDOR_DETECTORS for pattern in detector.denylist)
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_-]*")


def _vendor_credentials(text: str) -> Iterator[Finding]:
    """detect-secrets' vendor formats; a match stretches to the end of its token so no tail is left."""
    for pattern in _VENDOR_PATTERNS:
        for match in pattern.finditer(text):
            # A plugin captures either the value after its key name (`aws…key = '…'`, `://user:pass@`),
            # which is what to replace, or an alternation of prefixes (`(ghp|gho)_…`), which is not.
            groups = [i for i in range(1, (match.lastindex or 0) + 1)
                      if match.group(i) and match.start(i) > match.start()]
            start, end = match.span(groups[0]) if groups else match.span()
            tail = _TOKEN_TAIL.match(text, end)
            yield Finding(start, tail.end() if tail else end, "secret" if groups else "api_key")


_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def _jwts(text: str) -> Iterator[Finding]:
    """Three dot-separated base64url parts whose header and payload decode to JSON (detect-secrets' check)."""
    for match in _JWT.finditer(text):
        if JwtTokenDetector.is_formally_valid(match.group()):
            yield Finding(match.start(), match.end(), "jwt")


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    return -sum(n / len(value) * math.log2(n / len(value)) for n in Counter(value).values())


_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def _aws_secret_keys(text: str) -> Iterator[Finding]:
    """40 base64 characters mixing cases and digits at high entropy: git SHAs (hex) and paths fail."""
    for match in _AWS_SECRET.finditer(text):
        value = match.group()
        if (re.search(r"[a-z]", value) and re.search(r"[A-Z]", value) and re.search(r"\d", value)
                and _entropy(value) > 4.3):
            yield Finding(match.start(), match.end(), "secret")


_KEY_NAME = (r"(?<![\w-])[\w.-]*?(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
             r"|private[_-]?key|secret[_-]?key|signing[_-]?key|client[_-]?secret|credentials?)")
_ASSIGNED = re.compile(_KEY_NAME + r"[\"'\]]?\s*(?:=>|:=|=|:)[ \t]*(?:([\"'`])([^\"'`\n]{6,}?)\1"
                       r"|([^\s\"'`<>,;()\[\]{}]{6,})(?![(\[]))", re.I)
_TEMPLATE = re.compile(r"^[$!%]|\$\{|\{\{|%\(|<|os\.environ|getenv|^(.)\1+$|^[A-Z][A-Z0-9_]*$")
_PLAIN = re.compile(r"[A-Za-z_.*]+|[\d.]+")


def _assigned_secrets(text: str) -> Iterator[Finding]:
    """Values assigned to key-like names (`password: hunter2x`, `API_KEY="…"`), not references to them.

    Quoted literals count unless they are templates or variable names; an unquoted value must be
    more than a dotted name, a glob or a number, so `token: expired`, `secret_key = settings.SECRET_KEY`,
    `api_key: KB_OPENAI_*` and `pwd = Path.cwd()` stay.
    """
    for match in _ASSIGNED.finditer(text):
        group = 2 if match.group(2) else 3
        value = match.group(group)
        if _TEMPLATE.search(value):
            continue
        if group == 3 and _PLAIN.fullmatch(value):
            continue
        yield Finding(match.start(group), match.end(group), "secret")


_DETECTORS: tuple[Detector, ...] = (
    _pattern("private_key", r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----.*?"
                            r"(?:-----END[A-Z ]*PRIVATE KEY(?: BLOCK)?-----|(?=```)|\Z)", re.S),
    _pattern("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/-]+"),
    _pattern("slack_token", r"\b(?:xoxe\.)?xox[abposre]-[A-Za-z0-9-]{10,}|\bxapp-\d-[A-Za-z0-9-]{10,}"),
    _jwts,
    _vendor_credentials,
    _pattern("api_key", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{22,}|sk-(?:proj-|ant-)?[\w-]{20,}"
                        r"|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|AIza[\w-]{35})"),
    _pattern("secret", r"(?i)\b(?:bearer|authorization:\s*(?:basic|token))\s+([\w.~+/=-]{16,})", group=1),
    _assigned_secrets,
    _pattern("secret", r"\bmysql\w*\b[^\n]*?\s-p(['\"]?)([^\s'\"]{4,})\1", group=2),
    _aws_secret_keys,
    _pattern("email", r"\b(?!git@)[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    _spans("iban", personal_numbers.ibans),
    _spans("card", personal_numbers.cards),
    _spans("ssn", personal_numbers.ssns),
    _spans("phone", personal_numbers.phones),
    _pattern("user_mention", r"<@(?!USER>)[UW][A-Z0-9]{2,}(?:\|[^>]*)?>"),
)
_RANK = {kind: rank for rank, kind in enumerate(PLACEHOLDERS)}


def find(text: str) -> list[Finding]:
    """Every secret and piece of personal data in `text`, without overlaps, in reading order."""
    candidates = sorted((f for detect in _DETECTORS for f in detect(text)),
                        key=lambda f: (_RANK[f.kind], f.start - f.end, f.start))
    kept: list[Finding] = []
    for finding in candidates:
        if not any(finding.overlaps(other) for other in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def scrub(text: str) -> Scrubbed:
    """Replace every secret and piece of personal data found in `text` by its typed placeholder."""
    findings = find(text)
    parts: list[str] = []
    position = 0
    for finding in findings:
        parts += [text[position:finding.start], PLACEHOLDERS[finding.kind]]
        position = finding.end
    parts.append(text[position:])
    return Scrubbed("".join(parts), dict(Counter(f.kind for f in findings)))
