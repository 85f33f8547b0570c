"""Documentation that repeats itself: does each copy of a section take a place in the results?

npm's own docs (the Markdown pages Debian's `npm` package installs under
/usr/lib/node_modules/npm/docs/content, 91 pages) repeat each configuration option's section on every
command page that takes it: `ignore-scripts` 19 times, `registry` 22 times. Ingested through the
product's own ingest into a bench database, each of 12 questions a teammate might ask about an
option (written for this bench, with the option's section as the answer: a hit is a passage under a
heading naming that option) is searched two ways, in the same run:

* **every copy (before)**: `knowledge.search.vector_search`, the nearest chunks as they are;
* **each text once**: `knowledge.search.search_passages`, what answers use, which keeps the best-ranked
  copy of each passage text.

Reported per way: different passage texts among the top 10 (mean), hit@1, hit@5 and MRR (a copy of
the answer counts as the answer; both ways order by the same first-stage score, the second drops the
repeats). Small sample, written by the developer, not blind.

Run: `python -m bench.repeated_sections`; writes bench/results/repeated_sections.json and its table.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from bench.answer_metrics import first_hit_rank
from bench.answer_quality import retrieval_figures
from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result

RESULTS = Path("bench/results/repeated_sections.json")
NPM_DOCS = Path("/usr/lib/node_modules/npm/docs/content")
QUESTIONS = [
    ("how do i make npm not run the postinstall scripts of our deps?", "ignore-scripts"),
    ("can i stop npm install from writing package-lock.json?", "package-lock"),
    ("can npm install skip optional or dev deps in the prod image?", "omit"),
    ("what does --prefer-offline do exactly?", "prefer-offline"),
    ("how to make npm audit fail the build only for high severity issues?", "audit-level"),
    ("how do i install a package without adding it to package.json?", "save"),
    ("how do i point npm at our private registry?", "registry"),
    ("we're behind a corporate proxy, how do i tell npm about it?", "proxy"),
    ("where does npm keep its download cache?", "cache"),
    ("can install refuse packages whose engines don't match our node version?", "engine-strict"),
    ("peer dependency conflicts break npm install, how do i get the old behaviour?", "legacy-peer-deps"),
    ("how do i publish a beta without it becoming latest?", "tag"),
]
"""(question, the option whose section answers it)."""
TOP = 10


def is_answer(heading: str, option: str) -> bool:
    """Whether a passage lies under the option's own section (`#### \\`option\\`` in npm's docs)."""
    return f"`{option}`" in heading


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=NPM_DOCS, help="npm's docs/content folder")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.docs.is_dir():
        raise SystemExit(f"{args.docs} is missing: install Debian's npm package (apt-get install npm)")

    from bench.database import docs_knowledge_base
    from knowledge.search import search_passages, vector_search

    machine = machine_at_start()
    sessions, embedder, backend, report = docs_knowledge_base("npm-docs", args.docs)
    ways: dict[str, dict[str, list[Any]]] = {"every copy (before)": {"distinct": [], "ranks": []},
                                             "each text once": {"distinct": [], "ranks": []}}
    for question, option in QUESTIONS:
        vector = embedder.embed_query(question)
        with sessions() as session, session.begin():
            every_copy = vector_search(session, vector, scopes=["workspace"], limit=TOP)
        once = search_passages(sessions, embedder, question, limit=TOP, query_vector=vector)
        for way, found in zip(ways, (every_copy, once), strict=True):
            ways[way]["distinct"].append(len({" ".join(passage.text.split()) for passage in found}))
            ways[way]["ranks"].append(first_hit_rank([is_answer(passage.heading, option) for passage in found]))
    figures = {way: {"distinct_in_top_10": round(statistics.mean(values["distinct"]), 2),
                     **{key: round(value, 3) for key, value in retrieval_figures(values["ranks"]).items()}}
               for way, values in ways.items()}
    for way, row in figures.items():
        print(f"{way}: {row}")
    results = {"documents": len(report.results), "failed": len(report.failures), "questions": len(QUESTIONS),
               "embedding_backend": backend, "ways": figures, "machine": machine_at_end(machine)}
    print(f"wrote {write_result('repeated_sections', results, args.out)}")


if __name__ == "__main__":
    main()
