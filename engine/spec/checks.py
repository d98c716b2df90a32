"""Checks across a compiled rule set: unique names, unreachable rules, double writes, cycles, and (given
CRDs) field paths that no schema has.

Where this sits: the last step of the compiler. Each check returns located problems; none raises.
The unreachable-rule check is deliberately syntactic (an earlier rule with the same states and the same
condition, or no condition): exact where it speaks, silent where overlap would need a solver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from engine.errors import Location, Problem
from engine.expr import Expression, Template
from engine.model import GVK
from engine.spec.ruleset import (
    ActionOp,
    ActionSpec,
    CasesFact,
    Document,
    ExprFact,
    ForEachSpec,
    GetLookup,
    ListFact,
    ListLookup,
    Match,
    Rule,
    RuleSet,
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
                problems.extend(_double_writes(rule, group.state.field.source if group.state else ""))
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


def _double_writes(rule: Rule, state_field: str) -> Iterator[Problem]:
    seen: dict[str, Location] = {}
    if rule.to is not None and state_field:
        seen[state_field.removeprefix("$.")] = rule.location
    for action, field in _static_writes(rule.then):
        if field in seen:
            also = _at(seen[field], action.location)
            yield Problem(
                action.location, f"rule `{rule.name}` writes `{field}` twice (also at {also})", "double-write"
            )
        seen.setdefault(field, action.location)


def _static_writes(actions: Iterable[ActionSpec]) -> Iterator[tuple[ActionSpec, str]]:
    for action in actions:
        body = action.body
        if isinstance(body, StatusSpec) and body.target is None and action.when is None:
            if body.set is not None and isinstance(body.set.source, dict):
                for key in body.set.source:
                    yield action, f"status.{key}"
            if body.replace_conditions is not None or body.set_conditions is not None:
                yield action, "status.conditions"


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
            if lookup.where is not None:
                expressions.append(lookup.where)
    for tmpl in templates:
        if tmpl is not None:
            expressions.extend(e for e in tmpl.expressions if isinstance(e, Expression))
    return {path[0] for expression in expressions for path in expression.root_paths()}


# --- field paths checked against CRD schemas ------------------------------------------------------------


def check_crd_paths(ruleset: RuleSet, crds: Iterable[Mapping[str, Any]]) -> list[Problem]:
    """Paths like `object.spec.suspnded` that exist in no schema of the kinds they read are errors."""
    schemas = _schemas(crds)
    if not schemas:
        return []
    static_kinds = {
        related.lookup.kind.gvk for document in ruleset.documents for related in document.related.values()
    } | {document.target.static.gvk for document in ruleset.documents if document.target.static}
    problems: list[Problem] = []
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
        for location, expression in _located_expressions(document):
            for path in expression.root_paths():
                kinds = [gvk for gvk in roots.get(path[0], []) if gvk in schemas]
                if len(path) < 2 or not kinds:
                    continue
                if not any(_has_path(schemas[gvk], path[1:]) for gvk in kinds):
                    names = ", ".join(sorted(gvk.kind for gvk in kinds))
                    dotted = ".".join(path)
                    problems.append(
                        Problem(location, f"`{dotted}` is not a field of {names} (per its CRD schema)", "crd-path")
                    )
    return problems


def _schemas(crds: Iterable[Mapping[str, Any]]) -> dict[GVK, Mapping[str, Any]]:
    out: dict[GVK, Mapping[str, Any]] = {}
    for crd in crds:
        spec = crd.get("spec") or {}
        for version in spec.get("versions") or []:
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {}
            out[GVK(spec.get("group", ""), version.get("name", ""), (spec.get("names") or {}).get("kind", ""))] = schema
    return out


def _has_path(schema: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Mapping[str, Any] = schema
    for part in path:
        if node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node:
            return True
        properties = node.get("properties")
        if properties is None:
            return node.get("type") in (None, "object")  # an object without declared fields: anything goes
        if part not in properties:
            return False
        node = properties[part]
    return True


def _located_expressions(document: Document) -> Iterator[tuple[Location, Expression]]:
    for fact in document.facts.values():
        for expression in _fact_expressions(fact.form):
            yield fact.location, expression
    for group in document.groups:
        for rule in group.rules:
            if rule.when is not None:
                yield rule.location, rule.when
            for action in _walk_actions(rule.then):
                if action.when is not None:
                    yield action.location, action.when


def _fact_expressions(form: Any) -> list[Expression]:
    if isinstance(form, ExprFact):
        return [form.expression]
    if isinstance(form, CasesFact):
        return [when for when, _ in form.cases if when is not None]
    if isinstance(form, ListFact):
        return [form.source]
    return []


def _walk_actions(actions: Iterable[ActionSpec]) -> Iterator[ActionSpec]:
    for action in actions:
        yield action
        if action.op is ActionOp.FOR_EACH and isinstance(action.body, ForEachSpec):
            yield from _walk_actions(action.body.body)
