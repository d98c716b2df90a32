"""Resource requests over HTTP: verbs to `kubesim.api` calls, bodies in, content negotiation out.

Parses query parameters (selectors, pagination, dryRun, fieldManager, fieldValidation, force,
propagationPolicy), decodes bodies (JSON, YAML, protobuf, the four patch types), and answers JSON,
a Table (`as=Table`) or PartialObjectMetadata, with Warning headers. Subresources: status, scale,
finalize (namespaces) and log (pods). Watches are handed to `kubesim.watch`.
"""

from __future__ import annotations

from typing import Any

import yaml
from multidict import CIMultiDict, MultiMapping

from kubesim import errors, protobuf, watch
from kubesim.api import DeleteOptions, FieldValidation, ListQuery, Propagation, WriteOptions, WriteResult
from kubesim.discovery import parse_accept
from kubesim.kinds.crd import scale_of
from kubesim.meta import JSON, dumps, get_path, loads
from kubesim.patch import PatchType, accepted_patch_types
from kubesim.resources import ResourceType
from kubesim.routes import RequestInfo
from kubesim.runtime import Runtime
from kubesim.selectors import parse_field_selector, parse_label_selector
from kubesim.tables import NAME_AGE, Printer
from kubesim.wire import Request, Response, StreamResponse

JSON_TYPE = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"


