"""Bytes of a file or download into a title, text and chunking format (pure).

The format comes from the content type when that says something specific, else from the file name.
Text is decoded as UTF-8 (with or without BOM), UTF-16 with a BOM, or the charset a server named;
HTML becomes Markdown-like text without its page chrome (`knowledge.html_text`) and a PDF becomes
the text of its pages (pypdf). A Markdown document's front-matter title names it
(`knowledge.markdown_source`). AsciiDoc is recognised by its suffix, or in a .txt file by its
markup (a `= Title` line followed by `==` sections, or a `----`/`....` delimited block). A gzip file
(`faq.md.gz`, as Debian ships documentation) is read as the file it holds, its size capped like any
input's. Every refusal is an IngestError whose message names the input: empty, binary, undecodable,
oversized (compressed or not), corrupt gzip, corrupt or text-less PDF, unsupported type.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from pypdf import PdfReader

from knowledge.chunking import document_title, looks_like_asciidoc
from knowledge.errors import IngestError
from knowledge.html_text import html_text


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractedDocument:
    """A document's title, its text and how to chunk it (a `knowledge.chunking` format)."""

    title: str
    text: str
    fmt: str
    language: str | None = None


_SUFFIX_KINDS = {
    **dict.fromkeys((".md", ".markdown", ".mdown", ".mkd", ".mdx"), "markdown"),
    **dict.fromkeys((".rst", ".rest"), "rst"),
    **dict.fromkeys((".adoc", ".asciidoc"), "asciidoc"),
    **dict.fromkeys((".txt", ".text", ".log", ".csv", ".tsv"), "text"),
    **dict.fromkeys((".html", ".htm", ".xhtml"), "html"),
    ".pdf": "pdf",
}
CODE_LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "javascript", ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust",
    ".java": "java", ".kt": "kotlin", ".kts": "kotlin", ".scala": "scala", ".swift": "swift",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".cs": "csharp", ".php": "php", ".rb": "ruby", ".sh": "shell", ".bash": "shell", ".zsh": "shell",
    ".sql": "sql", ".lua": "lua", ".r": "r", ".pl": "perl", ".ex": "elixir", ".exs": "elixir",
    ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".json": "json", ".ini": "ini", ".cfg": "ini",
    ".proto": "protobuf", ".tf": "terraform",
}
_CODE_FILENAMES = {"makefile": "make", "dockerfile": "dockerfile", "procfile": "procfile"}
_TEXT_FILENAMES = ("readme", "license", "licence", "changelog", "authors", "contributing", "notice")
_CONTENT_TYPE_KINDS = {
    "text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf",
    "text/markdown": "markdown", "text/x-markdown": "markdown",
    "text/x-rst": "rst", "text/prs.fallenstein.rst": "rst", "application/x-rst": "rst",
    "text/asciidoc": "asciidoc", "text/x-asciidoc": "asciidoc",
}
_MARKDOWN_HINT = re.compile(r"^(?:#{1,6} \S|```)", re.MULTILINE)
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", re.IGNORECASE)


def file_name(name: str) -> str:
    """The last path segment of a file path or URL ("" for a URL ending in "/")."""
    path = urlsplit(name).path if "://" in name else name
    return PurePosixPath(path.replace("\\", "/")).name if path and not path.endswith("/") else ""


_SPHINX_SOURCE = re.compile(r"\.(rst|md)\.txt$")
"""Sphinx copies each page's source to _sources/NAME.rst.txt (or .md.txt): still RST or Markdown."""


_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_TYPES = frozenset({"application/gzip", "application/x-gzip"})


def _inner_name(name: str) -> str:
    """The name of what a gzip file holds (`faq.md.gz` holds `faq.md`); other names unchanged."""
    return name[:-3] if name.lower().endswith(".gz") and len(file_name(name)) > 3 else name


def _gunzipped(data: bytes, *, name: str, max_bytes: int) -> bytes:
    """The file a gzip file holds, read no further than `max_bytes` (a small file may expand a thousandfold).

    Raises:
        IngestError: the data is not a complete gzip stream, or it holds more than `max_bytes`.
    """
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as archive:
            inner = archive.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError; a cut file is an EOFError
        raise IngestError(f"{name}: is not a readable gzip file ({exc or 'cut short'})") from exc
    if len(inner) > max_bytes:
        raise IngestError(f"{name}: decompresses to over the {max_bytes:,}-byte limit")
    if not inner:
        raise IngestError(f"{name}: is empty (a gzip file holding 0 bytes)")
    return inner


def _kind_from_name(name: str) -> tuple[str, str | None] | None:
    if (inner := _inner_name(name)) != name:
        return _kind_from_name(inner)
    filename = file_name(name).lower()
    suffix = PurePosixPath(filename).suffix
    sphinx = _SPHINX_SOURCE.search(filename)
    if sphinx:
        suffix = "." + sphinx.group(1)
    if suffix in _SUFFIX_KINDS:
        return _SUFFIX_KINDS[suffix], None
    if suffix in CODE_LANGUAGES:
        return "code", CODE_LANGUAGES[suffix]
    if filename in _CODE_FILENAMES:
        return "code", _CODE_FILENAMES[filename]
    if filename.startswith(_TEXT_FILENAMES):
        return "text", None
    return None


def is_supported_name(name: str) -> bool:
    """Whether a directory walk should try the file: a known document, code or README-like name."""
    return _kind_from_name(name) is not None


