"""The bot's Slack Web API client with retry handlers (adapter over slack_sdk).

Bolt copies `retry_handlers` from the client given to `App(client=…)` into every per-request client,
so configuring them here covers `client`, `say` and every background call. A 429 is retried after
its `Retry-After` (the handler sleeps in the calling thread, which is one of our background
threads, never the request thread); dropped connections are retried once.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

DEFAULT_API_URL = "https://slack.com/api/"


def make_web_client(token: str, *, base_url: str | None = None, rate_limit_retries: int = 3,
                    timeout_s: int = 30) -> WebClient:
    """A WebClient on `base_url` (Slack's when None) that retries 429s and dropped connections."""
    url = base_url or DEFAULT_API_URL
    return WebClient(token=token, base_url=url if url.endswith("/") else url + "/", timeout=timeout_s,
                     retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1),
                                     RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries)])
