"""Custom JMESPath functions available to every rule expression, next to JMESPath's builtins.

Each function is documented by its docstring (first line: signature; then what it does; then an
`Example:` line that docs/rules.md shows and a test runs). The current time comes from an injectable
clock (`use_clock`), so evaluation stays pure and fixtures can move time.

This module defines functions only; compiling and evaluating expressions is engine.expr.jmes.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import re
import types
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from jmespath import exceptions as jmespath_exceptions
from jmespath import functions as jmespath_functions

from engine.expr.canonical import go_json

Clock = Callable[[], datetime]

_CLOCK: contextvars.ContextVar[Clock] = contextvars.ContextVar("clock", default=lambda: datetime.now(UTC))
_OBJECT_TYPES = {"Context", "MappingProxyType"}


class _ClockScope:
    """The block of `use_clock` (a class, not a generator: it is entered once per evaluation)."""

    __slots__ = ("_clock", "_token")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def __enter__(self) -> None:
        self._token = _CLOCK.set(self._clock)

    def __exit__(self, *_exc: object) -> None:
        _CLOCK.reset(self._token)


def use_clock(clock: Clock) -> contextlib.AbstractContextManager[None]:
    """Evaluate expressions inside this block with `clock` as the source of `now()`."""
    return _ClockScope(clock)


_LAST_TIME: list[tuple[tuple[int, ...], str]] = []
"""The last second formatted: evaluations within one second format it once (a real clock's `now()` differs in
its microseconds at every call, so the moment itself is not the key)."""


def rfc3339(moment: datetime) -> str:
    """Kubernetes' metav1.Time text: UTC, second precision, `Z` suffix."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    second = (moment.second, moment.minute, moment.hour, moment.day, moment.month, moment.year)
    if _LAST_TIME and _LAST_TIME[0][0] == second:
        return _LAST_TIME[0][1]
    text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    _LAST_TIME[:] = [(second, text)]
    return text


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (as Kubernetes writes them)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


sig = jmespath_functions.signature


