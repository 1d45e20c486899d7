"""Issue 13: no value typed into an option reaches "unexpected error".

The command line's parser (and the filter checks every command makes before it opens the
corpus) and the console's option parser are driven with random values: text, unicode,
empty strings, negative and huge numbers. Only the project's own errors, or a usage error
(exit 2), may come out. No model: the console runs on a corpus with the fake encoder.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot import console
from bot.cli_parser import UsageError, build_parser
from bot.handlers import parse_filters
from retrieval import BriefbotError, Corpus, load_settings
from tests.conftest import FakeEncoder

PARSER = build_parser()
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
).map(str)
DURATIONS = st.builds(
    lambda n, unit: f"{n}{unit}",
    st.one_of(
        st.integers(min_value=-(10**25), max_value=10**25),
        st.integers(min_value=10**5, max_value=10**12),  # past datetime's range
        st.floats(),
    ),
    st.sampled_from(["m", "h", "d", "w", "", "y", " d"]),
)
VALUES = st.one_of(
    st.text(), st.just(""), NUMBERS, DURATIONS, st.text(alphabet="0123456789-.:dhwT ")
)
COMMANDS = {
    "ask": ["--country", "--topic", "--since", "--limit"],
    "headlines": ["--country", "--topic", "--since", "--limit"],
    "digest": ["--country", "--topic", "--since"],
    "articles": ["--country", "--topic", "--since"],
    "summarize": ["--sentences", "--file", "--batch"],
}


def _checked(argv: list[str]) -> None:
    """What `main` does before a command opens the corpus: parse, then check the filters."""
    try:
        args = PARSER.parse_args(argv)
    except UsageError:
        return
    if hasattr(args, "country"):
        with contextlib.suppress(BriefbotError):
            parse_filters(args.country, args.topic, args.since)


@settings(max_examples=300, deadline=None)
@given(
    command=st.sampled_from(sorted(COMMANDS)),
    picks=st.lists(st.tuples(st.integers(min_value=0, max_value=3), VALUES), max_size=4),
    positional=st.one_of(st.none(), VALUES),
)
def test_cli_options_give_a_value_or_a_usage_or_input_error(command, picks, positional):
    options = COMMANDS[command]
    # `--opt=value`, so that a value starting with "-" reaches the option's own check.
    argv = [command] + [f"{options[i % len(options)]}={value}" for i, value in picks]
    if positional is not None and command in ("ask", "summarize"):
        argv += ["--", positional]
    _checked(argv)


@settings(max_examples=200, deadline=None)
@given(option=st.sampled_from(["--country", "--topic", "--since"]), value=VALUES)
@example(option="--since", value="99999999d")  # issue 13: an OverflowError
def test_each_filter_value_is_used_or_refused_by_our_errors(option, value):
    _checked(["headlines", f"{option}={value}"])


@settings(max_examples=100, deadline=None)
@given(value=VALUES, option=st.sampled_from(["--limit", "--sentences", "--channel", "--guild"]))
def test_every_count_and_id_option_checks_its_range(value, option):
    command = {
        "--limit": ["headlines"],
        "--sentences": ["summarize", "--file", "x"],
        "--channel": ["subscriptions", "add", "--time", "8:00", "--timezone", "UTC"],
        "--guild": [
            "subscriptions",
            "add",
            "--channel",
            "1",
            "--time",
            "8:00",
            "--timezone",
            "UTC",
        ],
    }[option]
    try:
        args = PARSER.parse_args([*command, f"{option}={value}"])
    except UsageError:
        return
    got = getattr(args, option[2:])
    assert isinstance(got, int) and 1 <= got <= 2**63 - 1


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    settings_ = load_settings(data_dir=tmp_path_factory.mktemp("fuzz"))
    with Corpus(settings_, encoder=FakeEncoder()) as c:
        yield c


OPTION_WORDS = st.sampled_from(["country", "topic", "since", "limit"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    command=st.sampled_from(["/ask tariffs", "/headlines", "/digest", "/ask", "", "/about x"]),
    options=st.lists(st.tuples(OPTION_WORDS, VALUES, st.booleans()), max_size=4),
    tail=st.text(max_size=20),
)
def test_console_lines_give_a_reply_or_one_of_our_errors(corpus, command, options, tail):
    """`dispatch` itself (not `answer_line`, which would catch anything)."""
    parts = [command]
    for name, value, dashed in options:
        parts.append(f"--{name} {value!r}" if dashed else f"{name}:{value}")
    with contextlib.suppress(BriefbotError):
        console.dispatch(corpus, " ".join([*parts, tail]))
