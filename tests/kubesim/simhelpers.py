"""Shared test data: the Widget CRD and builders for Widgets and Jobs."""

from __future__ import annotations

from typing import Any

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd], categories: [all]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Phase, type: string, jsonPath: .status.phase, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    selectableFields:
    - jsonPath: .spec.color
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [color]
            properties:
              color: {type: string, enum: [red, blue, green]}
              size: {type: integer, minimum: 1, maximum: 10, default: 3}
              replicas: {type: integer, default: 1}
              name: {type: string, maxLength: 8, pattern: '^[a-z]+$'}
              labels: {type: object, additionalProperties: {type: string}}
              note: {type: string, nullable: true}
              free: {type: object, x-kubernetes-preserve-unknown-fields: true}
              items:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    value: {type: integer, default: 0}
          status:
            type: object
            properties:
              phase: {type: string}
              replicas: {type: integer}
"""


def widget(object_name: str = "w1", color: str = "red", /, **spec: Any) -> dict[str, Any]:
    """A Widget custom resource (keyword arguments are spec fields)."""
    meta = {"name": object_name}
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta, "spec": {"color": color, **spec}}


def job(name: str = "j1", outcome: str | None = None, **spec: Any) -> dict[str, Any]:
    """A batch/v1 Job with one container."""
    meta: dict[str, Any] = {"name": name}
    if outcome is not None:
        meta["annotations"] = {"kubesim.io/outcome": outcome}
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {"template": template, **spec}}
