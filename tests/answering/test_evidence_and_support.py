"""Quotable units, evidence selection, the support checker and the abstention rule, on the real embedder."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bot.abstention import AbstentionConfig, RankingFigures, Relevance, assess, is_loose
from bot.evidence import EvidenceConfig, evidence_markdown, select_evidence, trim_code
from bot.lexicon import content_terms, distinctive_terms, spelled_as_asked
from bot.passage_units import Unit, split_units
from bot.support import SupportChecker, SupportConfig, published_summary, specifics
from bot.unit_scoring import ScoredPassage, ScoredUnit, score_passages
from store.types import Passage

RST = """This type of bug commonly bites neophyte programmers.  Consider this function::

   def foo(mydict={}):  # Danger: shared reference to one dict for all calls
       mydict[key] = value
       return mydict

Default values are created exactly once, when the function is defined, e.g. at import time.
Use ``None`` as the default and see :func:`copy.deepcopy` or :ref:`the tutorial <tut-defaults>`.

- Immutable objects such as numbers are safe.
- Mutable objects such as lists can lead to confusion.
"""

DEPLOY = """# Deploying

Deploys run from CI. To deploy the API by hand, run `make deploy ENV=staging` from the repository root.

```sh
make deploy ENV=staging
kubectl rollout status deploy/api
```

The rollout takes about 4 minutes. Logs are at https://logs.example.com/api.
"""


def passage(text: str, *, number: int = 1, title: str = "Doc", heading: str = "") -> Passage:
    return Passage(chunk_id=number, document_id=number, title=title, uri=f"doc:{title}", heading=heading,
                   text=text, score=0.6, scope="workspace", similarity=0.6)


def test_units_follow_the_markup() -> None:
    units = split_units(RST)
    kinds = [unit.kind for unit in units]
    assert kinds == ["sentence", "sentence", "code", "sentence", "sentence", "item", "item"]
    assert units[1].text == "Consider this function:"  # rST "::" reads ":"
    assert units[2].text.startswith("```\ndef foo(mydict={}):") and units[2].text.endswith("return mydict\n```")
    assert units[3].text.endswith("e.g. at import time.")  # never split after "e.g."
    assert units[4].text == "Use `None` as the default and see `copy.deepcopy` or `the tutorial`."
    assert units[5].text == "Immutable objects such as numbers are safe."
    titled = split_units("Defaults\n========\n\nThey are shared.\n\n## Why\n\nBecause.")
    assert [unit.text for unit in titled] == ["They are shared.", "Because."]  # headings are context


def test_a_passage_cut_inside_an_indented_list_item_reads_as_prose_not_code() -> None:
    """A chunk may start mid-item: its hard-wrapped continuation lines are the sentence's, not a code block."""
    cut = ("top three\n     passages that match the question best, are quoted\n     verbatim with their link.\n\n"
           "Long code blocks are trimmed at a line boundary with a\n     pointer to the source.")
    units = split_units(cut)
    assert [unit.kind for unit in units] == ["sentence", "sentence"]
    assert units[1].text == "Long code blocks are trimmed at a line boundary with a pointer to the source."
    wrapped = ("Both thresholds were calibrated on the dev questions of the\n     two knowledge bases (*Quality*).\n"
               "     Chat shorthand (ppl, qs, …) and numbers are not names: a question\n     asks again.")
    assert [unit.kind for unit in split_units(wrapped)] == ["sentence", "sentence"], \
        "the item's next sentence at the indent of its wrapped lines is prose, not a block"
    quoted = split_units("Look at this session:\n    >>> 1 + 1\n    2\n")
    assert [unit.kind for unit in quoted] == ["sentence", "code"], "after a finished line, a deeper block is code"


def test_rst_comments_are_notes_to_the_authors_not_quotes() -> None:
    text = ("Python has many modules for web systems.\n\n.. XXX check if wiki page is still up to date\n\n"
            "A summary is maintained at https://wiki.python.org/moin/WebProgramming.\n\n"
            ".. XXX relevant for Python 3?\n\n   If the object was a local variable, it stays alive.\n\n"
            "..\n   XXX need review for Windows\n\n..\n\nThe end.")
    assert [unit.text for unit in split_units(text)] == [
        "Python has many modules for web systems.",
        "A summary is maintained at https://wiki.python.org/moin/WebProgramming.", "The end."]
    directives = split_units(".. note:: Kept.\n\n.. code-block:: python\n\n   x = 1\n")
    assert [unit.kind for unit in directives] == ["sentence", "code"]


def test_markdown_fences_and_table_rows_are_whole_units() -> None:
    units = split_units(DEPLOY + "\n| variable | meaning |\n|---|---|\n| `SLACK_APP_TOKEN` | socket mode token |\n")
    code = [unit for unit in units if unit.kind == "code"]
    assert len(code) == 1 and "kubectl rollout status deploy/api" in code[0].text
    assert [unit.text for unit in units if unit.kind == "row"] == [
        "| variable | meaning |\n| `SLACK_APP_TOKEN` | socket mode token |"], "a row under its header row"
    headless = split_units("| `SLACK_APP_TOKEN` | socket mode token |\n| `SLACK_BOT_TOKEN` | bot token |\n\nNext.")
    assert [(unit.kind, unit.text) for unit in headless] == [
        ("row", "| `SLACK_APP_TOKEN` | socket mode token |"), ("row", "| `SLACK_BOT_TOKEN` | bot token |"),
        ("sentence", "Next.")]
    two_tables = split_units("| a | b |\n|---|---|\n| 1 | 2 |\n\nBetween.\n\n| c | d |\n|---|---|\n| 3 | 4 |\n")
    assert [unit.text for unit in two_tables if unit.kind == "row"] == ["| a | b |\n| 1 | 2 |", "| c | d |\n| 3 | 4 |"]


