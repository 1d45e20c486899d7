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
from pathlib import Path

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
    """stderr shows warnings (everything with --debug); the data dir's log keeps INFO too
    (`diagnostics.log_to_data_dir`), so the level is on the handler, not the root."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="briefbot: %(levelname)s %(name)s: %(message)s"
        if debug
        else "briefbot: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        if getattr(handler, "stream", None) is sys.stderr:
            handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    for noisy in NOISY_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """The exit code of one command; a usage error raises SystemExit(2), as argparse does.

    Called as the process's entry point (no `argv`), it first turns on crash reports."""
    if argv is None:
        from .diagnostics import enable_crash_reports

        enable_crash_reports()
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
        message = os_error_line(exc)
        return _failed(args, "os", wording.text("cli.error", error=message), message)
    except Exception as exc:
        if args.debug:
            raise
        line = wording.text("cli.unexpected", kind=type(exc).__name__, error=exc)
        return _failed(args, "internal", line, f"{type(exc).__name__}: {exc}")
    return EXIT_USAGE  # not reached: _usage_failed raises


def os_error_line(exc: OSError) -> str:
    """What the system refused, in one line: a full disk and a read-only file system are
    named as such (the index or a sidecar failed to save; SQLite's own refusals are
    translated in `retrieval.sqlite`)."""
    import errno

    from retrieval import wording

    path = exc.filename
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return wording.text("errors.disk.full", path=path)
    if exc.errno == errno.EROFS and path:
        return wording.text("errors.lock.read_only", path=Path(path).parent)
    return wording.text("cli.os_error", error=exc.strerror or exc, path=path)


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
