"""State diagrams of a rule set's state machines, in Mermaid and Graphviz DOT, for docs and reviews.

Where this sits: `arcane rules graph` prints what this returns. Each state machine group becomes one
diagram: its states are nodes, each rule with a `to` is an edge from each of its `from` states (rules that
apply in any state start from a pseudo-state "any"), labelled with the rule's name. Rules without a `to`
(they act but keep the state) are listed under the diagram, not drawn. State names that are not plain
identifiers are given ids and shown by name, so any YAML key makes a valid diagram.
"""

from __future__ import annotations

import re

from engine.spec.ruleset import Document, Group, RuleSet

ANY = "any"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _edges(group: Group, any_id: str) -> list[tuple[str, str, str]]:
    assert group.state is not None
    edges: list[tuple[str, str, str]] = []
    for rule in group.rules:
        if rule.to is None:
            continue
        sources = sorted(rule.states) if rule.states is not None else [any_id]
        edges.extend((source, rule.to, rule.name) for source in sources)
    return edges


def _machines(ruleset: RuleSet) -> list[tuple[Document, Group]]:
    return [(doc, group) for doc in ruleset.documents for group in doc.groups if group.state is not None]


def _any_id(group: Group) -> str:
    """The pseudo-state's id: `any`, unless a real state is named so."""
    assert group.state is not None
    return ANY if ANY not in group.state.states else "any_state"


def mermaid(ruleset: RuleSet) -> str:
    """Mermaid `stateDiagram-v2` blocks, one per state machine, each in a ```mermaid fence."""
    blocks = []
    for document, group in _machines(ruleset):
        assert group.state is not None
        any_id = _any_id(group)
        ids = {name: name if _IDENTIFIER.match(name) else f"s{index}" for index, name in enumerate(group.state.states)}
        ids[any_id] = any_id
        lines = ["```mermaid", "stateDiagram-v2", f"    %% {document.name}/{group.name}"]
        lines.extend(f'    state "{_quoted(name)}" as {ids[name]}' for name in group.state.states if ids[name] != name)
        lines.append(f"    [*] --> {ids[group.state.initial]}")
        edges = _edges(group, any_id)
        if any(source == any_id for source, _, _ in edges):
            lines.append(f'    state "any state" as {any_id}')
        lines.extend(f"    {ids[source]} --> {ids[target]}: {rule}" for source, target, rule in edges)
        lines.append("```")
        staying = [rule.name for rule in group.rules if rule.to is None]
        if staying:
            lines.append(f"Rules that keep the state ({document.name}/{group.name}): {', '.join(staying)}.")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def dot(ruleset: RuleSet) -> str:
    """One Graphviz digraph with a cluster per state machine."""
    lines = ["digraph rules {", "    rankdir=LR;", '    node [shape=box, style=rounded, fontname="Helvetica"];']
    for index, (document, group) in enumerate(_machines(ruleset)):
        assert group.state is not None
        start, any_id = f'"m{index} start"', f'"m{index} any"'  # pseudo-states: ids no state name can take

        def node(name: str, prefix: str = f"m{index}_", pseudo: str = any_id) -> str:
            if name == pseudo:
                return name
            return prefix + name if _IDENTIFIER.match(name) else f'"{prefix}{_quoted(name)}"'

        lines.append(f"    subgraph cluster_{index} {{")
        lines.append(f'        label="{_quoted(document.name)}/{_quoted(group.name)}";')
        lines.append(f'        {start} [shape=point, label=""];')
        lines.extend(f'        {node(state)} [label="{_quoted(state)}"];' for state in group.state.states)
        edges = _edges(group, any_id)
        if any(source == any_id for source, _, _ in edges):
            lines.append(f'        {any_id} [label="any state", shape=plaintext];')
        lines.append(f"        {start} -> {node(group.state.initial)};")
        lines.extend(
            f'        {node(source)} -> {node(target)} [label="{_quoted(rule)}"];' for source, target, rule in edges
        )
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
