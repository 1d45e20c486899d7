"""The `briefbot` command line: the same library calls the Discord bot makes, as commands.

Output contract: `cli-contract.md` (`--json` on stdout, logs and progress on stderr;
exit 0 ok, 1 bad input or failure explained in one line, 2 usage error). This module
is the entry point: it parses (`cli_parser`), configures logging once, runs the
command (`cli_corpus`, `cli_bot`) and turns its errors into one line and an exit code
(with `--json`, also an `{"error": {"kind", "message"}}` document on stdout).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .cli_parser import UsageError, build_parser

log = logging.getLogger("briefbot")
NOISY_LIBRARIES = ("sentence_transformers", "transformers", "httpx", "faiss", "trafilatura")
EXIT_USAGE = 2


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
    """The exit code of one command; a usage error raises SystemExit(2), as argparse does."""
    _quiet_libraries()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        _usage_failed(exc, exc.parser, wants_json(argv))
    _configure_logging(args.debug)
    return _run(args)


def wants_json(argv: list[str]) -> bool:
    """Whether `--json` was asked for, read from the raw arguments: a usage error happens
    before argparse could say so (options after a bare `--` are not options)."""
    head = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in head


def _usage_failed(exc: Exception, parser: argparse.ArgumentParser, as_json: bool) -> None:
    from retrieval import wording

    parser.print_usage(sys.stderr)
    print(wording.text("cli.usage.error", prog=parser.prog, error=exc), file=sys.stderr)
    if as_json:
        _emit_error("usage", str(exc))
    raise SystemExit(EXIT_USAGE)


def _emit_error(kind: str, message: str) -> None:
    from .cli_json import emit

    emit({"error": {"kind": kind, "message": message}})


def _run(args: argparse.Namespace) -> int:
    """The command's exit code; errors become one line on stderr (a traceback with --debug)."""
    from retrieval import BriefbotError, wording

    from .cli_json import error_kind

    try:
        return args.func(args)
    except UsageError as exc:
        _usage_failed(exc, exc.parser, args.json)
    except BriefbotError as exc:
        return _failed(args, error_kind(exc), wording.text("cli.error", error=exc), str(exc))
    except KeyboardInterrupt:
        print(wording.text("cli.interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the disk or the system refused: explained, not a bug
        message = wording.text("cli.os_error", error=exc.strerror or exc, path=exc.filename)
        return _failed(args, "os", wording.text("cli.error", error=message), message)
    except Exception as exc:
        if args.debug:
            raise
        line = wording.text("cli.unexpected", kind=type(exc).__name__, error=exc)
        return _failed(args, "internal", line, f"{type(exc).__name__}: {exc}")
    return EXIT_USAGE  # not reached: _usage_failed raises


def _failed(args: argparse.Namespace, kind: str, line: str, message: str) -> int:
    if args.debug:
        log.exception("failed")
    print(line, file=sys.stderr)
    if args.json:
        _emit_error(kind, message)
    return 1


__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
