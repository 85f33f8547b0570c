"""Source code into sections: one per top-level definition, with the lines just above it (pure)."""

from __future__ import annotations

import re

from knowledge.chunking.sections import Section, Unit, code_unit, without_trailing_blanks

_C_FAMILY = (
    r"(?:(?:(?:public|private|protected|internal|static|sealed|abstract|partial|export)\s+)*"
    r"(?:struct|class|union|enum|namespace|typedef|template|interface|record)\b"
    r"|(?![#/*}\s])(?!(?:if|for|while|switch|return|else|do|case)\b)[^;=()]*\w\s*\([^;]*$)"
)
_DEFINITIONS: dict[str, re.Pattern[str]] = {
    language: re.compile(pattern)
    for language, pattern in {
        "python": r"(?:async\s+def|def|class)\s",
        "javascript": r"(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\b|class\s)",
        "typescript": r"(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?"
        r"(?:function\b|class\s|interface\s|enum\s|namespace\s|type\s+\w+)",
        "go": r"(?:func|type)\s",
        "rust": r"(?:pub(?:\([^)]*\))?\s+)?(?:(?:async|unsafe|const|extern\s+\"\w+\")\s+)*"
        r"(?:fn|struct|enum|trait|impl|mod|union|macro_rules!)\b",
        "ruby": r"(?:def|class|module)\s",
        "java": r"(?:(?:public|protected|private|abstract|final|sealed|static|strictfp)\s+)*"
        r"(?:class|interface|enum|record|@interface)\s",
        "kotlin": r"(?:(?:public|private|internal|protected|open|abstract|data|sealed|inline|suspend|"
        r"override|enum|annotation)\s+)*(?:fun|class|interface|object)\s",
        "scala": r"(?:(?:private|protected|final|sealed|abstract|implicit|case)\s+)*(?:def|class|object|trait)\s",
        "swift": r"(?:(?:public|private|internal|open|final)\s+)*(?:func|class|struct|enum|protocol|extension)\s",
        "php": r"(?:(?:abstract|final)\s+)?(?:function|class|interface|trait)\s",
        "shell": r"(?:function\s+[\w-]+|[\w-]+\s*\(\s*\))",
        "sql": r"(?i:create|alter|drop|insert|update|delete|select|with|grant)\b",
        "c": _C_FAMILY,
        "cpp": _C_FAMILY,
        "csharp": _C_FAMILY,
    }.items()
}
_CLOSER = re.compile(r"^(?:[})\]]|end\b)")
_MAX_HEADING_CHARS = 120


def _definition_heading(line: str) -> str:
    heading = line.strip().rstrip("{:").strip()
    return heading if len(heading) <= _MAX_HEADING_CHARS else heading[: _MAX_HEADING_CHARS - 1] + "…"


def code_sections(text: str, language: str | None) -> list[Section]:
    """One section per top-level definition of `language`, else blank-line separated top-level blocks."""
    lines = text.split("\n")
    pattern = _DEFINITIONS.get((language or "").lower())
    if pattern is None:
        return [Section("", _top_level_blocks(lines))]
    starts: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line[:1].strip() and pattern.match(line):
            start = i
            # Decorators, attributes, doc comments and C return types sit on the lines just above.
            while (start > 0 and (above := lines[start - 1])[:1].strip() and not _CLOSER.match(above)
                   and not above.rstrip().endswith((";", "}")) and not pattern.match(above)
                   and (not starts or start - 1 > starts[-1][0])):
                start -= 1
            starts.append((start, _definition_heading(line)))
    bounds = [(0, "")] + starts if not starts or starts[0][0] > 0 else starts
    sections = []
    for (start, heading), (end, _) in zip(bounds, bounds[1:] + [(len(lines), "")], strict=True):
        body = without_trailing_blanks(lines[start:end])
        if body:
            sections.append(Section(heading, [code_unit(body)]))
    return sections


def _top_level_blocks(lines: list[str]) -> list[Unit]:
    """Blocks that start at an unindented line after a blank line: top level in most languages."""
    blocks: list[list[str]] = [[]]
    for i, line in enumerate(lines):
        if i > 0 and not lines[i - 1].strip() and line[:1].strip() and not _CLOSER.match(line):
            blocks.append([])
        blocks[-1].append(line)
    return [code_unit(without_trailing_blanks(block)) for block in blocks if any(line.strip() for line in block)]