def test_myst_directives_roles_and_targets_read_as_the_rendered_page() -> None:
    text = ("(install)=\n## Install\n\nSee {ref}`the guide <guide>` and {doc}`topics/caching`, or [PyPI][] "
            "and [the index][idx].\n\n"
            ":::{warning}\n:class: dropdown\n\nHashes must match.\n\n- one\n- two\n:::\n\n"
            "```{admonition} Keyring\nStore the token in the keyring.\n```\n\n"
            "```{versionadded} 23.1\n```\n\n"
            "```{code-block} python\n:linenos:\nimport pip\n```\n\n"
            "```{toctree}\n:hidden:\ncli/index\n```\n\n"
            "```{pip-cli}\n$ pip install x\n```\n\nCitations [1][2] stay.\n\n[PyPI]: https://pypi.org\n"
            "[idx]: https://example.com/simple \"The index\"\n")
    assert [(unit.kind, unit.text) for unit in split_units(text)] == [
        ("sentence", "See `the guide` and `topics/caching`, or PyPI and the index."),
        ("sentence", "Warning: Hashes must match."), ("item", "one"), ("item", "two"),
        ("sentence", "Keyring: Store the token in the keyring."),
        ("sentence", "New in version 23.1."),
        ("code", "```python\nimport pip\n```"),
        ("code", "```\n$ pip install x\n```"),
        ("sentence", "Citations [1][2] stay.")]


def test_version_notes_read_as_sphinx_renders_them() -> None:
    text = ("```{versionadded} 20.1\nYou can use `pip cache dir`.\n```\n\n.. versionchanged:: 3.2 Now a list.\n\n"
            ".. deprecated:: 3.11\n\n.. note::\n   Mind the gap.\n")
    assert [unit.text for unit in split_units(text)] == [
        "New in version 20.1: You can use `pip cache dir`.", "Changed in version 3.2: Now a list.",
        "Deprecated since version 3.11.", "Note: Mind the gap."]


def test_a_myst_role_name_inside_inline_code_is_code_not_a_role() -> None:
    """The README itself, asked about MyST, quoted "an admonition fence (`{note}`, `:::{warning}`) is prose, a
    `{code-block} python` fence" with `{warning}` taken for a role reaching to the next backtick."""
    text = "A fence (`{note}`, `:::{warning}`) is prose, a `{code-block} python` fence is code; see {ref}`pip freeze`."
    assert [unit.text for unit in split_units(text)] == [
        "A fence (`{note}`, `:::{warning}`) is prose, a `{code-block} python` fence is code; see `pip freeze`."]


def test_myst_tabs_and_definition_lists_read_as_labelled_prose() -> None:
    """pip's configuration page: where the files live, per system, in `{tab}` fences of definition lists."""
    text = ("```{tab} Unix\n\nGlobal\n: In a \"pip\" subdirectory, for example {file}`/etc/xdg/pip/pip.conf`.\n\n"
            "User\n: {file}`$HOME/.config/pip/pip.conf`\n```\n\n```{dropdown}\nHidden details.\n```\n")
    assert [(unit.kind, unit.text) for unit in split_units(text)] == [
        ("sentence", 'Unix: Global: In a "pip" subdirectory, for example `/etc/xdg/pip/pip.conf`.'),
        ("sentence", "User: `$HOME/.config/pip/pip.conf`"), ("sentence", "Hidden details.")]


def test_rst_tabs_are_read_not_dropped_with_the_unknown_directives() -> None:
    """pip's user guide: "pip is able to uninstall most packages like so:" and the commands sat in `.. tab::`
    directives, which were dropped whole with their code like any directive the splitter did not know."""
    text = ("pip is able to uninstall most packages like so:\n\n.. tab:: Unix/macOS\n   :sync: unix\n\n"
            "   .. code-block:: shell\n\n      python -m pip uninstall SomePackage\n\n"
            ".. tab:: Windows\n\n   Use the launcher.\n\n.. unknown-directive:: x\n\n   Dropped.\n\n"
            "(Hash-checking mode)=\n\n.. only:: html\n\n   Click the prompts (:term:`>>>` and :term:`...`).\n\n"
            "After.")
    assert [(unit.kind, unit.text) for unit in split_units(text)] == [
        ("sentence", "pip is able to uninstall most packages like so:"), ("sentence", "Unix/macOS:"),
        ("code", "```\npython -m pip uninstall SomePackage\n```"), ("sentence", "Windows: Use the launcher."),
        ("sentence", "Click the prompts (`>>>` and `...`)."), ("sentence", "After.")]
    assert [unit.text for unit in split_units(":meth:`!open`, :func:`.join`, :term:`...`, :func:`~os.path.join`")] == [
        "`open`, `join`, `...`, `join`"]


