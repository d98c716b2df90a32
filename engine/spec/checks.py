"""Checks across a compiled rule set: unique names, unreachable rules, double writes, cycles, and (given
CRDs) field paths that no schema has.

Where this sits: the last step of the compiler. Each check returns located problems; none raises.
The unreachable-rule check is deliberately syntactic (an earlier rule with the same states and the same
condition, or no condition): exact where it speaks, silent where overlap would need a solver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from engine.errors import Location, Problem
from engine.expr import Expression, Template
from engine.model import GVK
from engine.spec.ruleset import (
    ActionSpec,
    CasesFact,
    Document,
    ExprFact,
    GetLookup,
    ListFact,
    ListLookup,
    Match,
    Rule,
    RuleSet,
    StateMachine,
    StatusSpec,
    ValueFact,
)


def nowhere() -> Location:
    return Location()


def _at(location: Location, here: Location) -> str:
    """`line 12` when in the same file as `here`, else the full location."""
    return f"line {location.line}" if location.file == here.file else str(location)


def check_ruleset(ruleset: RuleSet) -> list[Problem]:
    problems: list[Problem] = []
    problems.extend(_unique_names(ruleset))
    for document in ruleset.documents:
        problems.extend(_cycles(document))
        for group in document.groups:
            if group.match is Match.FIRST:
                problems.extend(_unreachable(group.rules))
            for rule in group.rules:
                problems.extend(_double_writes(rule, group.state))
    return problems


def _unique_names(ruleset: RuleSet) -> Iterator[Problem]:
    documents: dict[str, Document] = {}
    for document in ruleset.documents:
        if document.name in documents:
            first = documents[document.name].location
            where = _at(first, document.location)
            yield Problem(document.location, f"document name `{document.name}` is already used at {where}", "duplicate")
        documents.setdefault(document.name, document)
    rules: dict[str, Rule] = {}
    for _document, _group, rule in ruleset.rules():
        if rule.name in rules:
            where = _at(rules[rule.name].location, rule.location)
            yield Problem(rule.location, f"rule name `{rule.name}` is already used at {where}", "duplicate")
        rules.setdefault(rule.name, rule)


def _unreachable(rules: tuple[Rule, ...]) -> Iterator[Problem]:
    for position, later in enumerate(rules):
        for earlier in rules[:position]:
            states_covered = earlier.states is None or (later.states is not None and later.states <= earlier.states)
            same_condition = earlier.when is None or (later.when is not None and earlier.when.ast == later.when.ast)
            if states_covered and same_condition:
                yield Problem(
                    later.location,
                    f"rule `{later.name}` can never fire: rule `{earlier.name}` ({_at(earlier.location, later.location)}) "
                    "matches first whenever it would",
                    "unreachable",
                )
                break


def _double_writes(rule: Rule, machine: StateMachine | None) -> Iterator[Problem]:
    """Two writes of one decision to the same place (or one inside the other): the later silently wins."""
    seen: list[tuple[tuple[str, ...], str, Location]] = []
    if rule.to is not None and machine is not None:
        # Entering a state writes the state field and runs onEnter: the rule's own writes must not clash.
        names = machine.field.names or ()
        seen.append((names, ".".join(names), rule.location))
        seen.extend((place, shown, action.location) for action, place, shown in _static_writes(machine.on_enter))
    for action, place, shown in _static_writes(rule.then):
        clash = next((item for item in seen if _overlap(item[0], place)), None)
        if clash is not None:
            also = _at(clash[2], action.location)
            field = clash[1] if len(clash[0]) <= len(place) else shown
            yield Problem(
                action.location, f"rule `{rule.name}` writes `{field}` twice (also at {also})", "double-write"
            )
            continue
        seen.append((place, shown, action.location))


def _overlap(one: tuple[str, ...], other: tuple[str, ...]) -> bool:
    shorter = min(len(one), len(other))
    return one[:shorter] == other[:shorter]


def _static_writes(actions: Iterable[ActionSpec]) -> Iterator[tuple[ActionSpec, tuple[str, ...], str]]:
    """The places the evaluated object's status is always written (fixed names; conditions by fixed type)."""
    for action in actions:
        body = action.body
        if not (isinstance(body, StatusSpec) and body.target is None and action.when is None):
            continue
        if body.set is not None and isinstance(body.set.source, dict):
            for leaf in _leaves(body.set.source, ("status",)):
                yield action, leaf, ".".join(leaf)
        if body.replace_conditions is not None:
            yield action, ("status", "conditions"), "status.conditions"
        if body.set_conditions is not None and isinstance(body.set_conditions.source, list):
            for condition in body.set_conditions.source:
                kind = condition.get("type") if isinstance(condition, dict) else None
                if isinstance(kind, str) and "{{" not in kind:
                    yield action, ("status", "conditions", kind), f"status.conditions (type {kind})"


