"""Neutral events ↔ bytes for the durable queue, versioned.

The format is JSON (orjson): ``{"v": 1, "type": "CommentEvent", "event": {...fields...}}``.  Fields are
written by name, so adding a field with a default keeps old records readable; a change that cannot be
read that way bumps ``VERSION`` and adds a converter to ``_UPGRADES``.  A record this code cannot read
raises ``CodecError`` and is parked by the worker (visible in ``prowlet queue``), never dropped.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any

import orjson

from bot.events import CIEvent, CommentEvent, Event, ItemEvent, ReviewEvent

VERSION = 1
EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in (CommentEvent, ReviewEvent, ItemEvent, CIEvent)}
# version n → a function turning a version-n record into a version-n+1 record
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class CodecError(ValueError):
    """A stored record that this version of prowlet cannot read."""


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, frozenset):
        return sorted(value)
    return value


def encode(event: Event) -> bytes:
    name = type(event).__name__
    if name not in EVENT_TYPES:
        raise CodecError(f"no codec for {name}")
    return orjson.dumps({"v": VERSION, "type": name, "event": _plain(event)})


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(inner[0], value)
    if origin is frozenset:
        return frozenset(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _from_fields(tp, value)
    return value


def _from_fields(cls: type, data: dict[str, Any]) -> Any:
    hints = _hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    # Unknown keys (written by a newer prowlet) are left out rather than refused.
    return cls(**{k: _build(hints[k], v) for k, v in data.items() if k in known})


def decode(data: bytes) -> Event:
    try:
        record = orjson.loads(data)
        version = record["v"]
        while version < VERSION:
            record = _UPGRADES[version](record)
            version = record["v"]
        if version != VERSION:
            raise CodecError(f"record version {version} is newer than this prowlet ({VERSION})")
        cls = EVENT_TYPES[record["type"]]
        return _from_fields(cls, record["event"])
    except CodecError:
        raise
    except (ValueError, KeyError, TypeError) as err:
        raise CodecError(f"unreadable event record: {type(err).__name__}: {err}") from None