def test_html_comments_are_never_quoted_but_code_and_arrows_are_kept() -> None:
    """Node's API docs keep each function's history in `<!-- YAML … -->`: the evidence quoted "version: v5.7.0
    pr-url: https://github.com/nodejs/node/pull/4598 description: The `shell` option is supported now. -->"."""
    node = ("### `child_process.spawn(command[, args][, options])`\n\n<!-- YAML\nadded: v0.1.90\nchanges:\n"
            "  - version: v5.7.0\n    pr-url: https://github.com/nodejs/node/pull/4598\n"
            "    description: The `shell` option is supported now.\n-->\n\n* `command` {string} The command to run.\n")
    assert [unit.text for unit in split_units(node)] == ["`command` {string} The command to run."]
    cut = "    description: The `shell` option is supported now.\n-->\n\nSpawns a new process. <!-- TODO --> Fast."
    assert [unit.text for unit in split_units(cut)] == ["Spawns a new process.", "Fast."]
    kept = ("Use `<!-- x -->` to hide text, or ``<!-- y -->``.\n\n```html\n<!-- in code -->\n```\n\n"
            "Choose Start --> Programs --> Python.\n\n<!-- one line -->\nEnd <!-- the chunk ends here")
    assert [unit.text for unit in split_units(kept)] == [
        "Use `<!-- x -->` to hide text, or `<!-- y -->`.", "```html\n<!-- in code -->\n```",
        "Choose Start --> Programs --> Python.", "End"]


def test_escaped_punctuation_reads_as_the_mark_outside_code() -> None:
    """Node's `{string\\[]}` and Python's `utf-16\\*` were quoted with their backslashes."""
    text = ("* `args` {string\\[]} List of string arguments.\n\nThe utf-16\\* codecs, 3600\\*24 seconds, `a\\*b` "
            "and ``c\\*d`` stay.\n\n>>> print('\\*')")
    assert [unit.text for unit in split_units(text)] == [
        "`args` {string[]} List of string arguments.", "The utf-16* codecs, 3600*24 seconds, `a\\*b` and `c\\*d` stay.",
        ">>> print('\\*')"]


def test_rst_hyperlinks_read_as_their_text_or_a_markdown_link_to_the_web() -> None:
    units = split_units("pip searches `PyPI`_ through the `simple API <https://pypi.org/simple/>`_, "
                        "as `the guide <guide-label>`__ says.\n\nKeep `code` and ``x``_y as written.")
    assert [unit.text for unit in units] == [
        "pip searches PyPI through the [simple API](https://pypi.org/simple/), as the guide says.",
        "Keep `code` and `x`_y as written."]


def test_a_rows_budget_words_are_its_own_cells_not_its_header_or_the_pipes() -> None:
    """Rows of one table are quoted under one header row, so each row pays only for what it adds."""
    rows = split_units("| variable | default | meaning |\n|---|---|---|\n| `KB_A` | `5` | the most seconds |\n"
                       "| `KB_B` | empty | a comma-separated list |\n")
    assert [unit.words for unit in rows] == [5, 5]
    assert split_units("The deploy takes - at most - four minutes.")[0].words == 9  # prose counts as before


def test_content_terms_drop_chat_filler_and_stem() -> None:
    assert content_terms("hey folks, quick q: anyone know how to configure the deploys?") == ["configur", "deploy"]
    terms = content_terms("configure the deploys")
    terms.append("changed by a caller")  # the cached terms are handed out as a copy
    assert content_terms("configure the deploys") == ["configur", "deploy"]


def test_stemming_runs_on_snowballs_c_implementation() -> None:
    """PyStemmer (a dependency) makes snowballstemmer use Snowball's C code: the same stems, ~20x faster."""
    from bot import lexicon

    assert type(lexicon._stemmer).__module__ == "Stemmer"
    assert [lexicon.stem(word) for word in ("configuring", "configuration", "generously")] == [
        "configur", "configur", "generous"]


def test_chat_shorthand_is_filler_not_an_undocumented_name() -> None:
    """"ppl"/"qs"/"thx" are not in the everyday-word list; they must not read as names the docs never mention."""
    question = "two qs for u ppl: idk how to configure the deploys, thx"
    assert content_terms(question) == ["configur", "deploy"]
    assert distinctive_terms(question) == distinctive_terms("how to configure the deploys")
    assert not {"ppl", "qs", "idk", "thx", "u"} & set(distinctive_terms(question))


def test_contractions_typed_without_the_apostrophe_are_filler_too() -> None:
    question = "whats the env var for the log level? dont see it and im stuck, isnt it documented?"
    assert distinctive_terms(question) == distinctive_terms("what's the env var for the log level? don't see it "
                                                            "and i'm stuck, isn't it documented?")
    assert not {"what", "dont", "im", "isnt"} & set(content_terms(question))
    assert "wont" not in distinctive_terms("the deploy wont start")


def test_programmers_short_forms_are_not_undocumented_names() -> None:
    """"env var", "the repo", "prod db" say what is asked in other words; a real tool name still stands out."""
    assert distinctive_terms("what env var picks the prod db for the repo?") == []
    assert distinctive_terms("stdlib way for a CLI tool? couldn't find it for 3.11.4") == []
    named = distinctive_terms("what env var picks the terraform backend?")
    assert "terraform" in named and not {"env", "var"} & set(named)


def test_evidence_quotes_the_opening_and_the_best_matching_units_verbatim(embedder) -> None:
    first = passage(DEPLOY, title="Deploying")
    other = passage("Lunch is at noon. The cafeteria is on floor 3.", number=2, title="Lunch")
    ranked = score_passages("how do I deploy the API by hand?", [first, other], embedder.embed_documents)
    quotes = select_evidence(ranked, [1, 2], EvidenceConfig(lead_words=20, budget_words=60))
    assert quotes[0].text == "Deploys run from CI." and all(q.number == 1 for q in quotes)
    assert any("make deploy ENV=staging" in q.text and q.kind == "sentence" for q in quotes)
    for quote in quotes:  # verbatim: every quote is in the source text (markup aside)
        assert quote.text.replace("```sh\n", "").replace("\n```", "") in DEPLOY
    rendered = evidence_markdown(quotes)
    assert rendered.startswith("> Deploys run from CI.") and "[1]" in rendered