def _document_kind(data: bytes, name: str, content_type: str | None, *, shown: str) -> tuple[str, str | None]:
    """The chunking kind (and code language) of `data` called `name`; refusals name the input as `shown`."""
    if data.startswith(b"%PDF-"):
        return "pdf", None
    media_type = _media_type(content_type)
    if media_type in _CONTENT_TYPE_KINDS:
        return _CONTENT_TYPE_KINDS[media_type], None
    if media_type == "application/json":
        return "code", "json"
    if kind := _kind_from_name(name):
        return kind
    has_suffix = bool(PurePosixPath(file_name(name)).suffix)
    # A bare name (stdin, an extensionless URL) gives no hint; a served text type or nothing at all
    # means text. A file with an unknown suffix is refused rather than guessed at.
    if media_type.startswith("text/") or media_type in ("application/xml", "text/xml"):
        return "text", None
    if not media_type and not has_suffix:
        return "text", None
    described = f"content type {media_type}" if media_type else f"file type {PurePosixPath(file_name(name)).suffix}"
    raise IngestError(f"{shown}: unsupported {described} (text, Markdown, reStructuredText, AsciiDoc, HTML, "
                      "PDF or source code expected)")


def extract_document(data: bytes, *, name: str, max_bytes: int,
                     content_type: str | None = None) -> ExtractedDocument:
    """Title, text and chunking format of `data`, a file or download called `name`.

    Args:
        name: file name, path or URL; it names the input in errors and hints at the format.
        max_bytes: larger inputs are refused before anything is parsed.
        content_type: the HTTP Content-Type, whose media type wins over the name and whose charset
            is tried first.

    Raises:
        IngestError: the input is empty, too large, binary, undecodable, a corrupt or text-less
            PDF, or of an unsupported type.
    """
    if not data:
        raise IngestError(f"{name}: is empty (0 bytes)")
    if len(data) > max_bytes:
        raise IngestError(f"{name}: is {len(data):,} bytes, over the {max_bytes:,}-byte limit")
    held = name  # the name of the file itself, which tells its format: inside a .gz file, the one it holds
    media_type = _media_type(content_type)
    if data.startswith(_GZIP_MAGIC) and (_inner_name(name) != name or media_type in _GZIP_TYPES):
        data, held = _gunzipped(data, name=name, max_bytes=max_bytes), _inner_name(name)
        content_type = None if media_type in _GZIP_TYPES else content_type
    kind, language = _document_kind(data, held, content_type, shown=name)
    if kind == "pdf":
        title, text = _pdf_text(data, name)
        return _checked(ExtractedDocument(title=title or _fallback_title(held), text=text, fmt="text"), name)
    charset = _charset(content_type)
    if kind == "html" and charset is None and (meta := _META_CHARSET.search(data[:4096])):
        charset = meta.group(1).decode("ascii")
    text = decode_text(data, name=name, charset=charset)
    suffix = PurePosixPath(file_name(held)).suffix.lower()
    if kind == "text" and not suffix and _MARKDOWN_HINT.search(text):
        kind = "markdown"  # pasted or extensionless Markdown keeps its structure
    elif kind == "text" and suffix in (".txt", ".text") and looks_like_asciidoc(text):
        kind = "asciidoc"
    if kind == "html":
        title, text = html_text(text, name)
        return _checked(ExtractedDocument(title=title or _fallback_title(held), text=text, fmt="markdown"),
                        name)
    if kind == "code":
        title = file_name(held) or name
        return _checked(ExtractedDocument(title=title, text=text, fmt="code", language=language), name)
    title = document_title(text, kind) or _fallback_title(held)
    return _checked(ExtractedDocument(title=title, text=text, fmt=kind), name)


def _checked(document: ExtractedDocument, name: str) -> ExtractedDocument:
    if not document.text.strip():
        raise IngestError(f"{name}: is empty (no text to index)")
    return document


def _fallback_title(name: str) -> str:
    return PurePosixPath(file_name(name)).stem or name


def _media_type(content_type: str | None) -> str:
    """The media type of an HTTP Content-Type, lower case, without its parameters ("" without one)."""
    return (content_type or "").split(";")[0].strip().lower()


def _charset(content_type: str | None) -> str | None:
    match = re.search(r"charset=\"?([\w.:-]+)", content_type or "", re.IGNORECASE)
    return match.group(1) if match else None


def decode_text(data: bytes, *, name: str, charset: str | None = None) -> str:
    """`data` as text: UTF-8 (BOM stripped), UTF-16 with a BOM, else `charset` or UTF-8.

    Raises:
        IngestError: NUL bytes without a UTF-16 BOM (binary) or bytes no encoding tried accepts.
    """
    try:
        if data.startswith(codecs.BOM_UTF8):
            return data.decode("utf-8-sig")
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{name}: undecodable text after its byte-order mark ({exc.reason})") from exc
    if b"\x00" in data:
        raise IngestError(f"{name}: looks binary (it contains NUL bytes), not text")
    for encoding in dict.fromkeys(filter(None, (charset, "utf-8"))):
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    raise IngestError(f"{name}: is not UTF-8 or UTF-16 text (undecodable bytes; binary or a legacy encoding)")


# --- PDF ----------------------------------------------------------------------------------------


def _pdf_text(data: bytes, name: str) -> tuple[str, str]:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"{name}: is an encrypted PDF that needs a password")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str((reader.metadata.title if reader.metadata else None) or "").strip()
    except IngestError:
        raise
    except Exception as exc:  # pypdf reports corrupt input with many exception types, not one
        raise IngestError(f"{name}: is not a readable PDF ({type(exc).__name__}: {exc})") from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise IngestError(f"{name}: PDF has no extractable text (scanned images need OCR first)")
    return title, text
