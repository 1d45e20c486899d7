"""`briefbot` as shipped, with the tests' fake encoder (`conftest.FakeEncoder`, a hashed
bag of words) in place of the model: for tests that start whole bot processes
(`python -m tests.fake_model_cli ARGS…`, the same arguments as `briefbot`).

Everything else is the real entry point: the parser, the settings and environment, the
crash reports and data-dir log, the stores, the Discord client. Only the model, which
would take each process seconds to load, is swapped.
"""

from __future__ import annotations

import sys

import retrieval.corpus
from bot.cli import main
from tests.conftest import FakeEncoder


def fake_encoder(*_args: object, **_kwargs: object) -> FakeEncoder:
    return FakeEncoder()


if __name__ == "__main__":
    retrieval.corpus.load_encoder = fake_encoder  # what Corpus.encoder calls
    sys.exit(main())
