"""Stored events read back equal, whatever the corpus payload; unreadable records are named, not guessed."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from bot.events import (
    CommentEvent,
    Item,
    ItemAction,
    ItemEvent,
    ItemKind,
    ItemRef,
    ReviewEvent,
    ReviewState,
    RunFinished,
)
from bot.forge.github.translate import translate as github
from bot.forge.gitlab.translate import translate as gitlab
from bot.store.codec import VERSION, CodecError, decode, encode
from tests.test_gitlab_translate import FIXTURE_EXPECTATIONS

FIXTURES = Path(__file__).parent / "fixtures"
GITHUB = sorted((FIXTURES / "github").glob("*.json"))
GITLAB = sorted((FIXTURES / "gitlab").glob("*.json"))


def _github_event(path: Path):  # noqa: ANN202
    return github(path.stem.split("__")[0], "delivery-1", json.loads(path.read_text()))


@pytest.mark.parametrize("path", GITHUB, ids=[p.stem for p in GITHUB])
def test_every_github_corpus_event_round_trips(path: Path) -> None:
    event = _github_event(path)
    if event is not None:
        assert decode(encode(event)) == event


@pytest.mark.parametrize("path", GITLAB, ids=[p.stem for p in GITLAB])
def test_every_gitlab_corpus_event_round_trips(path: Path) -> None:
    event = gitlab(FIXTURE_EXPECTATIONS[path.name][0], "d1", json.loads(path.read_text()))
    if event is not None:
        assert decode(encode(event)) == event


REF = ItemRef("group/sub/project", 7, ItemKind.PULL)
ITEM = Item(REF, author="ann", labels=frozenset({"b", "a"}), assignees=frozenset(), head_sha="abc", draft=True)
ROUND_TRIPS = {
    "comment-with-optional-fields-unset": CommentEvent("d", "gitlab", "carl", Item(REF)),
    "labels-and-drafts": ItemEvent("d", "github", "ann", ITEM, action=ItemAction.LABELED,
                                   labels_changed=frozenset({"lgtm"})),
    "review-state-enum": ReviewEvent("d", "github", "bob", ITEM, state=ReviewState.CHANGES_REQUESTED, body="no"),
    "unicode-and-newlines": CommentEvent("d", "github", "zoë", ITEM, body="/hold\r\n→ ✓\u2028x", comment_id=3),
    "run-finished-with-head-ref": RunFinished("d", "gitlab", "prowlet-bot", Item(REF, head_ref="topic-7"), run_id=31,
                                              conclusion="failed", run_url="https://x/-/pipelines/31", branch="main"),
}


@pytest.mark.parametrize("event", list(ROUND_TRIPS.values()), ids=list(ROUND_TRIPS))
def test_round_trip(event: object) -> None:
    assert decode(encode(event)) == event  # type: ignore[arg-type]


def test_fields_added_by_a_newer_prowlet_are_left_out() -> None:
    record = orjson.loads(encode(ROUND_TRIPS["review-state-enum"]))
    record["event"]["mood"] = "cheerful"
    record["event"]["item"]["colour"] = "red"
    assert decode(orjson.dumps(record)) == ROUND_TRIPS["review-state-enum"]


UNREADABLE = {
    "newer-version": ({"v": VERSION + 1, "type": "CommentEvent", "event": {}}, "newer than this prowlet"),
    "unknown-type": ({"v": VERSION, "type": "PushEvent", "event": {}}, "unreadable event record"),
    "missing-required-field": ({"v": VERSION, "type": "CommentEvent", "event": {"forge": "github"}},
                               "unreadable event record"),
    "bad-enum-value": ({"v": VERSION, "type": "ItemEvent", "event": {
        "delivery_id": "d", "forge": "github", "actor": "a", "action": "exploded",
        "item": {"ref": {"repo": "a/b", "number": 1, "kind": "pull"}}}}, "unreadable event record"),
}


@pytest.mark.parametrize("record, message", list(UNREADABLE.values()), ids=list(UNREADABLE))
def test_unreadable_records_raise_codec_error(record: dict, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode(orjson.dumps(record))


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'{"v": 1}'], ids=["empty", "garbage", "list", "no-type"])
def test_garbage_raises_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)
