"""The root value of every expression: a dict whose facts and related objects are computed on first read.

Where this sits: built by the evaluator for one object. Expressions read a name with `context[name]` (generated
code) or `.get` (JMESPath's functions, the interpreter), so laziness is a dict subclass: a name it holds is dict's
own lookup, and one it lacks comes to `__missing__` (from `[]`) or `get`, which compute a name it knows through
one `resolve` function (a lookup in the store), or, for a name given as a `Computed`, through that function of the
context itself (a fact), and remember the result. Child contexts add names (`item`, `args`, `rule`, ...) and fall
back to their parent, so facts are computed once per evaluation however deep the reader is.

This module does no lookups itself; the `resolve` it is given does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.errors import ExpressionError

_MISSING = object()
_NONE: Mapping[str, Any] = {}


_new_context = dict.__new__
_dict_get = dict.get
_dict_set = dict.__setitem__


def _no_names(name: str) -> Any:
    raise KeyError(name)  # unreachable: a context without `resolve` has no lazy names


Computed = tuple[Callable[["Context"], Any], str, str]
"""A lazy name whose value is a function of the context itself, recorded under a key (see Context), and where it is
defined (`file:line`), which an error computing it names."""


def located(error: ExpressionError, key: str, where: str) -> ExpressionError:
    """`error`, met computing the name recorded as `key` (defined at `where`), saying so: the innermost name only
    (a fact failing inside another names the one whose expression failed)."""
    if error.located:
        return error
    found = ExpressionError(f"{key} ({where}): {error}")
    found.located = True
    return found


class Context(dict[str, Any]):
    """A lazily completed mapping of names to values (named `Context` so JMESPath functions accept it)."""

    __slots__ = ("__weakref__", "_busy", "_parent", "_producers", "_record", "_resolve")

    def __init__(
        self,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, Any] | None = None,
        parent: Context | None = None,
        resolve: Callable[[str], Any] | None = None,
        record: dict[str, Any] | None = None,
        *,
        cycles: bool = True,
    ) -> None:
        """`names` (its keys) are computed on first read by `resolve(name)`: one function, no closure per name. A
        name whose entry in `names` is a tuple, a `Computed` (function, key, where), is computed as `function(context)`
        instead, its value also put in `record` under the key (the evaluator's trace): the commonest names, without
        a call of `resolve` in between. Entries of any other type only say that the name exists. With `cycles`, a
        name read again while it is being computed is an error; without, the caller knows that it cannot be (the
        compiler found no cycle, and nothing can read a name it did not see)."""
        if values:
            dict.update(self, values)
        if names and resolve is None:
            raise ValueError("a context with lazy names needs a resolve function")
        self._producers = names or _NONE
        self._parent = parent
        self._resolve: Callable[[str], Any] = resolve or _no_names
        self._record: dict[str, Any] = {} if record is None else record
        self._busy: set[str] | None = set() if cycles else None

    def child(self, values: Mapping[str, Any]) -> Context:
        """A context with extra names that reads everything else from this one. What this one holds now is copied in
        (expressions read it with a dict lookup, without a call); names it computes later are still found
        through it. A name keeps its value once set (the one scope that changes `item`, a filter's, has no children),
        so the copy cannot go stale."""
        child = _new_context(Context)
        dict.update(child, self)
        dict.update(child, values)
        child._producers = _NONE
        child._parent = self
        child._resolve = _no_names
        return child

    def root(self) -> Context:
        """The outermost context (the document's names), below every child's additions."""
        context = self
        while context._parent is not None:
            context = context._parent
        return context

    def get(self, key: str, default: Any = None) -> Any:
        value = _dict_get(self, key, _MISSING)
        if value is not _MISSING:
            return value
        if key in self._producers:
            return self.__missing__(key)
        parent = self._parent  # not a lazy name of this context: its parent's, if it has one
        return default if parent is None else parent.get(key, default)

    def __missing__(self, key: str) -> Any:
        """`context[key]` of a name not held yet (dict calls this): computed and kept, or its parent's, or a KeyError.
        A name held is read by dict itself, without a call: generated expressions read names so (engine.expr.codegen),
        and come here for the rest."""
        entry = self._producers.get(key, _MISSING)
        if entry is _MISSING:
            parent = self._parent
            if parent is None:
                raise KeyError(key)
            return parent[key]
        busy = self._busy
        if busy is not None:
            if key in busy:
                cycle = ExpressionError(f"`{key}` depends on itself")
                cycle.located = True  # it names the name: no fact wraps it
                raise cycle
            busy.add(key)
        try:
            if type(entry) is tuple:
                try:
                    value = entry[0](self)
                except ExpressionError as error:
                    raise located(error, entry[1], entry[2]) from None
                self._record[entry[1]] = value
            else:
                value = self._resolve(key)
        finally:
            if busy is not None:
                busy.discard(key)
        _dict_set(self, key, value)
        return value

    def __contains__(self, key: object) -> bool:
        return (
            dict.__contains__(self, key) or key in self._producers or (self._parent is not None and key in self._parent)
        )

    def computed(self) -> dict[str, Any]:
        """The names computed (or given) so far, this context only."""
        return dict(self)
