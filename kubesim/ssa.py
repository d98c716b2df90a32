"""Field ownership (`metadata.managedFields`) and server-side apply.

Field sets are sets of paths whose elements use the fieldsV1 spelling: `f:name` for a field,
`k:{"name":"a"}` for an item of a keyed list, `v:"x"` for an item of a set. A path also present as a
prefix of another path is a node owned for itself (`.` in fieldsV1). Every write records who changed
which field (operation Update); an apply (operation Apply) merges the applied configuration by the
schema's list and map types, reports conflicts with other managers unless forced, and removes the
fields the applier owned before but no longer applies. This module works on plain dicts and a
`Schema`; it does not store, validate or default anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Any

from kubesim.errors import ApiError, CauseType, Reason
from kubesim.meta import JSON, deep_copy, dumps, loads, rfc3339
from kubesim.schemas import Schema

Path = tuple[str, ...]
_IGNORED_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)
_MISSING = object()


def _key(item: Any, keys: tuple[str, ...]) -> str:
    if not isinstance(item, dict):
        return "v:" + dumps(item).decode()
    return "k:" + dumps({k: item.get(k) for k in sorted(keys)}).decode()


def field_set(obj: JSON, schema: Schema | None, skip: Iterable[str] = ()) -> set[Path]:
    """The paths an object sets (top-level fields in `skip` left out, plus system metadata)."""
    out: set[Path] = set()
    skipped = set(skip) | {"apiVersion", "kind"}
    for key, value in obj.items():
        if key in skipped:
            continue
        sub = schema.field(key) if schema is not None else None
        if key == "metadata" and isinstance(value, dict):
            for mkey, mvalue in value.items():
                if mkey not in _IGNORED_META:
                    _walk(mvalue, sub.field(mkey) if sub is not None else None, ("f:metadata", "f:" + mkey), out)
            continue
        _walk(value, sub, ("f:" + key,), out)
    return out


def _differing(old: JSON, new: JSON, schema: Schema | None, skip: Iterable[str]) -> tuple[set[Path], set[Path]]:
    """The field sets of `new` and `old` restricted to the fields whose values differ.

    A path's prefixes all start with the same field (metadata: the same metadata field), so equal
    fields add the same paths to both sets and can change nothing: only differing ones are walked.
    """
    if not isinstance(old.get("metadata", {}), dict) or not isinstance(new.get("metadata", {}), dict):
        return field_set(new, schema, skip), field_set(old, schema, skip)
    out_new: set[Path] = set()
    out_old: set[Path] = set()
    skipped = set(skip) | {"apiVersion", "kind"}
    for key in _union(new, old):
        if key in skipped:
            continue
        sub = schema.field(key) if schema is not None else None
        if key == "metadata":
            meta_new, meta_old = new.get(key, {}), old.get(key, {})
            for mkey in _union(meta_new, meta_old):
                if mkey not in _IGNORED_META:
                    msub = sub.field(mkey) if sub is not None else None
                    _walk_pair(meta_new, meta_old, mkey, msub, ("f:metadata", "f:" + mkey), out_new, out_old)
            continue
        _walk_pair(new, old, key, sub, ("f:" + key,), out_new, out_old)
    return out_new, out_old


def _union(new: JSON, old: JSON) -> list[str]:
    return [*new, *(key for key in old if key not in new)]


def _walk_pair(  # noqa: PLR0917 - both sides of one field
    new: JSON, old: JSON, key: str, schema: Schema | None, prefix: Path, out_new: set[Path], out_old: set[Path]
) -> None:
    value_new, value_old = new.get(key, _MISSING), old.get(key, _MISSING)
    if value_new is not _MISSING and value_old is not _MISSING and value_new == value_old:
        return
    if value_new is not _MISSING:
        _walk(value_new, schema, prefix, out_new)
    if value_old is not _MISSING:
        _walk(value_old, schema, prefix, out_old)


def _walk(value: Any, schema: Schema | None, prefix: Path, out: set[Path]) -> None:
    if isinstance(value, dict):
        if not value or (schema is not None and schema.atomic_map):
            out.add(prefix)
            return
        if schema is None or schema.is_granular_map or schema.is_open:
            out.add(prefix)
        for key, sub in value.items():
            _walk(sub, schema.field(key) if schema is not None else None, (*prefix, "f:" + key), out)
    elif isinstance(value, list):
        list_type = schema.list_type if schema is not None else "atomic"
        if list_type == "atomic" or not value:
            out.add(prefix)
            return
        items = schema.items() if schema is not None else None
        keys = schema.map_keys if schema is not None else ()
        if list_type == "set":
            out.add(prefix)
        for item in value:
            item_path = (*prefix, _key(item, keys if list_type == "map" else ()))
            out.add(item_path)
            if list_type == "map" and isinstance(item, dict):
                for key, sub in item.items():
                    _walk(sub, items.field(key) if items is not None else None, (*item_path, "f:" + key), out)
    else:
        out.add(prefix)


def value_at(obj: Any, path: Path) -> Any:
    """The value at a path, or `_MISSING`."""
    for element in path:
        kind, text = element[0], element[2:]
        if kind == "f":
            if not isinstance(obj, dict) or text not in obj:
                return _MISSING
            obj = obj[text]
        elif isinstance(obj, list):
            wanted = loads(text)
            for item in obj:
                if kind == "v" and item == wanted:
                    break
                if kind == "k" and isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
                    break
            else:
                return _MISSING
            obj = item
        else:
            return _MISSING
    return obj


def remove_path(obj: Any, path: Path) -> None:
    """Delete the field or list item at a path, in place (no effect when absent)."""
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last[0] == "f" and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif isinstance(parent, list):
        target = value_at(obj, path)
        if target is not _MISSING:
            parent.remove(target)


# fieldsV1 documents are immutable once made, so they are shared: objects of one shape (every ConfigMap
# with the same keys, every Job of one template) get the same document from `encode`, and `decode` of a
# document it has seen (by identity) is a set copy. Both memos are cleared when full (threads: one
# `clear()` is atomic where a bounded eviction would not be).
_MEMO_SIZE = 4096
_ENCODED: dict[frozenset[Path], JSON] = {}
_DECODED: dict[int, tuple[JSON, frozenset[Path]]] = {}


def encode(paths: AbstractSet[Path]) -> JSON:
    """A field set as a fieldsV1 document (shared between equal sets: never mutate it)."""
    key = frozenset(paths)
    doc = _ENCODED.get(key)
    if doc is None:
        doc = _encode(key)
        if len(_ENCODED) >= _MEMO_SIZE:
            _ENCODED.clear()
        _ENCODED[key] = doc
    return doc


def decode(doc: JSON) -> set[Path]:
    """A fieldsV1 document as a field set."""
    cached = _DECODED.get(id(doc))
    if cached is not None and cached[0] is doc:
        return set(cached[1])
    paths = _decode(doc, ())
    if len(_DECODED) >= _MEMO_SIZE:
        _DECODED.clear()
    _DECODED[id(doc)] = (doc, frozenset(paths))
    return paths


def _encode(paths: AbstractSet[Path]) -> JSON:
    root: JSON = {}
    nodes: list[JSON] = []
    for path in sorted(paths):
        node = root
        for element in path:
            child = node.get(element)
            if child is None:
                child = node[element] = {}
            node = child
        nodes.append(node)
    for node in nodes:
        if node and "." not in node:
            node["."] = {}
    return root


def _decode(doc: JSON, prefix: Path) -> set[Path]:
    out: set[Path] = set()
    for key, sub in doc.items():
        if key == ".":
            out.add(prefix)
        elif isinstance(sub, dict) and sub:
            out |= _decode(sub, (*prefix, key))
        else:
            out.add((*prefix, key))
    return out


def _entries(obj: JSON | None) -> list[JSON]:
    if obj is None:
        return []
    entries = obj.get("metadata", {}).get("managedFields")
    return list(entries) if isinstance(entries, list) else []


def _entry(manager: str, operation: str, api_version: str, now: float, paths: set[Path], sub: str) -> JSON:  # noqa: PLR0917 - the fields of one managedFields entry
    entry: JSON = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": rfc3339(now)}
    entry["fieldsType"] = "FieldsV1"
    entry["fieldsV1"] = encode(paths)
    if sub:
        entry["subresource"] = sub
    return entry


def _same(entry: JSON, manager: str, operation: str, sub: str) -> bool:
    return bool(
        entry.get("manager") == manager and entry.get("operation") == operation and entry.get("subresource", "") == sub
    )


def record_update(  # noqa: PLR0917 - mirrors one write: old, new, schema, manager, version, time, subresource
    old: JSON | None, new: JSON, schema: Schema | None, manager: str, api_version: str, now: float, sub: str = ""
) -> list[JSON]:
    """managedFields after `manager` changed `old` into `new` with an Update operation."""
    skip = ("status",) if sub != "status" else ()
    if old is None:
        fs_new = field_set(new, schema, skip)
        return [_entry(manager, "Update", api_version, now, fs_new, sub)] if fs_new else []
    fs_new, fs_old = _differing(old, new, schema, skip)
    nodes = _nodes(fs_new)
    changed = {p for p in fs_new if p not in fs_old or (p not in nodes and value_at(old, p) != value_at(new, p))}
    removed = fs_old - fs_new
    entries = _entries(new)
    if not changed and not removed:
        return entries
    out: list[JSON] = []
    mine: set[Path] = set()
    for entry in entries:
        paths = decode(entry.get("fieldsV1", {}))
        if _same(entry, manager, "Update", sub):
            mine = paths
            continue
        kept = paths - changed - removed
        if kept == paths:
            out.append(entry)
        elif kept:
            out.append({**entry, "fieldsV1": encode(kept)})
    mine = (mine | changed) - removed
    if mine:
        out.append(_entry(manager, "Update", api_version, now, mine, sub))
    return out


def _nodes(paths: set[Path]) -> set[Path]:
    return {p[:i] for p in paths for i in range(1, len(p))}


def merge(live: Any, config: Any, schema: Schema | None) -> Any:
    """Merge an applied configuration into a live value by list and map types."""
    if isinstance(config, dict) and isinstance(live, dict) and not (schema is not None and schema.atomic_map):
        out = dict(live)
        for key, value in config.items():
            sub = schema.field(key) if schema is not None else None
            out[key] = merge(live.get(key), value, sub) if key in live else deep_copy(value)
        return out
    if isinstance(config, list) and isinstance(live, list) and schema is not None:
        list_type = schema.list_type
        if list_type == "map":
            keys = schema.map_keys
            items = schema.items()
            out_list = list(live)
            for item in config:
                match = _key(item, keys)
                for index, existing in enumerate(out_list):
                    if _key(existing, keys) == match:
                        out_list[index] = merge(existing, item, items)
                        break
                else:
                    out_list.append(deep_copy(item))
            return out_list
        if list_type == "set":
            return list(live) + [v for v in config if v not in live]
    return deep_copy(config)


def conflict_error(resource: str, group: str, name: str, conflicts: dict[Path, list[JSON]]) -> ApiError:
    """409 listing the fields other managers own (`Apply failed with 1 conflict: ...`)."""
    by_manager: dict[tuple[str, str], list[str]] = {}
    causes: list[JSON] = []
    for path, owners in sorted(conflicts.items()):
        for owner in owners:
            who = (str(owner.get("manager", "")), str(owner.get("apiVersion", "")))
            by_manager.setdefault(who, []).append(render_path(path))
            text = f'conflict with "{who[0]}" using {who[1]}'
            causes.append(
                {"reason": str(CauseType.FIELD_MANAGER_CONFLICT), "message": text, "field": render_path(path)}
            )
    count = len(causes)
    parts: list[str] = []
    for (manager, version), fields in by_manager.items():
        if len(fields) == 1:
            parts.append(f'conflict with "{manager}" using {version}: {fields[0]}')
        else:
            parts.append(f'conflicts with "{manager}" using {version}:\n' + "\n".join(f"- {f}" for f in fields))
    message = f"Apply failed with {count} conflict{'s' if count != 1 else ''}: " + "\n".join(parts)
    details: JSON = {"name": name, "group": group, "kind": resource, "causes": causes}
    if not group:
        del details["group"]
    return ApiError(409, Reason.CONFLICT, message, details)


def render_path(path: Path) -> str:
    """`.spec.containers[name="a"].image`, as conflict messages print paths."""
    out = ""
    for element in path:
        kind, text = element[0], element[2:]
        if kind == "f":
            out += "." + text
        elif kind == "k":
            keys = loads(text)
            out += "[" + ",".join(f"{k}={dumps(v).decode()}" for k, v in keys.items()) + "]"
        elif kind == "v":
            out += f"[={text}]"
        else:
            out += f"[{text}]"
    return out


def apply(  # noqa: PLR0917 - mirrors the apply request: live, config, schema, manager, force, time, subresource
    live: JSON | None,
    config: JSON,
    schema: Schema | None,
    manager: str,
    force: bool,
    now: float,
    sub: str = "",
) -> tuple[JSON, list[JSON], dict[Path, list[JSON]]]:
    """Merge `config` into `live` as `manager` applies it; returns (object, managedFields, conflicts)."""
    api_version = str(config.get("apiVersion", ""))
    skip = ("status",) if sub != "status" else ()
    applied = field_set(config, schema, skip)
    entries = _entries(live)
    conflicts: dict[Path, list[JSON]] = {}
    others: list[tuple[JSON, set[Path]]] = []
    previous: set[Path] = set()
    for entry in entries:
        paths = decode(entry.get("fieldsV1", {}))
        if _same(entry, manager, "Apply", sub):
            previous = paths
        else:
            others.append((entry, paths))
    nodes = _nodes(applied)
    changed: set[Path] = set()
    if live is not None:
        for path in applied:
            if path in nodes:
                continue
            have = value_at(live, path)
            if have is not _MISSING and have != value_at(config, path):
                changed.add(path)
                owners = [e for e, paths in others if path in paths]
                if owners:
                    conflicts[path] = owners
    if conflicts and not force:
        return live or {}, entries, conflicts
    merged = merge(deep_copy(live) if live is not None else {}, config, schema)
    owned_by_others: set[Path] = set()
    out_entries: list[JSON] = []
    for entry, paths in others:
        kept = paths - changed
        owned_by_others |= kept
        if kept == paths:
            out_entries.append(entry)
        elif kept:
            out_entries.append({**entry, "fieldsV1": encode(kept)})
    for path in sorted(previous - applied - owned_by_others, key=len, reverse=True):
        if not any(p[: len(path)] == path for p in applied | owned_by_others if len(p) > len(path)):
            remove_path(merged, path)
    out_entries.append(_entry(manager, "Apply", api_version, now, applied, sub))
    return merged, out_entries, {}