def test_words_two_overlapping_chunks_share_are_quoted_once(embedder) -> None:
    """Consecutive chunks overlap: the second's opening repeats the first's closing sentences."""
    shared = "Rotate the API keys every ninety days. The security lead approves each rotation."
    first = passage(f"Keys live in the vault. {shared}", title="Secrets")
    second = passage(f"{shared} Old keys are revoked a day later.", number=2, title="Secrets")
    ranked = score_passages("how often do we rotate the API keys?", [first, second], embedder.embed_documents)
    quotes = select_evidence(ranked, [1, 2], EvidenceConfig(lead_words=40, budget_words=80, min_relative_score=0.0))
    texts = [q.text for q in quotes]
    assert texts.count("Rotate the API keys every ninety days.") == 1
    assert "Old keys are revoked a day later." in texts  # what only the second chunk says is still quoted
    assert evidence_markdown(quotes).count("ninety days") == 1


def test_a_short_unit_inside_another_sentence_is_still_quoted() -> None:
    from bot.evidence import _already_quoted

    def chosen(text: str) -> dict[tuple[int, int], tuple[int, ScoredUnit]]:
        unit = ScoredUnit(unit=Unit(text=text, kind="sentence", position=0, words=len(text.split())),
                          similarity=0.5, lexical=0.0, score=0.5, vector=np.zeros(3, dtype=np.float32))
        return {(1, 0): (1, unit)}

    assert not _already_quoted("No.", chosen("Ask for form No. 5 at the desk."))
    assert not _already_quoted("rotate the API keys every", chosen("Then rotate the API keys everywhere."))
    assert _already_quoted("Rotate  the API\nkeys.", chosen("First this. Rotate the API keys. Then that."))


def scored_passage(number: int, units: list[tuple[str, str, float]]) -> ScoredPassage:
    """A passage of `units` (text, kind, score) with the scores given, to steer the selection exactly."""
    scored = [ScoredUnit(unit=Unit(text=text, kind=kind, position=position, words=len(text.split())),  # type: ignore[arg-type]
                         similarity=score, lexical=0.0, score=score, vector=np.zeros(3, dtype=np.float32))
              for position, (text, kind, score) in enumerate(units)]
    return ScoredPassage(passage=passage("\n\n".join(text for text, _, _ in units), number=number), units=scored)


def test_a_lead_in_is_quoted_with_what_it_introduces_or_not_at_all() -> None:
    """Seen on the README: a chunk cut inside a long list ended with "**Remove or find a document**:", and the
    evidence quoted that alone. A lead-in brings its next unit along; with none left in its passage it goes."""
    code = "```\n>>> import py_compile\n>>> py_compile.compile('foo.py')\n```"
    compiling = scored_passage(1, [("To compile one module, use py_compile.", "sentence", 0.5),
                                   ("One way is to use the compile() function interactively:", "sentence", 0.8),
                                   (code, "code", 0.3),
                                   ("This writes the .pyc file next to the source.", "sentence", 0.4)])
    guide = scored_passage(2, [("**Ask**: mention the bot in a channel.", "item", 0.4),
                               ("**Remove or find a document**:", "item", 0.79)])
    config = EvidenceConfig(lead_words=5, budget_words=100, min_relative_score=0.9)
    quotes = select_evidence([compiling, guide], [1, 2], config)
    assert [(quote.number, quote.position) for quote in quotes] == [(1, 0), (1, 1), (1, 2)]
    assert quotes[2].text == code  # the lead-in's code, below the score bar; the item that ends passage 2 is gone
    running = scored_passage(3, [("A pip command is added, which can be run as follows:", "sentence", 0.8),
                                 ("Unix/macOS:", "sentence", 0.2), ("```\npython -m pip --version\n```", "code", 0.2),
                                 ("Windows:", "sentence", 0.2), ("```\npy -m pip --version\n```", "code", 0.2)])
    chained = select_evidence([running], [3], EvidenceConfig(lead_words=5, budget_words=100))
    assert [quote.text for quote in chained] == ["A pip command is added, which can be run as follows:", "Unix/macOS:",
                                                 "```\npython -m pip --version\n```"]


def test_a_chunk_that_starts_mid_sentence_is_quoted_after_an_ellipsis(embedder) -> None:
    """The passages whose chunk begins inside a sentence (bot/chunk_starts.py) open their quote with "…"."""
    cut = passage("texts, against 0.98 for int8.\n\nThe export runs once at setup.", title="Ingest")
    ranked = score_passages("when does the export run?", [cut], embedder.embed_documents)
    rendered = evidence_markdown(select_evidence(ranked, [1], cut_starts={1}))
    assert rendered.startswith("> … texts, against 0.98 for int8.") and rendered.count("…") == 1
    assert not evidence_markdown(select_evidence(ranked, [1])).startswith("> …"), "only when the chunk says so"


