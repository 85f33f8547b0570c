"""Structure-aware splitting of document text into retrievable passages (pure).

MiniLM reads 256 word pieces, about 1,000 characters of English, so chunks are packed up to
`max_chars`. The splitter follows the document's own structure so that a passage rarely starts
mid-thought:

* sections come from headings (Markdown `#` and setext as CommonMark reads them, front matter
  left out; reStructuredText underlined titles; AsciiDoc `=` lines; HTML arrives here already
  turned into Markdown) and each chunk carries its heading path ("Guide › Install › Linux"). A
  permalink sign left after a heading ("Install¶", as text copied from a Sphinx page has it) is
  not part of it, and in plain text a line of its own ending in "¶" is such a copied heading;
* fenced code blocks, RST literal blocks and AsciiDoc listing/literal blocks stay whole; only a
  block longer than `max_chars` is cut on line boundaries, each piece fenced again. AsciiDoc blocks
  become Markdown fences (```python for a `[source,python]` block), as HTML's <pre> does, so that
  whoever quotes a chunk sees one kind of code block; an AsciiDoc `term::` entry stays with its
  description;
* paragraphs are packed together, and consecutive chunks of one section share about
  `overlap_chars` of prose, so a sentence cut at a boundary is still found. Code is never
  overlapped: a fragment of code repeated out of context misleads more than it helps;
* source code gets one section per top-level definition (def, class, func, fn, ...), with the
  decorators and comments just above it.

One module per format (`markdown`, `rst`, `asciidoc`, `text`, `code`) turns text into sections of
units (`sections`); `packing` packs them into chunks; `document` dispatches on the format.
Callers import from this package only.
"""

from knowledge.chunking.asciidoc import looks_like_asciidoc
from knowledge.chunking.document import FORMATS, ChunkText, chunk_document, document_title
from knowledge.chunking.embedding_text import embedding_input, heading_leaf
from knowledge.chunking.normalise import content_hash, normalise_text
from knowledge.chunking.packing import CHUNKER_VERSION, DEFAULT_CHUNKING, MIN_MAX_CHARS, ChunkingConfig
from knowledge.chunking.sections import HEADING_SEPARATOR

__all__ = [
    "CHUNKER_VERSION",
    "DEFAULT_CHUNKING",
    "FORMATS",
    "HEADING_SEPARATOR",
    "MIN_MAX_CHARS",
    "ChunkText",
    "ChunkingConfig",
    "chunk_document",
    "content_hash",
    "document_title",
    "embedding_input",
    "heading_leaf",
    "looks_like_asciidoc",
    "normalise_text",
]
