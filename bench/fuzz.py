"""Fuzz the loaders for longer than the test suite does (issue 17).

The strategies of tests/fuzz_strategies.py (arbitrary bytes under every suffix, hostile
JSON/JSONL/CSV records between good ones, hostile feed, HTML and text) are run in a
worker process with an address-space limit, so a runaway input cannot take the machine
with it and a crash of the interpreter itself (a C extension's segfault) is reported, not
fatal to the run. Each input has a time limit; one past it is a hang. Prints, per kind:
inputs tried, crashes (an exception escaping `load`, or an item failing the checks),
hangs and the slowest input; then the worker's peak RSS.

The `http` kind fetches from a hostile HTTP server on 127.0.0.1: each input is a drawn
response (any status line and headers, lying or missing Content-Length, chunked garbage,
gzip/deflate of random bytes or a bomb, redirect chains back into the server or to other
schemes, a trickle, an early close), fetched by `retrieval.fetch.fetch` within small
limits. Anything but a Response or a FetchError is a crash; a fetch that outlives its
deadline by 2 s is a hang.

    python bench/fuzz.py --examples 20000 --timeout 5 --memory-mb 2048
    python bench/fuzz.py --kinds http --examples 3000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class Hang(Exception):
    """An input that ran past the per-input time limit."""


def kinds() -> dict[str, tuple[object, Callable[[object], object]]]:
    """name -> (strategy, run): run loads one drawn input and checks what comes out."""
    from hypothesis import strategies as st

    from retrieval.loaders import load
    from tests import fuzz_strategies as fs

    def load_bytes(name: str, raw: bytes) -> list:
        with tempfile.TemporaryDirectory() as tmp:
            items = list(load([str(fs.write(Path(tmp), name, raw))]))
        fs.check_items(items)
        return items

    def beside(name: str, raw: bytes) -> None:
        if not fs.good_titles(load_bytes(name, raw)) >= fs.GOOD_TITLES:
            raise AssertionError("a good record beside the hostile one was lost")

    suffixes = [".txt", ".json", ".jsonl", ".csv", ".html", ".xml"]
    return {
        "http": (hostile_responses(), fetch_hostile),
        "bytes": (
            st.tuples(st.binary(max_size=8000), st.sampled_from(suffixes)),
            lambda v: load_bytes("fuzz" + v[1], v[0]),
        ),
        "json-record": (fs.HOSTILE_RECORDS, lambda r: beside("f.json", fs.json_document(r))),
        "jsonl-record": (fs.HOSTILE_RECORDS, lambda r: beside("f.jsonl", fs.jsonl_document(r))),
        "csv-row": (
            st.tuples(fs.CSV_CELLS, fs.LINE_ENDS),
            lambda v: beside("f.csv", fs.csv_document(*v)),
        ),
        "feed": (
            st.tuples(fs.NASTY_TEXT, fs.NASTY_TEXT, fs.NASTY_TEXT, st.booleans()),
            lambda v: load_bytes("f.xml", fs.feed_document(*v)),
        ),
        "html": (
            st.tuples(fs.NASTY_TEXT, fs.NASTY_TEXT),
            lambda v: load_bytes("f.html", fs.html_document(v[0], v[1] * 10)),
        ),
        "text": (
            st.tuples(fs.NASTY_TEXT, fs.NASTY_TEXT, fs.LINE_ENDS),
            lambda v: load_bytes("f.txt", fs.text_document(*v)),
        ),
    }


HTTP_DEADLINE = 1.0  # the fetch's own deadline; 2 s past it is a hang


class _Hostile:
    """The response the hostile server sends next (one drawn input at a time)."""

    chunks: ClassVar[list[bytes]] = []
    pause = 0.0
    server = None


def hostile_responses():
    """Drawn hostile responses: a list of byte chunks sent with `pause` between them."""
    import gzip
    import zlib

    from hypothesis import strategies as st

    status = st.one_of(
        st.sampled_from(
            [
                b"HTTP/1.1 200 OK",
                b"HTTP/1.0 302 Found",
                b"HTTP/1.1 301 X",
                b"HTTP/1.1 304 Not Modified",
                b"HTTP/1.1 429 Slow",
                b"HTTP/1.1 503 Down",
                b"HTTP/1.1 999 What",
                b"HTTP/9.9 200 OK",
                b"ICY 200 OK",
                b"",
                b"HTTP/1.1 200",
                b"HTTP/1.1 -1 Neg",
            ]
        ),
        st.binary(max_size=40),
    )
    header = st.one_of(
        st.sampled_from(
            [
                b"Content-Length: 10",
                b"Content-Length: -1",
                b"Content-Length: 99999999999999",
                b"Content-Length: abc",
                b"Transfer-Encoding: chunked",
                b"Content-Encoding: gzip",
                b"Content-Encoding: deflate",
                b"Content-Encoding: br",
                b"Content-Encoding: gzip, gzip",
                b"Location: /again",
                b"Location: http://127.0.0.1:1/",
                b"Location: file:///etc/passwd",
                b"Location: http://[::1/x",
                b"Location: //169.254.169.254/latest/",
                b"Location:",
                b"Retry-After: 99999999999",
                b"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT",
                b"Retry-After: -5",
                b"Content-Type: text/html; charset=x-unknown",
                b"X-Long: " + b"a" * 70000,
                b" folded continuation",
            ]
        ),
        st.binary(max_size=60),
    )
    body = st.one_of(
        st.binary(max_size=4000),
        st.sampled_from(
            [
                gzip.compress(b"\0" * 8 * 2**20),
                zlib.compress(b"\0" * 8 * 2**20),
                b"5\r\nhello\r\nzz\r\n",
                b"ffffffffffffffff\r\n",
                b"0\r\n\r\n",
            ]
        ),
        st.binary(max_size=2000).map(gzip.compress),
    )
    return st.tuples(
        status,
        st.lists(header, max_size=8),
        body,
        st.integers(1, 6),  # the body sent in this many pieces
        st.sampled_from([0.0, 0.0, 0.0, 0.05, 0.3]),  # seconds between pieces
    )


def _serve_hostile() -> str:
    """Start the hostile server once per worker; its base URL."""
    import socketserver
    import threading

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(5)
            try:
                got = b""
                while b"\r\n\r\n" not in got and len(got) < 65536:
                    data = self.request.recv(4096)
                    if not data:
                        return
                    got += data
                for chunk in _Hostile.chunks:
                    self.request.sendall(chunk)
                    if _Hostile.pause:
                        time.sleep(_Hostile.pause)
            except OSError:
                pass

    class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
        daemon_threads = True
        allow_reuse_address = True

    if _Hostile.server is None:
        _Hostile.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=_Hostile.server.serve_forever, daemon=True).start()
    host, port = _Hostile.server.server_address[:2]
    return f"http://{host}:{port}"


def fetch_hostile(value) -> None:
    from retrieval.fetch import FetchError, FetchLimits, fetch

    status, headers, body, pieces, pause = value
    head = b"\r\n".join([status, *headers]) + b"\r\n\r\n"
    size = max(1, len(body) // pieces)
    _Hostile.chunks = [head] + [body[i : i + size] for i in range(0, len(body), size)]
    _Hostile.pause = pause
    limits = FetchLimits(
        connect_timeout=1.0,
        read_timeout=1.0,
        deadline=HTTP_DEADLINE,
        max_bytes=256 * 2**10,
        max_decoded=2**20,
        max_redirects=3,
    )
    started = time.monotonic()
    with contextlib.suppress(FetchError):  # a refusal is the right answer to most of these
        fetch(_serve_hostile() + "/feed.xml", limits=limits, allow_private=True)
    if time.monotonic() - started > HTTP_DEADLINE + 2:
        raise Hang


def run_kind(name: str, strategy, run, examples: int, timeout: float) -> dict:
    from hypothesis import HealthCheck, given, settings

    stats = {"kind": name, "tried": 0, "crashes": 0, "hangs": 0, "slowest_s": 0.0, "first": []}

    def on_alarm(signum, frame):
        raise Hang

    signal.signal(signal.SIGALRM, on_alarm)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def one(value) -> None:
        stats["tried"] += 1
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            run(value)
        except Hang:
            stats["hangs"] += 1
        except (KeyboardInterrupt, MemoryError):
            raise
        except BaseException as exc:  # recorded, not raised: hypothesis would stop and shrink
            stats["crashes"] += 1
            if len(stats["first"]) < 3:
                stats["first"].append(f"{type(exc).__name__}: {str(exc)[:200]}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        stats["slowest_s"] = max(stats["slowest_s"], round(time.perf_counter() - start, 3))

    one()
    return stats


def worker(args: argparse.Namespace) -> None:
    limit = args.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for name, (strategy, run) in kinds().items():
        if args.kinds and name not in args.kinds:
            continue
        started = time.perf_counter()
        stats = run_kind(name, strategy, run, args.examples, args.timeout)
        stats["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(stats), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux
    print(json.dumps({"peak_rss_mb": round(peak / 1024, 1)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000, help="inputs per kind")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per input")
    parser.add_argument("--memory-mb", type=int, default=2048, help="worker address space")
    parser.add_argument("--kinds", nargs="*", help="only these kinds")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    cmd = [sys.executable, __file__, "--worker", *sys.argv[1:]]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    total = {"tried": 0, "crashes": 0, "hangs": 0}
    for line in proc.stdout.splitlines():
        row = json.loads(line)
        if "kind" in row:
            for key in total:
                total[key] += row[key]
            first = "; ".join(row["first"])
            print(
                f"{row['kind']:<13} tried {row['tried']:>6}  crashes {row['crashes']:>3}  "
                f"hangs {row['hangs']:>3}  slowest {row['slowest_s']:.2f}s  "
                f"({row['seconds']}s){'  first: ' + first if first else ''}"
            )
        else:
            print(f"peak RSS of the worker: {row['peak_rss_mb']} MB")
    print(
        f"total: tried {total['tried']}, crashes {total['crashes']}, hangs {total['hangs']}, "
        f"{time.perf_counter() - started:.0f}s"
    )
    if proc.returncode:
        died = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        print(f"worker died ({died}); its last words:\n{proc.stderr[-2000:]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
