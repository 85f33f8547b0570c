"""Check generated text sentence by sentence (code line by line) against the passages it was given (pure).

A small model writes fluent sentences that its passages do not support: invented commands, flags,
URLs, numbers. Before anything generated is published, each sentence gets a verdict:

1. **Specifics must be quoted, not invented.** URLs and link/image targets, inline code, flags
   (`--verbose`, `-m`), file paths, dotted/snake_case/CamelCase and C++-scoped (`Type::member`)
   identifiers, calls (`name(`),
   environment variables, numbers, words mixing letters and digits (`v2`, `int8`) and hyphenated
   names that are not plain English (`onnx-v2`, `utf-8`; not `read-only`) must each occur in the
   passages or the question. One missing
   specific drops the sentence, whatever else it says.
2. **Content words must be supported, by one passage.** `lexical` is the share of the sentence's
   content stems (bot/lexicon.py) that one passage holds; `similarity` is the best cosine similarity
   between the sentence and a unit of that passage. A sentence passes when some passage gives both
   `lexical >= min_lexical` and `similarity >= min_similarity`: it restates what that passage says,
   mostly in its words. Counting words found anywhere in the prompt passed a small model's favourite
   mistake, a sentence stitched from several passages' words that none of them says ("A .pyd file
   (Python DLL) can be a built-in Python module or an imported C++ library": every word in the
   prompt, 0.62 of them in the passage about .pyd files). Chosen on the default model's own sentences, read and
   labelled faithful or not by hand (bench/data/summary_sentences.jsonl, bench/support_labels.py):
   the rule before (passages' words alone at 0.85, or 0.6 with similarity 0.5) published fluent
   recombinations of passage words that state something the passages do not ("Python has two main
   implementations for handling garbage collection (C-style or Jython)"), and empty lead-ins
   ("To fix this bug:"); at 0.75 / 0.7 those stay out and a near-restatement still passes.

A sentence that only repeats the quoted evidence shown above it is not published again, and one
that says too little to stand alone (fewer than `min_terms` content words and no specific, such as
"For example:" or "See below.") is not published at all.

3. **An answer, about the subject, in the passages' words.** Read on the dev paraphrases, the
   default model's sentences that passed the tests above were mostly no answer at all: the
   question restated as a question, talk about the question ('The answer to the question "What do
   people use …" is:', "… was asked by the user."), or a phrase put in quotation marks the passages
   never say ("ends with the quote 'The model before it says busy'"). So a sentence is dropped when
   it asks a question, when it talks about the question, the user or the answer itself, or when it
   quotes (in double quotes, or single quotes around several words) anything the passages do not
   say verbatim; and its content words count as supported only when the *passages* hold them (the
   question's own words do not make a restatement of it supported; specifics the question names
   are still allowed).

A generated code block is published only when every one of its lines is supported: it occurs in a
passage (whitespace aside), or it reads as code (an operator, bracket, slash, `$`, a flag or a
dotted/snake_case name) and all its identifiers and words occur there; half a code block is worse
than none. A line of plain words in a fence ("1. **Create the app.**") is prose dressed as code: the
words of almost any sentence occur in the passages, so it must be quoted to pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.lexicon import content_terms, coverage, is_everyday_word, term_set
from bot.passage_units import split_units
from bot.unit_scoring import ScoredPassage
from store.types import Passage

_CODE_LIKE = re.compile(r"[=(){}\[\]<>/\\$|;:@#%^&+~]|(?:^|\s)--?[A-Za-z]|\w[._]\w")
"""Something only code has: an operator, bracket, slash, `$`, a flag, or a dotted/snake_case name."""
_URL = re.compile(r"(?:https?://|www\.)[^\s)>\]`'\"]+")
_LINK_TARGET = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_FLAG = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")
_PATH = re.compile(r"(?<![\w.])(?:~|\.{1,2})?/?[\w.-]+(?:/[\w.-]+)+/?|(?<![\w/])~?/[\w.-]+")
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(\))?")
_SNAKE = re.compile(r"\b\w*[A-Za-z0-9]_\w+\b|\b_\w+\b")
_SCOPED = re.compile(r"\b[A-Za-z_]\w*(?:(?:::|->)[A-Za-z_]\w*)+")
"""A C++-scoped name or member access (`PyObject::CallMethod`, `self->ob_type`): its parts may each occur
in the passages while the name does not."""
_CAMEL = re.compile(r"\b[a-z]+[A-Z]\w*\b|\b[A-Z][a-z0-9]+[A-Z]\w*\b")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\(")
_ENV = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
_HYPHENATED = re.compile(r"(?<![\w./-])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+(?![\w/-])")
_LETTERS_AND_DIGITS = re.compile(r"\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]+\b")
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)", re.IGNORECASE)
_MARKER = re.compile(r"\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_QUOTED = re.compile(r'"([^"\n]+)"|\u201c([^\u201d\n]+)\u201d|(?<!\w)\'([^\'\n]*\s[^\'\n]*)\'(?!\w)')
"""A phrase in double quotes, curly quotes, or single quotes around several words (not an apostrophe)."""
_META = re.compile(r"\b(?:the|this|that|your|my|user's|following)\s+(?:question|query|user|asker)s?\b"
                   r"|\bthe\s+answer\s+(?:to|is)\b|\byou(?:'ve|\s+have)?\s+asked\b|\bwas\s+asked\b", re.IGNORECASE)
"""Talk about the question, the asker or the answer itself rather than the subject."""
_POINTER = re.compile(r"\b(?:this|that|it|these|those|they)\s+(?:can|could|may|might)\s+be\s+found\b"
                      r"|\b(?:more|further)\s+(?:information|details)\s+(?:can|could|may)\s+be\s+found\b",
                      re.IGNORECASE)
"""Says where an answer could be found instead of giving it (a small model's filler: "This can be found in
any message sent by humans or bots", every content word of it in the passages)."""
_NOT_IDENTIFIERS = frozenset({"e.g", "i.e", "etc", "vs", "cf", "and/or", "i.e.", "e.g."})


@dataclass(frozen=True, slots=True, kw_only=True)
class SupportConfig:
    """Thresholds of the content-word test (see the module docstring).

    Attributes:
        min_lexical: least share of the sentence's content words the supporting passage holds.
        min_similarity: least cosine similarity to one unit of the supporting passage.
        strong_lexical: a share of content words that passes a sentence without the similarity test;
            None (the default) asks every sentence for both. The rule before (0.6 / 0.5 / 0.85)
            published 16 sentences of 40 dev answers, 4 of them faithful by a reader's judgement
            (bench/support_labels.py); both tests at 0.75 / 0.7 published 3, all faithful.
    """

    min_lexical: float = 0.75
    min_similarity: float = 0.7
    strong_lexical: float | None = None
    min_terms: int = 2
    """A sentence with fewer content words and no specific says too little to publish ("For example:")."""
    one_passage: bool = True
    """False: the content words of all the prompt's passages together count for every passage, and the
    similarity is to any unit (the rule before, kept to compare against in bench/support_labels.py)."""

    def passes(self, lexical: float, similarity: float) -> bool:
        """Whether content-word support `lexical` and unit similarity `similarity` are enough."""
        if lexical < self.min_lexical:
            return False
        return similarity >= self.min_similarity or (self.strong_lexical is not None
                                                     and lexical >= self.strong_lexical)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Whether one generated sentence or code block may be published, and why.

    Attributes:
        number: the passage whose unit supports it best (the `[n]` added when the model cited none).
    """

    text: str
    kind: str
    supported: bool
    lexical: float
    similarity: float
    number: int | None
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"text": self.text, "kind": self.kind, "supported": self.supported, "lexical": round(self.lexical, 3),
                "similarity": round(self.similarity, 3), "n": self.number, "reasons": self.reasons}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Supporter:
    """One prompt passage as support for generated sentences: its `[n]`, its content stems, its units' vectors."""

    number: int
    vocabulary: set[str]
    unit_vectors: np.ndarray

    def similarity(self, vector: np.ndarray) -> float:
        """The best cosine similarity of `vector` to one of the passage's units (-1.0 without units)."""
        return float(np.max(self.unit_vectors @ vector)) if len(self.unit_vectors) else -1.0


def passage_source(passage: Passage) -> str:
    """A passage as quotable source text: its title, heading and text."""
    return f"{passage.title}\n{passage.heading}\n{passage.text}"


def specifics(text: str) -> list[str]:
    """Everything in `text` that must be quoted from a source rather than invented (see module docstring)."""
    found: list[str] = [code.strip() for code in _INLINE_CODE.findall(text)]  # `[1, 4]` in code is a list
    text = _MARKER.sub(" ", _INLINE_CODE.sub(" ", text))
    found += _URL.findall(text)
    found += _LINK_TARGET.findall(text)
    prose = _URL.sub(" ", text)
    for pattern in (_FLAG, _PATH, _DOTTED, _SNAKE, _SCOPED, _CAMEL, _ENV, _NUMBER):
        found += pattern.findall(prose)
    found += _CALL.findall(prose)
    found += [name for name in _HYPHENATED.findall(prose) if _names_something(name.split("-"))]
    found += [name for name in _LETTERS_AND_DIGITS.findall(prose) if not _ORDINAL.fullmatch(name)]
    unique: list[str] = []
    for item in found:
        item = item.rstrip(".,;:")
        if item and item.lower() not in _NOT_IDENTIFIERS and item not in unique:
            unique.append(item)
    return unique


def _quoted_phrases(text: str) -> list[str]:
    """The phrases `text` puts in quotation marks (`_QUOTED`), outside inline code, trimmed of end punctuation."""
    prose = _INLINE_CODE.sub(" ", text)
    phrases = (next(group for group in match.groups() if group is not None).strip(" .,;:!?")
               for match in _QUOTED.finditer(prose))
    return [phrase for phrase in phrases if phrase]


def _names_something(parts: Sequence[str]) -> bool:
    """Whether a hyphenated word is a name or value (`onnx-v2`, `utf-8`), not English (`read-only`)
    or a range (`3-4`)."""
    if all(part.isdigit() for part in parts):
        return False
    return any(not part.isalpha() or not is_everyday_word(part.lower()) for part in parts)


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


class Sources:
    """The texts an answer may quote from (its passages and the question), ready for look-ups."""

    def __init__(self, texts: Sequence[str]) -> None:
        joined = "\n".join(texts)
        self.normalised = _normalise(joined)
        self._numbers = set(_NUMBER.findall(joined))

    def contains(self, specific: str) -> bool:
        """Whether `specific` occurs: a number as a whole number, anything else case- and spacing-blind."""
        if _NUMBER.fullmatch(specific):
            return specific in self._numbers
        return _normalise(specific) in self.normalised

    def missing(self, text: str) -> list[str]:
        """The specifics of `text` (see `specifics`) that occur nowhere in the sources."""
        return [item for item in specifics(text) if not self.contains(item)]


class SupportChecker:
    """Checks generated text against the passages of one answer (and its question)."""

    def __init__(self, *, question: str, ranked: Sequence[ScoredPassage], numbers: Sequence[int],
                 embed: Callable[[Sequence[str]], Sequence[Sequence[float]]],
                 config: SupportConfig = SupportConfig(), already_shown: str = "") -> None:
        passages = [passage_source(item.passage) for item in ranked]
        self._sources = Sources([question, *passages])
        self._passages = Sources(passages)
        # The question's own words support nothing; with `one_passage` off every passage lends all the words.
        vocabularies = ([term_set([source]) for source in passages] if config.one_passage
                        else [term_set(passages)] * len(passages))
        self._supporters = [
            _Supporter(number=number, vocabulary=vocabulary,
                       unit_vectors=np.asarray([unit.vector for unit in item.units], dtype=np.float32))
            for item, number, vocabulary in zip(ranked, numbers, vocabularies, strict=True)]
        self._embed = embed
        self._config = config
        self._shown = _normalise(_MARKER.sub(" ", already_shown))

    def check(self, text: str) -> list[Verdict]:
        """A verdict for each sentence, list item and code block of `text`, in order."""
        units = split_units(text)
        prose = [unit.text for unit in units if unit.kind != "code"]
        vectors = np.asarray(self._embed(prose), dtype=np.float32) if prose else np.zeros((0, 1))
        verdicts: list[Verdict] = []
        prose_index = 0
        for unit in units:
            if unit.kind == "code":
                verdicts.append(self._check_code(unit.text))
                continue
            verdicts.append(self._check_sentence(unit.text, unit.kind, vectors[prose_index]))
            prose_index += 1
        return verdicts

    def _support(self, terms: Sequence[str], vector: np.ndarray) -> tuple[float, float, int | None]:
        """(lexical, similarity, passage number) of the passage that supports a sentence best: among
        those that pass `SupportConfig.passes`, the one with the most similar unit; when none passes, the
        passage whose unit is most similar (what the sentence is about, and why it fails)."""
        figures = [(coverage(terms, supporter.vocabulary) if terms else 0.0, supporter.similarity(vector),
                    supporter.number) for supporter in self._supporters]
        passing = [figure for figure in figures if self._config.passes(figure[0], figure[1])]
        return max(passing or figures, key=lambda figure: figure[1], default=(0.0, -1.0, None))

    def _check_sentence(self, text: str, kind: str, vector: np.ndarray) -> Verdict:
        found = specifics(text)
        reasons = [f"not in the passages: {item}" for item in found if not self._sources.contains(item)]
        terms = content_terms(_MARKER.sub(" ", text))
        lexical, similarity, number = self._support(terms, vector)
        config = self._config
        if self._shown and _normalise(_MARKER.sub(" ", text)).strip(" .,;:") in self._shown:
            reasons.append("repeats the quotes already shown")
        if _MARKER.sub("", text).rstrip(" *_").endswith("?"):
            reasons.append("asks a question instead of answering")
        if (meta := _META.search(text)) and not self._passages.contains(meta.group(0)):  # docs may say "the user"
            reasons.append(f"talks about the question, not its subject: {meta.group(0)!r}")
        if (pointer := _POINTER.search(text)) and not self._passages.contains(pointer.group(0)):
            reasons.append(f"points somewhere instead of answering: {pointer.group(0)!r}")
        reasons += [f"quotes what the passages do not say: {quoted!r}" for quoted in _quoted_phrases(text)
                    if not self._passages.contains(quoted)]
        if not terms:
            reasons.append("says nothing checkable")
        elif len(set(terms)) < config.min_terms and not found:
            reasons.append(f"says too little: {len(set(terms))} content word(s) and nothing specific")
        elif lexical < config.min_lexical:
            reasons.append(f"content words supported {lexical:.2f} < {config.min_lexical} by its closest passage")
        elif not config.passes(lexical, similarity):
            reasons.append(f"similarity {similarity:.2f} < {config.min_similarity}")
        return Verdict(text=text, kind=kind, supported=not reasons, lexical=lexical, similarity=similarity,
                       number=number, reasons=reasons)

    def _check_code(self, text: str) -> Verdict:
        reasons: list[str] = []
        body = [line for line in text.split("\n")[1:-1] if line.strip()]
        for line in body:
            if _normalise(line) in self._sources.normalised:
                continue
            if not _CODE_LIKE.search(line):
                reasons.append(f"prose in a code block, not in the passages: {line.strip()[:80]}")
                continue
            missing = self._sources.missing(line) + [word for word in re.findall(r"[A-Za-z_]\w+", line)
                                                     if not self._sources.contains(word)]
            if missing:
                reasons.append(f"code line not in the passages: {line.strip()[:80]}")
        if not body:
            reasons.append("empty code block")
        return Verdict(text=text, kind="code", supported=not reasons, lexical=1.0 if not reasons else 0.0,
                       similarity=0.0, number=None, reasons=reasons)


def published_summary(verdicts: Sequence[Verdict]) -> str:
    """The supported sentences and code blocks, each prose sentence ending with a citation `[n]`."""
    parts: list[str] = []
    for verdict in verdicts:
        if not verdict.supported:
            continue
        if verdict.kind == "code":
            parts.append(f"\n{verdict.text}\n")
            continue
        text = _balanced_backticks(verdict.text)
        text = f"• {text}" if verdict.kind == "item" else text
        if not _MARKER.search(text) and verdict.number is not None:
            text = f"{text.rstrip()} [{verdict.number}]"
        parts.append(text)
    return re.sub(r"\n{3,}", "\n\n", " ".join(parts).replace(" \n", "\n").replace("\n ", "\n")).strip()


def _balanced_backticks(text: str) -> str:
    """`text` without a lone backtick at either end when its backticks do not pair (it would open code to the end)."""
    if text.count("`") % 2 == 0:
        return text
    if text.startswith("`"):
        return text[1:]
    return text[:-1] if text.endswith("`") else text
