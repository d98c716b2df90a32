"""State diagrams of a rule set's state machines, in Mermaid and Graphviz DOT, for docs and reviews.

Where this sits: `arcane rules graph` prints what this returns. Each state machine group becomes one
diagram: its states are nodes, each rule with a `to` is an edge from each of its `from` states (rules that
apply in any state start from a pseudo-state "any"), labelled with the rule's name. Rules without a `to`
(they act but keep the state) are listed under the diagram, not drawn.
"""

from __future__ import annotations

from engine.spec.ruleset import Document, Group, RuleSet

ANY = "any"


def _edges(group: Group) -> list[tuple[str, str, str]]:
    assert group.state is not None
    edges: list[tuple[str, str, str]] = []
    for rule in group.rules:
        if rule.to is None:
            continue
        sources = sorted(rule.states) if rule.states is not None else [ANY]
        edges.extend((source, rule.to, rule.name) for source in sources)
    return edges


def _machines(ruleset: RuleSet) -> list[tuple[Document, Group]]:
    return [(doc, group) for doc in ruleset.documents for group in doc.groups if group.state is not None]


def mermaid(ruleset: RuleSet) -> str:
    """Mermaid `stateDiagram-v2` blocks, one per state machine, each in a ```mermaid fence."""
    blocks = []
    for document, group in _machines(ruleset):
        assert group.state is not None
        lines = ["```mermaid", "stateDiagram-v2", f"    %% {document.name}/{group.name}"]
        lines.append(f"    [*] --> {group.state.initial}")
        if any(source == ANY for source, _, _ in _edges(group)):
            lines.append(f'    state "any state" as {ANY}')
        lines.extend(f"    {source} --> {target}: {rule}" for source, target, rule in _edges(group))
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
        prefix = f"m{index}_"
        lines.append(f"    subgraph cluster_{index} {{")
        lines.append(f'        label="{document.name}/{group.name}";')
        lines.append(f'        {prefix}start [shape=point, label=""];')
        lines.extend(f'        {prefix}{state} [label="{state}"];' for state in group.state.states)
        if any(source == ANY for source, _, _ in _edges(group)):
            lines.append(f'        {prefix}{ANY} [label="any state", shape=plaintext];')
        lines.append(f"        {prefix}start -> {prefix}{group.state.initial};")
        lines.extend(
            f'        {prefix}{source} -> {prefix}{target} [label="{rule}"];' for source, target, rule in _edges(group)
        )
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"
