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

from bot.events import CIEvent, CommentEvent, CommitCIEvent, Event, ItemEvent, ReviewEvent, RunFinished

VERSION = 1
EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in (CommentEvent, ReviewEvent, ItemEvent, CIEvent,
                                                                     RunFinished, CommitCIEvent)}
# version n → a function turning a version-n record into a version-n+1 record
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class CodecError(ValueError):
    """A stored record that this version of prowlet cannot read."""


def _default(value: Any) -> Any:
    """What orjson does not encode itself (dataclasses and enums it does, in C)."""
    if isinstance(value, frozenset):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(event: Event) -> bytes:
    name = type(event).__name__
    if name not in EVENT_TYPES:
        raise CodecError(f"no codec for {name}")
    return orjson.dumps({"v": VERSION, "type": name, "event": event}, default=_default)


Converter = Callable[[Any], Any]
_DECODERS: dict[type, Callable[[dict[str, Any]], Any]] = {}


def _converter(tp: Any) -> Converter | None:
    """How to turn a JSON value back into a field of type ``tp`` (None: as it is)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        convert = _converter(inner[0])
        return None if convert is None else (lambda v: None if v is None else convert(v))
    if origin is frozenset:
        return frozenset
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decoder(tp)
    return None


def _decoder(cls: type) -> Callable[[dict[str, Any]], Any]:
    """Built once per class from its type hints: decoding runs for every handled event."""
    if cls not in _DECODERS:
        hints = typing.get_type_hints(cls)
        plan = {f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls)}

        def build(data: dict[str, Any]) -> Any:
            # Unknown keys (written by a newer prowlet) are left out rather than refused.
            return cls(**{k: (v if (convert := plan[k]) is None else convert(v))
                          for k, v in data.items() if k in plan})

        _DECODERS[cls] = build
    return _DECODERS[cls]


def decode(data: bytes) -> Event:
    try:
        record = orjson.loads(data)
        version = record["v"]
        while version < VERSION:
            record = _UPGRADES[version](record)
            version = record["v"]
        if version != VERSION:
            raise CodecError(f"record version {version} is newer than this prowlet ({VERSION})")
        return _decoder(EVENT_TYPES[record["type"]])(record["event"])
    except CodecError:
        raise
    except (ValueError, KeyError, TypeError) as err:
        raise CodecError(f"unreadable event record: {type(err).__name__}: {err}") from None

