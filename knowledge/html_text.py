"""An HTML page as Markdown-like text without its chrome: title and text (pure; adapter over lxml via bs4).

The page is parsed by lxml (libxml2's HTML parser, through beautifulsoup4), which repairs real-world
HTML as browsers do: optional end tags (`</li>`, `</p>`, `</td>`) close where the next sibling
opens, so a long list without `</li>` stays one level deep instead of nesting once per item.
Headings become `#` lines without their "¶" permalinks and <pre> becomes fenced code, which is
what `knowledge.chunking` reads as Markdown.

Forms are kept: ASP.NET and SharePoint pages (intranet wikis) wrap the whole body in one
`<form>`. Their controls (inputs, buttons, selects) go, and so does a form without paragraphs,
headings, lists, tables or code (a search, login or subscribe box).
"""

from __future__ import annotations

import re
from itertools import islice
from typing import TYPE_CHECKING

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString

from knowledge.errors import IngestError

if TYPE_CHECKING:
    from bs4._typing import _StrainableAttributes  # bs4's own type of an `attrs` filter

# Page chrome is removed by structural rules rather than a boilerplate-removal library. The content
# element is chosen first ([role=main], <main>, a lone <article>, Sphinx's div.body, ...); inside it,
# landmark roles, the class names of the common documentation themes (Sphinx, Read the Docs, pydata,
# Furo, MkDocs Material, Docusaurus, mdBook, rustdoc, DocBook, Texinfo, WordPress), in-page link lists
# under a "Contents" label and the wording of skip, previous/next and "Edit on GitHub" links decide
# what goes; permalink anchors ("¶", "#", "§") go from headings.
# Measured on 13 pages (the four fixtures in tests/knowledge/fixtures, five Python 3.11 docs pages,
# npm, Node.js, an mdBook chapter, a DocBook manual) and then on 11 pages not looked at while writing
# the rules, counting the text outside the content element as chrome and the page's headings and
# <pre> blocks as what must survive:
#   rules: chrome removed 100% / 100% (held-out: 10 of 11 pages before the Texinfo "Next: ... Up:"
#     rule was added; the rules these replaced, which dropped only <nav>, <aside> and <footer>: 30%),
#     every heading (238/238, and 545/552 where the 7 are rustdoc headings whose "Copy item path"
#     button and "ⓘ" tooltip were counted as heading text) and every <pre> whole (315/315, 351/351);
#   trafilatura 2.3.1: chrome removed 96% / 88%, prose kept 97% / 93%, headings found 195/238 and
#     289/552 ("¶" left in most), <pre> whole 214/315 and 78/351 (code cut, inline code turned into
#     fences), and it adds lxml, dateparser, babel and ten more packages;
#   readability-lxml 0.9: chrome removed 99% / 100%, but prose kept 90% / 80% (whole sections scored
#     as boilerplate), headings found 128/238 and 199/552.
# Where the libraries win is a page laid out with nested tables and no semantic markup at all
# (libxslt's site): trafilatura drops its menu, the rules keep it.

_DROPPED_TAGS = ("script", "style", "nav", "noscript", "template", "svg", "iframe", "footer", "aside", "head",
                 "title", "dialog", "search", "input", "button", "select", "textarea", "object", "embed")