def test_where_a_chunk_begins_is_read_from_the_chunk_before_it() -> None:
    """A repeated tail cut from a word, or a sentence going on after the previous chunk's code, is a cut start;
    a lower-case tool name opening a whole sentence (pip's docs) is not."""
    from bot.chunk_starts import starts_mid_sentence as starts_inside
    from bot.passage_units import split_units
    from store.chunk_neighbours import PreviousChunk

    def starts_mid_sentence(text: str, heading: str, previous: PreviousChunk | None) -> bool:
        return starts_inside(split_units(text)[0], text, heading, previous)  # its first unit, as answers read it

    heading = "Ingest › Backends"
    tail = "texts, against 0.98 for int8."
    word_cut = PreviousChunk(text="Any two backends' vectors are at cosine 0.99 for fp32 " + tail, heading=heading)
    assert starts_mid_sentence(f"{tail}\n\nThe export runs once.", heading, word_cut)
    whole = "pip supports loading credentials from a user's `.netrc` file."
    sentence_cut = PreviousChunk(text="Credentials come from the URL first. " + whole, heading=heading)
    assert not starts_mid_sentence(f"{whole}\n\nIf none are found, pip asks.", heading, sentence_cut)
    after_abbreviation = PreviousChunk(text="Left out: a lone question (e.g. one put to the bot).", heading=heading)
    assert starts_mid_sentence("one put to the bot).\n\nSecrets are scrubbed.", heading, after_abbreviation)
    after_code = PreviousChunk(text="For example, after:\n\n```\nx = 1.2\n```", heading=heading)
    continued = "the value stored for `x` is an approximation."
    assert starts_mid_sentence(continued, heading, after_code)
    assert not starts_mid_sentence(continued, "Another section", after_code), "a section's first chunk"
    assert not starts_mid_sentence(continued, heading, None), "a document's first chunk"
    after_prose = PreviousChunk(text="Caching is on by default.", heading=heading)
    assert not starts_mid_sentence("pip tries to use its cache whenever possible.", heading, after_prose)
    assert not starts_mid_sentence("The export runs once.", heading, word_cut), "upper case: never cut"


def test_long_code_blocks_are_trimmed_at_a_line_boundary_with_a_pointer() -> None:
    code = "```python\n" + "\n".join(f"line_{i} = {i}" for i in range(50)) + "\n```"
    trimmed, cut = trim_code(code, 20)
    assert cut and trimmed.count("\n") == 22 and trimmed.endswith("line_19 = 19\n# …\n```")
    assert trim_code("```\nx = 1\n```", 20) == ("```\nx = 1\n```", False)


def test_specifics_find_what_must_not_be_invented() -> None:
    found = specifics("Run `pip install foo` with --upgrade, set SLACK_APP_TOKEN, open ~/.ssh/config, "
                      "call os.path.join() or my_helper(), see https://x.example/a and ![img](http://i/p.png) "
                      "in 3.11 [2]; e.g. TypeError.")
    for item in ("pip install foo", "--upgrade", "SLACK_APP_TOKEN", "~/.ssh/config", "os.path.join()",
                 "my_helper", "https://x.example/a", "http://i/p.png", "3.11", "TypeError"):
        assert item in found, item
    assert "2" not in found and "e.g" not in found  # citation markers and abbreviations are not specifics
    assert specifics("Use `takewhile(f, [1,4,6])` [3].") == ["takewhile(f, [1,4,6])"]  # a list, not a marker


def test_versions_and_hyphenated_names_are_specifics_but_english_compounds_are_not() -> None:
    """A summary once said the backend "is set to use onnx-v2" (invented) and passed: such values must be quoted."""
    found = specifics("Set it to onnx-v2, or int8 with utf-8 on py3.")
    for item in ("onnx-v2", "int8", "utf-8", "py3"):
        assert item in found, item
    assert specifics("A read-only, up-to-date copy takes 3-4 minutes on the 2nd try.") == ["3", "4"]


@pytest.fixture
def checker(embedder) -> SupportChecker:
    ranked = score_passages("how do I deploy the API?", [passage(DEPLOY, title="Deploying")], embedder.embed_documents)
    return SupportChecker(question="how do I deploy the API?", ranked=ranked, numbers=[1],
                          embed=embedder.embed_documents)


@pytest.mark.parametrize("sentence", [
    "Run `make deploy ENV=staging` from the repository root [1].",
    "To deploy the API by hand, run make deploy from the repository root.",
    "The rollout takes about 4 minutes.",
    "Logs are at https://logs.example.com/api.",
    "```sh\nmake deploy ENV=staging\n```",
    "```\nkubectl rollout status deploy/api\n```",  # a code line quoted verbatim
    "```sh\nmake deploy\n```",  # plain words, but the passage's own line
    'The passage says "Deploys run from CI."',  # a quotation the passage holds verbatim
    "Deploys run from CI: it's the repository's rule, and the API's deploys don't run by hand.",  # apostrophes
])
def test_supported_sentences_pass(checker: SupportChecker, sentence: str) -> None:
    verdicts = checker.check(sentence)
    assert len(verdicts) == 1 and verdicts[0].supported, verdicts[0].reasons


