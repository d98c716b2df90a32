"""API semantics: what create, get, list, update, patch and delete mean, shared by HTTP and Python.

Every write goes through one pipeline: type meta and namespace checks, conversion to the storage form,
unknown-field detection (fieldValidation Strict/Warn/Ignore) and pruning, the kind's defaulting and
validation, system metadata (uid, creationTimestamp, generation, managedFields), optimistic concurrency
and preconditions, finalizers and deletionTimestamp, then a commit to `kubesim.store` (unless dryRun).
The HTTP layer (`kubesim.http`) parses requests into these calls; controllers call them directly.
Garbage collection of dependents is the GC controller's job, not this module's.
"""

from __future__ import annotations

import base64
import builtins
import enum
from dataclasses import dataclass, field
from typing import Any

from kubesim import errors, ssa
from kubesim.clock import Clock
from kubesim.errors import ApiError, FieldError
from kubesim.meta import JSON, deep_copy, generate_suffix, loads, new_uid, rfc3339
from kubesim.patch import PatchType, accepted_patch_types, json_patch, merge_patch, strategic_merge_patch
from kubesim.resources import Registry, ResourceType
from kubesim.selectors import FieldSelector, LabelSelector
from kubesim.store import Store
from kubesim.validation import validate_metadata

NAMESPACES = ("", "namespaces")
_SYSTEM_META = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds")


class FieldValidation(enum.StrEnum):
    """The `fieldValidation` query parameter."""

    STRICT = "Strict"
    WARN = "Warn"
    IGNORE = "Ignore"


class Propagation(enum.StrEnum):
    """`propagationPolicy` of a delete."""

    BACKGROUND = "Background"
    FOREGROUND = "Foreground"
    ORPHAN = "Orphan"


@dataclass
class WriteOptions:
    """Per-request write options (query parameters and the caller's identity)."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: FieldValidation = FieldValidation.WARN
    force: bool = False
    subresource: str = ""
    user_agent: str = ""

    @property
    def manager(self) -> str:
        """The field manager: `fieldManager`, else the User-Agent's product name."""
        if self.field_manager:
            return self.field_manager
        return (self.user_agent.split("/", 1)[0] or "unknown")[:128]


@dataclass
class DeleteOptions:
    """The body (or query) of a DELETE."""

    propagation: Propagation | None = None
    uid: str | None = None
    resource_version: str | None = None
    grace_period: int | None = None


@dataclass
class WriteResult:
    """A write's outcome: the object (as served), whether it was created or removed, and warnings."""

    obj: JSON
    created: bool = False
    removed: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class ListQuery:
    """Parameters of a list."""

    labels: LabelSelector = field(default_factory=LabelSelector)
    fields: FieldSelector = field(default_factory=FieldSelector)
    limit: int = 0
    continue_token: str = ""


@dataclass
class ListResult:
    """A page of a list."""

    items: list[JSON]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None


