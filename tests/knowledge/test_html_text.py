"""Real-world HTML: optional end tags omitted, bodies inside <form> (ASP.NET, SharePoint), runaway nesting."""

from __future__ import annotations

import pytest

from knowledge.chunking import chunk_document
from knowledge.errors import IngestError
from knowledge.extraction import extract_document

LIMIT = 5_000_000


def _long_list_page(items: int) -> bytes:
    """A valid HTML5 page that leaves out every optional </li> and </p>, as hand-written pages and
    several generators do."""
    rows = "\n".join(f"<li>Error code E{i:04d}: restart the worker" for i in range(items))
    return (f"<!DOCTYPE html>\n<html lang=en>\n<title>Error codes</title>\n<body>\n<main>\n<h1>Error codes</h1>\n"
            f"<p>Every code the ledger service can return.\n<ul>\n{rows}\n</ul>\n"
            "<p>Anything else: page the on-call engineer.\n</main>\n").encode()


ASPNET_WIKI = """<!DOCTYPE html>
<html><head><title>Onboarding - Team Wiki</title></head>
<body>
<form method="post" action="./Onboarding.aspx" id="aspnetForm">
<div class="aspNetHidden">
<input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="/wEPDwULLTE2MTY2ODcyMjlk" /></div>
<div id="s4-ribbonrow"><a href="#" title="Browse">Browse</a><a href="#" title="Page">Page</a></div>
<div id="s4-workspace"><div id="s4-bodyContainer">
<div class="ms-srch-sb"><input type="text" title="Search this site" /><a title="Search" href="#">Search</a></div>
<div id="sideNavBox" class="ms-dialogHidden ms-forceWrap ms-noList" role="navigation">
  <a href="/wiki/Home.aspx">Home</a><a href="/wiki/Teams.aspx">Teams</a></div>
<div id="contentBox" aria-live="polite" aria-relevant="all">
<div id="DeltaPlaceHolderMain">
<h1 id="pageTitle">Onboarding</h1>
<div class="ms-rtestate-field">
<h2>First day</h2>
<p>Collect your badge from reception and ask the service desk for a laptop.</p>
<h2>Accounts</h2>
<p>Request VPN access through the Access Portal; approval takes one working day.</p>
<table><tr><td>System</td><td>Owner</td></tr><tr><td>Ledger</td><td>Payments team</td></tr></table>
</div></div></div>
</div></div>
<input type="submit" name="ctl00$Save" value="Save" />
</form>
</body></html>
"""


def test_a_page_without_optional_end_tags_is_read_whole() -> None:
    document = extract_document(_long_list_page(2_800), name="errors.html", max_bytes=LIMIT)
    assert document.title == "Error codes"
    lines = document.text.split("\n\n")
    assert lines[:2] == ["# Error codes", "Every code the ledger service can return."]
    assert sum(line.startswith("- Error code E") for line in lines) == 2_800
    assert lines[-1] == "Anything else: page the on-call engineer."
    chunks = chunk_document(document.text, fmt=document.fmt)
    assert "- Error code E2799: restart the worker" in chunks[-1].text
    assert {c.heading for c in chunks} == {"Error codes"}


def test_an_aspnet_page_inside_a_form_keeps_its_content_and_drops_controls_and_chrome() -> None:
    document = extract_document(ASPNET_WIKI.encode(), name="https://wiki.corp/Onboarding.aspx",
                                content_type="text/html; charset=utf-8", max_bytes=LIMIT)
    assert document.title == "Onboarding - Team Wiki"
    assert document.text.split("\n\n") == [
        "# Onboarding", "## First day",
        "Collect your badge from reception and ask the service desk for a laptop.",
        "## Accounts", "Request VPN access through the Access Portal; approval takes one working day.",
        "System | Owner", "Ledger | Payments team",
    ]


def test_a_search_box_form_beside_the_content_is_dropped() -> None:
    page = ("<html><body><form action='/search' role='search'><label>Search docs</label><input name=q>"
            "<button>Go</button></form><form action='/subscribe'><input name=mail><button>Subscribe</button></form>"
            "<article><h1>Backups</h1><p>Snapshots run nightly at 02:00 UTC.</p></article></body></html>")
    document = extract_document(page.encode(), name="backups.html", max_bytes=LIMIT)
    assert document.text == "# Backups\n\nSnapshots run nightly at 02:00 UTC."


def test_html_nested_thousands_of_levels_deep_is_refused_with_its_name() -> None:
    page = "<html><body>" + "<div>" * 5_000 + "deep" + "</div>" * 5_000 + "</body></html>"
    with pytest.raises(IngestError, match=r"^deep\.html: HTML is nested too deeply to read$"):
        extract_document(page.encode(), name="deep.html", max_bytes=LIMIT)


def test_a_valid_html5_page_without_body_tags_keeps_its_main_content() -> None:
    page = ("<!DOCTYPE html><meta charset=utf-8><title>Ports</title><main><h1>Ports</h1>"
            "<ul><li>ledger listens on 8042<li>health at /healthz</ul></main>")
    document = extract_document(page.encode(), name="ports.html", max_bytes=LIMIT)
    assert (document.title, document.text) == ("Ports", "# Ports\n\n- ledger listens on 8042\n\n- health at /healthz")