@pytest.mark.parametrize(("sentence", "reason"), [
    ("Run `make release` from the repository root [1].", "make release"),
    ("Run make deploy with --force to skip CI.", "--force"),
    ("The rollout takes about 12 minutes.", "12"),
    ("Logs are at https://logs.example.com/web.", "https://logs.example.com/web"),
    ("Open ~/.kube/config and edit the cluster.", "~/.kube/config"),
    ("Call deploy_api() from the console.", "deploy_api"),
    ("To deploy the API by hand, run make deploy with the staging-v2 environment.", "staging-v2"),
    ("Our cafeteria serves pizza every Friday afternoon.", "content words"),
    ("I hope this helps!", "content words"),
    ("For example: [1]", "says too little"),
    # Faithful but too terse to be close to any unit: the evidence above already quotes the command.
    ("Run `make deploy`.", "similarity"),
    ("```sh\nmake deploy ENV=staging\nrm -rf /var/lib/api\n```", "code line not in the passages"),
    ("```\n1. **Deploy the API by hand.**\n```", "prose in a code block"),  # every word is in the passage
    ("```\ndeploy the API from CI\n```", "prose in a code block"),
    # Seen on the dev paraphrases: every content word supported, and still no answer.
    ("How do I deploy the API by hand from the repository root?", "asks a question"),
    ('The answer to the question "how do I deploy the API by hand?" is: run make deploy.', "talks about the question"),
    ("To deploy the API by hand was asked by the user.", "talks about the question"),
    ("The rollout ends with the quote 'the logs deploy from CI'.", "quotes what the passages do not say"),
    ('Deploys run from "the staging repository root".', "quotes what the passages do not say"),
    # Seen on the README: a pointer instead of an answer, its content words all in the passages.
    ("This can be found in the staging logs of the CI deploy.", "points somewhere instead of answering"),
    ("More details can be found in the deploy runbook.", "points somewhere instead of answering"),
])
def test_unsupported_sentences_are_dropped_with_the_reason(checker: SupportChecker, sentence: str,
                                                           reason: str) -> None:
    verdict = checker.check(sentence)[0]
    assert not verdict.supported and any(reason in r for r in verdict.reasons), verdict.reasons


GC = """# How does Python manage memory?

The details of Python memory management depend on the implementation. The standard implementation of
Python, CPython, uses reference counting to detect inaccessible objects, and another mechanism to collect
reference cycles. Other implementations (such as Jython or PyPy) can rely on a different mechanism such as
a full-blown garbage collector.
"""


def test_passage_words_recombined_into_another_claim_are_dropped_where_the_rule_before_published_them(
        embedder) -> None:
    """Seen on the dev paraphrases (bench/data/summary_sentences.jsonl): fluent sentences made of the passages'
    words that say something the passages do not, and empty lead-ins, passed on content words alone."""
    question = "how does cpython decide when to free objects?"
    ranked = score_passages(question, [passage(GC, title="Memory")], embedder.embed_documents)
    before = SupportConfig(min_lexical=0.6, min_similarity=0.5, strong_lexical=0.85)
    shipped = SupportChecker(question=question, ranked=ranked, numbers=[1], embed=embedder.embed_documents)
    earlier = SupportChecker(question=question, ranked=ranked, numbers=[1], embed=embedder.embed_documents,
                             config=before)
    for wrong in ("Python has two main implementations for handling memory (CPython or Jython).",
                  "To collect this mechanism:"):
        assert earlier.check(wrong)[0].supported, wrong
        verdict = shipped.check(wrong)[0]
        assert not verdict.supported, wrong
    faithful = "CPython uses reference counting to detect inaccessible objects."
    assert shipped.check(faithful)[0].supported and earlier.check(faithful)[0].supported


PYD = ("Yes, .pyd files are DLLs, but there are a few differences. If you have a DLL named foo.pyd, then it must "
       "have a function `PyInit_foo()`. You can then write Python \"import foo\", and Python will search for foo.pyd.")
EXTENDING = ("Extension modules can be written in C or C++. A built-in module is compiled into the interpreter; "
             "other libraries are imported at run time. Call methods with `PyObject_CallMethod()`.")


def test_a_sentence_stitched_from_several_passages_words_is_dropped_though_each_word_is_in_the_prompt(
        embedder) -> None:
    """Seen on the test paraphrases (bench/data/summary_sentences.jsonl): every content word of "A .pyd file
    (Python DLL) can be a built-in Python module or an imported C++ library" is in the prompt, and no passage
    says it. The words must come from the passage the sentence restates."""
    question = "what exactly is a .pyd, is it just a renamed windows dll?"
    ranked = score_passages(question, [passage(PYD, number=1, title="Windows FAQ"),
                                       passage(EXTENDING, number=2, title="Extending")], embedder.embed_documents)
    stitched = "A .pyd file is a DLL that can be a built-in module or an imported C++ library."
    restated = "A .pyd file is a DLL, but there are a few differences."
    checkers = {one: SupportChecker(question=question, ranked=ranked, numbers=[1, 2], embed=embedder.embed_documents,
                                    config=SupportConfig(one_passage=one)) for one in (True, False)}
    assert checkers[False].check(stitched)[0].supported  # the rule before: all the prompt's words together
    verdict = checkers[True].check(stitched)[0]
    assert not verdict.supported and verdict.number == 1 and verdict.lexical < 0.75, verdict
    assert any("content words supported" in reason for reason in verdict.reasons)
    kept = checkers[True].check(restated)[0]
    assert kept.supported and kept.number == 1 and kept.lexical == 1.0, kept.reasons


def test_a_scoped_name_must_occur_whole_not_as_parts_of_another_name(embedder) -> None:
    """`PyObject::CallMethod` is not `PyObject_CallMethod`, though both its parts occur in that name."""
    assert "PyObject::CallMethod" in specifics("Call PyObject::CallMethod or self->ob_type.")
    assert "self->ob_type" in specifics("Call PyObject::CallMethod or self->ob_type.")
    question = "how do i call a method of a python object from C?"
    ranked = score_passages(question, [passage(EXTENDING, title="Extending")], embedder.embed_documents)
    checker = SupportChecker(question=question, ranked=ranked, numbers=[1], embed=embedder.embed_documents)
    verdict = checker.check("Call methods with PyObject::CallMethod from C or C++.")[0]
    assert not verdict.supported and "not in the passages: PyObject::CallMethod" in verdict.reasons
    assert checker.check("Call methods with `PyObject_CallMethod()` from C or C++.")[0].supported


