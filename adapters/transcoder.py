"""The stored events' JSON, written and read with ``orjson``: the same bytes as the library's
``JSONTranscoder`` writes, and the same values as it reads, in about three quarters of its time.

The library's transcoder runs Python's ``json`` with a hook called for every object: on the
way out for each value JSON has no type for (dates, UUIDs, decimals...), on the way in for every
dict. Over a million events that is most of what a replay or a fresh consumer spends decoding
(``docs/benchmarks.md``). Here a walk in Python turns the typed values into the library's
``{"_type_": name, "_data_": ...}`` form (or back) and ``orjson`` does the JSON, so whatever was
stored before reads the same and whatever is stored now reads the same with the library.

Writing, a value made only of JSON's own containers and scalars and of values whose
transcoding ``orjson`` hands to a hook (dates, times, decimals: ``_hooked_types``) is written by
``orjson`` in one call, the hook giving each typed value its form: a scan of the value's types
checks that first, in less than a third of the time the walk takes (an event's postings are
most of it). Anything else (a UUID, which ``orjson`` would write itself as text) takes the walk.

Where ``orjson`` and ``json`` could part (a float, an integer wider than 64 bits, a key that is
not a string, a type with no transcoding, a subclass of a JSON type, nesting deeper than
``orjson`` takes, text ``orjson`` refuses), the library's own transcoder does the work, so its
results and its errors stay what they were. ``tests/unit/test_transcoder.py`` holds the two
to the same bytes and values on any value built of these.
"""

from __future__ import annotations

from enum import Enum
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, Transcoding

_JSON_SCALARS = frozenset({str, int, bool, type(None)})
_JSON_TYPES = (str, int, float, list, tuple, dict)  # Python's json writes their subclasses itself
# orjson writes these itself, never asking a hook: a UUID as text, an enum as its value.
_WRITTEN_BY_ORJSON = (UUID, Enum, orjson.Fragment)
# With these options orjson hands dates, times, dataclasses and subclasses of JSON types to the hook.
_TO_THE_HOOK = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


class _NotPlain(Exception):
    """A value this walk leaves to the library's transcoder."""


class OrjsonTranscoder(JSONTranscoder):
    """``JSONTranscoder`` with ``encode`` and ``decode`` done by ``orjson`` (same bytes, same values)."""

    def __init__(self) -> None:
        super().__init__()
        self._hooked: frozenset[type] | None = None

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self._hooked = None

    def _hooked_types(self) -> frozenset[type]:
        """The registered types whose values orjson hands to ``_typed`` (not a subclass of a
        JSON type, which Python's json writes itself, nor a type orjson writes itself)."""
        if self._hooked is None:
            self._hooked = frozenset(kind for kind in self.types if not issubclass(kind, (*_JSON_TYPES, *_WRITTEN_BY_ORJSON)))
        return self._hooked

    def encode(self, obj: Any) -> bytes:
        try:
            if self._hook_writes_all(obj, self._hooked_types()):
                written = orjson.dumps(obj, default=self._typed, option=_TO_THE_HOOK)
            else:
                written = orjson.dumps(self._plain(obj))
        except (_NotPlain, orjson.JSONEncodeError, RecursionError):
            return super().encode(obj)
        # orjson hands back its whole buffer (about 8 KiB here for an 800-byte state: a save of
        # 4,000 events held 32 MiB more than the library's): a copy of the right size instead.
        return bytes(memoryview(written))

    def decode(self, data: bytes) -> Any:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        try:
            return self._revive(value)
        except _NotPlain:
            return super().decode(data)

    def _hook_writes_all(self, value: Any, hooked: frozenset[type]) -> bool:
        """Whether ``value`` is made only of dicts, lists and tuples (exactly these types), JSON
        scalars and values of ``hooked`` types: then orjson and ``_typed`` write what ``_plain``
        and orjson would."""
        kind = type(value)
        if kind is dict:
            values: Any = value.values()
        elif kind is list or kind is tuple:
            values = value
        else:
            return kind in hooked
        for item in values:  # noqa: SIM110 (a loop: all() over a generator costs more here, on every event written)
            if type(item) not in _JSON_SCALARS and not self._hook_writes_all(item, hooked):
                return False
        return True

    def _typed(self, value: Any) -> dict[str, Any]:
        """orjson's hook: a typed value in the library's form (its data walked as ``_plain``
        does). Any other value is refused (orjson raises, and the library's transcoder writes)."""
        kind = type(value)
        if kind not in self._hooked_types():
            raise _NotPlain(kind)
        transcoding = self.types[kind]
        return {"_type_": transcoding.name, "_data_": self._plain(transcoding.encode(value))}

    def _plain(self, value: Any) -> Any:
        """``value`` with every typed value in the library's ``{"_type_", "_data_"}`` form."""
        kind = type(value)
        if kind in _JSON_SCALARS:
            return value
        if kind is dict:
            return {key: item if type(item) in _JSON_SCALARS else self._plain(item) for key, item in value.items()}
        if kind is list or kind is tuple:
            return [item if type(item) in _JSON_SCALARS else self._plain(item) for item in value]
        transcoding = None if issubclass(kind, _JSON_TYPES) else self.types.get(kind)
        if transcoding is None:  # a float, a subclass of a JSON type, a type with no transcoding
            raise _NotPlain(kind)
        return {"_type_": transcoding.name, "_data_": self._plain(transcoding.encode(value))}

    def _revive(self, value: Any) -> Any:
        """The typed values back from their ``{"_type_", "_data_"}`` form, innermost first (as the
        library's hook sees them). Floats go back to the library's reading of the text."""
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(item) not in _JSON_SCALARS:
                    value[key] = self._revive(item)
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._decode_obj(value)
            return value
        if kind is list:
            for index, item in enumerate(value):
                if type(item) not in _JSON_SCALARS:
                    value[index] = self._revive(item)
            return value
        raise _NotPlain(kind)
