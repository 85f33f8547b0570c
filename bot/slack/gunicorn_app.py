"""Running gunicorn from Python for `python -m bot.slack web` (entry helper over gunicorn).

Same as `gunicorn 'bot.slack.wsgi:application' -k gthread --threads 8 …` on the command line
(the Procfile form); gthread because Bolt's WSGI handler is synchronous and a worker must keep
acking while its background threads generate.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

WSGI_TARGET = "bot.slack.wsgi:application"


class GunicornApp(BaseApplication):
    """Serves `target` (a "module:attribute" WSGI app) with the given gunicorn settings."""

    def __init__(self, target: str, options: dict[str, Any]) -> None:
        self.target = target
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from gunicorn.util import import_app

        return import_app(self.target)


def serve(*, bind: str, workers: int, threads: int, timeout_s: int = 60, target: str = WSGI_TARGET) -> None:
    """Run gunicorn in the foreground until it is stopped, with `gunicorn_conf`'s shared metrics and JSON logs."""
    from bot.slack import gunicorn_conf  # before the workers fork: it sets up the metrics folder

    options: dict[str, Any] = {"bind": bind, "workers": workers, "threads": threads, "worker_class": "gthread",
                               "timeout": timeout_s, "graceful_timeout": timeout_s, "accesslog": "-",
                               "child_exit": gunicorn_conf.child_exit}
    if (logconfig := getattr(gunicorn_conf, "logconfig_dict", None)) is not None:
        options["logconfig_dict"] = logconfig
    GunicornApp(target, options).run()
