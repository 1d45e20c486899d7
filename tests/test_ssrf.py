"""No server-side request forgery: what briefbot refuses to fetch unless the operator sets
`[fetch] allow_private = true`, on every hop, wherever a URL comes in (`fetch`, `sources
add` and `/sources add`, `ingest URL`, the feed poller and the pages behind its entries).

Only 127.0.0.1 is ever contacted. Public hosts are made up by a fake network: a fake
resolver (`fetch.resolve`, the module's one lookup) answers for invented names, and a fake
route (`fetch._open`) carries a connection to any address it is handed to 127.0.0.1 at the
same port, recording it. So a test can fetch a "public" name for real and show the internal
hop behind it refused before any lookup or connection: the internal server counts no hits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path

import pytest

from bot.cli import main
from retrieval import ConfigError, load_settings
from retrieval import fetch as fetch_module
from retrieval.config import FetchSettings
from retrieval.feeds import FeedPoller, FeedRegistry
from retrieval.fetch import FetchError, FetchLimits, RefusedURL, fetch, guard_url, refusal
from retrieval.loaders import RawArticle, Skipped, load, load_url

from .test_feeds import HTML, XML, FeedServer, Route, page, rss, started, story
from .test_feeds import _no_proxy as _no_proxy  # autouse here too

LIMITS = FetchLimits.from_timeout(2.0)
HINT = r" \(set \[fetch\] allow_private = true for local feeds\)$"
PUBLIC = "93.184.215.14"  # global unicast addresses the fake route carries to 127.0.0.1
OTHER_PUBLIC = "93.184.215.15"
SECRET = b"internal only: the cloud credentials"


# --- fixtures -------------------------------------------------------------------------------
@dataclass
class FakeNetwork:
    """Invented names and a route for every address to 127.0.0.1; records lookups and
    connections, so a test can show one never happened."""

    names: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    connected: list[str] = field(default_factory=list)

    def name(self, host: str, *answers: list[str]) -> None:
        """`host` resolves to each answer in turn, the last one for ever after."""
        self.names[host] = list(answers)

    def resolve(self, host: str, port: int) -> list[tuple[int, tuple[object, ...]]]:
        self.lookups.append(host)
        queue = self.names.get(host)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        found = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET6, (a, port, 0, 0)) if ":" in a else (socket.AF_INET, (a, port))
            for a in found
        ]

    def open(self, found: list[tuple[int, tuple[object, ...]]], timeout: float) -> socket.socket:
        _, sockaddr = found[0]
        self.connected.append(str(sockaddr[0]))
        return socket.create_connection(("127.0.0.1", int(sockaddr[1])), timeout)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    net = FakeNetwork()
    monkeypatch.setattr(fetch_module, "resolve", net.resolve)
    monkeypatch.setattr(fetch_module, "_open", net.open)
    return net


@pytest.fixture
def secret() -> Iterator[FeedServer]:
    """An internal service on loopback that must never be reached: it counts every hit."""
    srv = FeedServer()
    srv.routes["/secret"] = Route(SECRET, headers=HTML)
    yield from started(srv)


@pytest.fixture
def site() -> Iterator[FeedServer]:
    """A 'public' site, reached through the fake network by name."""
    yield from started(FeedServer())


def port(srv: FeedServer) -> int:
    return srv.httpd.server_address[1]


def no_contact(secret: FeedServer, network: FakeNetwork | None = None) -> bool:
    quiet = network is None or (network.lookups, network.connected) == ([], [])
    return quiet and secret.requests == []


# --- every spelling of an internal address ----------------------------------------------------
REFUSED = [
    # (host as written in the URL, what the refusal says about it)
    ("127.0.0.1", "127.0.0.1 is a loopback address"),
    ("127.1", "127.1 is a loopback address"),
    ("0x7f000001", "0x7f000001 is a loopback address"),
    ("2130706433", "2130706433 is a loopback address"),
    ("0177.0.0.1", "0177.0.0.1 is a loopback address"),
    ("127.0.0.1.", r"127\.0\.0\.1\. is a loopback address"),
    ("localhost", "localhost is a loopback name"),
    ("LocalHost.", "localhost. is a loopback name"),  # urlsplit lower-cases the host
    ("api.localhost", "api.localhost is a loopback name"),
    ("[::1]", "::1 is a loopback address"),
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 is a loopback address"),
    ("[::ffff:7f00:1]", "::ffff:7f00:1 is a loopback address"),
    ("[::127.0.0.1]", "::127.0.0.1 is a loopback address"),  # IPv4-compatible
    ("[2002:7f00:1::]", "2002:7f00:1:: is a loopback address"),  # 6to4
    ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1 is a loopback address"),  # NAT64
    ("0.0.0.0", "0.0.0.0 is an unspecified address"),
    ("0", "0 is an unspecified address"),
    ("[::]", ":: is an unspecified address"),
    ("169.254.169.254", "169.254.169.254 is a link-local address"),
    ("[fe80::1]", "fe80::1 is a link-local address"),
    ("[::ffff:169.254.169.254]", "::ffff:169.254.169.254 is a link-local address"),
    ("10.0.0.1", "10.0.0.1 is a private address"),
    ("172.16.5.4", "172.16.5.4 is a private address"),
    ("192.168.1.1", "192.168.1.1 is a private address"),
    ("0xc0a80101", "0xc0a80101 is a private address"),  # 192.168.1.1
    ("[fd12:3456::1]", "fd12:3456::1 is a private address"),
    ("100.64.0.1", r"100.64.0.1 is a shared \(carrier-grade NAT\) address"),
    ("224.0.0.1", "224.0.0.1 is a multicast address"),
    ("[ff02::1]", "ff02::1 is a multicast address"),
    ("[fec0::1]", "fec0::1 is a site-local address"),
    ("240.0.0.1", "240.0.0.1 is a reserved address"),
    ("255.255.255.255", "255.255.255.255 is a reserved address"),
    ("192.0.2.1", "192.0.2.1 is a special-purpose address, not a public one"),
    ("[2001:db8::1]", "2001:db8::1 is a special-purpose address, not a public one"),
]


@pytest.mark.parametrize(("host", "why"), REFUSED, ids=[h for h, _ in REFUSED])
def test_every_spelling_of_an_internal_address_is_refused_before_any_contact(
    host: str, why: str, secret: FeedServer, network: FakeNetwork
):
    url = f"http://{host}:{port(secret)}/secret"
    message = rf"^refused {re.escape(url)}: {why}{HINT}"
    with pytest.raises(RefusedURL, match=message):
        fetch(url, limits=LIMITS)
    with pytest.raises(RefusedURL, match=message):  # what sources add and ingest check first
        guard_url(url, lookup=False)
    assert no_contact(secret, network)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1", "0x7f000001", "2130706433", "0177.0.0.1", "localhost"]
)
def test_the_same_spellings_reach_the_server_when_the_operator_allows_it(
    host: str, secret: FeedServer
):
    url = f"http://{host}:{port(secret)}/secret"
    assert fetch(url, limits=LIMITS, allow_private=True).body == SECRET
    assert len(secret.hits("/secret")) == 1


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", PUBLIC, "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"],
)
def test_public_unicast_addresses_pass(address: str):
    assert refusal(ip_address(address)) is None


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "http://"])
def test_only_http_urls_are_fetched_even_when_private_ones_are_allowed(url: str):
    with pytest.raises(RefusedURL, match=r"^not an http\(s\) URL"):
        fetch(url, limits=LIMITS, allow_private=True)


# --- resolved addresses, not only names -------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (["127.0.0.1"], "127.0.0.1, a loopback address"),
        (["10.1.2.3"], "10.1.2.3, a private address"),
        (["169.254.169.254"], "169.254.169.254, a link-local address"),
        (["::ffff:127.0.0.1"], f"{ip_address('::ffff:127.0.0.1')}, a loopback address"),
        ([PUBLIC, "127.0.0.1"], "127.0.0.1, a loopback address"),  # one bad answer is enough
    ],
)
def test_a_name_resolving_to_an_internal_address_is_refused_unconnected(
    answer: list[str], why: str, secret: FeedServer, network: FakeNetwork
):
    network.name("intranet.example", answer)
    url = f"http://intranet.example:{port(secret)}/secret"
    with pytest.raises(RefusedURL, match=rf"^refused {re.escape(url)}: intranet.example"
                       rf" resolves to {re.escape(why)}{HINT}"):  # fmt: skip
        fetch(url, limits=LIMITS)
    assert network.lookups == ["intranet.example"] and network.connected == []
    assert secret.requests == []


def test_the_checked_address_is_the_one_connected_to(site: FeedServer, network: FakeNetwork):
    """DNS rebinding: a name public when checked, loopback a moment later. One lookup per
    hop, and the connection goes to the address that was checked."""
    site.routes["/story"] = Route(b"the public story", headers=HTML)
    network.name("rebind.example", [PUBLIC], ["127.0.0.1"])
    url = f"http://rebind.example:{port(site)}/story"
    assert fetch(url, limits=LIMITS).body == b"the public story"
    assert network.lookups == ["rebind.example"] and network.connected == [PUBLIC]
    (sent,) = site.hits("/story")
    assert sent["Host"] == f"rebind.example:{port(site)}"  # the name, not the address
    # The next fetch resolves afresh, gets loopback, and is refused unconnected.
    with pytest.raises(RefusedURL, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        fetch(url, limits=LIMITS)
    assert network.connected == [PUBLIC] and len(site.hits("/story")) == 1


def test_https_is_pinned_too_with_sni_and_the_certificate_checked_against_the_name(
    tmp_path: Path, network: FakeNetwork, monkeypatch: pytest.MonkeyPatch
):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subject = ["-subj", "/CN=secure.example", "-addext", "subjectAltName=DNS:secure.example"]
    files = ["-keyout", str(key), "-out", str(cert)]
    make = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run([*make, *files, *subject], check=True, capture_output=True)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_side.sni_callback = lambda conn, name, ctx: names.append(name)
    client_side = ssl.create_default_context(cafile=str(cert))  # trusts only the test cert
    monkeypatch.setattr(fetch_module, "_tls", lambda: client_side)
    srv = FeedServer()
    srv.routes["/story"] = Route(b"over TLS", headers=HTML)
    srv.httpd.socket = server_side.wrap_socket(srv.httpd.socket, server_side=True)
    for _ in started(srv):
        network.name("secure.example", [PUBLIC])
        network.name("other.example", [PUBLIC])
        assert fetch(f"https://secure.example:{port(srv)}/story", limits=LIMITS).body == b"over TLS"
        assert names == ["secure.example"] and network.connected == [PUBLIC]
        with pytest.raises(FetchError, match="certificate verify failed"):
            fetch(f"https://other.example:{port(srv)}/story", limits=LIMITS)


# --- redirects --------------------------------------------------------------------------------
def test_a_redirect_from_a_public_name_to_loopback_is_refused(
    site: FeedServer, secret: FeedServer, network: FakeNetwork
):
    network.name("news.example", [PUBLIC])
    network.name("intranet.example", ["127.0.0.1"])
    network.name("wire.example", [OTHER_PUBLIC])
    inward = {
        "/to-literal": secret.url("/secret"),
        "/to-name": f"http://intranet.example:{port(secret)}/secret",
        "/to-mapped": f"http://[::ffff:127.0.0.1]:{port(secret)}/secret",
    }
    for path, target in inward.items():
        site.routes[path] = Route(status=302, headers={"Location": target})
        with pytest.raises(RefusedURL, match=rf"^refused redirect to {re.escape(target)}: "):
            fetch(f"http://news.example:{port(site)}{path}", limits=LIMITS)
        assert len(site.hits(path)) == 1
    assert set(network.connected) == {PUBLIC} and secret.requests == []

    # The control: the same server behind a public name is followed, so the refusals
    # above were the guard's, not a broken redirect.
    site.routes["/to-public"] = Route(
        status=302, headers={"Location": f"http://wire.example:{port(secret)}/secret"}
    )
    response = fetch(f"http://news.example:{port(site)}/to-public", limits=LIMITS)
    assert response.body == SECRET and network.connected[-1] == OTHER_PUBLIC


# --- feeds ------------------------------------------------------------------------------------
def test_entries_linking_inward_keep_their_teaser_and_the_page_is_never_fetched(
    tmp_path: Path,
    site: FeedServer,
    secret: FeedServer,
    network: FakeNetwork,
    caplog: pytest.LogCaptureFixture,
):
    network.name("news.example", [PUBLIC])
    network.name("intranet.example", ["10.9.8.7"])
    public = f"http://news.example:{port(site)}"
    site.routes["/feed.xml"] = Route(
        rss(
            [
                ("p1", "A public story", f"{public}/articles/1.html", "Short teaser one."),
                ("p2", "A loopback link", secret.url("/secret"), "Short teaser two."),
                ("p3", "An intranet link", "http://intranet.example/secret", "Teaser three."),
            ]
        ),
        headers=XML,
    )
    site.routes["/articles/1.html"] = Route(page("A public story", [story(1)]), headers=HTML)
    with FeedRegistry(tmp_path / "briefbot.sqlite3") as registry:
        feed = registry.add(f"{public}/feed.xml")
        assert network.lookups == []  # add checks without DNS: the poll resolves
        poller = FeedPoller(registry, timeout=2.0)
        with caplog.at_level(logging.WARNING, logger="retrieval.feeds"):
            result = poller.poll(feed)
    assert result.ok and result.feed.healthy and result.pages == 3
    bodies = {item.title: item.body for item in result.items}
    assert story(1)[:80] in bodies["A public story"]
    assert bodies["A loopback link"] == "Short teaser two."
    assert bodies["An intranet link"] == "Teaser three."
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2 and "127.0.0.1 is a loopback address" in refused[0]
    assert "intranet.example resolves to 10.9.8.7, a private address" in refused[1]
    assert secret.requests == [] and set(network.connected) == {PUBLIC}


def test_a_feed_whose_name_resolves_inward_fails_its_poll_unconnected(
    tmp_path: Path, secret: FeedServer, network: FakeNetwork
):
    network.name("feeds.example", ["127.0.0.1"])
    url = f"http://feeds.example:{port(secret)}/secret"
    with FeedRegistry(tmp_path / "briefbot.sqlite3") as registry:
        result = FeedPoller(registry, timeout=2.0).poll(registry.add(url))
    assert not result.ok and result.error.startswith(
        f"refused {url}: feeds.example resolves to 127.0.0.1, a loopback address"
    )
    assert result.feed.status.startswith("failing (1×): refused")
    assert network.connected == [] and secret.requests == []


def test_a_local_feed_is_polled_when_the_operator_allows_private_addresses(
    tmp_path: Path, secret: FeedServer
):
    secret.routes["/feed.xml"] = Route(
        rss([("l1", "A local story", secret.url("/secret"), story(2))]), headers=XML
    )
    with FeedRegistry(tmp_path / "briefbot.sqlite3", allow_private=True) as registry:
        feed = registry.add(secret.url("/feed.xml"))
        result = FeedPoller(registry, timeout=2.0, allow_private=True).poll(feed)
    assert result.ok and [i.title for i in result.items] == ["A local story"]


@pytest.mark.parametrize(("host", "why"), REFUSED[:8], ids=[h for h, _ in REFUSED[:8]])
def test_sources_add_refuses_internal_addresses(host: str, why: str, tmp_path: Path):
    with FeedRegistry(tmp_path / "briefbot.sqlite3") as registry:
        with pytest.raises(RefusedURL, match=f"^refused http://.*: {why}{HINT}"):
            registry.add(f"http://{host}/feed.xml")
        assert registry.list() == []


# --- ingest -----------------------------------------------------------------------------------
def test_ingest_of_a_refused_url_fails_before_anything_is_read(
    secret: FeedServer, fake_corpus, fake_encoder
):
    good = secret.url("/secret")
    with pytest.raises(RefusedURL, match=r"^refused .*127\.1 is a loopback address"):
        load([str(Path(__file__)), good.replace("127.0.0.1", "127.1")])  # not even iterated
    with pytest.raises(RefusedURL, match="loopback"):
        fake_corpus.ingest([good])
    assert fake_encoder.calls == [] and fake_corpus.store.count_articles() == 0
    assert secret.requests == []


def test_ingest_of_a_public_url_redirecting_inward_skips_it(
    site: FeedServer, secret: FeedServer, network: FakeNetwork
):
    network.name("news.example", [PUBLIC])
    site.routes["/story"] = Route(status=301, headers={"Location": secret.url("/secret")})
    url = f"http://news.example:{port(site)}/story"
    (skipped,) = load_url(url)
    assert isinstance(skipped, Skipped) and skipped.reason.startswith(
        f"cannot fetch: refused redirect to {secret.url('/secret')}: 127.0.0.1 is a loopback"
    )
    assert secret.requests == []


def test_ingest_of_a_local_url_works_when_allowed(secret: FeedServer):
    secret.routes["/story.html"] = Route(page("A local story", [story(4)]), headers=HTML)
    (item,) = load([secret.url("/story.html")], allow_private=True)
    assert isinstance(item, RawArticle) and item.title == "A local story"


def test_a_host_name_idna_cannot_encode_is_skipped_not_a_crash():
    url = "http://a..b/story"  # an empty label: the lookup fails before any DNS query
    assert list(load([url])) == [Skipped(url, "cannot fetch: invalid host name: a..b")]


# --- the setting ------------------------------------------------------------------------------
def allow_toml(tmp_path: Path, value: str = "true") -> Path:
    path = tmp_path / "allow.toml"
    path.write_text(f"[fetch]\nallow_private = {value}\n")
    return path


def test_the_setting_defaults_to_refusing_and_takes_only_a_boolean(tmp_path: Path):
    assert load_settings(data_dir=tmp_path).fetch.allow_private is False
    assert load_settings(allow_toml(tmp_path), data_dir=tmp_path).fetch.allow_private is True
    with pytest.raises(ConfigError, match=r"allow_private must be true or false, not 'false'"):
        load_settings(allow_toml(tmp_path, '"false"'), data_dir=tmp_path)
    with pytest.raises(ConfigError):
        FetchSettings(allow_private=1)  # type: ignore[arg-type]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_sources_add_refuses_loopback_unless_the_config_allows_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    data = str(tmp_path / "d")
    code, out, err = run(capsys, "--data-dir", data, "sources", "add", "http://127.0.0.1:1/x")
    assert code == 1 and out == ""
    assert err == (
        "briefbot: error: refused http://127.0.0.1:1/x: 127.0.0.1 is a loopback address"
        " (set [fetch] allow_private = true for local feeds)\n"
    )
    config = str(allow_toml(tmp_path))
    code, out, _ = run(
        capsys, "--config", config, "--data-dir", data, "sources", "add", "http://127.0.0.1:1/x"
    )
    assert code == 0 and out.startswith("following ") and "http://127.0.0.1:1/x" in out
    code, out, _ = run(capsys, "--data-dir", data, "sources", "list", "--json")
    assert [s["url"] for s in json.loads(out)["sources"]] == ["http://127.0.0.1:1/x"]


def test_cli_ingest_of_a_refused_url_exits_1_without_fetching(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, secret: FeedServer
):
    url = f"http://0x7f000001:{port(secret)}/secret"
    code, out, err = run(capsys, "--data-dir", str(tmp_path / "d"), "ingest", url)
    assert code == 1 and out == ""
    assert err.startswith(f"briefbot: error: refused {url}: 0x7f000001 is a loopback address")
    assert secret.requests == []


# --- Discord ----------------------------------------------------------------------------------
def test_slash_sources_add_refuses_the_metadata_address(fake_corpus):
    from tests.fake_discord import FakeDiscord
    from tests.test_bot import running

    async def main() -> None:
        async with FakeDiscord() as server, running(server, fake_corpus) as bot:
            url = "http://169.254.169.254/latest/meta-data/"
            inter = server.send_interaction("sources add", {"url": url})
            await server.wait_for(lambda: inter.callbacks)
            assert inter.ephemeral
            assert inter.contents[0] == (
                f"refused {url}: 169.254.169.254 is a link-local address"
                " (set [fetch] allow_private = true for local feeds)"
            )
            assert bot.feeds.list() == []

    asyncio.run(main())
