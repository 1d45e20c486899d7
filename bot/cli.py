"""The `briefbot` command line: the same library calls the Discord bot makes, as commands.

Output contract: `cli-contract.md` (`--json` on stdout, logs and progress on stderr;
exit 0 ok, 1 bad input or failure explained in one line, 2 usage error). This module
is the entry point: it parses (`cli_parser`), configures logging once, runs the
command (`cli_corpus`, `cli_bot`) and turns its errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .cli_parser import build_parser

log = logging.getLogger("briefbot")
NOISY_LIBRARIES = ("sentence_transformers", "transformers", "httpx", "faiss", "trafilatura")


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="briefbot: %(levelname)s %(name)s: %(message)s"
        if debug
        else "briefbot: %(message)s",
        stream=sys.stderr,
    )
    for noisy in NOISY_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    args = build_parser().parse_args(argv)
    _configure_logging(args.debug)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command's exit code; errors become one line on stderr (a traceback with --debug)."""
    from retrieval import BriefbotError, wording

    try:
        return args.func(args)
    except BriefbotError as exc:
        if args.debug:
            log.exception("failed")
        print(wording.text("cli.error", error=exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(wording.text("cli.interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if args.debug:
            raise
        print(wording.text("cli.unexpected", kind=type(exc).__name__, error=exc), file=sys.stderr)
        return 1


__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
