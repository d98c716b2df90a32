"""Server-side Table rendering (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`).

kubectl prints exactly the columns the server sends, so each built-in kind gets the columns of
kube-apiserver's printers (pkg/printers/internalversion) and custom resources get their CRD's
`additionalPrinterColumns` (plus Age by default). Ages are rendered server-side as
`duration.HumanDuration` does ("5m", "2d3h"). This module formats; it never reads the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jsonpath_ng.ext.parser import parse as jsonpath_parse

from kubesim.meta import JSON, parse_time

CellsFn = Callable[[JSON, float], list[Any]]


@dataclass(frozen=True)
class Column:
    """A Table column definition."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def definition(self) -> JSON:
        """The columnDefinitions entry."""
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


NAME = Column("Name", format="name", description="Name must be unique within a namespace.")
AGE = Column(
    "Age", description="CreationTimestamp is a timestamp representing the server time when this object was created."
)


@dataclass(frozen=True)
class Printer:
    """Columns plus a function giving one row's cells."""

    columns: tuple[Column, ...]
    cells: CellsFn

    def table(self, objects: Sequence[JSON], now: float, include: str = "Metadata", headers: bool = True) -> JSON:
        """A meta.k8s.io/v1 Table with one row per object."""
        rows = []
        for obj in objects:
            row: JSON = {"cells": self.cells(obj, now)}
            if include == "Object":
                row["object"] = obj
            elif include != "None":
                row["object"] = {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata", {}),
                }
            rows.append(row)
        table: JSON = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}}
        table["columnDefinitions"] = [c.definition() for c in self.columns] if headers else None
        table["rows"] = rows
        return table


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    total = int(seconds)
    if total < -1:
        return "<invalid>"
    if total < 0:
        return "0s"
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: Any, now: float) -> str:
    """translateTimestampSince: `<unknown>` for a missing time."""
    when = parse_time(timestamp) if isinstance(timestamp, str) else None
    return "<unknown>" if when is None else human_duration(now - when)


def created(obj: JSON, now: float) -> str:
    """The Age cell."""
    return age(obj.get("metadata", {}).get("creationTimestamp"), now)


def simple(columns: Sequence[Column], cells: CellsFn) -> Printer:
    """A printer with the Name column first."""
    return Printer((NAME, *columns), lambda obj, now: [obj["metadata"]["name"], *cells(obj, now)])


DEFAULT = Printer(
    (NAME, Column("Created At", type="date", description="CreationTimestamp")),
    lambda obj, now: [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp")],
)
NAME_AGE = simple((AGE,), lambda obj, now: [created(obj, now)])


# ---------------------------------------------------------------- custom resources


def _column_value(compiled: Any, obj: JSON, kind: str, now: float) -> Any:
    matches = [m.value for m in compiled.find(obj)]
    if not matches:
        return None
    value = matches[0]
    if kind == "date":
        return age(value, now)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "string":
        return value if isinstance(value, str) else _go_string(value)
    return value


def _go_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        from kubesim.meta import dumps

        return dumps(value).decode()
    return str(value)


def crd_printer(columns: Sequence[JSON]) -> Printer:
    """A printer for a CRD version's additionalPrinterColumns (Age alone when there are none)."""
    specs = list(columns) or [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    compiled: list[Any] = []
    for spec in specs:
        path = str(spec.get("jsonPath", ""))
        try:
            compiled.append(jsonpath_parse("$" + path if path.startswith(".") else path))
        except Exception:
            compiled.append(None)
    defs = tuple(
        Column(
            str(s["name"]),
            type=str(s.get("type", "string")),
            format=str(s.get("format", "")),
            description=str(s.get("description", "")),
            priority=int(s.get("priority", 0)),
        )
        for s in specs
    )

    def cells(obj: JSON, now: float) -> list[Any]:
        out: list[Any] = [obj["metadata"]["name"]]
        for spec, path in zip(specs, compiled, strict=True):
            out.append(None if path is None else _column_value(path, obj, str(spec.get("type", "string")), now))
        return out

    return Printer((NAME, *defs), cells)
