"""Words that carry meaning: tokenising, stop words and stemming shared by evidence, support and abstention (pure).

Three parts of the answer path compare a question or a generated sentence with passages word by word:
evidence selection (lexical cues next to embedding similarity), the support check (are a sentence's
content words in the passages?) and abstention (does the evidence cover the question's key terms?).
They must agree on what a "content word" is, so it is defined once here.

Stemming uses the maintained Snowball English stemmer (`snowballstemmer`, the one Sphinx and
Lucene use) so "configure", "configuring" and "configuration" match; with PyStemmer installed it
runs Snowball's C implementation (the same stems on all 25,928 words of the Python docs, 1.7 µs a
word instead of 35: a question's first reading of its passages' sentences is mostly stemming).
Stop words are scikit-learn's English list plus the chat filler teammates put around questions in
Slack ("hey", "anyone", "quick q"), which says nothing about what is asked.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterable
from functools import lru_cache

import snowballstemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

CHAT_FILLER = frozenset({
    "i'd", "i'm", "i've", "i'll", "we're", "we've", "we'd", "you're", "it's", "that's", "what's", "there's",
    "don't", "doesn't", "can't", "won't", "isn't", "aren't", "didn't", "wasn't", "huh", "teammate", "teammates",
    "coworker", "colleague", "manager", "boss", "ya", "yeah", "yep",
    "hey", "hi", "hello", "folks", "guys", "team", "anyone", "anybody", "someone", "somebody", "know", "knows",
    "knew", "wondering", "wonder", "quick", "question", "questions", "q", "pls", "please", "thanks", "thank",
    "ok", "okay", "cool", "idea", "ideas", "help", "tell", "explain", "way", "ways", "thing", "things", "stuff",
    "want", "wants", "need", "needs", "trying", "try", "tried", "use", "used", "using", "uses", "make", "makes",
    "making", "work", "works", "working", "get", "gets", "got", "getting", "just", "really", "actually",
    "basically", "like", "kinda", "sorta", "best", "good", "right", "correct", "proper", "properly", "possible",
    "able", "does", "doing", "did", "done", "say", "says", "said", "mean", "means", "happen", "happens",
    "happening", "going", "gonna", "wanna", "lol", "btw", "fyi", "tbh", "imo", "asap", "question's", "let",
    "lets", "ask", "asked", "asking", "something", "anything", "everything", "nothing", "simple", "easy",
    "easiest", "better", "instead", "still", "also", "maybe",
    # chat shorthand: "any ppl know…", "two qs", "thx" (not in the WordPiece vocabulary, so without
    # this they read as undocumented names and the question was refused as "unknown terms")
    "ppl", "qs", "q's", "thx", "ty", "tyvm", "plz", "u", "ur", "rn", "idk", "iirc", "afaik", "imho",
    "smth", "sth", "abt", "tho", "cuz", "coz", "dunno", "gotta", "lemme", "gimme", "yall", "y'all", "hmm", "hm",
    "nvm", "np", "ppl's",
    # contractions typed without the apostrophe, as Slack messages often are ("whats the env var",
    # "dont see it"): otherwise "dont" and "isnt" read as names the documents never mention
    "whats", "hows", "wheres", "whos", "whens", "whys", "thats", "theres", "heres", "dont", "doesnt", "didnt",
    "cant", "wont", "couldnt", "shouldnt", "wouldnt", "isnt", "arent", "wasnt", "werent", "havent", "hasnt", "hadnt",
    "im", "ive", "youre", "youve", "weve", "theyre", "itll", "thatll",
})
"""Words of Slack chatter around a question; with the stop words they never count as key terms."""

STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | CHAT_FILLER

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9']*|[0-9]+(?:\.[0-9]+)*")
_stemmer_lock = threading.Lock()
_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of a lower-case word (cached: the same words recur across passages)."""
    with _stemmer_lock:  # Snowball stemmer objects keep state between calls
        return _stemmer.stemWord(word)


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Everyday English words: the whole alphabetic words of the bundled MiniLM's WordPiece vocabulary.

    BERT's vocabulary (≈22,500 whole words) holds the words of general English text; product and
    tool names ("terraform", "fastapi", "kubernetes") and team slang are not in it. Abstention uses
    this to tell a question about something the documents never name from one merely worded
    differently (bot/abstention.py).
    """
    from knowledge.embedding import bundled_model_dir

    with (bundled_model_dir() / "vocab.txt").open(encoding="utf-8") as vocabulary:
        return frozenset(line.strip() for line in vocabulary if line.strip().isalpha())


SHORT_FORMS = frozenset({
    "env", "envs", "var", "vars", "config", "configs", "repo", "repos", "db", "dbs", "auth", "doc", "docs", "dep",
    "deps", "dir", "dirs", "arg", "args", "param", "params", "msg", "msgs", "prod", "dev", "func", "lib", "libs",
    "pkg", "pkgs", "src", "tmp", "impl", "perf", "spec", "specs", "creds", "cert", "certs",
    # general computing words and abbreviations any programmer uses ("stdlib way to copy a file?",
    # "CLI tool on linux: …"): they are not the subject of a question the documents may lack
    "stdlib", "cli", "gui", "api", "apis", "os", "vm", "repl", "ide", "url", "urls", "http", "https", "sdk",
    "ui", "ux", "cpu", "gpu", "ram", "io", "oop", "regex", "json", "csv", "html", "sql", "async", "ascii",
    "unicode", "utf", "gc", "ci", "cmd", "exe", "app", "apps", "idiomatic", "offline", "online", "runtime",
})
"""Everyday programmers' short forms and computing words ("env var", "the repo", "prod db", "stdlib"):
they say what is asked in other words, they name no product. Not in the WordPiece vocabulary, so
without this a question written "what env var picks …" was refused as asking about an undocumented "env"."""


_INFLECTIONS = (("iest", "y"), ("est", ""), ("est", "e"), ("ied", "y"), ("ed", ""), ("ed", "e"), ("ing", ""),
                ("ing", "e"))
"""Superlative and verb endings, and what each may replace ("cleanest" → clean, "wedged" → wedge,
"tidied" → tidy). Not "-s" or "-er": product names are shaped like plurals and agent nouns
("pandas", "polars", "docker"), and those must stay names."""
NEGATING_PREFIX = "un"
"""A prefix that makes a new word of an everyday one ("untangle", "unconditional", "undecorate")."""


def is_everyday_word(word: str) -> bool:
    """Whether the lower-case `word` is everyday English, a programmers' short form, a contraction
    ("couldn't") or a number ("3.11.4" is a version, "70s" a decade): anything but a name."""
    return (word in common_words() or word in SHORT_FORMS or word in STOP_WORDS or "'" in word
            or word[0].isdigit() or _inflects_an_everyday_word(word))


def _inflects_an_everyday_word(word: str) -> bool:
    """Whether `word` is an inflection (`_INFLECTIONS`) or an un- form of a word of the vocabulary.

    The WordPiece vocabulary holds the common forms of a word, not all of them: without this a
    teammate's "cleanest idiom?" or "how to untangle?" read as names the documents never mention, and
    the question was refused as asking about something undocumented. A lemmatiser's dictionary would
    also turn product names shaped like plurals into words ("pandas" → panda), so the rule is kept
    to endings that names rarely take, and to base words of at least three letters.
    """
    vocabulary = common_words()
    forms = [word]
    if word.startswith(NEGATING_PREFIX) and len(word) >= 6:
        unprefixed = word[len(NEGATING_PREFIX):]
        if unprefixed in vocabulary:
            return True
        forms.append(unprefixed)
    for form in forms:
        for ending, replacement in _INFLECTIONS:
            stem_part = form[:-len(ending)]
            if not form.endswith(ending) or len(stem_part) < 3:
                continue
            bases = {stem_part + replacement}
            # "flapping" → flap, "biggest" → big; a superlative doubles only after a short word
            # ("unittest" is no superlative of "unit")
            if replacement == "" and stem_part[-1] == stem_part[-2] and (ending != "est" or len(stem_part) <= 4):
                bases.add(stem_part[:-1])
            if any(len(base) >= 3 and base in vocabulary for base in bases):
                return True
    return False


def distinctive_terms(text: str) -> list[str]:
    """Stems of the content words of `text` that are not everyday English: names, jargon, slang."""
    return [stem(word) for word in words(text) if is_content_word(word) and not is_everyday_word(word)]


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.'-]*")
"""A word as typed, identifiers whole ("acks_late", "sys.monitoring", "free-threaded")."""


def spelled_as_asked(text: str, stems: Collection[str], *, limit: int = 3) -> list[str]:
    """How `text` itself spells the distinctive words whose stems are `stems`, in order, once each
    (case-insensitively), at most `limit`: "Kubernetes" for the stem "kubernet", and an identifier
    whole ("acks_late" for "ack"), so a refusal can name what the documents never mention."""
    found: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0).rstrip(".'-")
        if token.lower() in (seen.lower() for seen in found):
            continue
        if any(term in stems for term in distinctive_terms(token)):
            found.append(token)
            if len(found) == limit:
                break
    return found


def words(text: str) -> list[str]:
    """Lower-case word tokens; identifiers split at dots and underscores (`sys.modules` → sys, modules)."""
    return [match.group(0).lower().strip("'") for match in _WORD.finditer(text.replace("_", " "))]


def is_content_word(word: str) -> bool:
    """Not a stop word or chat filler, and long enough to mean something (numbers always count)."""
    return word[0].isdigit() or (len(word) >= 2 and word not in STOP_WORDS)


def content_terms(text: str) -> list[str]:
    """The stems of the content words of `text`, in order, with repeats."""
    return list(_content_terms(text))


@lru_cache(maxsize=8192)
def _content_terms(text: str) -> tuple[str, ...]:
    """Cached per text: every question re-reads the sentences of the passages it retrieves, and the
    same passages come back for many questions (tokenising and stemming them was ~10 ms of a
    question's ~40 ms of evidence work in a profile of 50 FAQ questions; a burst of questions about a
    handbook re-reads the same few sentences). Bounded: 8,192 texts, a few MB."""
    return tuple(stem(word) for word in words(text) if is_content_word(word))


def term_set(texts: Iterable[str]) -> set[str]:
    """Every content stem occurring in any of `texts`."""
    found: set[str] = set()
    for text in texts:
        found.update(_content_terms(text))
    return found


def coverage(terms: Iterable[str], vocabulary: set[str]) -> float:
    """Share of the distinct `terms` found in `vocabulary` (1.0 when there are no terms to find)."""
    distinct = set(terms)
    if not distinct:
        return 1.0
    return len(distinct & vocabulary) / len(distinct)
