"""Download a document over HTTP(S) with SSRF protection, a size cap and timeouts (adapter over httpx).

Touches the network and DNS. Every hop (the first request and each of at most `max_redirects`
redirects, followed here rather than by httpx so that each is checked):

1. only http and https URLs;
2. the host is resolved here (socket.getaddrinfo) and every address it resolves to must be public
   unless the host name, or a network containing the address, is on the allow-list. Refused:
   private, loopback, link-local, shared (CGNAT), reserved, multicast and unspecified addresses,
   in IPv4 and IPv6, including IPv6 forms that carry an IPv4 address (mapped, 6to4, Teredo);
3. the connection goes to the checked address itself: the request URL names the IP while the Host
   header and the TLS SNI/certificate check name the host (httpcore's `sni_hostname` extension).
   A different DNS answer at connect time (DNS rebinding) therefore never reaches a socket. Each
   hop gets its own client so no connection made for one host name is reused for another;
4. the body is streamed and abandoned past `max_bytes` or past `total_timeout_s`; the content type
   must be a document type.

A re-fetch sends the previous download's validators (`If-None-Match`, `If-Modified-Since`); a 304
comes back as `not_modified` with no body. 404 and 410 raise `PageGone`, which a schedule counts.

Proxy environment variables are ignored (trust_env=False): a proxy would resolve the name again at
its end and connect wherever that points, defeating the address check.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from knowledge.errors import IngestError, PageGone

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DOCUMENT_CONTENT_TYPES = frozenset({
    "application/pdf", "application/xhtml+xml", "application/json", "application/xml",
    "application/x-rst", "application/x-markdown", "application/markdown",
})
"""Accepted besides every text/* type."""

USER_AGENT = "kbbot-knowledge-ingest/0.1"


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchedDocument:
    """A downloaded body: the URL asked for, the URL it came from after redirects, its type, its validators.

    `not_modified` is a 304 to a conditional request: `data` is empty and the stored copy stands.
    """

    url: str
    final_url: str
    content_type: str
    data: bytes
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


@dataclass(frozen=True, slots=True)
class _AllowList:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Sequence[str]) -> _AllowList:
        hosts, networks = set(), []
        for entry in (e.strip().lower().rstrip(".") for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError as exc:
                if "/" in entry or ":" in entry:  # meant as an address or CIDR, but not one
                    raise IngestError(f"invalid URL allow-list entry {entry!r}: {exc}") from exc
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        candidates = [address, *filter(None, [_embedded_ipv4(address)])]
        return host.lower().rstrip(".") in self.hosts or any(
            candidate in network for candidate in candidates for network in self.networks
        )


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.teredo:
        return address.teredo[1]
    return address.ipv4_mapped or address.sixtofour


def is_public_address(address: IPAddress) -> bool:
    """Whether `address` (and any IPv4 address an IPv6 one carries) is a globally routable unicast."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and not is_public_address(embedded):
        return False
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
        or address.is_multicast or address.is_unspecified
    )


def fetch_url(url: str, *, allowlist: Sequence[str], max_bytes: int, timeout_s: float,
              max_redirects: int = 5, total_timeout_s: float = 60.0,
              validators: Mapping[str, str] | None = None) -> FetchedDocument:
    """Download `url`, following up to `max_redirects` redirects, each checked as described above.

    Args:
        allowlist: host names, IP addresses or CIDR networks that may be reached although their
            addresses are not public (an intranet wiki, a test server on 127.0.0.1).
        max_bytes: largest body accepted.
        timeout_s: connect and per-read timeout.
        total_timeout_s: the whole download, so a server trickling bytes cannot hold us forever.
        validators: conditional request headers (`If-None-Match`, `If-Modified-Since`) of a re-fetch.

    Raises:
        IngestError: naming `url` (and the redirect target) and why: bad scheme, unresolvable,
            refused non-public address, unreachable, timeout, HTTP error status, too many
            redirects, unsupported content type, too large.
    """
    policy = _AllowList.parse(allowlist)
    deadline = time.monotonic() + total_timeout_s
    try:
        current = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise IngestError(f"{url}: not a valid URL ({exc})") from exc
    for hop in range(max_redirects + 1):
        # Only a followed redirect changes the target; httpx's normalised form of `url` is no redirect.
        where = url if hop == 0 else f"{url} (redirected to {current})"
        addresses = _checked_addresses(current, policy, where)
        with httpx.Client(trust_env=False, follow_redirects=False, timeout=httpx.Timeout(timeout_s),
                          headers={"User-Agent": USER_AGENT}) as client:
            response = _connect(client, current, addresses, where, timeout_s, validators or {})
            try:
                etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
                if response.status_code == 304:  # before redirects: httpx counts a 304 as one
                    return FetchedDocument(url=url, final_url=str(current), content_type="", data=b"", etag=etag,
                                           last_modified=modified, not_modified=True)
                if response.is_redirect:
                    try:
                        current = current.join(response.headers["location"])
                    except httpx.InvalidURL as exc:
                        raise IngestError(f"{where}: redirect to an invalid URL ({exc})") from exc
                    continue
                if response.status_code in (404, 410):
                    raise PageGone(f"{where}: HTTP {response.status_code} {response.reason_phrase}".rstrip(),
                                   status=response.status_code)
                data = _read_body(response, where, max_bytes=max_bytes, deadline=deadline,
                                  timeout_s=timeout_s)
                return FetchedDocument(url=url, final_url=str(current),
                                       content_type=response.headers.get("content-type", ""), data=data, etag=etag,
                                       last_modified=modified)
            finally:
                response.close()
    raise IngestError(f"{url}: more than {max_redirects} redirects")


def _checked_addresses(url: httpx.URL, policy: _AllowList, where: str) -> list[str]:
    if url.scheme not in ("http", "https"):
        raise IngestError(f"{where}: only http and https URLs can be fetched, not {url.scheme or 'a bare path'!r}")
    if not url.host:
        raise IngestError(f"{where}: the URL has no host")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise IngestError(f"{where}: cannot resolve host {url.host} ({exc})") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not is_public_address(ip) and not policy.allows(url.host, ip):
            subject = f"{url.host} is" if address == url.host else f"{url.host} resolves to"
            raise IngestError(
                f"{where}: refused, {subject} the {_address_kind(ip)} address {ip} "
                "(such targets need an entry on the URL allow-list)"
            )
    return addresses


def _address_kind(address: IPAddress) -> str:
    checked = _embedded_ipv4(address) or address
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(checked, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"


def _connect(client: httpx.Client, url: httpx.URL, addresses: list[str], where: str,
             timeout_s: float, validators: Mapping[str, str]) -> httpx.Response:
    """Send the GET to the first checked address that accepts a connection; headers only."""
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    failure: Exception | None = None
    for address in addresses:
        request = client.build_request("GET", url.copy_with(host=address.split("%", 1)[0]),
                                       headers={**validators, "Host": url.netloc.decode("ascii")},
                                       extensions=extensions)
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:  # try the host's next address, as a browser would
            failure = exc
        except httpx.TimeoutException as exc:
            raise IngestError(f"{where}: timed out after {timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise IngestError(f"{where}: download failed ({type(exc).__name__}: {exc})") from exc
    if "SSL" in str(failure):
        raise IngestError(f"{where}: TLS handshake failed ({failure})") from failure
    raise IngestError(f"{where}: unreachable ({failure})") from failure


def _read_body(response: httpx.Response, where: str, *, max_bytes: int, deadline: float,
               timeout_s: float) -> bytes:
    if response.status_code >= 400:
        raise IngestError(f"{where}: HTTP {response.status_code} {response.reason_phrase}".rstrip())
    content_type = response.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if not (media_type.startswith("text/") or media_type in DOCUMENT_CONTENT_TYPES):
        raise IngestError(f"{where}: unsupported content type {media_type or '(none)'!r} "
                          "(text, HTML, PDF, JSON or XML expected)")
    try:
        return read_capped_body(response, where=where, max_bytes=max_bytes, deadline=deadline)
    except httpx.TimeoutException as exc:
        raise IngestError(f"{where}: timed out after {timeout_s:g} s while reading") from exc
    except httpx.HTTPError as exc:
        raise IngestError(f"{where}: download failed ({type(exc).__name__}: {exc})") from exc


def read_capped_body(response: httpx.Response, *, where: str, max_bytes: int, deadline: float | None = None) -> bytes:
    """A streamed response body, refused as soon as it is known to exceed `max_bytes`.

    The declared Content-Length is checked first; the stream is counted as it arrives because a
    server may lie or send none. `deadline` (time.monotonic) bounds a slow trickle. httpx errors
    propagate for the caller to word.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise IngestError(f"{where}: too large ({int(declared):,} bytes, over the {max_bytes:,}-byte limit)")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise IngestError(f"{where}: too large (over the {max_bytes:,}-byte limit)")
        if deadline is not None and time.monotonic() > deadline:
            raise IngestError(f"{where}: download took too long (stopped after {len(body):,} bytes)")
    return bytes(body)
