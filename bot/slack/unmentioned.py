"""Questions nobody put to the bot, in channels where an admin asked it to answer them (pure test + one lookup).

With `/kb channel unmentioned on`, a message posted in the channel that does not mention the bot
is answered in a thread like a mention, when it looks like a question, and only when the bot has
an answer: an abstention (and any failure) stays silent, so a busy channel is not told "I don't
know" under every question (`bot.slack.answer_flow`, `Ask.unmentioned`). Replies in the bot's
threads there follow the same rule: a reply that is not a question is people talking. A message
mentioning the bot is a question as always, answered by the mention path, never twice.

The test is deliberately conservative: the message must end with "?", or its first sentence must
open like a question ("how do I", "what's", "is there", "does anyone", "anyone know"); it must be
3 to 60 words; and it must not name a person or group (`<@U…>`, `<!subteam^…>`), which addresses
it to them, not to the bot. A leading `@here`/`@channel` is ignored: it asks the whole channel.
"""

from __future__ import annotations

import re

from bot.slack.deps import SlackDeps
from bot.slack.slack_text import decode
from store.channel_settings import settings_for

MIN_WORDS = 3
MAX_WORDS = 60
_ADDRESSED = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>|<!subteam\^")
_BROADCAST = re.compile(r"^(?:@(?:here|channel|everyone)\b[\s,:]*)+")  # "@here does anyone know…" asks the channel
_FIRST_SENTENCE = re.compile(r"^(.*?)([.!?\n]|$)", re.DOTALL)
_TRAILING = re.compile(r"(?:\s|:[a-z0-9_+\-]+:|[)\]\"'”’])+$")  # emoji shortcodes and closing marks after a "?"
_WH = frozenset({"how", "what", "why", "where", "when", "which", "who", "whom", "whose"})
_WH_CONTRACTED = frozenset({"how's", "what's", "where's", "who's", "when's", "why's"})
_AFTER_WH = frozenset({"is", "are", "was", "were", "do", "does", "did", "can", "could", "should", "would", "will",
                       "has", "have", "to", "much", "many", "long", "often"})
_AUXILIARY = frozenset({"is", "are", "was", "were", "do", "does", "did", "can", "could", "should", "would", "will",
                        "has", "have"})
_AFTER_AUXILIARY = frozenset({"there", "anyone", "anybody", "someone", "somebody", "we", "i", "you"})
_SOMEONE = frozenset({"anyone", "anybody", "someone", "somebody"})
_AFTER_SOMEONE = frozenset({"know", "knows", "have", "has", "remember", "remembers", "tried"})


def _opens_like_question(sentence: str) -> bool:
    words = [w.strip(",;:").replace("’", "'") for w in sentence.lower().split()[:2]]
    if len(words) < 2:
        return False
    first, second = words
    return (first in _WH_CONTRACTED or (first in _WH and second in _AFTER_WH)
            or (first in _AUXILIARY and second in _AFTER_AUXILIARY) or (first in _SOMEONE and second in _AFTER_SOMEONE))


def is_channel_question(text: str) -> bool:
    """Whether a channel message nobody addressed to the bot reads as a question to answer (pure).

    `text` is the message as Slack sends it (entities and mentions still encoded).
    """
    if _ADDRESSED.search(text):
        return False
    plain = _BROADCAST.sub("", decode(text).strip())
    if not MIN_WORDS <= len(plain.split()) <= MAX_WORDS:
        return False
    if _TRAILING.sub("", plain).endswith("?"):
        return True
    first = _FIRST_SENTENCE.match(plain)
    assert first is not None  # the pattern matches every string
    sentence, end = first.groups()
    return end in ("?", "") and _opens_like_question(sentence)


def answers_unmentioned(deps: SlackDeps, channel: str) -> bool:
    """Whether an admin turned on answering un-mentioned questions in `channel` (one row read)."""
    with deps.sessions() as session:
        return settings_for(session, channel).answer_unmentioned
