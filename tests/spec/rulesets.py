"""Small rule documents for the spec tests: Widgets that own Jobs (no Arcane vocabulary)."""

from __future__ import annotations

import textwrap

HEADER = """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata:
  name: widgets
  description: Widgets and their Jobs.
spec:
  for:
    kind: {apiVersion: example.com/v1, kind: Widget}
"""

WIDGETS = (
    HEADER
    + """\
  related:
    job:
      description: The Widget's Job.
      get: {apiVersion: batch/v1, kind: Job, name: "{{ object.metadata.name }}"}
    requests:
      list:
        apiVersion: example.com/v1
        kind: WidgetRequest
        where: "item.spec.widget == object.metadata.name"
        orderBy: metadata.creationTimestamp
      triggers:
        name: "{{ spec.widget }}"
        when: "spec.widget"
  facts:
    paused: "object.spec.paused == `true`"
    size:
      cases:
        - when: "object.spec.replicas > `3`"
          value: large
        - value: small
    label: {value: "widget-{{ object.metadata.name }}"}
    enabledItems: {in: "object.spec.items", where: "item.enabled", select: "{{ item.name }}"}
  builders:
    job:
      let:
        image: "args.image || 'busybox'"
      require:
        - that: "args.name"
          message: "a Job needs a name"
      object:
        apiVersion: batch/v1
        kind: Job
        metadata: {name: "{{ args.name }}"}
        spec:
          template:
            spec:
              containers: [{name: main, image: "{{ image }}"}]
      transform:
        - merge: {at: metadata.labels, value: {app: "{{ label }}"}}
  onError:
    - event: {type: Warning, reason: Failed, message: "{{ error.message }}"}
  groups:
    - name: lifecycle
      state:
        field: status.phase
        initial: New
        states:
          New: null
          Running: {reason: Started}
          Paused: {reason: Paused}
        onEnter:
          - status: {conditions: {replace: [{type: Ready, reason: "{{ entered.reason }}"}]}}
      rules:
        - name: pause
          when: paused
          then:
            - delete: {target: job}
          to: Paused
          event: {reason: Paused, message: "{{ object.metadata.name }} paused"}
        - name: start
          from: [New, Paused]
          let:
            name: "{{ object.metadata.name }}"
            jobName: "{{ name }}-job"
          then:
            - create: {build: job, with: {name: "{{ jobName }}"}, owner: object, existing: job}
          to: Running
    - name: audit
      match: all
      rules:
        - name: count
          then:
            - status: {set: {requests: "{{ length(requests) }}"}}
"""
)


def document(body: str) -> str:
    """A document with the Widget header and `body` (indented YAML under `spec:`)."""
    return HEADER + textwrap.indent(textwrap.dedent(body), "  ")
