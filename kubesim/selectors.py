"""Label and field selectors: parsing (the API server's grammar and error wording) and matching.

Label selectors support the whole grammar (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`, `>`, `<`).
Field selectors support `=`, `==`, `!=` with backslash escapes. Which field labels a resource supports is
decided by the caller (`kubesim.kinds`); this module only parses, matches and words the errors.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kubesim.errors import ApiError, bad_request
from kubesim.meta import label_key_error, label_value_error


class Op(enum.StrEnum):
    """Selector operators."""

    EXISTS = "exists"
    NOT_EXISTS = "!"
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    GREATER = "gt"
    LESS = "lt"


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector."""

    key: str
    op: Op
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this term."""
        match self.op:
            case Op.EXISTS:
                return self.key in labels
            case Op.NOT_EXISTS:
                return self.key not in labels
            case Op.EQUALS | Op.IN:
                return self.key in labels and labels[self.key] in self.values
            case Op.NOT_EQUALS | Op.NOT_IN:
                return self.key not in labels or labels[self.key] not in self.values
            case Op.GREATER | Op.LESS:
                if self.key not in labels:
                    return False
                try:
                    have, want = int(labels[self.key]), int(next(iter(self.values)))
                except ValueError:
                    return False
                return have > want if self.op is Op.GREATER else have < want


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every requirement holds."""
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements


_SPECIAL = set(" \t\n,=!()<>")


def _lex(text: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "=!" and text[i : i + 2] in ("==", "!="):
            tokens.append(text[i : i + 2])
            i += 2
        elif c in ",=!()<>":
            tokens.append(c)
            i += 1
        else:
            j = i
            while j < len(text) and text[j] not in _SPECIAL:
                j += 1
            tokens.append(text[i:j])
            i = j
    return tokens


def _is_ident(token: str | None) -> bool:
    return token is not None and token not in (",", "=", "==", "!=", "!", "(", ")", "<", ">")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.pos += 1
        return token

    @staticmethod
    def fail(found: str | None, expected: str) -> ApiError:
        return bad_request(f"unable to parse requirement: found '{found or ''}', expected: {expected}")

    def requirement(self) -> Requirement:
        token = self.take()
        negated = token == "!"
        if negated:
            token = self.take()
            if not _is_ident(token):
                raise self.fail(token, "identifier after '!'")
        elif not _is_ident(token) or token in ("in", "notin"):
            raise self.fail(token, "!, identifier, or 'end of string'")
        assert token is not None
        key = token
        self.check_key(key)
        if self.peek() in (None, ","):
            return Requirement(key, Op.NOT_EXISTS if negated else Op.EXISTS)
        if negated:
            raise self.fail(self.peek(), "',' or 'end of string'")
        op_token = self.take()
        ops = {"=": Op.EQUALS, "==": Op.EQUALS, "!=": Op.NOT_EQUALS, "in": Op.IN, "notin": Op.NOT_IN}
        ops |= {">": Op.GREATER, "<": Op.LESS}
        if op_token not in ops:
            raise self.fail(op_token, "[!= < = == > in notin]")
        assert op_token is not None
        op = ops[op_token]
        if op in (Op.IN, Op.NOT_IN):
            values = self.value_set()
        else:
            value = self.peek()
            if value is None or value == ",":
                values = {""}
            elif _is_ident(value):
                self.take()
                values = {value}
            else:
                raise self.fail(value, "identifier")
        for value in values:
            if op in (Op.GREATER, Op.LESS):
                if not value.lstrip("-").isdigit():
                    raise bad_request(
                        f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: {value}"
                    )
            elif (why := label_value_error(value)) is not None:
                raise bad_request(f'unable to parse requirement: values[0][{key}]: Invalid value: "{value}": {why}')
        return Requirement(key, op, frozenset(values))

    def value_set(self) -> set[str]:
        if (token := self.take()) != "(":
            raise self.fail(token, "'('")
        values: set[str] = set()
        expect_value = True
        while True:
            token = self.take()
            if token == ")":
                if expect_value and values:
                    values.add("")
                return values
            if token == ",":
                if expect_value:
                    values.add("")
                expect_value = True
            elif _is_ident(token) and expect_value:
                assert token is not None
                values.add(token)
                expect_value = False
            else:
                raise self.fail(token, "',', or ')'")

    @staticmethod
    def check_key(key: str) -> None:
        why = label_key_error(key)
        if why is not None:
            raise bad_request(f'unable to parse requirement: key: Invalid value: "{key}": {why}')


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a label selector; raises a 400 ApiError with the server's wording on bad syntax."""
    if not text or not text.strip():
        return LabelSelector()
    parser = _Parser(text)
    requirements: list[Requirement] = []
    while True:
        requirements.append(parser.requirement())
        token = parser.take()
        if token is None:
            break
        if token != ",":
            raise parser.fail(token, "',' or 'end of string'")
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


@dataclass(frozen=True)
class FieldTerm:
    """One `field=value` or `field!=value` term."""

    field: str
    value: str
    negated: bool


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector; matching is done against a field getter."""

    terms: tuple[FieldTerm, ...] = ()

    def matches(self, get: Callable[[str], str | None]) -> bool:
        """Whether every term holds, `get(field)` giving the object's value."""
        for term in self.terms:
            have = get(term.field) or ""
            if (have == term.value) == term.negated:
                return False
        return True

    def value_of(self, field: str) -> str | None:
        """The value an equality term requires for `field` (to narrow a lookup), or None."""
        for term in self.terms:
            if term.field == field and not term.negated:
                return term.value
        return None


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse a field selector; raises a 400 ApiError on bad syntax."""
    if not text or not text.strip():
        return FieldSelector()
    terms: list[FieldTerm] = []
    for part in _split_unescaped(text, ","):
        for op, negated in (("!=", True), ("==", False), ("=", False)):
            index = _find_unescaped(part, op)
            if index >= 0:
                field = part[:index].strip()
                terms.append(FieldTerm(field, _unescape(part[index + len(op) :]), negated))
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
    return FieldSelector(tuple(terms))


def _find_unescaped(text: str, needle: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(needle, i):
            return i
        i += 1
    return -1
