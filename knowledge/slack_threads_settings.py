"""The `/kb learn` section of the configuration tree (entry-side): read once by an entry point, never elsewhere.

The Slack bot (its background task continues backfills and rebuilds threads) and the training
worker (its periodic re-sync) read the same section, so both build a thread's document by the same
rules: a thread rebuilt by either is "unchanged" for the other. The machinery is `store.config`'s.
"""

from __future__ import annotations

from typing import ClassVar

from knowledge.slack_threads import DEFAULT_MIN_WORDS, DEFAULT_REACTION
from knowledge.slack_threads_client import Pacer
from knowledge.slack_threads_sync import SyncOptions
from store.config import Section, setting


class LearnSettings(Section):
    """Learning from Slack channels (`/kb learn`)."""

    heading: ClassVar[str] = "Learning from Slack channels (Slack processes and the training worker)"

    reaction: str = setting(DEFAULT_REACTION, "KB_LEARN_REACTION",
                            help="the reaction marking a thread's confirmed answer (✅ by default); such threads "
                                 "are recorded as confirmed")
    min_words: int = setting(DEFAULT_MIN_WORDS, "KB_LEARN_MIN_WORDS",
                             help="threads with fewer words in all are not indexed (a \"thanks!\", a lunch call)")
    debounce_s: float = setting(10.0, "KB_LEARN_DEBOUNCE_S",
                                help="a thread changed by events (reply, edit, reaction) is rebuilt once quiet this "
                                     "long")
    poll_s: float = setting(5.0, "KB_LEARN_POLL_S",
                            help="how often the bot continues backfills and rebuilds changed threads")
    step_threads: int = setting(200, "KB_LEARN_STEP_THREADS",
                                help="threads a backfill handles before other channels get a turn")
    rate_scale: float = setting(1.0, "KB_LEARN_RATE_SCALE",
                                help="multiplies the paced rate of every Slack method (1: Slack's tiers; below 1 "
                                     "leaves quota to other apps)")
    cron: str = setting("43 */6 * * *", "KB_LEARN_CRON",
                        help="when the training worker re-syncs every learned channel (catches what events missed)")
    slack_bot_token: str = setting("", "SLACK_BOT_TOKEN", help="the bot token; the worker's re-sync reads channels "
                                                               "with it (empty: no re-sync)", secret=True)
    slack_api_url: str = setting("", "SLACK_API_URL", help="another Web API base URL (a test fake); empty: Slack's")

    def sync_options(self) -> SyncOptions:
        if self.min_words < 0 or self.debounce_s < 0 or self.poll_s <= 0 or self.step_threads < 1 or \
                self.rate_scale <= 0:
            raise ValueError("KB_LEARN_MIN_WORDS and KB_LEARN_DEBOUNCE_S must be ≥ 0, KB_LEARN_POLL_S and "
                             "KB_LEARN_RATE_SCALE > 0, KB_LEARN_STEP_THREADS ≥ 1")
        return SyncOptions(reaction=self.reaction.strip(":") or DEFAULT_REACTION, min_words=self.min_words,
                           debounce_s=self.debounce_s, step_threads=self.step_threads)

    def pacer(self) -> Pacer:
        return Pacer(rate_scale=self.rate_scale)
