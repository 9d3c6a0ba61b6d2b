"""No person's id in the logs: a keyed pseudonym in its place.

Logs travel further than the ledger's store (log collectors, tickets, screenshots), so a log line
never carries a person's id: ``person_id`` fields, and every occurrence of the ids of the people
the message being handled is about (``bind_people``, bound per message by the handlers: in its
message id, an error's text, a traceback), are replaced by ``person:<HMAC-SHA256 of the id>``
(16 hex digits) under a key of the ledger's key store (``adapters.keys``, key ``log-pseudonyms``).
The same person has the same pseudonym in every line and every process of one ledger, so lines
can still be followed; without the key, no pseudonym can be turned back into an id, however few
ids there are to try. A process without keys uses a key of its own, for its own lines.

``Pseudonymiser`` is a structlog processor (``cli.logs`` puts it before the renderer).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import islice
from typing import Any

# The people of the message being handled: a context variable of its own, not structlog's, so that
# a structlog configured without the Pseudonymiser (a library user's) never prints them.
_PEOPLE: ContextVar[tuple[str, ...]] = ContextVar("fund_ledger_people", default=())
PEOPLE_CONTEXT = "_people"  # an event-dict key a caller may set for one line (tests); never rendered
PERSON_FIELDS = frozenset({"person_id", "debit_person_id", "credit_person_id"})
PSEUDONYM_KEY_ID = "log-pseudonyms"
MAX_PEOPLE = 20_000  # a remittance names at most this many (bound: the message's own limit is lower)
MAX_DEPTH = 6


def bind_people(person_ids: Iterable[str]) -> None:
    """The people the message being handled is about, for this context's log lines (until the
    next call: the handlers call it for every message, with none first)."""
    _PEOPLE.set(tuple(sorted({p for p in islice(person_ids, MAX_PEOPLE) if isinstance(p, str) and p}, key=len, reverse=True)))


def people_of(payload: Any) -> list[str]:
    """Every ``person_id`` in a message's payload (its own, its lines'): a model or a dict."""
    found = [_field(payload, "person_id")] + [_field(line, "person_id") for line in _field(payload, "lines") or ()]
    return [person for person in found if isinstance(person, str)]


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def ledger_key() -> bytes:
    """The key store's pseudonym key; a process without one gets a random key of its own."""
    try:
        from adapters.keys import key_store_from_env
        from ledger.settings import ledger_env

        store = key_store_from_env(ledger_env())
        key = store.get_or_create(PSEUDONYM_KEY_ID) if store is not None else None
    except Exception:  # noqa: BLE001 - logging must never fail for want of a key
        key = None
    return key or os.urandom(32)


class Pseudonymiser:
    """A structlog processor: see the module's docstring."""

    def __init__(self, key: Callable[[], bytes] = ledger_key) -> None:
        self._key_source = key
        self._key: bytes | None = None

    def pseudonym(self, person_id: str) -> str:
        if self._key is None:
            self._key = self._key_source()
        return "person:" + hmac.new(self._key, person_id.encode(), hashlib.sha256).hexdigest()[:16]

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        people: tuple[str, ...] = tuple(event_dict.pop(PEOPLE_CONTEXT, ()) or ()) + _PEOPLE.get()
        known = _known(people) if people else None
        for name, value in list(event_dict.items()):
            event_dict[name] = self._clean(name, value, known, 0)
        return event_dict

    def _clean(self, name: str, value: Any, known: Known | None, depth: int) -> Any:
        if isinstance(value, str):
            if name in PERSON_FIELDS:
                return self.pseudonym(value)
            if known is not None:
                return replace_ids(value, known, self.pseudonym)
            return value
        if depth >= MAX_DEPTH:
            return value
        if isinstance(value, dict):
            return {key: self._clean(str(key), item, known, depth + 1) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._clean(name, item, known, depth + 1) for item in value]
        return value


