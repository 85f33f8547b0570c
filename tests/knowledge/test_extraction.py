"""Bytes to (title, text, format): every supported format and every refusal, each naming its input."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from knowledge.chunking import ChunkingConfig, chunk_document
from knowledge.errors import IngestError
from knowledge.extraction import extract_document, file_name, is_supported_name

LIMIT = 100_000

HTML = b"""<!doctype html>
<html><head><title> Deploy &amp; Rollback </title><style>.x { color: red }</style>
<script>var secret = 1;</script></head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<main>
<h1>Deploying</h1>
<p>Use <code>make deploy</code> to   ship.<br>It takes a minute.</p>
<h2>Rollback</h2>
<pre class="language-bash"><code>make rollback
  --to previous
</code></pre>
<ul><li>check dashboards</li><li>tell the channel</li></ul>
<table><tr><th>env</th><th>owner</th></tr><tr><td>prod</td><td>ops</td></tr></table>
<!-- an HTML comment -->
</main>
<footer>Copyright</footer>
</body></html>"""


def test_markdown_title_comes_from_its_first_heading() -> None:
    document = extract_document(b"# Runbook\n\nSteps.\n", name="docs/runbook.md", max_bytes=LIMIT)
    assert (document.title, document.fmt, document.text) == ("Runbook", "markdown", "# Runbook\n\nSteps.\n")


def test_markdown_without_heading_is_titled_by_file_name() -> None:
    assert extract_document(b"Just text.", name="/x/notes-2024.md", max_bytes=LIMIT).title == "notes-2024"


def test_rst_is_recognised_and_titled() -> None:
    document = extract_document(b"Setup\n=====\n\nInstall it.\n", name="setup.rst", max_bytes=LIMIT)
    assert (document.title, document.fmt) == ("Setup", "rst")


def test_plain_text() -> None:
    document = extract_document(b"Line one.\n\nLine two.", name="faq.txt", max_bytes=LIMIT)
    assert (document.title, document.fmt, document.text) == ("faq", "text", "Line one.\n\nLine two.")


def test_html_becomes_markdown_without_page_chrome() -> None:
    document = extract_document(HTML, name="page.html", max_bytes=LIMIT)
    assert (document.title, document.fmt) == ("Deploy & Rollback", "markdown")
    text = document.text
    assert text.startswith("# Deploying\n\nUse `make deploy` to ship.\n\nIt takes a minute.")
    assert "## Rollback" in text
    assert "```bash\nmake rollback\n  --to previous\n```" in text
    assert "- check dashboards\n\n- tell the channel" in text
    assert "env | owner\n\nprod | ops" in text
    for dropped in ("secret", "color", "Home", "Copyright", "HTML comment"):
        assert dropped not in text


def test_html_without_title_uses_its_first_h1() -> None:
    document = extract_document(b"<body><h1>Only heading</h1><p>x</p></body>", name="a.htm", max_bytes=LIMIT)
    assert document.title == "Only heading"


def test_pdf_pages_are_joined_and_titled_from_metadata(pdf_bytes: Callable[..., bytes]) -> None:
    data = pdf_bytes(["Page one says hello.", "Page two says goodbye."], title="Handbook")
    document = extract_document(data, name="handbook.pdf", max_bytes=LIMIT)
    assert document.title == "Handbook"
    assert document.fmt == "text"
    assert "Page one says hello." in document.text and "Page two says goodbye." in document.text
    assert document.text.index("one") < document.text.index("two")


def test_pdf_without_metadata_title_is_titled_by_file_name(pdf_bytes: Callable[..., bytes]) -> None:
    assert extract_document(pdf_bytes(["x y z"]), name="q3-report.pdf", max_bytes=LIMIT).title == "q3-report"


@pytest.mark.parametrize(("name", "language"), [
    ("src/app.py", "python"), ("web/main.ts", "typescript"), ("cmd/tool.go", "go"), ("lib.rs", "rust"),
    ("Main.java", "java"), ("query.sql", "sql"), ("deploy.sh", "shell"), ("x.cpp", "cpp"), ("Makefile", "make"),
])
def test_source_code_by_extension(name: str, language: str) -> None:
    document = extract_document(b"code here\n", name=name, max_bytes=LIMIT)
    assert (document.fmt, document.language, document.title) == ("code", language, name.rsplit("/", 1)[-1])


@pytest.mark.parametrize(("content_type", "name", "fmt"), [
    ("text/html; charset=utf-8", "https://wiki.example/page", "markdown"),
    ("text/markdown", "https://x.example/raw", "markdown"),
    ("text/plain", "https://x.example/README.md", "markdown"),
    ("text/plain", "https://x.example/notes", "text"),
    ("application/json", "https://x.example/api", "code"),
])
def test_content_type_decides_unless_it_is_generic(content_type: str, name: str, fmt: str) -> None:
    body = b"<h1>T</h1><p>x</p>" if "html" in content_type else b'{"a": 1}'
    assert extract_document(body, name=name, content_type=content_type, max_bytes=LIMIT).fmt == fmt


def test_pasted_markdown_without_a_name_keeps_its_structure() -> None:
    document = extract_document(b"# Pasted\n\nbody", name="stdin", max_bytes=LIMIT)
    assert (document.fmt, document.title) == ("markdown", "Pasted")


@pytest.mark.parametrize("data", [
    "Café résumé".encode("utf-16"),  # BOM + UTF-16
    b"\xef\xbb\xbf" + "Café résumé".encode(),  # UTF-8 with BOM
    "Café résumé".encode(),
])
def test_unicode_encodings_with_marks_decode(data: bytes) -> None:
    assert extract_document(data, name="a.txt", max_bytes=LIMIT).text == "Café résumé"


def test_charset_named_by_the_server_is_used() -> None:
    document = extract_document("Café".encode("latin-1"), name="https://x/",
                                content_type="text/plain; charset=ISO-8859-1", max_bytes=LIMIT)
    assert document.text == "Café"


def test_html_meta_charset_is_honoured() -> None:
    page = '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><p>cr\xe8me</p></html>'
    document = extract_document(page.encode("latin-1"), name="old.html", max_bytes=LIMIT)
    assert (document.title, document.text) == ("Café", "crème")


@pytest.mark.parametrize(("data", "name", "reason"), [
    (b"", "empty.md", "is empty"),
    (b"  \n\n \t", "blank.txt", "is empty"),
    (b"<html><script>x()</script></html>", "script-only.html", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "disguised.txt", "binary"),
    ("naïve".encode("latin-1"), "legacy.txt", "not UTF-8"),
    (b"\xff\xfe\x00\xd8", "broken-utf16.txt", "undecodable"),
    (b"x" * 101, "big.md", "over the 100-byte limit"),
    (b"PK\x03\x04", "slides.pptx", "unsupported file type .pptx"),
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog", "truncated.pdf", "not a readable PDF"),
    (b"%PDF-1.7\nthis is not really a pdf at all\n%%EOF", "corrupt.pdf", "not a readable PDF"),
])
def test_bad_input_is_refused_with_a_message_naming_it(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(IngestError) as caught:
        extract_document(data, name=name, max_bytes=100)
    message = str(caught.value)
    assert message.startswith(f"{name}: ") and reason in message
    assert "\n" not in message


def test_pdf_without_text_is_refused(pdf_bytes: Callable[..., bytes]) -> None:
    with pytest.raises(IngestError, match=r"scan.pdf: PDF has no extractable text"):
        extract_document(pdf_bytes(["", ""]), name="scan.pdf", max_bytes=LIMIT)


def test_unsupported_content_type_is_refused() -> None:
    with pytest.raises(IngestError, match="unsupported content type image/png"):
        extract_document(b"\x89PNG", name="https://x/logo", content_type="image/png", max_bytes=LIMIT)


def test_a_gzip_file_is_read_as_the_file_it_holds() -> None:
    """Debian ships documentation compressed (pip's docs: `topics/configuration.md.gz`)."""
    markdown = extract_document(gzip.compress(b"# Configuration\n\nSet `index-url` in pip.conf.\n"),
                                name="/docs/topics/configuration.md.gz", max_bytes=LIMIT)
    assert (markdown.title, markdown.fmt) == ("Configuration", "markdown") and "`index-url`" in markdown.text
    rst = extract_document(gzip.compress(b"User Guide\n==========\n\nRunning pip.\n"), name="user_guide.rst.gz",
                           max_bytes=LIMIT)
    assert (rst.title, rst.fmt) == ("User Guide", "rst")
    untitled = extract_document(gzip.compress(b"just words\n"), name="https://h.example/notes.txt.gz",
                                content_type="application/gzip", max_bytes=LIMIT)
    assert (untitled.title, untitled.fmt, untitled.text) == ("notes", "text", "just words\n")
    code = extract_document(gzip.compress(b"print(1)\n"), name="tool.py.gz", max_bytes=LIMIT)
    assert (code.title, code.fmt, code.language) == ("tool.py", "code", "python")


@pytest.mark.parametrize(("data", "name", "reason"), [
    (gzip.compress(b"x" * 101), "bomb.md.gz", "decompresses to over the 100-byte limit"),
    (gzip.compress(b"# Title\n\nBody.\n")[:20], "cut.md.gz", "not a readable gzip file"),
    (b"\x1f\x8b" + b"garbage" * 3, "corrupt.rst.gz", "not a readable gzip file"),
    (gzip.compress(b""), "nothing.md.gz", "is empty"),
    (gzip.compress(b"\x00\x01binary"), "blob.txt.gz", "binary"),
    (gzip.compress(b"tar bytes"), "archive.tar.gz", "unsupported file type .tar"),
])
def test_bad_gzip_input_is_refused_with_a_message_naming_it(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(IngestError) as caught:
        extract_document(data, name=name, max_bytes=100)
    assert str(caught.value).startswith(f"{name}: ") and reason in str(caught.value), str(caught.value)


@pytest.mark.parametrize(("name", "supported"), [
    ("guide.md", True), ("app.py", True), ("README", True), ("Dockerfile", True), ("photo.jpg", False),
    ("archive.tar.gz", False), ("data.bin", False), ("faq.md.gz", True), ("user_guide.rst.gz", True),
    ("deps.png.gz", False), (".gz", False),
])
def test_directory_walks_try_only_known_names(name: str, supported: bool) -> None:
    assert is_supported_name(name) is supported


def test_file_name_of_paths_and_urls() -> None:
    assert file_name("https://h.example/a/b.md?x=1#y") == "b.md"
    assert file_name("https://h.example/dir/") == ""
    assert file_name("/tmp/x/c.rst") == "c.rst"


def test_sphinx_source_copies_keep_their_markup_format() -> None:
    from knowledge.extraction import extract_document

    rst = extract_document(b"Title\n=====\n\nBody text.\n", name="_sources/faq/general.rst.txt", max_bytes=10_000)
    markdown = extract_document(b"# Title\n\nBody text.\n", name="_sources/intro.md.txt", max_bytes=10_000)
    plain = extract_document(b"Title\n=====\n\nBody text.\n", name="notes.txt", max_bytes=10_000)
    assert (rst.fmt, markdown.fmt, plain.fmt) == ("rst", "markdown", "text")


# --- HTML page chrome, permalinks and AsciiDoc --------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"

# Each fixture page: the element that holds the page's own content, chrome inside that element,
# and chrome strings that must not reach the text.
CHROME_PAGES = {
    "sphinx_alabaster.html": ("div.body", "a.headerlink, nav.contents, .toctree-wrapper", (
        "Navigation", "Related Topics", "Documentation overview", "Quick search", "Powered by", "Alabaster",
        "Page source", "Platform Team", "Contents", "Canary releases", "Managing secrets", "¶")),
    "sphinx_rtd.html": ("[role=main]", "a.headerlink", (
        "Search docs", "User guide", "Getting started", "Auditing access", "Edit on GitHub", "Previous", "Next",
        "Security Team", "Built with", "Read the Docs")),
    "mkdocs_material.html": ("article", "a.headerlink, .md-content__button, aside", (
        "Skip to content", "Initializing search", "acme/runbook", "Operations", "Table of contents",
        "Rolling back a release", "Installing the ledger", "Previous", "Next", "Copyright", "Material for MkDocs",
        "Cookie consent", "We use cookies", "March 3, 2024", "Back to top", "Ledger runbook", "¶")),
    "blog.html": ("article", ".on-this-page, .sharedaddy, footer", (
        "Skip to content", "Ops Notes", "Field notes", "Archive", "About the team", "On this page", "Share",
        "Posted in", "Tagged", "Previous Post", "autovacuum", "PgBouncer", "thoughts on", "HikariCP",
        "Leave a comment", "Recent Posts", "WordPress", "We use cookies")),
}


def _page_parts(html: str, content: str, inner_chrome: str) -> tuple[list[str], list[str], list[str]]:
    """The page's chrome text (pieces of two words or more), its headings and its <pre> blocks."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(["script", "style", "head", "svg"]):
        tag.decompose()
    root = soup.select_one(content)
    chrome = [tag.extract() for tag in root.select(inner_chrome)]
    headings = [" ".join(h.get_text(" ").split()) for h in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6"])]
    pres = [pre.get_text().strip("\n") for pre in root.find_all("pre")]
    content_text = " ".join(root.get_text(" ").split())
    root.extract()
    pieces = [" ".join(s.split()) for part in [soup, *chrome] for s in part.find_all(string=True)]
    return [p for p in pieces if " " in p and p not in content_text], headings, pres


@pytest.mark.parametrize("page", sorted(CHROME_PAGES))
def test_html_page_chrome_is_dropped_and_headings_and_code_survive(page: str) -> None:
    content, inner_chrome, chrome_strings = CHROME_PAGES[page]
    html = (FIXTURES / page).read_text(encoding="utf-8")
    chrome, headings, pres = _page_parts(html, content, inner_chrome)
    text = extract_document(html.encode(), name=page, max_bytes=LIMIT).text
    flat = " ".join(text.split())
    assert len(chrome) >= 8  # the fixture really has chrome to lose
    assert [piece for piece in chrome if piece in flat] == []
    assert [s for s in chrome_strings if s in text] == []
    heading_lines = [line.lstrip("#").strip() for line in text.split("\n") if re.match(r"#{1,6} ", line)]
    assert heading_lines == headings  # every heading, in order, without its "¶"
    for pre in pres:
        assert f"\n{pre}\n```" in text  # every code block whole, fenced


def test_sphinx_page_chunks_carry_clean_heading_paths_and_whole_code() -> None:
    document = extract_document((FIXTURES / "sphinx_alabaster.html").read_bytes(), name="deploy.html",
                                max_bytes=LIMIT)
    assert document.title == "Deploying services — deployctl 2.4 documentation"
    chunks = chunk_document(document.text, fmt=document.fmt, config=ChunkingConfig(max_chars=300, overlap_chars=60))
    assert [c.heading for c in chunks] == [
        "Deploying services", "Deploying services › Prerequisites", "Deploying services › First deploy",
        "Deploying services › First deploy › Zones", "Deploying services › API",
    ]
    assert not any("¶" in c.heading or "¶" in c.text for c in chunks)
    toml = next(c.text for c in chunks if "```toml" in c.text)
    assert '```toml\n[service]\nname = "ledger"\nreplicas = 3\n\n[rollout]\nmax_error_rate = 0.02\n```' in toml
    assert chunks[-1].text == "deployctl.deploy(service, wait=False)\n\nDeploy service from the current directory " \
                              "and return the rollout id."


def test_material_page_keeps_tab_labels_and_code_languages() -> None:
    text = extract_document((FIXTURES / "mkdocs_material.html").read_bytes(), name="c.html", max_bytes=LIMIT).text
    assert ("Kubernetes\n\nNomad\n\n```bash\nkubectl -n ledger rollout restart deployment/ledger\n"
            "kubectl -n ledger rollout status deployment/ledger\n```") in text
    assert "```yaml\nflags:\n  async_settlement: false\n```" in text


def _text_of(body: str) -> str:
    return extract_document(f"<html><body>{body}</body></html>".encode(), name="p.html", max_bytes=LIMIT).text


def test_generic_page_without_landmark_elements_loses_banner_menus_and_cookie_notice() -> None:
    text = _text_of(
        '<a class="skip-link" href="#c">Skip to main content</a>'
        '<div id="header"><a href="/">Acme wiki</a> <a href="/login">Log in</a></div>'
        '<div role="navigation"><a href="/a">Alpha</a> <a href="/b">Beta</a></div>'
        '<div class="breadcrumbs"><a href="/">Home</a> › <a href="/ops">Ops</a></div>'
        '<h1>Paging policy</h1><p>Page the owner of the failing service first.</p>'
        '<p><a href="https://github.com/acme/wiki/edit/main/paging.md">Edit this page</a></p>'
        '<div class="cookie-banner">This site uses cookies. <a href="#">Accept</a></div>'
        '<div id="footer">© Acme</div>')
    assert text == "# Paging policy\n\nPage the owner of the failing service first."


def test_links_that_only_look_like_chrome_stay_when_they_are_content() -> None:
    text = _text_of('<main><h1>Reports</h1><p>See <a href="/reports/q3">view the report page</a> for numbers, '
                    'and <a href="/next">next steps</a>.</p>'
                    '<ul><li><a href="/a">Install</a></li><li><a href="/b">Configure</a></li>'
                    '<li><a href="/c">Upgrade</a></li></ul></main>')
    assert "See view the report page for numbers, and next steps." in text
    assert "- Install\n\n- Configure\n\n- Upgrade" in text  # links to other pages: not an in-page TOC


def test_in_page_table_of_contents_and_its_label_are_dropped() -> None:
    text = _text_of('<article><h1>Guide</h1><h2>Table of contents</h2>'
                    '<div><ul><li><a href="#a">Alpha</a></li><li><a href="#b">Beta</a></li>'
                    '<li><a href="#c">Gamma</a></li></ul></div>'
                    '<h2 id="a">Alpha</h2><p>First.</p></article>')
    assert text == "# Guide\n\n## Alpha\n\nFirst."


def test_a_toctree_is_dropped_beside_prose_but_kept_on_an_index_page() -> None:
    toctree = ('<div class="toctree-wrapper compound"><ul><li class="toctree-l1">'
               '<a class="reference internal" href="install.html">Installing</a></li><li class="toctree-l1">'
               '<a class="reference internal" href="deploy.html">Deploying</a></li></ul></div>')
    index = _text_of(f'<div class="body" role="main"><h1>User guide</h1>{toctree}</div>')
    assert index == "# User guide\n\n- Installing\n\n- Deploying"
    prose = "The service keeps the ledger of every payment and settles it nightly with the bank. " * 3
    chapter = _text_of(f'<div class="body" role="main"><h1>User guide</h1><p>{prose.strip()}</p>{toctree}</div>')
    assert "Installing" not in chapter and prose.strip() in chapter


def test_article_header_with_the_title_is_kept_and_docutils_footnotes_survive() -> None:
    text = _text_of('<header><a href="/">Blog</a></header><main><article><header><h1>Post</h1></header>'
                    '<p>Body<a href="#f1">1</a>.</p><aside class="footnote-list brackets">'
                    '<aside class="footnote brackets" id="f1"><p>The footnote.</p></aside></aside>'
                    '<aside class="widget">Popular posts</aside></article></main>')
    assert text == "# Post\n\nBody1.\n\nThe footnote."


@pytest.mark.parametrize("heading", [
    '<h2 id="x">Install<a class="headerlink" href="#x" title="Link to this heading">¶</a></h2>',  # Sphinx, MkDocs
    '<h2 id="x">Install<a class="headerlink" href="#x">#</a></h2>',  # pydata-sphinx-theme
    '<h2 id="x">Install<span><a class="mark" href="#x" id="x">#</a></span></h2>',  # Node.js
    '<h2 id="x"><a href="#x" aria-hidden="true">🔗</a>Install</h2>',
    '<h2 id="x">Install <span class="permalink">¶</span></h2>',  # a sign that is not a link
])
def test_heading_permalinks_are_not_part_of_the_heading(heading: str) -> None:
    text = _text_of(f"<main><h1>Guide</h1>{heading}<p>Run it.</p></main>")
    assert text == "# Guide\n\n## Install\n\nRun it."
    assert [c.heading for c in chunk_document(text, fmt="markdown")] == ["Guide › Install"]


def test_a_hash_that_belongs_to_the_heading_stays() -> None:
    assert _text_of("<main><h2>Calling C# from Python</h2></main>") == "## Calling C# from Python"


def test_sphinx_code_language_comes_from_the_highlight_wrapper() -> None:
    text = _text_of('<main><div class="highlight-python3 notranslate"><div class="highlight"><pre>'
                    '<span class="kn">import</span> json\n</pre></div></div>'
                    '<div class="highlight-default notranslate"><div class="highlight"><pre>x = 1\n</pre></div></div>'
                    '<table class="highlighttable"><tr><td class="linenos"><div class="linenodiv"><pre>1\n2</pre>'
                    '</div></td><td class="code"><div class="highlight"><pre>a = 1\nb = 2\n</pre></div></td></tr>'
                    '</table></main>')
    assert text == "```python\nimport json\n```\n\n```\nx = 1\n```\n\n```\na = 1\nb = 2\n```"


def test_texinfo_navigation_lines_are_dropped() -> None:
    text = _text_of('<div class="header"><p>Next: <a href="b.html" rel="next">Simple Example</a>, '
                    'Up: <a href="u.html" rel="up">Using libffi</a> [<a href="i.html">Index</a>]</p></div>'
                    '<h3>2.1 The Basics</h3><p>Next: create an <code>ffi_cif</code> object.</p>')
    assert text == "### 2.1 The Basics\n\nNext: create an `ffi_cif` object."


ASCIIDOC_TXT = b"""= Ledger notes

== Restarting

Run this:

----
ledgerctl restart
----
"""


@pytest.mark.parametrize(("data", "name", "fmt", "title"), [
    ((FIXTURES / "runbook.adoc").read_bytes(), "docs/runbook.adoc", "asciidoc", "Ledger Operations Runbook"),
    (b"= Guide\n\nIntro.\n", "guide.asciidoc", "asciidoc", "Guide"),
    (ASCIIDOC_TXT, "notes.txt", "asciidoc", "Ledger notes"),
    (b"Install it:\n\n[source,shell]\n----\npip install ledger\n----\n", "install.txt", "asciidoc", "install"),
    (b"Results\n\n----\nalpha 1\nbeta 2\n----\n", "results.txt", "asciidoc", "results"),
    # not AsciiDoc: a title without sections, reStructuredText titles, a box drawn with ruler lines
    (b"= 42 is the answer\n\nNothing else.\n", "answer.txt", "text", "answer"),
    (b"\n-------------\nSection title\n-------------\n\nText.\n", "rst-like.txt", "text", "rst-like"),
    (b"Title\n-----\n\nText.\n\n-----\n", "underlined.txt", "text", "underlined"),
    (b"-" * 40 + b"\nAcme Ledger\n\nCopyright 2024 Acme\n" + b"-" * 40 + b"\n", "NOTICE.txt", "text", "NOTICE"),
])
def test_asciidoc_by_suffix_or_by_its_markup_in_txt_files(data: bytes, name: str, fmt: str, title: str) -> None:
    document = extract_document(data, name=name, max_bytes=LIMIT)
    assert (document.fmt, document.title) == (fmt, title)
    assert document.text == data.decode()


def test_asciidoc_files_are_found_by_directory_walks() -> None:
    assert is_supported_name("docs/runbook.adoc") and is_supported_name("guide.asciidoc")
    assert extract_document(b"= T\n", name="https://x/doc", content_type="text/asciidoc", max_bytes=LIMIT).fmt == \
        "asciidoc"
