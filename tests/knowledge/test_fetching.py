"""URL fetching against a real HTTP server on 127.0.0.1: SSRF refusals, redirects, limits, timeouts."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest

from knowledge.errors import IngestError
from knowledge.fetching import fetch_url, is_public_address

LOOPBACK = ["127.0.0.1"]


def _fetch(url: str, allowlist: list[str] | None = None, **kwargs: float):
    options = {"max_bytes": 10_000, "timeout_s": 2.0} | kwargs
    return fetch_url(url, allowlist=LOOPBACK if allowlist is None else allowlist, **options)


def test_allowed_loopback_document_is_fetched(document_server) -> None:
    document_server.serve("/doc.md", content_type="text/markdown", body=b"# Hi\n")
    fetched = _fetch(document_server.url("/doc.md"))
    assert (fetched.data, fetched.content_type) == (b"# Hi\n", "text/markdown")
    assert fetched.final_url == fetched.url == document_server.url("/doc.md")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/doc.md",
    "http://localhost:{port}/doc.md",
    "http://[::1]:{port}/doc.md",
    "http://[::ffff:127.0.0.1]:{port}/doc.md",
    "http://10.20.30.40/doc.md",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:{port}/",
    "http://100.64.0.1/",
    "http://[fe80::1]/",
])
def test_non_public_targets_are_refused_without_an_allowlist_entry(document_server,
                                                                   url: str) -> None:
    port = document_server.base_url.rsplit(":", 1)[1]
    target = url.format(port=port)
    with pytest.raises(IngestError, match="refused") as caught:
        _fetch(target, allowlist=[])
    assert str(caught.value).startswith(target)
    assert document_server.requests == []


def test_refusal_names_the_kind_of_address() -> None:
    with pytest.raises(IngestError, match=r"169\.254\.169\.254 is the link-local address"):
        _fetch("http://169.254.169.254/latest/meta-data/", allowlist=[])


@pytest.mark.parametrize("entry", ["127.0.0.1", "127.0.0.0/8", "localhost"])
def test_allowlist_accepts_addresses_networks_and_host_names(document_server,
                                                             entry: str) -> None:
    document_server.serve("/a.txt", body=b"ok")
    host = "localhost" if entry == "localhost" else "127.0.0.1"
    url = document_server.url("/a.txt").replace("127.0.0.1", host)
    assert _fetch(url, allowlist=[entry]).data == b"ok"


def test_connection_goes_to_the_checked_address_with_the_original_host_header(
        document_server) -> None:
    document_server.serve("/a.txt", body=b"ok")
    url = document_server.url("/a.txt").replace("127.0.0.1", "localhost")
    _fetch(url, allowlist=["localhost"])
    assert document_server.requests == [("/a.txt", "localhost:" + url.split(":")[2].split("/")[0])]


def test_redirects_are_followed_and_reported(document_server) -> None:
    document_server.serve("/old", status=301, headers={"Location": "/new.md"})
    document_server.serve("/new.md", content_type="text/markdown", body=b"moved")
    fetched = _fetch(document_server.url("/old"))
    assert fetched.data == b"moved"
    assert fetched.final_url == document_server.url("/new.md")
    assert [path for path, _ in document_server.requests] == ["/old", "/new.md"]


@pytest.mark.parametrize("target", ["http://10.0.0.5/internal", "http://169.254.169.254/latest/meta-data/",
                                    "http://[::1]/"])
def test_redirect_to_a_private_address_is_refused(document_server, target: str) -> None:
    document_server.serve("/jump", status=302, headers={"Location": target})
    with pytest.raises(IngestError, match=r"redirected to .* refused"):
        _fetch(document_server.url("/jump"))


def test_redirect_loop_stops_after_five_hops(document_server) -> None:
    document_server.serve("/loop", status=302, headers={"Location": "/loop"})
    with pytest.raises(IngestError, match="more than 5 redirects"):
        _fetch(document_server.url("/loop"))
    assert len(document_server.requests) == 6


def test_http_error_status_is_reported(document_server) -> None:
    with pytest.raises(IngestError, match="HTTP 404 Not Found"):
        _fetch(document_server.url("/missing"))


@pytest.mark.parametrize("content_type", ["image/png", "application/octet-stream", None])
def test_non_document_content_types_are_refused(document_server, content_type: str | None) -> None:
    document_server.serve("/file", content_type=content_type, body=b"\x89PNG")
    with pytest.raises(IngestError, match="unsupported content type"):
        _fetch(document_server.url("/file"))


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/pdf", "application/xhtml+xml",
                                          "application/json", "text/x-rst"])
def test_document_content_types_are_accepted(document_server, content_type: str) -> None:
    document_server.serve("/file", content_type=content_type, body=b"x")
    assert _fetch(document_server.url("/file")).content_type == content_type


def test_declared_oversized_body_is_refused_before_reading(document_server) -> None:
    document_server.serve("/big", body=b"x" * 5_000)
    with pytest.raises(IngestError, match=r"too large \(5,000 bytes, over the 1,000-byte limit\)"):
        _fetch(document_server.url("/big"), max_bytes=1_000)


def test_undeclared_oversized_body_is_cut_off_while_streaming(document_server) -> None:
    document_server.serve("/stream", body=b"y" * 200_000, send_length=False)
    with pytest.raises(IngestError, match="too large"):
        _fetch(document_server.url("/stream"), max_bytes=1_000)


def test_slow_server_times_out(document_server) -> None:
    document_server.serve("/slow", body=b"late", delay_s=2.0)
    started = time.monotonic()
    with pytest.raises(IngestError, match="timed out after 0.3 s"):
        _fetch(document_server.url("/slow"), timeout_s=0.3)
    assert time.monotonic() - started < 1.5


def test_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(IngestError, match=rf"127\.0\.0\.1:{port}/x: unreachable"):
        _fetch(f"http://127.0.0.1:{port}/x")


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "only http and https"),
    ("ftp://example.com/x", "only http and https"),
    ("gopher://127.0.0.1/", "only http and https"),
    ("http:///nohost", "no host"),
])
def test_other_schemes_and_hostless_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(IngestError, match=reason):
        _fetch(url, allowlist=[])


def test_malformed_allowlist_entry_is_reported() -> None:
    with pytest.raises(IngestError, match="invalid URL allow-list entry '10.0.0.0/99'"):
        _fetch("http://10.0.0.1/", allowlist=["10.0.0.0/99"])


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:4700::1111", True), ("127.0.0.1", False), ("10.1.1.1", False),
    ("172.16.0.1", False), ("192.168.0.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("224.0.0.1", False), ("0.0.0.0", False), ("255.255.255.255", False), ("::1", False), ("::", False),
    ("fe80::1", False), ("fc00::1", False), ("ff02::1", False), ("::ffff:10.0.0.1", False),
    ("2002:7f00:1::1", False), ("2002:5db8:d822::1", True),
])
def test_public_address_classification(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "only http and https URLs can be fetched, not 'file'"),
    ("HTTP://127.0.0.1:1/Doc", "refused, 127.0.0.1 is the loopback address 127.0.0.1"),  # httpx lower-cases it
])
def test_a_url_that_was_not_redirected_is_named_as_given(url: str, reason: str) -> None:
    with pytest.raises(IngestError) as refused:
        _fetch(url, allowlist=[])
    assert str(refused.value).startswith(f"{url}: {reason}")