class Functions(jmespath_functions.Functions):
    """JMESPath builtins plus the custom functions below."""

    # jmespath type-checks arguments by the Python type's *name*; rule contexts are dict subclasses.
    def _get_allowed_pytypes(self, types: Any) -> Any:
        allowed, subtypes = super()._get_allowed_pytypes(types)  # type: ignore[misc]
        if "dict" in allowed:
            allowed = [*allowed, *_OBJECT_TYPES]
        return allowed, subtypes

    @sig({"types": []})
    def _func_type(self, arg: Any) -> str:
        """type(value) -> string: the JMESPath type name (JMESPath builtin; rule contexts count as objects).

        Example: type(`{}`) == 'object'"""
        if isinstance(arg, dict):
            return "object"
        result: str = super()._func_type(arg)  # type: ignore[misc]
        return result

    # --- JSON and hashing -----------------------------------------------------------------------

    @sig({"types": []})
    def _func_canonical_json(self, value: Any) -> str:
        """canonical_json(value) -> string: JSON with sorted keys and no whitespace, escaped as Go's encoding/json.

        `<`, `>`, `&`, U+2028 and U+2029 are escaped; floats use Go's shortest form.
        Example: canonical_json({b: `1`, a: '<'}) == '{"a":"\\u003c","b":1}'"""
        return go_json(value)

    @sig({"types": []})
    def _func_to_json(self, value: Any) -> str:
        """to_json(value) -> string: like canonical_json, but object keys keep their order.

        Example: to_json({b: `1`, a: `2`}) == '{"b":1,"a":2}'"""
        return go_json(value, sort_keys=False)

    @sig({"types": ["string"]})
    def _func_parse_json(self, text: str) -> Any:
        """parse_json(string) -> any: the value a JSON text denotes (null when it is not valid JSON).

        Example: parse_json('{"a": [1]}').a[0] == `1`"""
        try:
            return json.loads(text)
        except ValueError:
            return None

    @sig({"types": ["string"]})
    def _func_md5(self, text: str) -> str:
        """md5(string) -> string: lowercase hex MD5 digest of the UTF-8 bytes.

        Example: md5('') == 'd41d8cd98f00b204e9800998ecf8427e'"""
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    @sig({"types": ["string"]})
    def _func_sha256(self, text: str) -> str:
        """sha256(string) -> string: lowercase hex SHA-256 digest of the UTF-8 bytes.

        Example: length(sha256('x')) == `64`"""
        return hashlib.sha256(text.encode()).hexdigest()

    @sig({"types": ["string"]})
    def _func_hex(self, text: str) -> str:
        """hex(string) -> string: the UTF-8 bytes of a string, hex-encoded (Go's `%x` of a string).

        Example: hex('ab') == '6162'"""
        return text.encode().hex()

    # --- strings ----------------------------------------------------------------------------------

    @sig({"types": ["string"]})
    def _func_lower(self, text: str) -> str:
        """lower(string) -> string: lower case.

        Example: lower('AbC') == 'abc'"""
        return text.lower()

    @sig({"types": ["string"]})
    def _func_upper(self, text: str) -> str:
        """upper(string) -> string: upper case.

        Example: upper('AbC') == 'ABC'"""
        return text.upper()

    @sig({"types": ["string"]})
    def _func_snake_case(self, text: str) -> str:
        """snake_case(string) -> string: `_` before each upper-case letter that follows a lower-case one, then lower case.

        Example: snake_case('MicrosoftSqlServerTable') == 'microsoft_sql_server_table'"""
        return re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()

    @sig({"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_replace(self, text: str, old: str, new: str) -> str:
        """replace(string, old, new) -> string: every occurrence of `old` replaced by `new`.

        Example: replace('a-b-c', '-', '.') == 'a.b.c'"""
        return text.replace(old, new)

    @sig({"types": ["string"]}, {"types": ["string"]})
    def _func_split(self, text: str, separator: str) -> list[str]:
        """split(string, separator) -> array[string]: the parts between separators.

        Example: split('a/b', '/') == ['a', 'b']"""
        return text.split(separator)

    @sig({"types": ["string"]})
    def _func_trim(self, text: str) -> str:
        """trim(string) -> string: without leading and trailing white space.

        Example: trim('  a ') == 'a'"""
        return text.strip()

    @sig({"types": ["string"]}, {"types": ["string"]})
    def _func_matches(self, text: str, pattern: str) -> bool:
        """matches(string, regex) -> boolean: whether the regular expression matches the whole string.

        An invalid regular expression is an evaluation error.
        Example: matches('v12', 'v[0-9]+')"""
        try:
            return re.fullmatch(pattern, text) is not None
        except re.error as error:
            raise ValueError(f"matches(): invalid regular expression {pattern!r}: {error}") from None

    # --- objects and control ----------------------------------------------------------------------

    @sig({"types": []}, {"types": []}, {"types": []})
    def _func_if(self, test: Any, then: Any, otherwise: Any) -> Any:
        """if(test, then, else) -> any: `then` when `test` is true (JMESPath truthiness), else `else`.

        Only the branch it returns is evaluated (as `&&` and `||` do), so the other may be one that would fail.
        Example: if(`true`, 'yes', length(`null`)) == 'yes'"""
        falsy = test is None or test is False or test in ("", [], {})
        return otherwise if falsy else then

    @sig({"types": []}, {"types": [], "variadic": True})
    def _func_coalesce(self, *values: Any) -> Any:
        """coalesce(value, ...) -> any: the first argument that is not null (null when all are).

        Example: coalesce(`null`, `false`, 'x') == `false`"""
        return next((value for value in values if value is not None), None)

    @sig({"types": []}, {"types": ["string", "number"]})
    def _func_get(self, container: Any, key: Any) -> Any:
        """get(object_or_array, key) -> any: the member named by a computed key (or index); null when missing.

        JMESPath cannot index with an expression; this can. Combine with `||` for a default.
        Example: get({a: `1`}, 'a') == `1`"""
        if isinstance(container, dict) and isinstance(key, str):
            return container.get(key)
        if isinstance(container, list) and isinstance(key, int) and not isinstance(key, bool):
            return container[key] if -len(container) <= key < len(container) else None
        return None

    @sig({"types": ["object"]}, {"types": ["object"], "variadic": True})
    def _func_deep_merge(self, *objects: Any) -> Any:
        """deep_merge(object, object, ...) -> object: later objects merged into earlier ones, recursively.

        Nested objects merge; any other value (lists included) replaces. Inputs are not modified.
        Example: deep_merge({a: {x: `1`}}, {a: {y: `2`}}) == {a: {x: `1`, y: `2`}}"""
        merged: dict[str, Any] = {}
        for obj in objects:
            if not isinstance(obj, dict):  # jmespath checks the declared arguments only, not the variadic rest
                found = jmespath_functions.TYPES_MAP.get(type(obj).__name__, "unknown")
                raise jmespath_exceptions.JMESPathTypeError("deep_merge", obj, found, ["object"])
            merged = _deep_merge(merged, obj)
        return merged

    @sig({"types": ["array"]})
    def _func_from_items(self, pairs: list[Any]) -> dict[str, Any]:
        """from_items(array[[key, value]]) -> object: an object from key/value pairs (keys must be strings).

        Example: from_items([['a', `1`]]) == {a: `1`}"""
        out: dict[str, Any] = {}
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise jmespath_exceptions.JMESPathError(f"from_items() expects [string, value] pairs, got {pair!r}")
            out[pair[0]] = pair[1]
        return out

    @sig({"types": ["object"]})
    def _func_items(self, obj: Any) -> list[list[Any]]:
        """items(object) -> array[[key, value]]: the key/value pairs of an object, in order.

        Example: items({a: `1`}) == [['a', `1`]]"""
        return [[key, value] for key, value in obj.items()]

    # --- Kubernetes conventions -------------------------------------------------------------------

    @sig({"types": []}, {"types": ["string"]})
    def _func_condition(self, obj: Any, condition_type: str) -> Any:
        """condition(object, type) -> object|null: the entry of `status.conditions` with that type.

        Example: condition({status: {conditions: [{type: 'Complete', status: 'True'}]}}, 'Complete').status == 'True'"""
        if not isinstance(obj, dict):
            return None
        conditions = (obj.get("status") or {}).get("conditions")
        if not isinstance(conditions, list):
            return None
        return next((c for c in conditions if isinstance(c, dict) and c.get("type") == condition_type), None)

    @sig({"types": []}, {"types": []})
    def _func_owned_by(self, obj: Any, owner: Any) -> bool:
        """owned_by(object, owner) -> boolean: whether an entry of the object's `metadata.ownerReferences` names the
        owner's `metadata.uid` (false for null, or an owner without a uid).

        Example: owned_by({metadata: {ownerReferences: [{uid: 'u1'}]}}, {metadata: {uid: 'u1'}})"""
        if not isinstance(obj, dict) or not isinstance(owner, dict):
            return False
        uid = (owner.get("metadata") or {}).get("uid")
        references = (obj.get("metadata") or {}).get("ownerReferences")
        if not uid or not isinstance(references, list):
            return False
        return any(isinstance(reference, dict) and reference.get("uid") == uid for reference in references)

    # --- time -------------------------------------------------------------------------------------

    @sig()
    def _func_now(self) -> str:
        """now() -> string: the current time of the evaluation's clock, RFC 3339 in UTC (second precision).

        Example: length(now()) == `20`"""
        return rfc3339(_CLOCK.get()())

    @sig({"types": ["string"]})
    def _func_epoch(self, text: str) -> Any:
        """epoch(timestamp) -> number|null: seconds since 1970 for an RFC 3339 timestamp (null if unparsable).

        A timestamp without a zone is read as UTC.
        Example: epoch('1970-01-01T00:01:00Z') == `60`"""
        try:
            moment = parse_time(text)
        except ValueError:
            return None
        return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


FUNCTIONS = Functions()
"""The one shared, stateless instance (the clock is context-local)."""


Checks = tuple[frozenset[str] | None, ...]
"""Per declared argument, the Python type names jmespath accepts for it (None: any type)."""


def _checks(name: str) -> tuple[Callable[..., Any], Checks, Checks, bool] | None:
    """The function of `name` (unbound: FUNCTIONS is its first argument), the type names of its arguments, those of
    their elements (arguments typed `array-string` and the like; None: unchecked) and whether it is variadic. None
    when an argument accepts arrays of several element types (`array-number` or `array-string`): jmespath decides
    those by the first element, which only it does."""
    entry = Functions.FUNCTION_TABLE.get(name)
    if entry is None:
        return None
    function, signature = entry["function"], entry["signature"]
    checks: list[frozenset[str] | None] = []
    elements: list[frozenset[str] | None] = []
    for spec in signature:
        if not spec["types"]:
            checks.append(None)
            elements.append(None)
            continue
        allowed, subtypes = FUNCTIONS._get_allowed_pytypes(spec["types"])
        if len(subtypes) > 1:
            return None
        checks.append(frozenset(allowed))
        elements.append(frozenset(subtypes[0]) if subtypes else None)
    return function, tuple(checks), tuple(elements), bool(signature) and bool(signature[-1].get("variadic"))


@functools.cache  # the function table is fixed: one answer per name, shared by every expression calling it
def inline_call(name: str) -> tuple[Callable[..., Any], Checks] | None:
    """For generated code, a function of fixed arity it may call itself: the function (taking the arguments) and
    the type names each argument must have for the call to be the one jmespath would make. When a check fails,
    generated code calls `fast_caller(name)`, which lets jmespath raise its usual error. None for a variadic
    function or one with element types (they always go through `fast_caller`)."""
    found = _checks(name)
    if found is None or found[3] or any(found[2]):
        return None
    return types.MethodType(found[0], FUNCTIONS), found[1]


@functools.cache  # callers are stateless: one per function name, shared by every expression calling it
def fast_caller(name: str) -> Callable[[list[Any]], Any]:
    """A caller of function `name` that checks argument types against sets computed once, instead of jmespath's
    per-call work; any argument it does not accept goes to jmespath's `call_function`, which raises the usual
    error (and signatures with several element types, such as `array-number` or `array-string`, always go
    there)."""
    slow = functools.partial(FUNCTIONS.call_function, name)
    found = _checks(name)
    if found is None:
        return slow
    function, checks, elements, variadic = found
    count = len(checks)
    if any(elements):
        if variadic:
            return slow

        def call_checking_elements(args: list[Any]) -> Any:
            if len(args) != count:
                return slow(args)
            for arg, allowed, inner in zip(args, checks, elements, strict=True):
                if allowed is not None and type(arg).__name__ not in allowed:
                    return slow(args)
                if inner is not None and not all(type(element).__name__ in inner for element in arg):
                    return slow(args)
            return function(FUNCTIONS, *args)

        return call_checking_elements
    if not variadic and count == 1:
        (only,) = checks

        def call_one(args: list[Any]) -> Any:
            if len(args) == 1 and (only is None or type(args[0]).__name__ in only):
                return function(FUNCTIONS, args[0])
            return slow(args)

        return call_one
    if not variadic and count == 2:
        first, second = checks

        def call_two(args: list[Any]) -> Any:
            if (
                len(args) == 2
                and (first is None or type(args[0]).__name__ in first)
                and (second is None or type(args[1]).__name__ in second)
            ):
                return function(FUNCTIONS, args[0], args[1])
            return slow(args)

        return call_two
    if not variadic and count == 3:
        one, two, three = checks

        def call_three(args: list[Any]) -> Any:
            if (
                len(args) == 3
                and (one is None or type(args[0]).__name__ in one)
                and (two is None or type(args[1]).__name__ in two)
                and (three is None or type(args[2]).__name__ in three)
            ):
                return function(FUNCTIONS, args[0], args[1], args[2])
            return slow(args)

        return call_three

    def call(args: list[Any]) -> Any:
        if len(args) != count and not (variadic and len(args) > count):
            return slow(args)
        for arg, allowed in zip(args, checks, strict=False):  # jmespath checks the declared arguments only
            if allowed is not None and type(arg).__name__ not in allowed:
                return slow(args)
        return function(FUNCTIONS, *args)

    return call


def custom_function_docs() -> dict[str, str]:
    """Name -> docstring of every custom function (for docs/rules.md and its drift test)."""
    docs: dict[str, str] = {}
    for name, entry in sorted(Functions.FUNCTION_TABLE.items()):
        method = entry["function"]
        if getattr(jmespath_functions.Functions, method.__name__, None) is method:
            continue
        docs[name] = (method.__doc__ or "").strip()
    return docs
