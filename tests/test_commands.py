"""Table tests for the one command parser (bot.commands)."""

from __future__ import annotations

import pytest

from bot.commands import MAX_COMMANDS, Invocation, parse_commands, parse_logins

FENCE = "```"

# (id, body, prefix, expected [(name, args), ...])
CASES = [
    # --- what a command is
    ("simple", "/lgtm", "", [("lgtm", "")]),
    ("with-args", "/assign @bob", "", [("assign", "@bob")]),
    ("hold-cancel", "/hold cancel", "", [("hold", "cancel")]),
    ("hyphen-and-underscore-name", "/remove-label kind/bug\n/ok_to_test", "",
     [("remove-label", "kind/bug"), ("ok_to_test", "")]),
    ("name-case-insensitive-args-keep-case", "/LGTM\n/Label Kind/Bug", "",
     [("lgtm", ""), ("label", "Kind/Bug")]),
    ("args-trimmed-inner-spacing-kept", "/label   a   b   ", "", [("label", "a   b")]),
    ("tab-separates-args", "/assign\t@bob", "", [("assign", "@bob")]),
    ("trailing-spaces-no-args", "/lgtm   \t", "", [("lgtm", "")]),
    ("unicode-args", "/retitle Fix naïve “quotes” 🚀", "",
     [("retitle", "Fix naïve “quotes” 🚀")]),
    ("punctuation-after-name", "/lgtm.\n/lgtm,\n/lgtm!", "", []),
    ("not-at-line-start", "foo /lgtm\nplease /hold", "", []),
    ("name-must-start-with-letter", "/1lgtm\n/-hold\n/_x", "", []),
    ("bare-slash-and-double-slash", "/\n/ lgtm\n//lgtm", "", []),
    ("path-is-not-a-command", "/usr/bin/env", "", []),
    ("several-in-order-duplicates-kept", "/hold\ntext\n/lgtm\n/hold", "",
     [("hold", ""), ("lgtm", ""), ("hold", "")]),
    ("list-item-is-not-a-command", "- /lgtm\n* /hold\n1. /approve", "", []),
    ("inline-code-is-not-a-command", "`/lgtm`", "", []),
    # --- indentation
    ("three-spaces-allowed", "   /lgtm", "", [("lgtm", "")]),
    ("four-spaces-is-code", "    /lgtm", "", []),
    ("tab-is-code", "\t/lgtm", "", []),
    ("space-then-tab-is-code", " \t/lgtm", "", []),
    # --- line endings
    ("crlf", "/lgtm\r\n/hold cancel\r\n", "", [("lgtm", ""), ("hold", "cancel")]),
    ("bare-cr", "/lgtm\r/hold", "", [("lgtm", ""), ("hold", "")]),
    ("mixed-line-endings", "a\r\n/lgtm\rb\n/hold\r\n", "", [("lgtm", ""), ("hold", "")]),
    # --- quotes
    ("quoted", "> /hold", "", []),
    ("quoted-no-space", ">/hold", "", []),
    ("quoted-indented", "  > /hold", "", []),
    ("quoted-nested", ">> /hold\n> > /lgtm", "", []),
    ("reply-after-quote", "> /hold\n\n/hold cancel", "", [("hold", "cancel")]),
    # A fence opened inside a quote ends with the quote; it does not hide what follows.
    ("fence-inside-quote", f"> {FENCE}\n/lgtm\n> {FENCE}", "", [("lgtm", "")]),
    # --- fenced code
    ("backtick-fence", f"{FENCE}\n/lgtm\n{FENCE}", "", []),
    ("tilde-fence", "~~~\n/lgtm\n~~~", "", []),
    ("command-after-fence-closes", f"{FENCE}\n/hold\n{FENCE}\n/lgtm", "", [("lgtm", "")]),
    ("fence-with-info-string", f"{FENCE}python\n/lgtm\n{FENCE}\n/hold", "", [("hold", "")]),
    ("unclosed-fence-runs-to-end", f"/hold\n{FENCE}\n/lgtm\n/approve", "", [("hold", "")]),
    ("tilde-not-closed-by-backticks", f"~~~\n{FENCE}\n/lgtm\n~~~\n/hold", "", [("hold", "")]),
    ("backticks-not-closed-by-tilde", f"{FENCE}\n~~~\n/lgtm\n{FENCE}\n/hold", "", [("hold", "")]),
    ("shorter-fence-does-not-close", "````\n```\n/lgtm\n````\n/hold", "", [("hold", "")]),
    ("longer-fence-closes", "```\n/lgtm\n`````\n/hold", "", [("hold", "")]),
    ("closing-fence-with-text-does-not-close", f"{FENCE}\n{FENCE} x\n/lgtm\n{FENCE}\n/hold", "",
     [("hold", "")]),
    ("closing-fence-trailing-spaces", f"{FENCE}\n/lgtm\n{FENCE}  \t\n/hold", "", [("hold", "")]),
    ("fence-indented-three-spaces", f"   {FENCE}\n/lgtm\n  {FENCE}\n/hold", "", [("hold", "")]),
    ("fence-indented-four-spaces-is-not-a-fence", f"    {FENCE}\n/lgtm", "", [("lgtm", "")]),
    ("closing-fence-indented-four-does-not-close",
     f"{FENCE}\n    {FENCE}\n/lgtm\n{FENCE}\n/hold", "", [("hold", "")]),
    ("two-backticks-is-not-a-fence", "``\n/lgtm\n``", "", [("lgtm", "")]),
    ("backtick-in-info-string-is-not-a-fence", "```a`b\n/lgtm", "", [("lgtm", "")]),
    ("backtick-in-tilde-info-string-is-a-fence", "~~~a`b\n/lgtm\n~~~", "", []),
    ("fence-crlf", f"{FENCE}\r\n/lgtm\r\n{FENCE}\r\n/hold\r\n", "", [("hold", "")]),
    # --- HTML comments
    ("html-comment", "<!-- /lgtm -->", "", []),
    ("html-comment-multiline", "<!--\n/lgtm\n/hold\n-->", "", []),
    ("command-after-multiline-comment", "<!--\n/lgtm\n-->\n/hold", "", [("hold", "")]),
    ("text-after-comment-on-same-line", "<!-- x --> /hold\n<!-- x -->/lgtm", "", []),
    ("text-after-multiline-comment-close", "<!--\nx\n--> /hold", "", []),
    ("several-comments-on-one-line", "<!-- a --> b <!-- /lgtm -->\n/hold", "", [("hold", "")]),
    ("comment-after-command-is-dropped", "/hold <!-- until CI is fixed -->", "", [("hold", "")]),
    ("comment-inside-args", "/label a <!-- b --> c", "", [("label", "a  c")]),
    ("abruptly-closed-empty-comments", "<!-->\n/lgtm\n<!--->\n/hold\n-->", "",
     [("lgtm", ""), ("hold", "")]),
    ("unclosed-comment-hides-rest", "/hold\n<!-- draft\n/lgtm", "", [("hold", "")]),
    ("html-comment-containing-fence", f"<!--\n{FENCE}\n-->\n/lgtm", "", [("lgtm", "")]),
    ("html-comment-inside-fence", f"{FENCE}\n<!-- x -->\n/hold\n{FENCE}\n/lgtm", "",
     [("lgtm", "")]),
    ("template-comment-then-command", "<!-- Please describe your change -->\n\n/kind bug", "",
     [("kind", "bug")]),
    ("nul-in-body-is-not-a-comment", "/label a\x00b", "", [("label", "a\ufffdb")]),
    # --- prefix
    ("prefixed", "/prow-assign @bob", "prow-", [("assign", "@bob")]),
    ("prefix-unprefixed-still-accepted", "/assign @bob\n/lgtm", "prow-",
     [("assign", "@bob"), ("lgtm", "")]),
    ("prefix-mixed-case-in-comment", "/PROW-Approve\n/Prow-label Kind/Bug", "prow-",
     [("approve", ""), ("label", "Kind/Bug")]),
    ("prefix-mixed-case-in-config", "/prow-lgtm", "Prow-", [("lgtm", "")]),
    ("bare-prefix", "/prow-\n/prow- lgtm", "prow-", []),
    ("prefix-then-invalid-name", "/prow-1x\n/prow--x\n/prow-lgtm.", "prow-", []),
    ("prefix-removed-once", "/prow-prow-lgtm", "prow-", [("prow-lgtm", "")]),
    ("prefix-underscore", "/bot_close", "bot_", [("close", "")]),
    ("no-prefix-configured", "/prow-assign @bob", "", [("prow-assign", "@bob")]),
    ("prefixed-in-quote-and-fence", f"> /prow-lgtm\n{FENCE}\n/prow-hold\n{FENCE}", "prow-", []),
    ("prefixed-indented-three", "   /prow-hold cancel", "prow-", [("hold", "cancel")]),
    # --- empty and odd bodies
    ("empty", "", "", []),
    ("only-whitespace", " \n\r\n\t", "", []),
    ("prose", "Looks good to me, thanks!", "", []),
]


