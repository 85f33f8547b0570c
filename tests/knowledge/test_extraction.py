"""Bytes to (title, text, format): every supported format and every refusal, each naming its input."""

from __future__ import annotations

from collections.abc import Callable

import pytest

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


@pytest.mark.parametrize(("name", "supported"), [
    ("guide.md", True), ("app.py", True), ("README", True), ("Dockerfile", True), ("photo.jpg", False),
    ("archive.tar.gz", False), ("data.bin", False),
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
