"""Inline markup of reStructuredText, MyST and Markdown as the Markdown a reader of the quote sees (pure).

Quotes say exactly what the source says, but not in its markup: roles and double-backtick literals
become Markdown inline code (``:func:`len` `` and ``` ``None`` ``` → `` `len` ``, `` `None` ``; MyST's
`` {ref}`text <label>` `` → `` `text` ``), an rST hyperlink becomes a Markdown link when it points to
the web (Slack shows it as one) and its text otherwise, a named reference (`` `PyPI`_ ``) its text,
and a reference-style Markdown link `[text][label]` its text.
"""

from __future__ import annotations

import re

_RST_LINK = re.compile(r"`([^`<]*?)\s*<([^<>`\s]+)>`__?(?!\w)")
"""An reStructuredText hyperlink with its target (`` `text <https://…>`_ ``)."""
_RST_REFERENCE = re.compile(r"(?<![\w`])`([^`<>]+)`__?(?!\w)")
"""An reStructuredText named hyperlink reference (`` `PyPI`_ ``), its target defined elsewhere."""
_MYST_ROLE_NAME = re.compile(r"\{[a-zA-Z][\w:+-]*\}$")
"""A MyST role's `{name}`, right before the code span that holds its content (`` {ref}`pip freeze` ``)."""
_CODE_SPAN = re.compile(r"(`[^`]+`)")
_REFERENCE_LINK = re.compile(r"\[([^\]\n]*[A-Za-z][^\]\n]*)\]\[(?:[^\]\n]*[A-Za-z_][^\]\n]*)?\]")
"""A reference-style Markdown link `[text][label]` or `[text][]` (text and label not bare numbers like `[1][2]`)."""
_RST_ROLE = re.compile(r":[a-zA-Z][\w:+-]*:`([^`]+)`")
_RST_LITERAL = re.compile(r"``([^`]+)``")


def _role_text(match: re.Match[str]) -> str:
    """An rST role (`_RST_ROLE`) as inline code of what the page shows (`_shown_role`)."""
    return _shown_role(match.group(1))


def _shown_role(content: str) -> str:
    """A role's content as inline code of what the page shows: its title for `text <label>`, no `!`/`.` marker
    before a name, the last part of a `~`-shortened one."""
    content = content.strip()
    if "<" in content and content.endswith(">") and not content.startswith("<"):
        return f"`{content[:content.index('<')].strip()}`"  # :ref:`shown text <label>`
    shown = content[1:] if content[:1] in ("!", ".") and (content[1:2].isalnum() or content[1:2] in "_~") else content
    if shown.startswith("~"):  # :func:`~pkg.mod.name` shows only `name`
        shown = shown[1:].rsplit(".", 1)[-1]
    return f"`{shown}`"


def _myst_roles(text: str) -> str:
    """MyST roles as inline code: a code span right after a `{name}` outside code is the role's content, while
    a `{name}` inside inline code (`` `:::{warning}` ``, as docs about MyST write it) stays as written."""
    if "}`" not in text:
        return text
    parts = _CODE_SPAN.split(text)  # prose at even indices, code spans at odd ones
    for index in range(1, len(parts), 2):
        if role := _MYST_ROLE_NAME.search(parts[index - 1]):
            parts[index - 1] = parts[index - 1][:role.start()]
            parts[index] = _shown_role(parts[index][1:-1])
    return "".join(parts)


def _link_text(match: re.Match[str]) -> str:
    """An rST hyperlink as a Markdown link when it points to the web (Slack shows it as one), else its text."""
    text, target = match.group(1).strip(), match.group(2)
    if target.lower().startswith(("http://", "https://")):
        return f"[{text or target}]({target})"
    return text or target


def render_inline(text: str) -> str:
    """reStructuredText and MyST roles and double-backtick literals as Markdown inline code; reference-style
    links as their text."""
    text = _RST_ROLE.sub(_role_text, text)
    text = _RST_LINK.sub(_link_text, text)
    text = _RST_REFERENCE.sub(lambda match: match.group(1), text)
    text = _myst_roles(text)
    text = _REFERENCE_LINK.sub(lambda match: match.group(1), text)
    return _RST_LITERAL.sub(lambda match: f"`{match.group(1)}`", text)