@pytest.mark.parametrize(
    ("body", "prefix", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_parse_commands(body, prefix, expected):
    assert [(i.name, i.args) for i in parse_commands(body, prefix)] == expected


def test_case_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


# (id, body, prefix, expected line)
LINE_CASES = [
    ("trimmed", "   /hold cancel  ", "", "/hold cancel"),
    ("prefix-kept-as-written", "/PROW-Assign @Bob", "prow-", "/PROW-Assign @Bob"),
    ("comment-removed", "/hold <!-- secret --> now", "", "/hold  now"),
    ("crlf-not-included", "/lgtm\r\n", "", "/lgtm"),
]


@pytest.mark.parametrize(
    ("body", "prefix", "line"), [c[1:] for c in LINE_CASES], ids=[c[0] for c in LINE_CASES]
)
def test_line_is_quoted_as_written(body, prefix, line):
    [invocation] = parse_commands(body, prefix)
    assert invocation.line == line


def test_returns_frozen_invocations():
    [invocation] = parse_commands("/assign @bob", "prow-")
    assert invocation == Invocation(name="assign", args="@bob", line="/assign @bob")
    with pytest.raises(AttributeError):
        invocation.name = "lgtm"  # type: ignore[misc]


def test_at_most_max_commands():
    body = "\n".join(f"/label l{i}" for i in range(MAX_COMMANDS + 5))
    found = parse_commands(body)
    assert len(found) == MAX_COMMANDS == 20
    assert found[-1].args == f"l{MAX_COMMANDS - 1}"


def test_ignored_lines_do_not_count_towards_the_limit():
    body = "> /hold\n" * 50 + "/lgtm"
    assert [i.name for i in parse_commands(body)] == ["lgtm"]


@pytest.mark.parametrize(
    "body", [None, 42, b"/lgtm", ["/lgtm"]], ids=["none", "int", "bytes", "list"]
)
def test_non_string_body(body):
    assert parse_commands(body) == []


@pytest.mark.parametrize(
    "prefix",
    ["prow", "p/", "-prow-", "1-", "pr ow-", "/prow-", 5],
    ids=["no-separator", "slash", "leading-dash", "leading-digit", "space", "slash-first", "int"],
)
def test_invalid_prefix_is_a_config_error(prefix):
    with pytest.raises(ValueError):
        parse_commands("/lgtm", prefix)


@pytest.mark.parametrize("prefix", ["", None], ids=["empty", "none"])
def test_empty_prefix_means_no_prefixed_form(prefix):
    assert [(i.name, i.args) for i in parse_commands("/prow-lgtm", prefix)] == [("prow-lgtm", "")]


MB = 1_000_000
# Each ends with a real command where the input lets one survive, so the parse is really checked.
PATHOLOGICAL = [
    ("slash-lines", "/\n" * (MB // 2) + "/lgtm", [("lgtm", "")]),
    ("unclosed-comment-openers", "<!--" * (MB // 4) + "\n/lgtm", []),
    ("comment-openers-per-line", "<!--\n" * (MB // 5) + "-->\n/lgtm", [("lgtm", "")]),
    ("unclosed-comment-closers", "-->" * (MB // 3) + "\n/lgtm", [("lgtm", "")]),
    ("long-name-then-dot", "/" + "a" * MB + ".\n/lgtm", [("lgtm", "")]),
    ("long-prefix-repeats", "/" + "prow-" * (MB // 5) + "\n/prow-lgtm",
     [("prow-" * (MB // 5 - 1), ""), ("lgtm", "")]),
    ("fence-toggles", "```\n" * (MB // 4) + "/lgtm", [("lgtm", "")]),
    ("one-huge-fence-line", "`" * MB + "\n/lgtm", []),
    ("quote-markers", ">" * MB + "\n/lgtm", [("lgtm", "")]),
    ("spaces", " " * MB + "/x\n/lgtm", [("lgtm", "")]),
    ("huge-args", "/label " + "x " * (MB // 2), [("label", ("x " * (MB // 2)).strip())]),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in PATHOLOGICAL], ids=[c[0] for c in PATHOLOGICAL]
)
def test_pathological_megabyte_bodies_complete(body, expected):
    assert len(body) >= MB
    assert [(i.name, i.args) for i in parse_commands(body, "prow-")] == expected


# (id, args, expected logins, expected invalid)
LOGIN_CASES = [
    ("at-and-bare-and-comma", "@alice bob, @carol", ["alice", "bob", "carol"], []),
    ("empty", "", [], []),
    ("whitespace-only", "  \t ", [], []),
    ("commas-only", ",,, ,", [], []),
    ("order-kept", "zed amy mo", ["zed", "amy", "mo"], []),
    ("dedup-case-insensitive-first-spelling-wins", "@Alice alice ALICE", ["Alice"], []),
    ("gitlab-dots-underscores", "@first.last some_user a-b",
     ["first.last", "some_user", "a-b"], []),
    ("digits-first", "42 0xdead", ["42", "0xdead"], []),
    ("lone-at", "@", [], ["@"]),
    ("double-at", "@@bob", [], ["@@bob"]),
    ("leading-punctuation", ".bob -bob _bob", [], [".bob", "-bob", "_bob"]),
    ("bad-characters", "bob! b/ob bob;", [], ["bob!", "b/ob", "bob;"]),
    ("non-ascii", "bób 名前", [], ["bób", "名前"]),
    ("mixed-valid-and-invalid", "@alice b@d, @carol", ["alice", "carol"], ["b@d"]),
    ("invalid-deduplicated-exactly", "x! x! X!", [], ["x!", "X!"]),
    ("max-length", "a" * 255, ["a" * 255], []),
    ("too-long", "a" * 256, [], ["a" * 256]),
    ("newlines-separate", "alice\nbob\r\ncarol", ["alice", "bob", "carol"], []),
]


@pytest.mark.parametrize(
    ("args", "logins", "invalid"), [c[1:] for c in LOGIN_CASES], ids=[c[0] for c in LOGIN_CASES]
)
def test_parse_logins(args, logins, invalid):
    assert parse_logins(args) == (logins, invalid)


def test_parse_logins_non_string():
    assert parse_logins(None) == ([], [])  # type: ignore[arg-type]


def test_parse_logins_from_a_parsed_command():
    [invocation] = parse_commands("/prow-assign @alice, @Bob bob?", "prow-")
    assert parse_logins(invocation.args) == (["alice", "Bob"], ["bob?"])
