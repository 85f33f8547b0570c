"""Find personal numbers that carry a check: phones, payment cards, IBANs, US SSNs (pure).

Digit runs are everywhere in technical chatter (versions, Slack timestamps, line numbers, ids), so
a run counts only when it passes the check its kind defines, using maintained implementations:
Google's libphonenumber (`phonenumbers`) for numbering plans, python-stdnum for Luhn, ISO 7064
mod 97 and SSN area/group/serial rules. Each finder yields `(start, end)` spans of its input;
`knowledge.scrubbing` decides what replaces them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers
from stdnum import iban, luhn
from stdnum.us import ssn

Span = tuple[int, int]

PHONE_REGIONS = ("US", "GB")
"""Regions whose national formats (`(415) 555-0134`, `020 7946 0958`) count as phones; E.164 always does."""

_CARD = re.compile(r"(?<![\w.+-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"
                   r"|\d{4}([ -])\d{6}\2\d{4,5})(?![\w-]|\.\d)")


def cards(text: str) -> Iterator[Span]:
    """13–19 digits, grouped as printed on cards, with a card issuer's first digit and a valid Luhn sum."""
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if digits[0] in "23456" and luhn.is_valid(digits):
            yield match.span()


_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def ibans(text: str) -> Iterator[Span]:
    """Country code, check digits and groups; trailing characters are dropped until the mod-97 check passes."""
    for match in _IBAN.finditer(text):
        candidate = match.group()
        while len(candidate) >= 15:
            if iban.is_valid(candidate):
                yield match.start(), match.start() + len(candidate)
                break
            candidate = candidate[:-1].rstrip()


_SSN = re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])"
                  r"|(?i:\b(?:ssn|social security(?: number| no\.?)?)\W{0,3})(\d{9})\b")


def ssns(text: str) -> Iterator[Span]:
    """`123-45-6789` shapes (bare nine digits only right after "SSN") with valid area, group and serial."""
    for match in _SSN.finditer(text):
        group = 2 if match.group(2) else 0
        if ssn.is_valid(re.sub(r"\D", "", match.group(group))):
            yield match.span(group)


# Not a run: inside a word, a path or a decimal, an ISO date (`2024-01-15 10:30`), or a time or
# port after it (`… 13:00`).
_PHONE_RUN = re.compile(r"(?<![\w.+/#-])(?!\d{4}-\d\d-\d\d)(?:\+|\(\+?)?\d(?:[ ().-]{0,2}\d){6,}(?![\w-]|[.:]\d)")
_PHONE_WORDS = re.compile(r"(?i)\b(?:call|phone|cell|mobile|tel|text|sms|whatsapp|signal|number|contact|reach"
                          r"|ring|dial|fax|landline|pager|on-?call)")
_NOT_PHONES = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|\+?\d+\.\d+")
"""IPv4 addresses and decimal numbers (`+35236450.6`), which would otherwise parse."""


def phones(text: str) -> Iterator[Span]:
    """Runs of 7 to 15 digits that are valid numbers in E.164 or a national format of `PHONE_REGIONS`.

    A run with no punctuation at all (`4155550134`) is as likely an id or a constant (`2147483647`),
    so it counts only near a phone word on its line ("call", "cell", "reach me"…). A longer run is a
    card, a timestamp or an id; two numbers written with only a space between them are read as one
    such run and missed. (libphonenumber's `PhoneNumberMatcher` on whole texts found the same
    numbers, but took ~80 ms per 10k characters of digit-heavy text, several times this.)
    """
    for match in _PHONE_RUN.finditer(text):
        run = match.group()
        if (sum(c.isdigit() for c in run) <= 15 and not _NOT_PHONES.fullmatch(run)
                and (not run.isdigit() or _near_phone_word(text, *match.span())) and _is_phone(run)):
            yield match.span()


def _near_phone_word(text: str, start: int, end: int) -> bool:
    """Whether a phone word sits within 40 characters of `text[start:end]` on the same line."""
    line_start, line_end = text.rfind("\n", 0, start) + 1, text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    return bool(_PHONE_WORDS.search(text[max(line_start, start - 40):min(line_end, end + 40)]))


def _is_phone(run: str) -> bool:
    """Valid in E.164, or in the national format of one of `PHONE_REGIONS`."""
    for region in PHONE_REGIONS:
        try:
            number = phonenumbers.parse(run, region)
        except phonenumbers.NumberParseException:
            continue
        if run.startswith("+"):
            return phonenumbers.is_valid_number(number)
        # Checking against the one region keeps this fast: `is_valid_number` tries every region
        # sharing the country code (25 for +1).
        if phonenumbers.is_valid_number_for_region(number, region):
            return True
    return False
