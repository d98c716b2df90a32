"""Compiling the parts of one document: expressions with name checks, templates, paths, lookups, facts,
builders, transforms and actions. Problems are collected, never raised, so one run reports them all.

Where this sits: called by engine.spec.compiler for each document after the schema accepted its shape.
Names: every expression's root fields must be names in scope (`object`, the dynamic binding, related
objects, facts, and the names a place adds: `item`, `args`, `rule`, `transition`, `entered`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.errors import Location, Problem
from engine.expr import (
    Expression,
    ExpressionSyntaxError,
    FieldPath,
    PathSyntaxError,
    Template,
    TemplateSyntaxError,
    compile_expression,
    compile_path,
    template,
)
from engine.expr.template import split_text
from engine.model import Propagation
from engine.spec.loader import Positions
from engine.spec.ruleset import (
    ActionOp,
    ActionSpec,
    CreateSpec,
    DeleteSpec,
    EventSpec,
    ForEachSpec,
    PatchSpec,
    RequeueSpec,
    StatusSpec,
    Transform,
    TransformOp,
)
from engine.spec.schema import ACTION, ACTION_KEYS, TRANSFORM, TRANSFORM_KEYS, validate

RESERVED = frozenset({"object", "item", "args", "rule", "transition", "entered", "error", "base"})
"""Names the language gives meaning to: no related object, fact, `let` or `forEach.as` may take them."""
JSON_PATCH_OPS = ("add", "remove", "replace", "move", "copy", "test")
MAX_REQUEUE = 7 * 24 * 3600.0
"""The longest `requeue.after` (seconds): a week."""

Path = tuple[Any, ...]
BROKEN: Any = object()
"""Stands for an item the schema rejected (already reported): skipped, so later items keep their index."""
UNCHECKED: frozenset[str] = frozenset()
"""Scope marker: expressions rooted at some other object (a source, a changed object) are not name-checked."""


class Parts:
    """Compiles pieces of one document, recording problems with their locations."""

    def __init__(self, positions: Positions, problems: list[Problem], builders: Iterable[str] = ()) -> None:
        self.positions = positions
        self.problems = problems
        self.builders = set(builders)

    def problem(self, path: Path, message: str, code: str, column: int = 0) -> None:
        location = self.positions.value_at(path, column) if column else self.positions.at(path)
        self.problems.append(Problem(location, message, code))

    def location(self, path: Path) -> Location:
        return self.positions.at(path)

    # --- expressions, templates, paths ----------------------------------------------------------------

    def expr(self, source: Any, path: Path, scope: frozenset[str], column: int = 0) -> Expression | None:
        if not isinstance(source, str):
            return None
        try:
            expression = compile_expression(source)
        except ExpressionSyntaxError as error:
            at = (column + error.column - 1) if column and error.column else (error.column or column)
            self.problem(path, f"{error.message} in `{source}`", "expression", at)
            return None
        if scope is not UNCHECKED:
            self._check_names(expression, path, scope, column)
        return expression

    def _check_names(self, expression: Expression, path: Path, scope: frozenset[str], column: int) -> None:
        for root in expression.root_paths():
            if root[0] not in scope:
                known = ", ".join(sorted(scope))
                self.problem(
                    path,
                    f"unknown name `{root[0]}` in `{expression.source}` (known names: {known})",
                    "unknown-name",
                    column,
                )

    def tmpl(self, value: Any, path: Path, scope: frozenset[str]) -> Template | None:
        before = len(self.problems)
        self._check_template_text(value, path, scope)
        if len(self.problems) > before:
            return None
        return template(_plain(value))

    def _check_template_text(self, value: Any, path: Path, scope: frozenset[str], key: bool = False) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                self._check_template_text(str(name), (*path, name), scope, key=True)
                self._check_template_text(item, (*path, name), scope)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._check_template_text(item, (*path, index), scope)
        elif isinstance(value, str):
            try:
                pieces = split_text(value)
            except TemplateSyntaxError as error:
                # A key's problems are placed at the key; a value's at their column inside the value.
                self.problem(path, f"{error.message} in {value!r}", "template", 0 if key else error.column)
                return
            for piece in pieces:
                if isinstance(piece, tuple):
                    self.expr(piece[0], path, scope, 0 if key else piece[1])

    def fpath(self, source: Any, path: Path) -> FieldPath | None:
        if not isinstance(source, str):
            return None
        try:
            return compile_path(source)
        except PathSyntaxError as error:
            self.problem(path, f"invalid JSONPath `{source}`: {error.message}", "path", error.column)
            return None

    # --- transforms -------------------------------------------------------------------------------------

    def transforms(self, items: Any, path: Path, scope: frozenset[str]) -> tuple[Transform, ...]:
        out = []
        for index, item in enumerate(items or []):
            if item is BROKEN:
                continue
            compiled = self.transform(item, (*path, index), scope)
            if compiled is not None:
                out.append(compiled)
        return tuple(out)

    def transform(self, item: Any, path: Path, scope: frozenset[str]) -> Transform | None:
        if self._shape(item, path, TRANSFORM, TRANSFORM_KEYS, "transform") is None:
            return None
        (key,) = [k for k in TRANSFORM_KEYS if k in item]
        op = TransformOp(key)
        body = item[key] or {}
        where = (*path, key)
        when = self.expr(item.get("when"), (*path, "when"), scope)
        location = self.location(path)
        if op is TransformOp.FOR_EACH:
            alias = body.get("as", "item")
            each = self.expr(body["in"], (*where, "in"), scope)
            inner = self.transforms(body["do"], (*where, "do"), scope | {alias})
            return Transform(op, None, None, "", when, each, alias, inner, location)
        at = self.fpath(body.get("at"), (*where, "at"))
        value_key = {"set": "value", "append": "items", "upsert": "item", "merge": "value"}.get(key)
        value = self.tmpl(body.get(value_key), (*where, value_key), scope) if value_key else None
        return Transform(op, at, value, str(body.get("key", "")), when, location=location)

    # --- actions --------------------------------------------------------------------------------------

    def actions(self, items: Any, path: Path, scope: frozenset[str]) -> tuple[ActionSpec, ...]:
        out = []
        for index, item in enumerate(items or []):
            if item is BROKEN:
                continue
            compiled = self.action(item, (*path, index), scope)
            if compiled is not None:
                out.append(compiled)
        return tuple(out)

    def action(self, item: Any, path: Path, scope: frozenset[str]) -> ActionSpec | None:
        if self._shape(item, path, ACTION, ACTION_KEYS, "action") is None:
            return None
        (key,) = [k for k in ACTION_KEYS if k in item]
        op = ActionOp(key)
        body = item[key] or {}
        where = (*path, key)
        when = self.expr(item.get("when"), (*path, "when"), scope)
        compiled = self._action_body(op, body, where, scope)
        if compiled is None:
            return None
        return ActionSpec(op, compiled, when, self.location(path))

    def _action_body(self, op: ActionOp, body: dict[str, Any], where: Path, scope: frozenset[str]) -> Any:
        def e(name: str) -> Expression | None:
            return self.expr(body.get(name), (*where, name), scope)

        def t(name: str) -> Template | None:
            return self.tmpl(body[name], (*where, name), scope) if name in body else None

        if op is ActionOp.CREATE:
            if ("object" in body) == ("build" in body):
                self.problem(where, "create needs exactly one of `object` or `build`", "create")
                return None
            build = str(body.get("build", ""))
            if build and build not in self.builders:
                known = ", ".join(sorted(self.builders)) or "none"
                self.problem((*where, "build"), f"unknown builder `{build}` (builders: {known})", "unknown-builder")
            propagation = Propagation(body.get("replacePropagation", "Background"))
            return CreateSpec(t("object"), build, t("with"), e("existing"), e("replaceWhen"), propagation, e("owner"))
        if op is ActionOp.DELETE:
            target = e("target")
            return None if target is None else DeleteSpec(target, Propagation(body.get("propagation", "Background")))
        if op is ActionOp.PATCH:
            target = e("target")
            if ("merge" in body) == ("json" in body):
                self.problem(where, "patch needs exactly one of `merge` or `json`", "patch")
                return None
            self._json_patch(body.get("json"), (*where, "json"))
            return None if target is None else PatchSpec(target, t("merge"), t("json"))
        if op is ActionOp.STATUS:
            conditions = body.get("conditions") or {}
            cpath = (*where, "conditions")
            replace = self.tmpl(conditions["replace"], (*cpath, "replace"), scope) if "replace" in conditions else None
            upsert = self.tmpl(conditions["set"], (*cpath, "set"), scope) if "set" in conditions else None
            remove = tuple(str(kind) for kind in conditions.get("remove") or ())
            return StatusSpec(e("target"), t("set"), replace, upsert, remove)
        if op is ActionOp.EVENT:
            return self.event(body, where, scope)
        if op is ActionOp.REQUEUE:
            after = float(body["after"])
            if not 0 <= after <= MAX_REQUEUE:
                self.problem(
                    (*where, "after"), f"requeue after {body['after']!r} s: expected 0 to {MAX_REQUEUE:g}", "requeue"
                )
                return None
            return RequeueSpec(after)
        alias = body.get("as", "item")
        if alias in RESERVED and alias != "item":  # `item` is the default: each item of `in`
            self.problem((*where, "as"), f"`{alias}` is a reserved name ({', '.join(sorted(RESERVED))})", "reserved")
        each = self.expr(body["in"], (*where, "in"), scope)
        inner = self.actions(body["do"], (*where, "do"), scope | {alias})
        return None if each is None else ForEachSpec(each, alias, inner)

    def _json_patch(self, ops: Any, where: Path) -> None:
        """A JSON patch written out (not one template): each operation's `op` and `path` (RFC 6902)."""
        if not isinstance(ops, list):
            return
        for index, operation in enumerate(ops):
            if not isinstance(operation, dict):
                continue
            op, path = operation.get("op"), operation.get("path")
            if isinstance(op, str) and "{{" not in op and op not in JSON_PATCH_OPS:
                self.problem(
                    (*where, index, "op"),
                    f"unknown JSON patch op {op!r} (one of {', '.join(JSON_PATCH_OPS)})",
                    "json-patch",
                )
            if isinstance(path, str) and "{{" not in path and path and not path.startswith("/"):
                self.problem(
                    (*where, index, "path"), f"a JSON patch path starts with `/`, found {path!r}", "json-patch"
                )

    def event(self, body: dict[str, Any], where: Path, scope: frozenset[str]) -> EventSpec | None:
        reason = self.tmpl(body["reason"], (*where, "reason"), scope)
        message = self.tmpl(body["message"], (*where, "message"), scope)
        changed = self.fpath(body["whenChanged"], (*where, "whenChanged")) if "whenChanged" in body else None
        target = self.expr(body.get("target"), (*where, "target"), scope)
        if reason is None or message is None:
            return None
        return EventSpec(target, str(body.get("type", "Normal")), reason, message, changed)

    # --- shared -----------------------------------------------------------------------------------------

    def _shape(self, item: Any, path: Path, schema: dict[str, Any], keys: tuple[str, ...], what: str) -> Any:
        if not isinstance(item, dict):
            self.problem(path, f"{_article(what)} {what} must be a mapping with one of {', '.join(keys)}", what)
            return None
        present = [key for key in keys if key in item]
        if len(present) != 1:
            found = ", ".join(present or [str(k) for k in item if k != "when"]) or "none"
            self.problem(path, f"{_article(what)} {what} needs exactly one of {', '.join(keys)} (found: {found})", what)
            return None
        problems = validate(item, schema["schema"], self.positions, path)
        self.problems.extend(problems)
        return None if problems else item


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _plain(value: Any) -> Any:
    """YAML values as plain JSON-compatible data (keys as strings)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