class Api:
    """The semantics of the Kubernetes API over one store and registry."""

    def __init__(self, store: Store, registry: Registry, clock: Clock, managed_fields: bool = True) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.managed_fields = managed_fields

    # ---------------------------------------------------------------- reads

    def get(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        """The object as served at `rt`'s version; 404 when absent."""
        obj = self.store.get(rt.storage_key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return rt.strategy.from_storage(obj, rt)

    def matches(self, rt: ResourceType, obj: JSON, query: ListQuery) -> bool:
        """Whether a stored object passes the label and field selectors."""
        meta = obj["metadata"]
        if not query.labels.empty and not query.labels.matches(meta.get("labels") or {}):
            return False
        if query.fields.terms:
            return query.fields.matches(lambda label: self.field_value(rt, obj, label))
        return True

    def field_value(self, rt: ResourceType, obj: JSON, label: str) -> str | None:
        """The value of a field label on a stored object."""
        if label == "metadata.name":
            return str(obj["metadata"]["name"])
        if label == "metadata.namespace":
            return str(obj["metadata"].get("namespace", ""))
        return rt.strategy.field_value(obj, label)

    def check_field_selector(self, rt: ResourceType, selector: FieldSelector) -> None:
        """400 `field label not supported: x` for a label the resource does not index."""
        for term in selector.terms:
            if term.field not in ("metadata.name", "metadata.namespace") and term.field not in rt.strategy.field_labels:
                raise errors.bad_request(f"field label not supported: {term.field}")

    def list(self, rt: ResourceType, namespace: str | None, query: ListQuery) -> ListResult:
        """A (page of a) list, in etcd order, with the list's resourceVersion and continue token."""
        self.check_field_selector(rt, query.fields)
        bucket = self.store.bucket(rt.storage_key)
        list_rv = self.store.rv
        keys = bucket.keys(namespace if rt.namespaced else None)
        start = 0
        if query.continue_token:
            token_rv, after = _decode_continue(query.continue_token)
            if token_rv < bucket.floor:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a "
                    "new list without the continue parameter."
                )
            list_rv = token_rv
            start = _bisect(keys, after)
        name = query.fields.value_of("metadata.name")
        items: list[JSON] = []
        index = start
        everything = query.labels.empty and not query.fields.terms
        from_storage, by_ns = rt.strategy.from_storage, bucket.by_ns
        for index in range(start, len(keys)):
            ns, key_name = keys[index]
            if name is not None and key_name != name:
                continue
            obj = by_ns[ns][key_name]
            if everything or self.matches(rt, obj, query):
                items.append(from_storage(obj, rt))
                if query.limit and len(items) >= query.limit:
                    break
        else:
            index = len(keys)
        token = ""
        remaining: int | None = None
        if query.limit and len(items) >= query.limit and index + 1 < len(keys):
            token = _encode_continue(list_rv, keys[index])
            if query.labels.empty and not query.fields.terms:
                remaining = len(keys) - index - 1
        return ListResult(items, str(list_rv), token, remaining)

    # ---------------------------------------------------------------- writes

    def create(self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions) -> WriteResult:
        """POST: 201 with the stored object."""
        obj = self._decode(rt, namespace, body)
        meta = obj["metadata"]
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + generate_suffix()
            else:
                raise errors.invalid_object(
                    rt.kind, rt.group, "", [errors.required("metadata.name", "name or generateName is required")]
                )
        if rt.namespaced:
            self.require_namespace(namespace, creating=True)
        warnings = self._prepare(rt, obj, None, opts)
        strategy = rt.strategy
        if strategy.status_subresource and opts.subresource != "status":
            obj.pop("status", None)
        now = self.clock.now()
        for key in _SYSTEM_META:
            meta.pop(key, None)
        meta.pop("resourceVersion", None)
        # Ownership is recorded on the decoded, defaulted object: fields the strategy sets next are nobody's.
        if self.managed_fields and "managedFields" not in meta:
            entries = ssa.record_update(None, obj, strategy.schema(rt), opts.manager, rt.api_version, now)
            if entries:
                meta["managedFields"] = entries
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = rfc3339(now)
        if strategy.has_generation:
            meta["generation"] = 1
        strategy.on_create(obj, now)
        self._validate(rt, obj, None)
        if self.store.get(rt.storage_key, meta.get("namespace", ""), meta["name"]) is not None:
            raise errors.already_exists(rt.plural, rt.group, meta["name"])
        stored = obj if opts.dry_run else self.store.put(rt.storage_key, strategy.to_storage(obj, rt), None)
        return WriteResult(strategy.from_storage(stored, rt), created=True, warnings=warnings)

    def update(self, rt: ResourceType, namespace: str, name: str, body: Any, opts: WriteOptions) -> WriteResult:
        """PUT (main resource or a subresource): optimistic concurrency on metadata.resourceVersion."""
        old = self._current(rt, namespace, name)
        new = self._decode(rt, namespace, body)
        return self._update(rt, old, new, opts)

    def patch(  # noqa: PLR0917 - mirrors the REST call: resource, namespace, name, patch type, body, options
        self, rt: ResourceType, namespace: str, name: str, patch_type: PatchType, body: Any, opts: WriteOptions
    ) -> WriteResult:
        """PATCH of any supported type; server-side apply creates when the object is absent."""
        accepted = accepted_patch_types(rt.strategy.strategic_merge_patch)
        if patch_type not in accepted:
            raise errors.unsupported_media_type(patch_type, list(accepted))
        if patch_type is PatchType.APPLY_YAML:
            return self.apply(rt, namespace, name, body, opts)
        old = self._current(rt, namespace, name)
        served = rt.strategy.from_storage(old, rt)
        if patch_type is PatchType.JSON:
            new = json_patch(served, body)
        elif patch_type is PatchType.MERGE:
            if not isinstance(body, dict):
                raise errors.bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
            new = merge_patch(served, body)
        else:
            new = strategic_merge_patch(served, body, rt.strategy.schema(rt))
        return self._update(rt, old, self._decode(rt, namespace, new), opts)

    def apply(self, rt: ResourceType, namespace: str, name: str, body: Any, opts: WriteOptions) -> WriteResult:
        """Server-side apply: create-or-merge with field ownership, conflicts unless `force`."""
        if not opts.field_manager:
            raise errors.bad_request("PATCH, application/apply-patch+yaml requests require fieldManager to be set")
        config = self._decode(rt, namespace, body)
        if config["metadata"].get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({config['metadata']['name']}) does not match the name on the URL ({name})"
            )
        config["metadata"]["name"] = name
        old = self.store.get(rt.storage_key, namespace if rt.namespaced else "", name)
        schema = rt.strategy.schema(rt)
        now = self.clock.now()
        live = rt.strategy.from_storage(old, rt) if old is not None else None
        merged, entries, conflicts = ssa.apply(live, config, schema, opts.manager, opts.force, now, opts.subresource)
        if conflicts:
            raise ssa.conflict_error(rt.plural, rt.group, name, conflicts)
        merged.setdefault("metadata", {})["managedFields"] = entries
        if old is None:
            if opts.subresource:
                raise errors.not_found(rt.plural, rt.group, name)
            return self.create(rt, namespace, merged, opts)
        return self._update(rt, old, merged, opts, keep_managed=True)

    def delete(
        self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions, opts: WriteOptions
    ) -> WriteResult:
        """DELETE: marks when finalizers (or foreground/orphan propagation) hold the object, else removes it."""
        old = self._current(rt, namespace, name)
        meta = old["metadata"]
        if options.uid is not None and options.uid != meta.get("uid"):
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {options.uid}, UID in object meta: {meta.get('uid')}",
            )
        if options.resource_version is not None and options.resource_version != meta["resourceVersion"]:
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"the ResourceVersion in the precondition ({options.resource_version}) does not match the "
                f"ResourceVersion in record ({meta['resourceVersion']}). The object might have been modified",
            )
        warnings: list[str] = []
        propagation = options.propagation
        if propagation is None and rt.strategy.default_orphan:
            propagation = Propagation.ORPHAN
            warnings.append(
                "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to "
                "remove them or set propagationPolicy=Orphan to suppress this warning"
            )
        finalizers = list(meta.get("finalizers") or [])
        extra = {Propagation.FOREGROUND: "foregroundDeletion", Propagation.ORPHAN: "orphan"}.get(
            propagation or Propagation.BACKGROUND
        )
        if extra and extra not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append(extra)
        if finalizers or self._pending_finalize(rt, old):
            if meta.get("deletionTimestamp") and finalizers == meta.get("finalizers"):
                return WriteResult(rt.strategy.from_storage(old, rt), warnings=warnings)
            new = deep_copy(old)
            new["metadata"]["finalizers"] = finalizers
            new["metadata"].setdefault("deletionTimestamp", rfc3339(self.clock.now()))
            new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            rt.strategy.on_delete_marked(new)
            stored = new if opts.dry_run else self.store.put(rt.storage_key, new, old)
            return WriteResult(rt.strategy.from_storage(stored, rt), warnings=warnings)
        if opts.dry_run:
            return WriteResult(rt.strategy.from_storage(old, rt), removed=True, warnings=warnings)
        gone = self.store.remove(rt.storage_key, old)
        return WriteResult(rt.strategy.from_storage(gone, rt), removed=True, warnings=warnings)

    def delete_collection(
        self, rt: ResourceType, namespace: str | None, query: ListQuery, options: DeleteOptions, opts: WriteOptions
    ) -> builtins.list[JSON]:
        """DELETE on a collection: every matching object, as a list of what was deleted."""
        page = self.list(rt, namespace, ListQuery(query.labels, query.fields))
        out: builtins.list[JSON] = []
        for obj in page.items:
            meta = obj["metadata"]
            try:
                out.append(self.delete(rt, meta.get("namespace", ""), meta["name"], options, opts).obj)
            except ApiError as error:
                if error.code != 404:
                    raise
        return out

    # ---------------------------------------------------------------- helpers

    def require_namespace(self, namespace: str, creating: bool = False) -> None:
        """404 when the namespace does not exist; 403 when creating in a terminating one."""
        ns = self.store.get(NAMESPACES, "", namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if creating and ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden_error(
                f"unable to create new content in namespace {namespace} because it is being terminated",
                "namespaces",
                "",
                namespace,
            )

    def _current(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        obj = self.store.get(rt.storage_key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def _pending_finalize(self, rt: ResourceType, obj: JSON) -> bool:
        return rt.storage_key == NAMESPACES and bool(obj.get("spec", {}).get("finalizers"))

    def _decode(self, rt: ResourceType, namespace: str, body: Any) -> JSON:
        if isinstance(body, bytes | str):
            body = loads(body)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        obj: JSON = dict(body)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if rt.strategy.requires_type_meta and not kind:
            raise errors.bad_request(f"Object 'Kind' is missing in '{body}'")
        if api_version and api_version != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})"
            )
        if kind and kind != rt.kind:
            raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta = obj.get("metadata")
        meta = dict(meta) if isinstance(meta, dict) else {}
        for key in ("finalizers", "ownerReferences", "labels", "annotations", "managedFields"):
            if key in meta and not meta[key] and (key != "managedFields" or meta[key] is None):
                del meta[key]  # empty lists and maps are omitted, as Go's omitempty does
        obj["metadata"] = meta
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        return obj

    def _prepare(self, rt: ResourceType, obj: JSON, old: JSON | None, opts: WriteOptions) -> builtins.list[str]:
        """Field validation, pruning and defaulting; returns warnings."""
        strategy = rt.strategy
        warnings: builtins.list[str] = []
        unknown = strategy.prune(obj, rt, old)
        if unknown and opts.field_validation is FieldValidation.STRICT:
            raise errors.bad_request("strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown))
        if unknown and opts.field_validation is FieldValidation.WARN:
            warnings.extend(f'unknown field "{path}"' for path in unknown)
        strategy.default(obj, old, self.clock.now())
        return warnings

    def _validate(self, rt: ResourceType, obj: JSON, old: JSON | None) -> None:
        problems: builtins.list[FieldError] = validate_metadata(rt, obj, old)
        problems.extend(rt.strategy.validate(obj, old))
        if problems:
            raise errors.invalid_object(rt.kind, rt.group, obj["metadata"].get("name", ""), problems)

    def _update(  # noqa: PLR0915 - one update pipeline, kept linear so its order reads as the API server's
        self, rt: ResourceType, old: JSON, new: JSON, opts: WriteOptions, keep_managed: bool = False
    ) -> WriteResult:
        strategy = rt.strategy
        old_meta, meta = old["metadata"], new["metadata"]
        name = old_meta["name"]
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        if meta.get("resourceVersion") and meta["resourceVersion"] != old_meta["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name)
        if meta.get("uid") and meta["uid"] != old_meta.get("uid"):
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {old_meta.get('uid')}",
            )
        new = strategy.to_storage(new, rt)
        meta = new["metadata"]
        if opts.subresource == "status":
            status = new.get("status")
            # Copy-on-write: everything but status and metadata stays shared with the (immutable) stored
            # object, so pruning skips it and nothing is copied; what the pipeline changes is replaced.
            new = {**old, "metadata": dict(old["metadata"])}
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        elif strategy.status_subresource:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        requested_spec = new.get("spec")
        warnings = self._prepare(rt, new, old, opts)
        if opts.subresource == "finalize" and isinstance(requested_spec, dict):
            new["spec"] = {**new.get("spec", {}), "finalizers": list(requested_spec.get("finalizers") or [])}
        for key in _SYSTEM_META:
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if old_meta.get("deletionTimestamp"):
            added = [f for f in meta.get("finalizers") or [] if f not in (old_meta.get("finalizers") or [])]
            if added:
                raise errors.invalid_object(
                    rt.kind,
                    rt.group,
                    name,
                    [
                        errors.forbidden(
                            "metadata.finalizers",
                            "no new finalizers can be added if the object is being deleted, found new finalizers "
                            + "[]string{"
                            + ", ".join(f'"{f}"' for f in added)
                            + "}",
                        )
                    ],
                )
        if strategy.has_generation and strategy.spec_changed(new, old):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        self._validate(rt, new, old)
        if self.managed_fields:
            if not keep_managed and meta.get("managedFields") == old_meta.get("managedFields"):
                new_entries = ssa.record_update(
                    old, new, strategy.schema(rt), opts.manager, rt.api_version, self.clock.now(), opts.subresource
                )
                if new_entries:
                    meta["managedFields"] = new_entries
                else:
                    meta.pop("managedFields", None)
            elif meta.get("managedFields") == []:
                meta.pop("managedFields", None)
        if new == old:
            return WriteResult(strategy.from_storage(old, rt), warnings=warnings)
        if old_meta.get("deletionTimestamp") and not meta.get("finalizers") and not self._pending_finalize(rt, new):
            gone = old if opts.dry_run else self.store.remove(rt.storage_key, new)
            return WriteResult(strategy.from_storage(gone, rt), removed=True, warnings=warnings)
        stored = new if opts.dry_run else self.store.put(rt.storage_key, new, old)
        return WriteResult(strategy.from_storage(stored, rt), warnings=warnings)


def _encode_continue(rv: int, key: tuple[str, str]) -> str:
    raw = f'{{"v":"meta.k8s.io/v1","rv":{rv},"start":"{key[0]}/{key[1]}\\u0000"}}'
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ns, _, name = str(data["start"]).rstrip("\x00").partition("/")
        return int(data["rv"]), (ns, name)
    except (ValueError, KeyError, TypeError) as error:
        raise errors.bad_request(f"continue key is not valid: {error}") from error


def _bisect(keys: list[tuple[str, str]], after: tuple[str, str]) -> int:
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid] <= after:
            lo = mid + 1
        else:
            hi = mid
    return lo