def respond(body: Any, status: int = 200, content_type: str = JSON_TYPE, warnings: list[str] | None = None) -> Response:
    """A JSON response (with Warning headers)."""
    headers: CIMultiDict[str] = CIMultiDict({"Content-Type": content_type})
    for warning in warnings or []:
        headers.add("Warning", '299 - "' + warning.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return Response(body if isinstance(body, bytes) else dumps(body), status, headers)


def _view(accept: str) -> tuple[str, str]:
    """('table'|'partial'|'json', version) from an Accept header."""
    for media, params in parse_accept(accept):
        kind = params.get("as")
        if media in (JSON_TYPE, "*/*", PROTOBUF) and params.get("g") == "meta.k8s.io":
            if kind == "Table":
                return "table", params.get("v", "v1")
            if kind in ("PartialObjectMetadata", "PartialObjectMetadataList"):
                return "partial", params.get("v", "v1")
        if media in (JSON_TYPE, "*/*", PROTOBUF) and kind is None:
            return "json", ""
    return "json", ""


_FIELD_VALIDATION = {v.value: v for v in FieldValidation}


def _flag(query: MultiMapping[str], name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def write_options(request: Request, subresource: str) -> WriteOptions:
    """dryRun, fieldManager, fieldValidation and force from the query."""
    query = request.query
    dry = query.getall("dryRun", [])
    for value in dry:
        if value != "All":
            raise errors.bad_request(f'Invalid dry run value: "{value}"')
    validation = query.get("fieldValidation", "Warn") or "Warn"
    field_validation = _FIELD_VALIDATION.get(validation)
    if field_validation is None:
        raise errors.bad_request(
            f"fieldValidation parameter unsupported: {validation}. Valid values are Strict, Warn, Ignore"
        )
    return WriteOptions(
        dry_run=bool(dry),
        field_manager=query.get("fieldManager", ""),
        field_validation=field_validation,
        force=_flag(query, "force"),
        subresource=subresource,
        user_agent=request.headers.get("User-Agent", ""),
    )


def read_body(request: Request) -> Any:
    """The request body decoded by its Content-Type (JSON, YAML, protobuf, patch types)."""
    raw = request.body
    if not raw:
        return None
    content_type = request.headers.get("Content-Type", JSON_TYPE).split(";", 1)[0].strip().lower()
    if content_type == PROTOBUF:
        return protobuf.decode(raw)
    if content_type in ("application/yaml", PatchType.APPLY_YAML):
        try:
            return loads(raw)
        except ValueError:
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as error:
                raise errors.bad_request(f"error converting YAML to JSON: {error}") from error
    try:
        return loads(raw)
    except ValueError as error:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {error}") from error


def list_query(query: MultiMapping[str]) -> ListQuery:
    """Selectors and pagination from the query."""
    limit_text = query.get("limit", "0") or "0"
    try:
        limit = max(0, int(limit_text))
    except ValueError:
        raise errors.bad_request(f'invalid limit "{limit_text}"') from None
    return ListQuery(
        parse_label_selector(query.get("labelSelector")),
        parse_field_selector(query.get("fieldSelector")),
        limit,
        query.get("continue", ""),
    )


class ResourceHandler:
    """Serves /api/v1/... and /apis/<group>/<version>/... resource requests."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def printer(self, rt: ResourceType) -> Printer:
        """The Table printer of a resource."""
        return rt.strategy.printer or NAME_AGE

    def table(
        self, rt: ResourceType, objects: list[JSON], request: Request, version: str, headers: bool = True
    ) -> JSON:
        """A Table of objects, as negotiated."""
        include = request.query.get("includeObject", "Metadata")
        table = self.printer(rt).table(objects, self.runtime.clock.now(), include, headers)
        table["apiVersion"] = f"meta.k8s.io/{version}"
        return table

    def render(
        self, rt: ResourceType, obj: JSON, request: Request, status: int = 200, warnings: list[str] | None = None
    ) -> Response:
        """One object as JSON, a one-row Table or PartialObjectMetadata."""
        view, version = _view(request.headers.get("Accept", JSON_TYPE))
        if view == "table":
            table = self.table(rt, [obj], request, version)
            table["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return respond(table, status, f"{JSON_TYPE};as=Table;v={version};g=meta.k8s.io", warnings)
        if view == "partial":
            partial = {
                "kind": "PartialObjectMetadata",
                "apiVersion": f"meta.k8s.io/{version}",
                "metadata": obj["metadata"],
            }
            return respond(partial, status, f"{JSON_TYPE};as=PartialObjectMetadata;v={version};g=meta.k8s.io", warnings)
        return respond(obj, status, warnings=warnings)

    def resolve(self, info: RequestInfo) -> ResourceType:
        """The resource type a request addresses; 404 or 405 when it is not served so."""
        rt = self.runtime.registry.lookup(info.group, info.version, info.resource)
        if rt is None:
            raise errors.ApiError(404, errors.Reason.NOT_FOUND, "the server could not find the requested resource", {})
        if not rt.namespaced and info.namespace and info.resource != "namespaces":
            raise errors.ApiError(404, errors.Reason.NOT_FOUND, "the server could not find the requested resource", {})
        if rt.namespaced and not info.namespace and info.verb not in ("list", "watch"):
            raise errors.ApiError(404, errors.Reason.NOT_FOUND, "the server could not find the requested resource", {})
        if info.subresource and not rt.has_subresource(info.subresource):
            raise errors.ApiError(404, errors.Reason.NOT_FOUND, "the server could not find the requested resource", {})
        verb = info.verb
        if not info.subresource and verb not in rt.verbs:
            raise errors.method_not_allowed()
        return rt

    def handle(self, request: Request, info: RequestInfo) -> Response:
        """Dispatch one resource request (watches go to `watch`)."""
        runtime = self.runtime
        rt = self.resolve(info)
        namespace = info.namespace if rt.namespaced else ""
        match info.verb:
            case "get":
                return self.get(rt, namespace, info, request)
            case "list":
                return self.list(rt, info.namespace or None, request)
            case "create":
                return self.create(rt, namespace, info, request)
            case "update":
                body = read_body(request)
                opts = write_options(request, info.subresource)
                if info.subresource == "scale":
                    return self.update_scale(rt, namespace, info.name, body, opts, request)
                result = runtime.api.update(rt, namespace, info.name, body, opts)
                return self.render(rt, result.obj, request, 200, result.warnings)
            case "patch":
                return self.patch(rt, namespace, info, request)
            case "delete":
                return self.delete(rt, namespace, info, request)
            case "deletecollection":
                options = self.delete_options(request)
                objs = runtime.api.delete_collection(
                    rt, info.namespace or None, list_query(request.query), options, write_options(request, "")
                )
                return respond({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": {}, "items": objs})
        raise errors.method_not_allowed()

    def get(self, rt: ResourceType, namespace: str, info: RequestInfo, request: Request) -> Response:
        obj = self.runtime.api.get(rt, namespace, info.name)
        if info.subresource == "log":
            text = self.runtime.pod_logs.get((namespace, info.name), "")
            tail = request.query.get("tailLines")
            if tail and tail.isdigit():
                text = "".join(text.splitlines(keepends=True)[-int(tail) :]) if int(tail) else ""
            return Response(text.encode(), content_type="text/plain")
        if info.subresource == "scale":
            scale = getattr(rt.strategy, "scale", None)
            if scale is None:
                raise errors.ApiError(
                    404, errors.Reason.NOT_FOUND, "the server could not find the requested resource", {}
                )
            return respond(scale_of(obj, scale, rt))
        return self.render(rt, obj, request)

    def list(self, rt: ResourceType, namespace: str | None, request: Request) -> Response:
        result = self.runtime.api.list(rt, namespace, list_query(request.query))
        meta: JSON = {"resourceVersion": result.resource_version}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining is not None:
            meta["remainingItemCount"] = result.remaining
        view, version = _view(request.headers.get("Accept", JSON_TYPE))
        if view == "table":
            table = self.table(rt, result.items, request, version)
            table["metadata"] = meta
            return respond(table, content_type=f"{JSON_TYPE};as=Table;v={version};g=meta.k8s.io")
        if view == "partial":
            items = [
                {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}", "metadata": o["metadata"]}
                for o in result.items
            ]
            doc: JSON = {"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{version}", "metadata": meta}
            doc["items"] = items
            return respond(doc, content_type=f"{JSON_TYPE};as=PartialObjectMetadataList;v={version};g=meta.k8s.io")
        return respond({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": result.items})

    async def watch(self, request: Request, info: RequestInfo, stalled: bool) -> StreamResponse:
        """Stream a watch (`kubesim.watch`)."""
        rt = self.resolve(info)
        namespace = info.namespace or None
        query = request.query
        timeout_text = query.get("timeoutSeconds")
        params = watch.WatchParams(
            resource_version=query.get("resourceVersion", ""),
            timeout=float(timeout_text) if timeout_text else None,
            bookmarks=_flag(query, "allowWatchBookmarks"),
            send_initial=_flag(query, "sendInitialEvents"),
        )
        view, version = _view(request.headers.get("Accept", JSON_TYPE))
        render = None
        content_type = JSON_TYPE
        if view == "table":
            content_type = f"{JSON_TYPE};as=Table;v={version};g=meta.k8s.io"

            def render(obj: JSON, headers: bool) -> JSON:
                table = self.table(rt, [obj], request, version, headers)
                table["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
                return table

        return await watch.serve(
            request,
            self.runtime,
            rt,
            namespace if rt.namespaced else None,
            list_query(query),
            params,
            stalled,
            render,
            content_type,
        )

    def create(self, rt: ResourceType, namespace: str, info: RequestInfo, request: Request) -> Response:
        body = read_body(request)
        if info.subresource:
            raise errors.method_not_allowed()
        if rt.group == "authorization.k8s.io":
            return respond(self.review(rt, body), 201)
        result = self.runtime.api.create(rt, namespace, body, write_options(request, ""))
        return self.render(rt, result.obj, request, 201, result.warnings)

    def review(self, rt: ResourceType, body: Any) -> JSON:
        """SelfSubjectAccessReview / SelfSubjectRulesReview: everything is allowed (RBAC is not enforced)."""
        spec = body.get("spec", {}) if isinstance(body, dict) else {}
        out: JSON = {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "metadata": {"creationTimestamp": None},
            "spec": spec,
        }
        if rt.kind == "SelfSubjectAccessReview":
            out["status"] = {"allowed": True, "reason": "kubesim does not enforce RBAC"}
        else:
            out["status"] = {
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": False,
            }
        return out

    def patch(self, rt: ResourceType, namespace: str, info: RequestInfo, request: Request) -> Response:
        content_type = request.headers.get("Content-Type", "")
        patch_type = PatchType.parse(content_type)
        accepted = accepted_patch_types(rt.strategy.strategic_merge_patch)
        if patch_type is None or patch_type not in accepted:
            raise errors.unsupported_media_type(content_type, [str(t) for t in accepted])
        body = read_body(request)
        opts = write_options(request, info.subresource)
        if info.subresource == "scale":
            scale = self.runtime.api.get(rt, namespace, info.name)
            return self.update_scale(rt, namespace, info.name, body, opts, request, patch_type, scale)
        result = self.runtime.api.patch(rt, namespace, info.name, patch_type, body, opts)
        return self.render(rt, result.obj, request, 201 if result.created else 200, result.warnings)

    def update_scale(  # noqa: PLR0917 - PUT and PATCH of scale share it
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        opts: WriteOptions,
        request: Request,
        patch_type: PatchType | None = None,
        current: JSON | None = None,
    ) -> Response:
        """PUT or PATCH of a custom resource's scale subresource: writes spec replicas."""
        scale = getattr(rt.strategy, "scale", None)
        if scale is None:
            raise errors.ApiError(404, errors.Reason.NOT_FOUND, "the server could not find the requested resource", {})
        obj = self.runtime.api.get(rt, namespace, name)
        view = scale_of(obj, scale, rt)
        if patch_type is not None:
            from kubesim.patch import json_patch, merge_patch

            body = json_patch(view, body) if patch_type is PatchType.JSON else merge_patch(view, body)
        replicas = get_path(body, ("spec", "replicas"))
        path = str(scale.get("specReplicasPath", ".spec.replicas")).lstrip(".").split(".")
        patch: JSON = {}
        node = patch
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = replicas
        opts.subresource = ""
        result: WriteResult = self.runtime.api.patch(rt, namespace, name, PatchType.MERGE, patch, opts)
        return respond(scale_of(result.obj, scale, rt))

    def delete_options(self, request: Request) -> DeleteOptions:
        """DeleteOptions from the body (JSON or protobuf) and the query."""
        body = read_body(request)
        body = body if isinstance(body, dict) else {}
        query = request.query
        policy = body.get("propagationPolicy") or query.get("propagationPolicy")
        orphan = body.get("orphanDependents")
        if orphan is None and "orphanDependents" in query:
            orphan = _flag(query, "orphanDependents")
        propagation: Propagation | None = None
        if policy:
            try:
                propagation = Propagation(policy)
            except ValueError:
                raise errors.bad_request(
                    f'Unsupported value: "{policy}": supported values: "Background", "Foreground", "Orphan"'
                ) from None
        elif orphan is not None:
            propagation = Propagation.ORPHAN if orphan else Propagation.BACKGROUND
        pre = body.get("preconditions") or {}
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        return DeleteOptions(
            propagation, pre.get("uid"), pre.get("resourceVersion"), int(grace) if grace is not None else None
        )

    def delete(self, rt: ResourceType, namespace: str, info: RequestInfo, request: Request) -> Response:
        options = self.delete_options(request)
        opts = write_options(request, "")
        result = self.runtime.api.delete(rt, namespace, info.name, options, opts)
        if result.removed and not rt.strategy.return_deleted_object:
            meta = result.obj["metadata"]
            details: JSON = {"name": meta["name"]}
            if rt.group:
                details["group"] = rt.group
            details["kind"] = rt.plural
            details["uid"] = meta.get("uid", "")
            status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
            return respond(status, warnings=result.warnings)
        return self.render(rt, result.obj, request, 200, result.warnings)
