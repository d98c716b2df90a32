"""Built-in kinds: the resource types a fresh kubesim serves, with their strategies.

The names, verbs, short names and categories are those of a Kubernetes 1.32 API server's discovery.
Kinds defined by CRDs are built at run time by `kubesim.kinds.crd.types_for_crd`.
"""

from __future__ import annotations

from kubesim.kinds.batch import CronJobStrategy, JobStrategy
from kubesim.kinds.core import (
    ConfigMapStrategy,
    EventStrategy,
    EventsV1Strategy,
    LeaseStrategy,
    NamespaceStrategy,
    PodStrategy,
    RbacStrategy,
    ReviewStrategy,
    RoleBindingStrategy,
    SecretStrategy,
    ServiceAccountStrategy,
)
from kubesim.kinds.crd import CrdStrategy
from kubesim.resources import CREATE_ONLY, NAMESPACE_VERBS, ResourceType, Subresource

_STATUS = ("get", "patch", "update")


def builtin_types() -> list[ResourceType]:
    """Every built-in resource type, in discovery order."""
    rbac = "rbac.authorization.k8s.io"
    return [
        ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", True, ConfigMapStrategy(), short_names=("cm",)),
        ResourceType("", "v1", "Event", "events", "event", True, EventStrategy(), short_names=("ev",)),
        ResourceType(
            "",
            "v1",
            "Namespace",
            "namespaces",
            "namespace",
            False,
            NamespaceStrategy(),
            short_names=("ns",),
            verbs=NAMESPACE_VERBS,
            subresources=(
                Subresource("finalize", "Namespace", ("update",)),
                Subresource("status", "Namespace", _STATUS),
            ),
        ),
        ResourceType(
            "",
            "v1",
            "Pod",
            "pods",
            "pod",
            True,
            PodStrategy(),
            short_names=("po",),
            categories=("all",),
            subresources=(Subresource("log", "Pod", ("get",)), Subresource("status", "Pod", _STATUS)),
        ),
        ResourceType("", "v1", "Secret", "secrets", "secret", True, SecretStrategy()),
        ResourceType(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            "serviceaccount",
            True,
            ServiceAccountStrategy(),
            short_names=("sa",),
        ),
        ResourceType(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            "customresourcedefinition",
            False,
            CrdStrategy(),
            short_names=("crd", "crds"),
            categories=("api-extensions",),
            subresources=(Subresource("status", "CustomResourceDefinition", _STATUS),),
        ),
        ResourceType(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            False,
            ReviewStrategy(),
            verbs=CREATE_ONLY,
        ),
        ResourceType(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            "selfsubjectrulesreview",
            False,
            ReviewStrategy(),
            verbs=CREATE_ONLY,
        ),
        ResourceType(
            "batch",
            "v1",
            "CronJob",
            "cronjobs",
            "cronjob",
            True,
            CronJobStrategy(),
            short_names=("cj",),
            categories=("all",),
            subresources=(Subresource("status", "CronJob", _STATUS),),
        ),
        ResourceType(
            "batch",
            "v1",
            "Job",
            "jobs",
            "job",
            True,
            JobStrategy(),
            categories=("all",),
            subresources=(Subresource("status", "Job", _STATUS),),
        ),
        ResourceType("coordination.k8s.io", "v1", "Lease", "leases", "lease", True, LeaseStrategy()),
        ResourceType(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            "event",
            True,
            EventsV1Strategy(),
            short_names=("ev",),
            storage_group="",
        ),
        ResourceType(
            rbac, "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", False, RoleBindingStrategy()
        ),
        ResourceType(rbac, "v1", "ClusterRole", "clusterroles", "clusterrole", False, RbacStrategy()),
        ResourceType(rbac, "v1", "RoleBinding", "rolebindings", "rolebinding", True, RoleBindingStrategy()),
        ResourceType(rbac, "v1", "Role", "roles", "role", True, RbacStrategy()),
    ]