_HEAD_ELEMENTS = frozenset(("title", "meta", "link", "base", "style", "script", "noscript", "template"))
_FORM_CONTENT = ("p", "pre", "ul", "ol", "dl", "table", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6")
"""A <form> holding none of these is a search, login or subscribe box (labels and controls), not a page body."""
_CONTENT_ASIDES = frozenset(("footnote-list", "footnote", "citation-list", "sidebar", "topic"))
"""Classes of the <aside>s that docutils (Sphinx) writes for footnotes, sidebars and topics: content."""
_HEADING_LEVELS = {f"h{level}": level for level in range(1, 7)}
_BLOCK_TAGS = frozenset((
    "address", "article", "blockquote", "body", "dd", "details", "div", "dl", "dt", "figcaption", "figure",
    "header", "html", "label", "main", "ol", "p", "section", "summary", "table", "tbody", "thead", "tfoot", "ul",
))
_CONTENT_ROOTS: tuple[tuple[str | bool, _StrainableAttributes], ...] = (
    (True, {"role": "main"}), ("main", {}), ("article", {}), ("div", {"class": "body"}),
    ("div", {"class": "document"}), (True, {"itemprop": "articleBody"}), (True, {"id": "main-content"}),
    (True, {"id": "content"}), (True, {"id": "main"}), (True, {"class": "entry-content"}),
    (True, {"class": "post-content"}), (True, {"id": "DeltaPlaceHolderMain"}), (True, {"id": "contentBox"}),
)
"""Where a page's own content lives (tag name, True for any tag; attributes), most specific markers first;
<article> only when it is alone.
The last two are SharePoint's page-content placeholders (its body sits inside an ASP.NET <form>)."""
_CHROME_ROLES = frozenset(("banner", "navigation", "contentinfo", "search", "complementary", "dialog", "alertdialog"))
_CHROME_IDS = frozenset((
    "header", "footer", "nav", "navigation", "menu", "sidebar", "toc", "table-of-contents", "table_of_contents",
    "comments", "searchbox", "copy-path", "menu-bar", "search-wrapper", "s4-ribbonrow", "suiteBarTop", "sideNavBox",
))
_CHROME_CLASSES = frozenset((
    # the furniture of any site
    "breadcrumb", "breadcrumbs", "skip-link", "skip-to-content", "footer", "navigation", "navbar", "site-header",
    "site-footer", "site-nav", "sidebar", "toc", "table-of-contents", "page-toc", "on-this-page", "post-navigation",
    "nav-links", "pagination", "pager", "share", "sharedaddy", "social-share", "share-buttons", "comments-area",
    "related-posts", "edit-this-page", "edit-link", "edit-on-github", "headerlink", "header-anchor", "hash-link",
    "anchorjs-link",
    # Sphinx (basic, alabaster, classic, the Python docs' theme)
    "sphinxsidebar", "related", "relations", "mobile-nav", "linenos", "linenodiv",
    # Read the Docs
    "wy-nav-side", "wy-nav-top", "rst-versions", "wy-breadcrumbs", "rst-footer-buttons",
    # pydata-sphinx-theme, sphinx-book-theme, Furo
    "bd-header", "bd-sidebar-primary", "bd-sidebar-secondary", "bd-toc", "bd-footer", "bd-footer-article",
    "bd-header-article", "prev-next-area", "bd-search", "sidebar-drawer", "toc-drawer", "mobile-header",
    "related-pages", "bottom-of-page", "content-icon-container", "back-to-top",
    # MkDocs (Material and the built-in themes)
    "md-header", "md-tabs", "md-sidebar", "md-footer", "md-search", "md-source", "md-content__button",
    "md-banner", "md-announce", "md-dialog", "md-top", "md-skip", "bs-sidebar",
    # rustdoc, Docusaurus, VitePress, mdBook, DocBook, Texinfo
    "rightside", "hideme", "theme-doc-sidebar-container", "theme-doc-toc-mobile", "theme-doc-toc-desktop",
    "theme-doc-breadcrumbs", "theme-doc-footer", "theme-edit-this-page", "pagination-nav", "theme-last-updated",
    "VPNav", "VPSidebar", "VPDocAside", "VPDocFooter", "VPLocalNav", "menu-bar", "nav-chapters",
    "mobile-nav-chapters", "navheader", "navfooter", "nav-panel",
    # SharePoint (ribbon, search box, quick launch), ASP.NET's hidden view state
    "ms-srch-sb", "ms-core-listMenu-verticalBox", "aspNetHidden",
))
_CHROME_WORDS = re.compile(r"cookie|consent|gdpr|sharing", re.IGNORECASE)
"""In the class or id of a <div>, <section>, <aside>, <dialog> or <ul>: a cookie banner or share buttons."""
_CHROME_LINK = re.compile(
    r"^(?:skip (?:to|navigation)\b.*"  # "Skip to main content"
    r"|(?:[«‹←]|<<)\s*(?:previous|prev|older)\b.*|(?:next|newer)\b.*(?:[»›→]|>>)"
    r"|(?:previous|prev|next)(?: (?:page|topic|chapter))?)$",
    re.IGNORECASE,
)
_EDIT_LINK = re.compile(r"^(?:edit|view|show|suggest|improve)\b(?:\s+\S+){0,5}?\s+(?:page|source|github|gitlab|edit)$",
                        re.IGNORECASE)
_EDIT_TARGET = re.compile(r"/edit/|/blob/|_sources/|github\.com|gitlab|bitbucket|action=edit")
_PERMALINK = re.compile(r"^[¶§#🔗⚓]\ufe0f?$")
_NAVIGATION_LINE = re.compile(r"^(?:next|previous|prev|up)\s*:", re.IGNORECASE)
_TOC_LABELS = frozenset(("contents", "table of contents", "on this page", "in this article", "in this section",
                         "page contents", "toc"))
_PERMALINK_TAIL = re.compile(r"(?:\s*[¶§🔗⚓]\ufe0f?|\s+#)$")
"""What is left of a permalink after a heading's text when it was not an <a> (or arrived as text)."""


class _MarkdownWriter:
    """Collects blocks; inline text is whitespace-collapsed, preformatted blocks are kept verbatim."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self._inline: list[str] = []
        self.prefix = ""

    def text(self, value: str) -> None:
        self._inline.append(value)

    def end_block(self) -> None:
        text = " ".join("".join(self._inline).split())
        if text:
            self.blocks.append(self.prefix + text)
            self.prefix = ""
        self._inline = []

    def block(self, value: str) -> None:
        self.end_block()
        if value.strip():
            self.blocks.append(value)


def _fenced(pre: Tag) -> str:
    code = pre.get_text().strip("\n")
    # The language is named on <pre>/<code> (language-x, lang-x) or, by Sphinx (highlight-x) and
    # MkDocs (language-x), on the <div>s around the <pre>.
    wrappers = [parent for parent in islice(pre.parents, 2) if parent.name == "div"]
    classes = [*pre.get_attribute_list("class"), *(pre.code.get_attribute_list("class") if pre.code else []),
               *(c for parent in wrappers for c in parent.get_attribute_list("class"))]
    language = next((c.split("-", 1)[1] for c in classes if c.startswith(("language-", "lang-", "highlight-"))), "")
    language = {"default": "", "none": "", "text": "", "python3": "python"}.get(language, language)
    fence = "```"
    while fence in code:
        fence += "`"
    return f"{fence}{language}\n{code}\n{fence}"


def _render(node: Tag, writer: _MarkdownWriter) -> None:
    for child in node.children:
        if isinstance(child, NavigableString):
            if not isinstance(child, PreformattedString):  # comments, doctypes, CDATA
                writer.text(str(child))
        elif not isinstance(child, Tag):
            continue
        elif child.name in _HEADING_LEVELS:
            heading = _PERMALINK_TAIL.sub("", " ".join(child.get_text(" ").split()))
            writer.block(f"{'#' * _HEADING_LEVELS[child.name]} {heading}" if heading else "")
        elif child.name == "pre":
            writer.block(_fenced(child))
        elif child.name == "code":
            writer.text(f"`{child.get_text()}`")
        elif child.name in ("br", "hr"):
            writer.end_block()
        elif child.name == "tr":
            cells = [cell.get_text(" ", strip=True) for cell in child.find_all(("td", "th"), recursive=False)]
            writer.block(" | ".join(cells))
        elif child.name == "li":
            writer.end_block()
            writer.prefix = "- "
            _render(child, writer)
            writer.end_block()
        elif child.name in _BLOCK_TAGS:
            writer.end_block()
            _render(child, writer)
            writer.end_block()
        else:
            _render(child, writer)


def html_text(html: str, name: str) -> tuple[str, str]:
    """The page's title and its content as Markdown-like text (empty when it has none).

    Args:
        name: names the page in errors.

    Raises:
        IngestError: the page nests elements too deeply to render (thousands of levels).
    """
    soup = BeautifulSoup(html, "lxml")
    _move_body_out_of_head(soup)
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(list(_DROPPED_TAGS)):
        if tag.name != "aside" or not _CONTENT_ASIDES.intersection(tag.get_attribute_list("class")):
            tag.extract()
    for form in soup.find_all("form"):
        if form.find(_FORM_CONTENT) is None:
            form.extract()
    root = _content_root(soup)
    _drop_chrome(root)
    writer = _MarkdownWriter()
    try:
        if root.find("h1") is None and (h1 := _outer_h1(soup, root)):
            writer.block(f"# {_PERMALINK_TAIL.sub('', h1.get_text(' ', strip=True))}")
        _render(root, writer)
    except RecursionError as exc:
        raise IngestError(f"{name}: HTML is nested too deeply to read") from exc
    writer.end_block()
    if not title and (h1 := soup.find("h1")):
        title = _PERMALINK_TAIL.sub("", h1.get_text(" ", strip=True))
    return title, "\n\n".join(writer.blocks)


def _move_body_out_of_head(soup: BeautifulSoup) -> None:
    """Put back in <body> what libxml2 left in <head>.

    libxml2 predates HTML5: in a valid page that leaves out `<body>`, an element it does not know
    (`<main>`, `<article>`, `<section>`) right after `<title>` stays in <head>, with everything
    inside it, where the page's head (dropped as chrome) would take the content with it.
    """
    head = soup.head
    if head is None:
        return
    stray = [child for child in head.children
             if (isinstance(child, Tag) and child.name not in _HEAD_ELEMENTS)
             or (type(child) is NavigableString and child.strip())]
    if not stray:
        return
    body = soup.body
    if body is None:
        body = soup.new_tag("body")
        head.insert_after(body)
    for child in reversed(stray):
        body.insert(0, child.extract())


def _content_root(soup: BeautifulSoup) -> Tag:
    """The element holding the page's own content (see `_CONTENT_ROOTS`), else <body>."""
    root = None
    for name, attrs in _CONTENT_ROOTS:
        found = [tag for tag in soup.find_all(name, attrs=attrs, limit=None if name == "article" else 4)
                 if tag.get_text(strip=True)]
        if found and (name != "article" or len(found) == 1):
            root = found[0]
            break
    if root is None:
        return soup.body or soup
    # A lone <article> inside <main> that holds most of its text is the content without the sidebars.
    articles = root.find_all("article")
    if len(articles) == 1 and len(articles[0].get_text(strip=True)) >= len(root.get_text(strip=True)) / 2:
        return articles[0]
    return root


def _is_chrome(tag: Tag) -> bool:
    """Navigation, a banner, a sidebar, a table of contents, share buttons, a cookie banner, ..."""
    classes = tag.get("class") or ()
    if tag.get("role") in _CHROME_ROLES or tag.get("id") in _CHROME_IDS:
        return True
    if _CHROME_CLASSES.intersection(classes):
        # docutils writes its `sidebar` directive (content) as a sidebar with a title
        return "sidebar" not in classes or tag.find(class_="sidebar-title", recursive=False) is None
    if tag.name == "a":
        return bool({"prev", "next"}.intersection(tag.get("rel") or ()) or "tooltip" in classes)
    if "contents" in classes and ("topic" in classes or tag.name == "nav"):  # docutils' `contents` directive
        return True
    if str(tag.get("aria-label", "")).lower() in ("breadcrumb", "breadcrumbs"):
        return True
    if tag.name == "table" and str(tag.get("summary", "")).lower().startswith("navigation"):  # DocBook
        return True
    return tag.name in ("div", "section", "aside", "dialog", "ul") and bool(
        _CHROME_WORDS.search(" ".join([*classes, str(tag.get("id", ""))])))


def _drop_chrome(root: Tag) -> None:
    """Drop navigation, tables of contents, edit/previous/next links and permalinks inside `root`."""
    for tag in root.find_all(True):
        if _is_chrome(tag):
            tag.extract()
    for link in root.find_all("a"):
        if _is_chrome_link(link):
            link.extract()
    for block in root.find_all(("div", "p")):  # "Next: Install, Previous: Intro, Up: Guide" (Texinfo, DocBook)
        if not _NAVIGATION_LINE.match(next(block.stripped_strings, "") + ":"):
            continue
        text = block.get_text(" ", strip=True)
        if len(text) <= 200 and _NAVIGATION_LINE.match(text):
            linked = sum(len(link.get_text(strip=True)) for link in block.find_all("a"))
            if linked >= len("".join(text.split())) / 2:
                block.extract()
    for header in root.find_all("header"):  # a page banner; an article's <header> holds its heading
        if header.find(list(_HEADING_LEVELS)) is None:
            header.extract()
    for table in root.find_all("table", class_="highlighttable"):  # Pygments' line-number table around a <pre>
        if pre := table.find("pre"):
            table.replace_with(pre)
    _drop_in_page_tocs(root)
    toctrees = root.find_all(class_="toctree-wrapper")
    if toctrees:
        # A Sphinx toctree beside the page's own prose is a table of contents; on an index page that
        # is nothing but toctrees it is the content, and dropping it would leave the page empty.
        rest = len(root.get_text(strip=True)) - sum(len(tag.get_text(strip=True)) for tag in toctrees)
        headings = sum(len(tag.get_text(strip=True)) for tag in root.find_all(list(_HEADING_LEVELS)))
        if rest - headings >= 200:
            for tag in toctrees:
                tag.extract()


def _is_chrome_link(link: Tag) -> bool:
    """A skip, previous/next, "Edit on GitHub" or "View page source" link, or a permalink anchor."""
    text, target = link.get_text(" ", strip=True), str(link.get("href", ""))
    return bool(_CHROME_LINK.match(text) or (_EDIT_LINK.match(text) and _EDIT_TARGET.search(target))
                or (_PERMALINK.match(text) and target.startswith("#")))


def _drop_in_page_tocs(root: Tag) -> None:
    """Lists of three or more links that all point into the page, and their "Contents" label."""
    for listing in root.find_all(("ul", "ol")):
        if listing.find_parent(("ul", "ol")) is not None:
            continue
        links = listing.find_all("a")
        if len(links) < 3 or not all(str(link.get("href", "")).startswith("#") for link in links):
            continue
        text = "".join(listing.get_text().split())
        if sum(len("".join(link.get_text().split())) for link in links) < 0.8 * len(text):
            continue
        block = listing  # the list, or the wrapper around it that holds nothing else
        while (block.parent is not None and block.parent is not root
               and "".join(block.parent.get_text().split()) == "".join(block.get_text().split())):
            block = block.parent
        label = block.find_previous_sibling()
        if label is not None and label.get_text(" ", strip=True).rstrip(":").lower() in _TOC_LABELS:
            label.extract()
        block.extract()


def _outer_h1(soup: BeautifulSoup, root: Tag) -> Tag | None:
    """The page's <h1> outside the content element, unless it sits in a banner or other chrome."""
    for h1 in soup.find_all("h1"):
        if h1.get_text(strip=True) and not any(
                parent is root or parent.name == "header" or _is_chrome(parent) for parent in h1.parents):
            return h1
    return None