def _leaves(value: dict[str, Any], prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for key, item in value.items():
        if "{{" in str(key):
            continue
        if isinstance(item, dict) and item:
            yield from _leaves(item, (*prefix, str(key)))
        else:
            yield (*prefix, str(key))


def _cycles(document: Document) -> Iterator[Problem]:
    names = set(document.facts) | set(document.related)
    graph = {name: sorted(_deps(document, name) & names) for name in names}
    state: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(name: str, trail: list[str]) -> Iterator[Problem]:
        state[name] = 1
        for dep in graph[name]:
            if state.get(dep) == 1:
                cycle = [*trail[trail.index(dep) :], dep] if dep in trail else [name, dep]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    where = document.facts[dep].location if dep in document.facts else document.related[dep].location
                    yield Problem(where, f"facts and related objects form a cycle: {' -> '.join(cycle)}", "cycle")
            elif dep not in state:
                yield from visit(dep, [*trail, dep])
        state[name] = 2

    for name in sorted(names):
        if name not in state:
            yield from visit(name, [name])


def _deps(document: Document, name: str) -> set[str]:
    return {path[0] for expression in _expressions(document, name) for path in expression.root_paths()}


def needs_cycle_check(document: Document) -> bool:
    """Whether evaluating the document must catch a fact or related object that needs itself: when computing one may
    read a name the static checks do not see (an expression naming `@` can hand the whole context to a function, as
    in `get(@, key)`), or when the document has a cycle (one the compiler did not build, or it would have refused
    it). Otherwise the check for cycles above is complete, and evaluation need not look for them again."""
    names = [*document.facts, *document.related]
    dynamic = any(expression.uses_current() for name in names for expression in _expressions(document, name))
    return dynamic or next(_cycles(document), None) is not None


def _expressions(document: Document, name: str) -> list[Expression]:
    """Every expression computing a fact or related object evaluates against the document's names (a list lookup's
    `orderBy` reads its items only)."""
    expressions: list[Expression] = []
    templates: list[Template | None] = []
    if name in document.facts:
        form = document.facts[name].form
        if isinstance(form, ExprFact):
            expressions.append(form.expression)
        elif isinstance(form, ValueFact):
            templates.append(form.value)
        elif isinstance(form, CasesFact):
            expressions.extend(when for when, _ in form.cases if when is not None)
            templates.extend(value for _, value in form.cases)
        elif isinstance(form, ListFact):
            expressions.extend(e for e in (form.source, form.where) if e is not None)
            templates.append(form.select)
    else:
        lookup = document.related[name].lookup
        if isinstance(lookup, GetLookup):
            templates.extend([lookup.name, lookup.namespace])
        else:
            templates.append(lookup.namespace)
            templates.extend(value for _, value in lookup.match)
            if lookup.where is not None:
                expressions.append(lookup.where)
    for tmpl in templates:
        if tmpl is not None:
            expressions.extend(e for e in tmpl.expressions if isinstance(e, Expression))
    return expressions


# --- field paths checked against CRD schemas ------------------------------------------------------------


def check_crd_paths(ruleset: RuleSet, crds: Iterable[Mapping[str, Any]]) -> list[Problem]:
    """Paths like `object.spec.suspnded` that exist in no schema of the kinds they read are errors.

    Every expression of a document is checked (conditions, facts, templates, builders, actions), for the
    names whose kind is known: `object` and related objects looked up with `get` (or `list` with `first`).
    `apiVersion`, `kind` and the fields of ObjectMeta are known without a schema; the paths of `object` the
    document names in `for.optionalFields` (fields only some of its kinds have) are not checked."""
    schemas = _schemas(crds)
    if not schemas:
        return []
    static_kinds = {
        related.lookup.kind.gvk for document in ruleset.documents for related in document.related.values()
    } | {document.target.static.gvk for document in ruleset.documents if document.target.static}
    problems: list[Problem] = []
    seen: set[tuple[Location, str]] = set()
    for document in ruleset.documents:
        if document.target.static is not None:
            object_kinds = [document.target.static.gvk]
        else:
            assert document.target.dynamic is not None
            object_kinds = [
                gvk for gvk in schemas if gvk not in static_kinds and gvk != document.target.dynamic.source.gvk
            ]
        roots: dict[str, list[GVK]] = {"object": object_kinds}
        for name, related in document.related.items():
            lookup = related.lookup
            if isinstance(lookup, GetLookup) or (isinstance(lookup, ListLookup) and lookup.first):
                roots[name] = [lookup.kind.gvk]
        optional = document.target.optional_fields
        kinds_of_object = [gvk for gvk in object_kinds if gvk in schemas]
        for location, path in _status_writes(document) if kinds_of_object else ():
            if path[:2] == ("status", "conditions") or any(path[: len(field)] == field for field in optional):
                continue  # conditions: a standard shape whose pruned fields the runtime expects (engine.runtime.memo)
            if not any(_has_path(schemas[gvk], path) for gvk in kinds_of_object):
                names = ", ".join(sorted(gvk.kind for gvk in kinds_of_object))
                message = f"`{'.'.join(path)}` is written, but is not a field of {names} (per its CRD schema): the API server drops it"
                if (location, message) not in seen:
                    seen.add((location, message))
                    problems.append(Problem(location, message, "crd-write"))
        for location, expression in _located_expressions(document, document.location):
            for path in expression.root_paths():
                kinds = [gvk for gvk in roots.get(path[0], []) if gvk in schemas]
                if len(path) < 2 or not kinds:
                    continue
                if path[0] == "object" and any(path[1 : len(field) + 1] == field for field in optional):
                    continue  # a field of some of the kinds only (the document says so)
                if not any(_has_path(schemas[gvk], path[1:]) for gvk in kinds):
                    names = ", ".join(sorted(gvk.kind for gvk in kinds))
                    message = f"`{'.'.join(path)}` is not a field of {names} (per its CRD schema)"
                    if (location, message) not in seen:
                        seen.add((location, message))
                        problems.append(Problem(location, message, "crd-path"))
    return problems


def _schemas(crds: Iterable[Mapping[str, Any]]) -> dict[GVK, Mapping[str, Any]]:
    out: dict[GVK, Mapping[str, Any]] = {}
    for crd in crds:
        spec = crd.get("spec") or {}
        for version in spec.get("versions") or []:
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {}
            out[GVK(spec.get("group", ""), version.get("name", ""), (spec.get("names") or {}).get("kind", ""))] = schema
    return out


OBJECT_META = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
"""The fields of every object's `metadata` (CRD schemas do not list them)."""


def _has_path(schema: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    if path[0] in ("apiVersion", "kind"):
        return len(path) == 1
    if path[0] == "metadata" and (len(path) == 1 or path[1] in OBJECT_META):
        return len(path) <= 2 or path[1] in ("labels", "annotations", "ownerReferences", "managedFields")
    node: Mapping[str, Any] = schema
    for part in path:
        if node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node:
            return True
        if node.get("type") == "array":
            return True  # a field of each item: JMESPath needs a projection here, which ends the chain
        properties = node.get("properties")
        if properties is None:
            return node.get("type") in (None, "object")  # an object without declared fields: anything goes
        if part not in properties:
            return False
        node = properties[part]
    return True


def _status_writes(document: Document) -> Iterator[tuple[Location, tuple[str, ...]]]:
    """The fields of the evaluated object's status that a document writes, as written out (templated keys and values
    aside): each `status.set` leaf and each state machine's field, with the location of the closest part."""
    for location, part in _parts(document, document.location):
        if isinstance(part, StatusSpec):
            if part.target is None and part.set is not None and isinstance(part.set.source, dict):
                yield from ((location, path) for path in _leaves(part.set.source, ("status",)))
        elif isinstance(part, StateMachine) and part.field.names:
            yield location, tuple(part.field.names)


def _located_expressions(value: Any, location: Location) -> Iterator[tuple[Location, Expression]]:
    """Every expression inside a compiled part, with the location of the closest part that has one."""
    for here, part in _parts(value, location):
        if isinstance(part, Expression):
            yield here, part
        elif isinstance(part, Template):
            yield from ((here, e) for e in part.expressions if isinstance(e, Expression))


def _parts(value: Any, location: Location) -> Iterator[tuple[Location, Any]]:
    """`value` and every compiled part inside it, each with the location of the closest part that has one."""
    yield location, value
    if isinstance(value, Expression | Template):
        return
    if isinstance(value, tuple | list):
        for item in value:
            yield from _parts(item, location)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _parts(item, location)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type | Location):
        here = getattr(value, "location", None)
        if isinstance(here, Location) and here.line:
            location = here
        for member in dataclasses.fields(value):
            if member.name != "location":
                yield from _parts(getattr(value, member.name), location)


# --- facts that depend on the evaluated object alone -----------------------------------------------------


def pure_facts(document: Document) -> frozenset[str]:
    """Facts whose value depends only on the evaluated object (and the object bound to a dynamic kind): no
    related object, no time. The runtime may keep their values while the object's version does not change."""
    binding = document.target.dynamic.binding if document.target.dynamic is not None else ""
    allowed = {"object", binding} - {""}
    pure: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name in document.facts:
            if name in pure:
                continue
            deps = _deps(document, name)
            if isinstance(document.facts[name].form, ListFact):
                deps.discard("item")  # the list's own element, not a name of the document
            if deps <= allowed | pure and not _uses_time(document, name):
                pure.add(name)
                changed = True
    return frozenset(pure)


def _uses_time(document: Document, name: str) -> bool:
    form = document.facts[name].form
    expressions: list[Expression] = []
    if isinstance(form, ExprFact):
        expressions.append(form.expression)
    elif isinstance(form, CasesFact):
        expressions.extend(when for when, _ in form.cases if when is not None)
        for _, value in form.cases:
            expressions.extend(e for e in value.expressions if isinstance(e, Expression))
    elif isinstance(form, ValueFact):
        expressions.extend(e for e in form.value.expressions if isinstance(e, Expression))
    elif isinstance(form, ListFact):
        expressions.extend(e for e in (form.source, form.where) if e is not None)
        if form.select is not None:
            expressions.extend(e for e in form.select.expressions if isinstance(e, Expression))
    return any(_calls(expression.ast, "now") for expression in expressions)


def _calls(node: Any, function: str) -> bool:
    if not isinstance(node, dict):
        return False
    if node.get("type") == "function_expression" and node.get("value") == function:
        return True
    return any(_calls(child, function) for child in node.get("children", ()))
