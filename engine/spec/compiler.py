"""Rule files -> a compiled `RuleSet`, with every problem of every file reported at once.

Where this sits: loader (YAML with positions) -> schema (shapes) -> **compiler** (meaning) -> RuleSet.
Per document: the target, related lookups, facts, builders and groups are compiled with name checks;
then checks across the rule set run (engine.spec.checks). `compile_ruleset` raises `RuleSetError`
holding all problems; `lint` returns them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from engine.errors import Problem, RuleSetError
from engine.expr import field_names
from engine.model import GVK
from engine.spec import checks
from engine.spec.loader import Document as SourceDocument
from engine.spec.loader import Source, dotted, load_paths, load_texts
from engine.spec.parts import BROKEN, RESERVED, UNCHECKED, Parts
from engine.spec.ruleset import (
    ActionSpec,
    Builder,
    CasesFact,
    Document,
    DynamicKinds,
    ExprFact,
    Fact,
    FactForm,
    GetLookup,
    Group,
    KindRef,
    ListFact,
    ListLookup,
    Match,
    Related,
    Require,
    Rule,
    RuleSet,
    StateMachine,
    Target,
    Trigger,
    ValueFact,
)
from engine.spec.schema import DOCUMENT, FACT_FORM, validate
from engine.spec.selectors import LabelSelector, SelectorError, parse_selector


def compile_ruleset(paths: Iterable[Path | str], crds: Iterable[Mapping[str, Any]] = ()) -> RuleSet:
    """Load and compile rule files or directories; raise RuleSetError with every problem found."""
    ruleset, problems = _compile(load_paths(Path(p) for p in paths), list(crds))
    if problems or ruleset is None:
        raise RuleSetError(problems)
    return ruleset


def compile_texts(texts: Mapping[str, str | bytes], crds: Iterable[Mapping[str, Any]] = ()) -> RuleSet:
    """Compile rule files given as name -> content (e.g. a ConfigMap's data)."""
    encoded = [(name, text.encode() if isinstance(text, str) else text) for name, text in texts.items()]
    ruleset, problems = _compile(load_texts(encoded), list(crds))
    if problems or ruleset is None:
        raise RuleSetError(problems)
    return ruleset


def lint(paths: Iterable[Path | str], crds: Iterable[Mapping[str, Any]] = ()) -> list[Problem]:
    """Every problem of the rule files, in file order (empty when the rule set is clean)."""
    return _compile(load_paths(Path(p) for p in paths), list(crds))[1]


def _compile(source: Source, crds: list[Mapping[str, Any]]) -> tuple[RuleSet | None, list[Problem]]:
    problems = list(source.problems)
    documents: list[Document] = []
    for raw in source.documents:
        shape = validate(raw.body, DOCUMENT, raw.positions)
        problems.extend(shape)
        if not (isinstance(raw.body, dict) and isinstance(raw.body.get("spec"), dict)):
            continue
        # The parts the schema accepted are compiled too, so one run reports every problem.
        compiled = _DocumentCompiler(raw, problems, [p.location.path for p in shape]).compile()
        if compiled is not None:  # kept even when it had problems, so checks across documents still run
            documents.append(compiled)
    if not source.documents and not problems:
        problems.append(Problem(checks.nowhere(), "the rule set holds no documents", "empty"))
    ruleset = RuleSet(source.digest, tuple(documents), tuple(source.files))
    problems.extend(checks.check_ruleset(ruleset))
    if crds:
        problems.extend(checks.check_crd_paths(ruleset, crds))
    problems.sort(key=lambda p: (p.location.file, p.location.line, p.location.column))
    return (None if problems else ruleset), problems


class _DocumentCompiler:
    def __init__(self, raw: SourceDocument, problems: list[Problem], broken: list[str] = ()) -> None:  # type: ignore[assignment]
        self.raw = raw
        self.spec: dict[str, Any] = raw.body["spec"]
        self.problems = problems
        self.broken = tuple(broken)
        self.parts = Parts(raw.positions, problems, self._mapping("builders").keys())

    def _is_broken(self, path: tuple[Any, ...]) -> bool:
        """Whether the schema found a problem at `path` or inside it (such parts are not compiled further)."""
        here = dotted(path)
        return any(p == here or p.startswith((here + ".", here + "[")) for p in self.broken)

    def _mapping(self, key: str) -> dict[str, Any]:
        value = self.spec.get(key)
        return value if isinstance(value, dict) and dotted(("spec", key)) not in self.broken else {}

    def compile(self) -> Document | None:
        spec = self.spec
        target, binding = self._target() if not self._is_broken(("spec", "for")) else (None, "")
        related_raw = self._mapping("related")
        facts_raw = self._mapping("facts")
        names = {"object", *related_raw, *facts_raw, *([binding] if binding else [])}
        self._check_names(related_raw, facts_raw, binding)
        base = frozenset(names)
        related = {
            name: self._related(name, body, base)
            for name, body in related_raw.items()
            if not self._is_broken(("spec", "related", name))
        }
        facts = {
            name: self._fact(name, body, base)
            for name, body in facts_raw.items()
            if not self._is_broken(("spec", "facts", name))
        }
        builders = {
            name: self._builder(name, body, base)
            for name, body in self._mapping("builders").items()
            if not self._is_broken(("spec", "builders", name))
        }
        raw_groups = spec.get("groups")
        groups = tuple(
            self._group(index, body, base)
            for index, body in enumerate(raw_groups if isinstance(raw_groups, list) else [])
        )
        on_error: tuple[ActionSpec, ...] = ()
        if not self._is_broken(("spec", "onError")):
            on_error = self.parts.actions(spec.get("onError"), ("spec", "onError"), base | {"error", "rule"})
        if target is None or self._is_broken(("metadata",)) or self._is_broken(()):
            return None
        meta = self.raw.body["metadata"]
        return Document(
            name=meta["name"],
            description=str(meta.get("description", "")),
            file=self.raw.file,
            target=target,
            related={k: v for k, v in related.items() if v is not None},
            facts={k: v for k, v in facts.items() if v is not None},
            builders={k: v for k, v in builders.items() if v is not None},
            groups=tuple(g for g in groups if g is not None),
            location=self.parts.location(()),
            on_error=on_error,
        )

    def _check_names(self, related: dict[str, Any], facts: dict[str, Any], binding: str) -> None:
        for name in [*related, *facts, *([binding] if binding else [])]:
            if name in related:
                where: tuple[str, ...] = ("spec", "related", name)
            elif name in facts:
                where = ("spec", "facts", name)
            else:
                where = ("spec", "for", "dynamic", "as")
            if name in RESERVED:
                self.parts.problem(where, f"`{name}` is a reserved name ({', '.join(sorted(RESERVED))})", "reserved")
        for name in set(related) & set(facts):
            self.parts.problem(("spec", "facts", name), f"`{name}` is both a related object and a fact", "duplicate")

    def _selector(self, text: Any) -> LabelSelector | None:
        if not isinstance(text, str) or not text.strip():
            return None
        try:
            return parse_selector(text)
        except SelectorError as error:
            self.parts.problem(("spec", "for", "labelSelector"), str(error), "selector", error.column)
            return None

    def _target(self) -> tuple[Target | None, str]:
        spec_for = self.spec["for"]
        where = ("spec", "for")
        scope = (
            tuple(spec_for.get("namespaces") or ()),
            self._selector(spec_for.get("labelSelector")),
            tuple(field_names(path) for path in spec_for.get("optionalFields") or ()),
        )
        if "kind" in spec_for:
            return Target(_kind(spec_for["kind"]), None, *scope), ""
        dynamic = spec_for.get("dynamic")
        if dynamic is None:
            self.parts.problem(where, "`for` needs one of `kind` or `dynamic`", "target")
            return None, ""
        dpath = (*where, "dynamic")
        kind = dynamic["kind"]
        api_version = self.parts.tmpl(kind["apiVersion"], (*dpath, "kind", "apiVersion"), UNCHECKED)
        kind_name = self.parts.tmpl(kind["kind"], (*dpath, "kind", "kind"), UNCHECKED)
        plural = self.parts.tmpl(kind["plural"], (*dpath, "kind", "plural"), UNCHECKED) if "plural" in kind else None
        where_expr = self.parts.expr(dynamic.get("where"), (*dpath, "where"), UNCHECKED)
        if api_version is None or kind_name is None:
            return None, dynamic["as"]
        compiled = DynamicKinds(_kind(dynamic["from"]), where_expr, api_version, kind_name, plural, dynamic["as"])
        return Target(None, compiled, *scope), dynamic["as"]

    def _related(self, name: str, body: dict[str, Any], scope: frozenset[str]) -> Related | None:
        where = ("spec", "related", name)
        p = self.parts
        lookup: GetLookup | ListLookup
        if "get" in body:
            get = body["get"]
            gpath = (*where, "get")
            name_t = p.tmpl(get["name"], (*gpath, "name"), scope)
            namespace = p.tmpl(get["namespace"], (*gpath, "namespace"), scope) if "namespace" in get else None
            if name_t is None:
                return None
            lookup = GetLookup(_kind(get), name_t, namespace)
        elif "list" in body:
            lst = body["list"]
            lpath = (*where, "list")
            raw_ns = lst.get("namespace")
            all_namespaces = raw_ns == "*"
            namespace = p.tmpl(raw_ns, (*lpath, "namespace"), scope) if raw_ns and not all_namespaces else None
            where_e = p.expr(lst.get("where"), (*lpath, "where"), scope | {"item"})
            order = p.expr(lst.get("orderBy"), (*lpath, "orderBy"), UNCHECKED)
            matches = []
            for field_path, value in (lst.get("match") or {}).items():
                compiled_value = p.tmpl(value, (*lpath, "match", field_path), scope)
                if compiled_value is not None:
                    matches.append((str(field_path), compiled_value))
            lookup = ListLookup(
                _kind(lst),
                namespace,
                all_namespaces,
                where_e,
                order,
                bool(lst.get("descending")),
                bool(lst.get("first")),
                tuple(matches),
            )
        else:
            p.problem(where, "a related object needs one of `get` or `list`", "related")
            return None
        trigger = None
        if "triggers" in body:
            if isinstance(lookup, GetLookup):
                p.problem(
                    (*where, "triggers"), "`triggers` applies to `list` lookups (gets are tracked by name)", "triggers"
                )
            t = body["triggers"]
            tpath = (*where, "triggers")
            tname = p.tmpl(t["name"], (*tpath, "name"), UNCHECKED)
            tns = p.tmpl(t["namespace"], (*tpath, "namespace"), UNCHECKED) if "namespace" in t else None
            twhen = p.expr(t.get("when"), (*tpath, "when"), UNCHECKED)
            trigger = Trigger(tname, tns, twhen) if tname is not None else None
        drops = tuple(
            d
            for i, src in enumerate((body.get("cache") or {}).get("drop") or [])
            if (d := p.fpath(src, (*where, "cache", "drop", i)))
        )
        return Related(name, lookup, trigger, drops, p.location(where))

    def _fact(self, name: str, body: Any, scope: frozenset[str]) -> Fact | None:
        where = ("spec", "facts", name)
        p = self.parts
        form: FactForm | None
        if isinstance(body, str):
            expression = p.expr(body, where, scope)
            form = ExprFact(expression) if expression else None
        else:
            shape = validate(body, FACT_FORM, self.raw.positions, where)
            self.problems.extend(shape)
            kinds = [key for key in ("value", "cases", "in") if key in body]
            if len(kinds) != 1:
                p.problem(
                    where, f"a fact needs exactly one of value, cases, in (found: {', '.join(kinds) or 'none'})", "fact"
                )
                return None
            if shape:
                return None
            form = self._fact_form(kinds[0], body, where, scope)
        return Fact(name, form, p.location(where)) if form is not None else None

    def _fact_form(
        self, kind: str, body: dict[str, Any], where: tuple[Any, ...], scope: frozenset[str]
    ) -> FactForm | None:
        p = self.parts
        if kind == "value":
            value = p.tmpl(body["value"], (*where, "value"), scope)
            return ValueFact(value) if value is not None else None
        if kind == "cases":
            cases = []
            for index, case in enumerate(body["cases"]):
                cpath = (*where, "cases", index)
                when = p.expr(case.get("when"), (*cpath, "when"), scope)
                value = p.tmpl(case["value"], (*cpath, "value"), scope)
                if value is None:
                    return None
                cases.append((when, value))
            return CasesFact(tuple(cases))
        source = p.expr(body["in"], (*where, "in"), scope)
        cond = p.expr(body.get("where"), (*where, "where"), scope | {"item"})
        select = p.tmpl(body["select"], (*where, "select"), scope | {"item"}) if "select" in body else None
        return ListFact(source, cond, select, bool(body.get("first"))) if source is not None else None

    def _builder(self, name: str, body: dict[str, Any], scope: frozenset[str]) -> Builder | None:
        where = ("spec", "builders", name)
        p = self.parts
        local = scope | {"args"}
        base_ref: tuple[str, Any] | None = None
        if "base" in body:
            base_name = str(body["base"]["build"])
            if base_name not in (self.spec.get("builders") or {}) or base_name == name:
                p.problem(
                    (*where, "base", "build"),
                    f"`base` must name another builder (found `{base_name}`)",
                    "unknown-builder",
                )
            args = body["base"].get("with")
            base_ref = (base_name, p.tmpl(args, (*where, "base", "with"), local) if args is not None else None)
            local = local | {"base"}
        lets = []
        for let_name, source in (body.get("let") or {}).items():
            expression = p.expr(source, (*where, "let", let_name), local)
            if expression is not None:
                lets.append((let_name, expression))
            local = local | {let_name}
        obj = p.tmpl(body["object"], (*where, "object"), local)
        transforms = p.transforms(body.get("transform"), (*where, "transform"), local)
        requires = []
        for index, req in enumerate(body.get("require") or []):
            rpath = (*where, "require", index)
            that = p.expr(req["that"], (*rpath, "that"), local)
            message = p.tmpl(req["message"], (*rpath, "message"), local)
            if that is not None and message is not None:
                requires.append(Require(that, message))
        if obj is None:
            return None
        return Builder(name, base_ref, tuple(lets), obj, transforms, tuple(requires), p.location(where))

    def _group(self, index: int, body: dict[str, Any], scope: frozenset[str]) -> Group | None:
        where = ("spec", "groups", index)
        p = self.parts
        if self._is_broken(where):
            here, rules_at = dotted(where), dotted((*where, "rules")) + "["
            inside = [p for p in self.broken if p == here or p.startswith((here + ".", here + "["))]
            tolerated = (rules_at, dotted((*where, "match")), dotted((*where, "description")))
            if not all(p.startswith(tolerated) for p in inside):
                return None  # the group itself is malformed: the schema's problems say how
        if dotted((*where, "match")) in self.broken:
            match = Match.FIRST if "state" in body else Match.ALL  # unknown: check the rules, not their order
        else:
            match = Match(body.get("match", "first"))
        state = self._state(body["state"], where, scope) if "state" in body else None
        if state is not None and match is not Match.FIRST:
            p.problem((*where, "state"), "a state machine needs `match: first`", "state")
        action_scope = scope | {"rule"}
        rules = []
        for rindex, raw in enumerate(body["rules"]):
            rpath = (*where, "rules", rindex)
            if self._is_broken(rpath):
                # Check what the schema accepted (actions, expressions, names); the rule itself is not kept.
                self._rule(self._pruned_rule(raw, rpath), rpath, scope, action_scope, state)
                continue
            rule = self._rule(raw, rpath, scope, action_scope, state)
            if rule is not None:
                rules.append(rule)
        return Group(body["name"], str(body.get("description", "")), match, state, tuple(rules), p.location(where))

    def _state(self, body: dict[str, Any], where: tuple[Any, ...], scope: frozenset[str]) -> StateMachine | None:
        p = self.parts
        spath = (*where, "state")
        field = p.fpath(body["field"], (*spath, "field"))
        if field is not None and not field.names:
            p.problem(
                (*spath, "field"),
                f"the state field must be a path of field names, e.g. status.phase (found `{field.source}`)",
                "state",
            )
            field = None
        names = tuple(str(name) for name in body["states"])
        if body["initial"] not in names:
            p.problem(
                (*spath, "initial"), f"initial state `{body['initial']}` is not in states ({', '.join(names)})", "state"
            )
        enter_scope = scope | {"rule", "transition", "entered"}
        data = {
            str(name): (
                p.tmpl(value, (*spath, "states", name), scope | {"rule", "transition"}) if value is not None else None
            )
            for name, value in body["states"].items()
        }
        on_enter = p.actions(body.get("onEnter"), (*spath, "onEnter"), enter_scope)
        if field is None:
            return None
        return StateMachine(field, str(body["initial"]), names, data, on_enter)

    def _pruned_rule(self, body: Any, where: tuple[Any, ...]) -> dict[str, Any]:
        """A rule without the fields the schema rejected (and without an event whose `to` was rejected)."""
        if not isinstance(body, dict):
            return {}
        out: dict[str, Any] = {}
        for key, value in body.items():
            if dotted((*where, key)) in self.broken:
                continue
            if key in ("then", "let") and self._is_broken((*where, key)):
                if key == "then":
                    out[key] = [BROKEN if self._is_broken((*where, key, i)) else item for i, item in enumerate(value)]
                else:
                    out[key] = value  # only the names' pattern can be wrong: the values are still checked
            elif not self._is_broken((*where, key)):
                out[key] = value
        if "to" not in out:
            out.pop("event", None)
        return out

    def _rule(
        self,
        body: dict[str, Any],
        where: tuple[Any, ...],
        scope: frozenset[str],
        action_scope: frozenset[str],
        state: StateMachine | None,
    ) -> Rule | None:
        p = self.parts
        before = len(self.problems)
        states = frozenset(body["from"]) if "from" in body else None
        to = body.get("to")
        if state is None and (states is not None or to is not None):
            p.problem(where, "`from` and `to` need a group with a `state` machine", "state")
        if state is not None:
            for name in sorted(states or ()):
                if name not in state.states:
                    p.problem((*where, "from"), f"unknown state `{name}` (states: {', '.join(state.states)})", "state")
            if to is not None and to not in state.states:
                p.problem((*where, "to"), f"unknown state `{to}` (states: {', '.join(state.states)})", "state")
        when = p.expr(body.get("when"), (*where, "when"), scope)
        lets = []
        for let_name, value in (body.get("let") or {}).items():
            if let_name in RESERVED:
                p.problem(
                    (*where, "let", let_name),
                    f"`{let_name}` is a reserved name ({', '.join(sorted(RESERVED))})",
                    "reserved",
                )
            compiled_let = p.tmpl(value, (*where, "let", let_name), action_scope)
            if compiled_let is not None:
                lets.append((str(let_name), compiled_let))
            action_scope = action_scope | {str(let_name)}  # later lets and the actions may use it
        then = p.actions(body.get("then"), (*where, "then"), action_scope)
        event = None
        always = False
        if "event" in body:
            event = p.event(body["event"], (*where, "event"), action_scope)
            always = bool(body["event"].get("always"))
            if to is None and not always:
                p.problem(
                    (*where, "event"), "this event can never fire: the rule has no `to`; add `always: true`", "event"
                )
            elif to is not None and not always and states is not None and states <= {to}:
                p.problem(
                    (*where, "event"),
                    f"this event can never fire: the rule only runs in `{to}`, its `to`, so the state never changes; "
                    "add `always: true`",
                    "event",
                )
        if len(self.problems) > before:
            return None  # a half-compiled rule would mislead the checks across rules
        return Rule(
            str(body.get("name", "")),
            str(body.get("description", "")),
            p.location(where),
            when,
            states,
            then,
            to,
            event,
            always,
            tuple(lets),
        )


def _kind(body: Mapping[str, Any]) -> KindRef:
    return KindRef(GVK.of(str(body["apiVersion"]), str(body["kind"])), str(body.get("plural", "")))