# An id is made of these characters (``consumers.schemas.ID_PATTERN``), so any occurrence of one
# lies inside a run of them; it is a whole id where neither side touches a letter or digit.
ID_RUN = re.compile(r"[A-Za-z0-9._:-]+")
ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
SEPARATORS = frozenset("._:-")


@dataclass(frozen=True)
class Known:
    """The people of a line: their ids, and a pattern only if one of them is not shaped as an
    id (a malformed message's), for which the id runs do not hold."""

    people: frozenset[str]
    longest: int
    pattern: re.Pattern[str] | None


# The people of the last lines, kept for the next ones (a message's lines share its people): at
# most ``KNOWN_CACHE_PEOPLE`` ids in all, about 120 bytes each with their set (an lru_cache of 256
# entries held 1.2 MB per 10,000-person remittance, 306 MB after 256 of them), in at most
# ``KNOWN_CACHE_ENTRIES`` entries; a set of more people than the budget is built for its line only.
KNOWN_CACHE_PEOPLE = 40_000
KNOWN_CACHE_ENTRIES = 64
_KNOWN_CACHE: OrderedDict[tuple[str, ...], Known] = OrderedDict()
_KNOWN_CACHED_PEOPLE = 0
_KNOWN_LOCK = threading.Lock()  # structlog's processors run in every thread that logs


def _known(people: tuple[str, ...]) -> Known:
    global _KNOWN_CACHED_PEOPLE
    with _KNOWN_LOCK:
        known = _KNOWN_CACHE.get(people)
        if known is not None:
            _KNOWN_CACHE.move_to_end(people)
            return known
    pattern = None if all(ID_SHAPE.fullmatch(person) for person in people) else _pattern(people)
    known = Known(frozenset(people), max(map(len, people)), pattern)
    if len(people) > KNOWN_CACHE_PEOPLE:
        return known
    with _KNOWN_LOCK:
        if people not in _KNOWN_CACHE:
            _KNOWN_CACHE[people] = known
            _KNOWN_CACHED_PEOPLE += len(people)
        while _KNOWN_CACHED_PEOPLE > KNOWN_CACHE_PEOPLE or len(_KNOWN_CACHE) > KNOWN_CACHE_ENTRIES:
            oldest, _ = _KNOWN_CACHE.popitem(last=False)
            _KNOWN_CACHED_PEOPLE -= len(oldest)
    return known


def known_cache_size() -> tuple[int, int]:
    """(entries, people) the cache of ``_known`` holds."""
    with _KNOWN_LOCK:
        return len(_KNOWN_CACHE), _KNOWN_CACHED_PEOPLE


def _pattern(people: tuple[str, ...]) -> re.Pattern[str]:
    """Any of ``people`` as a whole id, the longest first."""
    alternatives = "|".join(re.escape(person) for person in sorted(people, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")


def replace_ids(text: str, known: Known, replacement: Callable[[str], str]) -> str:
    """Every whole occurrence of a known id in ``text`` replaced (not inside a longer id: ``P1``
    in ``P10`` is not ``P1``), leftmost first, the longest id where several start at one place.
    Looked up in a set, run by run of id characters: a pattern of a remittance's 200 ids took
    5 ms to compile, about 25 us of the consumer's CPU a line, once a message."""
    if known.pattern is not None:
        return known.pattern.sub(lambda match: replacement(match.group(0)), text)

    def run(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in known.people:
            return replacement(token)
        starts = [0, *(i for i in range(1, len(token)) if token[i - 1] in SEPARATORS)]
        ends = [len(token), *(i for i in range(len(token) - 1, 0, -1) if token[i] in SEPARATORS)]  # longest first
        out, done = [], 0
        for start in starts:
            if start < done:
                continue
            for end in ends:
                if end - start > known.longest or end <= start:
                    continue
                if token[start:end] in known.people:
                    out += [token[done:start], replacement(token[start:end])]
                    done = end
                    break
        return "".join(out) + token[done:] if out else token

    return ID_RUN.sub(run, text)