def test_published_summary_keeps_supported_text_and_adds_the_supporting_citation(checker: SupportChecker) -> None:
    verdicts = checker.check("The rollout takes about 4 minutes. Then page the on-call engineer via PagerDuty.")
    assert published_summary(verdicts) == "The rollout takes about 4 minutes. [1]"


def test_the_questions_own_words_do_not_support_a_sentence(embedder) -> None:
    question = "why does the whitespace decide which lines belong to a block in our deploy scripts?"
    ranked = score_passages(question, [passage(DEPLOY, title="Deploying")], embedder.embed_documents)
    checker = SupportChecker(question=question, ranked=ranked, numbers=[1], embed=embedder.embed_documents)
    restated = checker.check("The whitespace decides which lines belong to a block.")[0]
    assert not restated.supported and any("content words supported" in r for r in restated.reasons)
    assert checker.check("Deploys run from CI, or by hand with make deploy.")[0].supported


def test_a_lone_backtick_is_not_published_and_talk_of_the_user_passes_when_the_passages_have_it(embedder) -> None:
    text = "Only the user who installed the app can remove it; the user keeps their data."
    ranked = score_passages("who can remove the app?", [passage(text)], embedder.embed_documents)
    checker = SupportChecker(question="who can remove the app?", ranked=ranked, numbers=[1],
                             embed=embedder.embed_documents)
    verdicts = checker.check("`Only the user who installed the app can remove it.")
    assert verdicts[0].supported, verdicts[0].reasons
    assert published_summary(verdicts) == "Only the user who installed the app can remove it. [1]"


def test_a_sentence_that_repeats_a_quote_shown_above_is_not_published_again(embedder) -> None:
    """The model often copies a quoted command as a sentence of its own, trailing comma and all."""
    text = "`kbbot kb add SOURCE...` takes files, directories and URLs."
    ranked = score_passages("how do I add a page?", [passage(text)], embedder.embed_documents)
    checker = SupportChecker(question="how do I add a page?", ranked=ranked, numbers=[1],
                             embed=embedder.embed_documents, already_shown=f"> {text} [1]")
    for repeat in ("`kbbot kb add SOURCE...`,", "`kbbot kb add SOURCE...` takes files, directories and URLs. [1]"):
        verdict = checker.check(repeat)[0]
        assert not verdict.supported and "repeats the quotes already shown" in verdict.reasons, repeat
    assert checker.check("`kbbot kb add SOURCE...` also takes URLs.")[0].supported


def test_abstention_judges_the_best_evidence_score_and_unknown_key_terms() -> None:
    ranked = [passage(DEPLOY, title="Deploying")]  # passage similarity 0.6
    config = AbstentionConfig(min_score=0.45, unknown_score=0.7, figure="evidence")
    assert assess("how do I deploy the API?", ranked, config, evidence_score=0.6).reason is None
    weak = assess("how do I deploy the API?", ranked, config, evidence_score=0.4)
    assert weak.reason == "low_score" and weak.evidence_score == 0.4 and weak.top_similarity == 0.6
    unknown = assess("how do I deploy the API to Heroku?", ranked, config, evidence_score=0.6, unknown=["heroku"])
    assert unknown.reason == "unknown_terms" and unknown.unknown == ["heroku"]
    assert assess("how do I deploy the API to Heroku?", ranked, replace(config, unknown_score=0.5),
                  evidence_score=0.6, unknown=["heroku"]).reason is None  # scores enough despite the unknown word
    uncovered = assess("how do I deploy the API with Terraform?", ranked, replace(config, min_coverage=0.9),
                       evidence_score=0.6)
    assert uncovered.reason == "not_covered" and "terraform" in uncovered.missing
    assert assess("anything", [], config, evidence_score=0.0).reason == "no_passages"


def test_an_answer_close_to_its_bar_is_a_loose_match() -> None:
    ranked = [passage(DEPLOY, title="Deploying")]  # passage similarity 0.6
    config = AbstentionConfig(min_score=0.45, unknown_score=0.55, figure="evidence", loose_margin=0.06)
    assert config.bar(assess("q", ranked, config, evidence_score=0.6)) == 0.45
    assert is_loose(assess("how do I deploy the API?", ranked, config, evidence_score=0.50), config)
    assert not is_loose(assess("how do I deploy the API?", ranked, config, evidence_score=0.515), config)
    # with a name no document mentions the bar is unknown_score, and the margin counts from there
    named = assess("deploy to Heroku?", ranked, config, evidence_score=0.58, unknown=["heroku"])
    assert named.reason is None and config.bar(named) == 0.55 and is_loose(named, config)
    assert not is_loose(assess("deploy to Heroku?", ranked, config, evidence_score=0.62, unknown=["heroku"]), config)
    # a refusal is never a loose match, and a margin of 0 marks none
    assert not is_loose(assess("how do I deploy the API?", ranked, config, evidence_score=0.40), config)
    off = replace(config, loose_margin=0.0)
    assert not is_loose(assess("how do I deploy the API?", ranked, off, evidence_score=0.45), off)
    # an unknown bar set below the plain one never lowers it
    assert replace(config, unknown_score=0.3).bar(named) == 0.45
    with pytest.raises(ValueError, match="loose_margin"):
        AbstentionConfig(loose_margin=-0.1)


