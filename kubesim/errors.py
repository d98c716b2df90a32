"""API errors as the Kubernetes API server words them.

Every failure kubesim answers is an `ApiError`, rendered as a `Status` object with the exact `reason`,
`code`, `details` and message wording of kube-apiserver (`jobs.batch "j1" not found`, `Job.batch "j1"
is invalid: spec.template: Invalid value: ...: field is immutable`). The HTTP layer and the Python API
both raise and catch this one type. This module knows nothing about storage or HTTP.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

CONFLICT_MESSAGE = "the object has been modified; please apply your changes to the latest version and try again"


class Reason(enum.StrEnum):
    """The `reason` values of a Status object that kubesim produces."""

    BAD_REQUEST = "BadRequest"
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    NOT_FOUND = "NotFound"
    ALREADY_EXISTS = "AlreadyExists"
    CONFLICT = "Conflict"
    GONE = "Gone"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    METHOD_NOT_ALLOWED = "MethodNotAllowed"
    UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"
    NOT_ACCEPTABLE = "NotAcceptable"
    REQUEST_ENTITY_TOO_LARGE = "RequestEntityTooLarge"
    TOO_MANY_REQUESTS = "TooManyRequests"
    INTERNAL_ERROR = "InternalError"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    TIMEOUT = "Timeout"


class CauseType(enum.StrEnum):
    """`details.causes[].reason` values (field error types)."""

    REQUIRED = "FieldValueRequired"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    DUPLICATE = "FieldValueDuplicate"
    FORBIDDEN = "FieldValueForbidden"
    NOT_FOUND = "FieldValueNotFound"
    TYPE_INVALID = "FieldValueTypeInvalid"
    UNKNOWN_FIELD = "FieldValueUnknown"
    FIELD_MANAGER_CONFLICT = "FieldManagerConflict"


class Raw(str):
    """A value already rendered (Go's `%#v` of a struct, say): printed as is."""

    __slots__ = ()


def render_value(value: Any) -> str:
    """Render a value the way Go's field errors do (strings quoted, numbers bare, null as `null`)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return repr(value)


@dataclass(frozen=True)
class FieldError:
    """One field-level validation error (`field.Error` in apimachinery)."""

    type: CauseType
    field: str
    detail: str = ""
    value: Any = None
    has_value: bool = False

    def message(self) -> str:
        """The cause message, without the field path."""
        match self.type:
            case CauseType.REQUIRED:
                body = "Required value"
            case CauseType.INVALID:
                body = "Invalid value"
            case CauseType.NOT_SUPPORTED:
                body = "Unsupported value"
            case CauseType.TOO_LONG:
                body = "Too long"
            case CauseType.TOO_MANY:
                body = "Too many"
            case CauseType.DUPLICATE:
                body = "Duplicate value"
            case CauseType.FORBIDDEN:
                body = "Forbidden"
            case CauseType.NOT_FOUND:
                body = "Not found"
            case CauseType.TYPE_INVALID:
                body = "Invalid value"
            case CauseType.UNKNOWN_FIELD:
                body = "Unknown field"
            case CauseType.FIELD_MANAGER_CONFLICT:
                body = "conflict"
        if self.has_value:
            body += ": " + render_value(self.value)
        if self.detail:
            body += ": " + self.detail
        return body

    def __str__(self) -> str:
        return f"{self.field}: {self.message()}" if self.field else self.message()


def required(field: str, detail: str = "") -> FieldError:
    """A missing required field."""
    return FieldError(CauseType.REQUIRED, field, detail)


def invalid(field: str, value: Any, detail: str) -> FieldError:
    """A field with a value that is not allowed."""
    return FieldError(CauseType.INVALID, field, detail, value, True)


def not_supported(field: str, value: Any, supported: list[Any]) -> FieldError:
    """A value outside an enumeration."""
    detail = "supported values: " + ", ".join(render_value(v) for v in supported)
    return FieldError(CauseType.NOT_SUPPORTED, field, detail, value, True)


def forbidden(field: str, detail: str) -> FieldError:
    """A field that may not be set (or changed)."""
    return FieldError(CauseType.FORBIDDEN, field, detail)


class ApiError(Exception):
    """A request failure, rendered as a Kubernetes `Status` object."""

    def __init__(
        self,
        code: int,
        reason: Reason,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        """The `Status` body the API server sends."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": str(self.reason),
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.reason!s}, {self.message!r})"


def qualified(resource: str, group: str) -> str:
    """`jobs.batch`, or `pods` for the core group."""
    return f"{resource}.{group}" if group else resource


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    return details


def not_found(resource: str, group: str, name: str) -> ApiError:
    """404 for a named object (`jobs.batch "j1" not found`)."""
    return ApiError(
        404, Reason.NOT_FOUND, f'{qualified(resource, group)} "{name}" not found', _details(name, group, resource)
    )


def already_exists(resource: str, group: str, name: str) -> ApiError:
    """409 when creating an object whose name is taken."""
    return ApiError(
        409,
        Reason.ALREADY_EXISTS,
        f'{qualified(resource, group)} "{name}" already exists',
        _details(name, group, resource),
    )


def conflict(resource: str, group: str, name: str, why: str = CONFLICT_MESSAGE) -> ApiError:
    """409 for a stale resourceVersion or a failed precondition."""
    return ApiError(
        409,
        Reason.CONFLICT,
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
        _details(name, group, resource),
    )


def invalid_object(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """422 with one cause per field error (`Job.batch "j1" is invalid: ...`)."""
    texts = [str(e) for e in errors]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = _details(name, group, kind)
    details["causes"] = [{"reason": str(e.type), "message": e.message(), "field": e.field} for e in errors]
    return ApiError(422, Reason.INVALID, f'{qualified(kind, group)} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> ApiError:
    """400 with a free-form message."""
    return ApiError(400, Reason.BAD_REQUEST, message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    """405."""
    return ApiError(405, Reason.METHOD_NOT_ALLOWED, message, {})


def forbidden_error(message: str, resource: str = "", group: str = "", name: str = "") -> ApiError:
    """403 (terminating namespaces, for example)."""
    return ApiError(403, Reason.FORBIDDEN, message, _details(name, group, resource))


def expired(message: str) -> ApiError:
    """410 Expired: a resourceVersion or continue token older than the history."""
    return ApiError(410, Reason.EXPIRED, message)


def gone(message: str) -> ApiError:
    """410 Gone."""
    return ApiError(410, Reason.GONE, message)


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    """415 for a patch type the resource does not support."""
    return ApiError(
        415,
        Reason.UNSUPPORTED_MEDIA_TYPE,
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}",
        {},
    )


def unauthorized() -> ApiError:
    """401 for a missing or wrong bearer token."""
    return ApiError(401, Reason.UNAUTHORIZED, "Unauthorized")
