"""How a failure is worded for people: one line, without the SQL a database error carries (pure)."""

from __future__ import annotations


def one_line_reason(exc: BaseException) -> str:
    """`exc` in one line for users: a database driver's first line (SQLAlchemy wraps it in `orig`
    under a multi-line message with the SQL), else the exception's type and message."""
    driver_error = getattr(exc, "orig", None)
    if driver_error is not None:
        lines = str(driver_error).strip().splitlines()
        return lines[0] if lines else type(driver_error).__name__
    return f"{type(exc).__name__}: {exc}"