def test_the_ranking_figures_are_kept_with_the_relevance_and_read_back_from_older_rows() -> None:
    ranked = [passage(DEPLOY, title="Deploying")]
    config = AbstentionConfig(min_score=0.45, unknown_score=0.7, figure="evidence")
    figures = RankingFigures.of(0.51234, [0.3, 0.51234, 0.62], model="mpnet-votes")  # the top need not score best
    assert (figures.score, figures.best, figures.margin) == (0.51234, 0.62, pytest.approx(0.10766))
    assert RankingFigures.of(0.4, [0.4]).margin is None, "one passage: no runner-up"
    kept = assess("how do I deploy the API?", ranked, config, evidence_score=0.6, ranking=figures)
    assert kept.reason is None and kept.ranking == figures
    stored = kept.as_json()
    assert (stored["ranking_score"], stored["ranking_best"], stored["ranking_margin"]) == (0.5123, 0.62, 0.1077)
    assert stored["ranking_model"] == "mpnet-votes"
    assert Relevance.from_json(stored).ranking == RankingFigures(score=0.5123, best=0.62, margin=0.1077,
                                                                 model="mpnet-votes")
    # the thresholds never read them: the same figures without them get the same verdict
    assert assess("how do I deploy the API?", ranked, config, evidence_score=0.6).reason == kept.reason
    older = {key: value for key, value in stored.items() if not key.startswith("ranking_")}
    assert Relevance.from_json(older).ranking is None
    assert RankingFigures.to_json(None) == {"ranking_score": None, "ranking_best": None, "ranking_margin": None,
                                            "ranking_model": None}
    without_model = {key: value for key, value in stored.items() if key != "ranking_model"}
    assert Relevance.from_json(without_model).ranking == RankingFigures(score=0.5123, best=0.62, margin=0.1077), \
        "rows written before the model's name was kept read None for it"


def test_the_passage_figure_keeps_the_rule_before_for_comparison() -> None:
    ranked = [passage(DEPLOY, title="Deploying")]  # passage similarity 0.6
    by_passage = AbstentionConfig(min_score=0.5, unknown_score=0.7, figure="passage")
    assert assess("how do I deploy the API?", ranked, by_passage, evidence_score=0.1).reason is None
    assert assess("how do I deploy the API?", ranked, replace(by_passage, min_score=0.65),
                  evidence_score=0.9).reason == "low_score"


def test_by_default_the_mean_of_passage_and_evidence_decides() -> None:
    ranked = [passage(DEPLOY, title="Deploying")]  # passage similarity 0.6
    config = AbstentionConfig(min_score=0.45, unknown_score=0.55)
    assert config.figure == "both"
    assert assess("how do I deploy the API?", ranked, config, evidence_score=0.32).reason is None  # mean 0.46
    assert assess("how do I deploy the API?", ranked, config, evidence_score=0.28).reason == "low_score"
    assert assess("how do I deploy it to Heroku?", ranked, config, evidence_score=0.48,
                  unknown=["heroku"]).reason == "unknown_terms"  # mean 0.54


def test_relevance_rows_stored_before_the_evidence_score_read_back() -> None:
    stored = {"top_similarity": 0.5, "coverage": 1.0, "missing": [], "unknown": [], "reason": None}
    relevance = Relevance.from_json(stored)
    assert relevance.evidence_score == 0.0 and relevance.top_similarity == 0.5
    assert Relevance.from_json(relevance.as_json()) == relevance


def test_rows_of_one_table_are_quoted_together_under_their_header_shown_once() -> None:
    from bot.evidence import Quote, evidence_markdown

    def quote(text: str, kind: str, position: int, number: int = 1) -> Quote:
        return Quote(number=number, text=text, kind=kind, position=position, score=1.0)  # type: ignore[arg-type]

    header = "| variable | default |"
    rendered = evidence_markdown([
        quote("Every setting is an environment variable.", "sentence", 0),
        quote(f"{header}\n| `A` | `1` |", "row", 1), quote(f"{header}\n| `B` | `2` |", "row", 2),
        quote(f"{header}\n| `D` | `4` |", "row", 4),
        quote(f"{header}\n| `A` | `1` |", "row", 1, number=2)])
    assert rendered.split("\n\n") == [
        "> Every setting is an environment variable. [1]",
        "> | variable | default |\n> | `A` | `1` |\n> | `B` | `2` | [1]",
        "> | variable | default |\n> | `D` | `4` | [1]",  # after a gap: a quote of its own
        "> | variable | default |\n> | `A` | `1` | [2]"]


def test_inflected_and_un_forms_of_everyday_words_are_not_undocumented_names() -> None:
    """The vocabulary lacks many inflections: "cleanest idiom?" was refused as asking about "cleanest"."""
    for question in ("cleanest way to save every item?", "two files import each other, how to untangle?",
                     "the worker looks wedged", "the monitor keeps flapping", "biggest file in the folder",
                     "an unconditional jump"):
        assert distinctive_terms(question) == [], question
    # Names shaped like plurals, agent nouns or superlatives stay names the documents may lack.
    for name in ("pandas", "polars", "docker", "unittest", "rebase", "terraform"):
        assert distinctive_terms(f"how do I use {name}?") != [], name


def test_a_refusal_names_the_undocumented_words_as_the_asker_typed_them() -> None:
    question = "celery tasks run twice after a Kubernetes restart, acks_late related? is Celery broken?"
    stems = set(distinctive_terms(question))
    # identifiers whole, the asker's casing, each name once (the second "Celery" is the same word)
    assert spelled_as_asked(question, stems) == ["celery", "Kubernetes", "acks_late"]
    assert spelled_as_asked(question, stems, limit=1) == ["celery"]
    assert spelled_as_asked(question, set()) == []
    assert spelled_as_asked("is sys.monitoring in 3.11?", {"sys"}) == ["sys.monitoring"]  # a dotted name whole
