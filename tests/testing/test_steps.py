"""Each step kind against the neutral Widget rules: evaluate, settle, apply, patch, delete, complete, fail, advance."""

from __future__ import annotations

from .conftest import Run
from .helpers import full, message


def test_evaluate_executes_the_decisions_so_later_steps_see_them(run: Run) -> None:
    """An evaluation's decisions are executed: the created Job and the written phase are there for the next step."""
    result = run(
        """
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect:
              fired: [start]
              objects:
                - {kind: Job, metadata: {name: w1-run, namespace: default, labels: {app.example.dev/widget: w1}}}
          - evaluate: Widget/default/w1
            expect:
              fired: [keep-running]
              objects: [{kind: Widget, metadata: {name: w1}, status: {phase: Running}}]
        """
    )
    assert result.passed, full(result)
    assert result.steps_run == 2


def test_evaluate_of_an_object_no_document_evaluates_fails(run: Run) -> None:
    """Evaluating an object that no document evaluates fails, naming the kinds that are evaluated (no vacuous `nothing`)."""
    result = run(
        """
        given:
          - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
          - <w1>
        steps:
          - evaluate: ConfigMap/c
            expect: nothing
        """
    )
    assert message(result) == (
        "no document of the rules evaluates ConfigMap/default/c (evaluated kinds: example.dev/v1/Widget)"
    )


def test_evaluate_of_a_missing_object_fails_and_lists_those_of_its_kind(run: Run) -> None:
    """A step naming an object that does not exist fails and lists the objects of that kind."""
    result = run(
        """
        given: [<w1>]
        steps:
          - evaluate: Widget/w2
            expect: nothing
        """
    )
    assert message(result) == "there is no Widget/w2 in the cluster; Widget objects: Widget/default/w1"


def test_settle_runs_the_rules_until_nothing_changes(run: Run) -> None:
    """Settle evaluates every evaluated object round after round and stops when a round writes nothing."""
    result = run(
        """
        given: [<w1>]
        steps:
          - settle: true
            expect:
              fired: [start, keep-running]
              objects: [{kind: Widget, metadata: {name: w1}, status: {phase: Running}}]
        """
    )
    assert result.passed, full(result)


def test_settle_fails_at_its_bound_and_names_the_rules_still_firing(run: Run) -> None:
    """A Toggle flips forever: settle gives up after maxSteps rounds and says which rule kept writing."""
    result = run(
        """
        given:
          - {apiVersion: example.dev/v1, kind: Toggle, metadata: {name: t}}
        steps:
          - settle: true
            maxSteps: 4
            expect: {fired: [go-right]}
        """
    )
    assert message(result) == "did not settle within 4 rounds (maxSteps): rules kept changing the cluster"
    assert result.failure is not None
    assert result.failure.details == (
        "still writing in round 4:\n- rule `go-left` on Toggle/default/t: status Toggle/default/t",
    )


def test_settle_with_nothing_evaluated_fails(run: Run) -> None:
    """Settle in a cluster where no object is evaluated fails instead of passing with nothing to do."""
    result = run(
        """
        given:
          - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
        steps:
          - settle: true
            expect: nothing
        """
    )
    assert message(result) == "no object in the cluster is evaluated by the rules, so there is nothing to settle"


def test_apply_replaces_the_object_and_keeps_its_status(run: Run) -> None:
    """`apply` replaces spec and labels as `kubectl apply` does, keeping the status the rules wrote."""
    result = run(
        """
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect: {fired: [start]}
          - apply:
              apiVersion: example.dev/v1
              kind: Widget
              metadata: {name: w1, labels: {team: a}}
              spec: {image: "busybox:1.37", paused: true}
            expect:
              objects:
                - kind: Widget
                  metadata: {name: w1, labels: {team: a}, generation: 2}
                  spec: {image: "busybox:1.37", paused: true}
                  status: {phase: Running}
          - evaluate: Widget/w1
            expect:
              fired: [pause]
              absent: [Job/w1-run]
        """
    )
    assert result.passed, full(result)


def test_apply_from_a_file_and_crd_defaulting_and_pruning(run: Run, tmp_path: object) -> None:
    """An applied object gets the defaults of its CRD schema and loses the fields the schema does not know."""
    result = run(
        """
        given: [<w1>]
        steps:
          - apply:
              apiVersion: example.dev/v1
              kind: Widget
              metadata: {name: w2}
              spec: {image: nginx, unknown: dropped, extra: {kept: yes}}
            expect:
              objects:
                - kind: Widget
                  metadata: {name: w2, namespace: default}
                  spec: {image: nginx, paused: false, replicas: 1, unknown: null, extra: {kept: yes}}
        """
    )
    assert result.passed, full(result)


def test_patch_merges_into_spec_and_status(run: Run) -> None:
    """`patch` merge-patches an object, status included, as another actor would."""
    result = run(
        """
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect: {fired: [start]}
          - patch: {target: Widget/w1, merge: {spec: {paused: true}, status: {note: edited}}}
            expect:
              objects: [{kind: Widget, metadata: {name: w1}, spec: {paused: true}, status: {phase: Running, note: edited}}]
          - evaluate: Widget/w1
            expect: {fired: [pause]}
        """
    )
    assert result.passed, full(result)


def test_delete_garbage_collects_owned_objects(run: Run) -> None:
    """Deleting a Widget deletes the Job it owns (background garbage collection by ownerReferences)."""
    result = run(
        """
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect: {fired: [start]}
          - delete: Widget/w1
            expect:
              absent: [Widget/w1, Job/w1-run]
        """
    )
    assert result.passed, full(result)


def test_complete_sets_the_conditions_of_the_job_controller(run: Run) -> None:
    """`complete` leaves the Job as the 1.32 Job controller does: SuccessCriteriaMet, then Complete, and the counters."""
    result = run(
        """
        clock: "2026-05-01T10:00:00Z"
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect: {fired: [start]}
          - complete: Job/w1-run
            expect:
              objects:
                - apiVersion: batch/v1
                  kind: Job
                  metadata: {name: w1-run}
                  status:
                    active: 0
                    succeeded: 1
                    startTime: "2026-05-01T10:00:00Z"
                    completionTime: "2026-05-01T10:00:00Z"
                    conditions:
                      - {type: SuccessCriteriaMet, status: "True", reason: CompletionsReached,
                         message: Reached expected number of succeeded pods}
                      - {type: Complete, status: "True", reason: CompletionsReached}
          - evaluate: Widget/w1
            expect:
              fired: [finish]
              actions:
                - delete: {kind: Job, name: w1-run}
                - status: {kind: Widget, name: w1, set: {phase: Done}}
                - event: {reason: Finished}
        """
    )
    assert result.passed, full(result)


def test_fail_sets_failed_conditions_and_the_rules_react(run: Run) -> None:
    """`fail` marks the Job FailureTarget then Failed (BackoffLimitExceeded, failed = backoffLimit + 1)."""
    result = run(
        """
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect: {fired: [start]}
          - fail: Job/w1-run
            expect:
              objects:
                - kind: Job
                  metadata: {name: w1-run}
                  status:
                    failed: 3
                    conditions:
                      - {type: FailureTarget, status: "True", reason: BackoffLimitExceeded}
                      - {type: Failed, status: "True", reason: BackoffLimitExceeded}
          - evaluate: Widget/w1
            expect:
              fired: [job-failed]
              events: [{type: Warning, reason: JobFailed, message: Job w1-run failed}]
        """
    )
    assert result.passed, full(result)


def test_complete_of_something_else_than_a_job_fails(run: Run) -> None:
    """`complete` on an object that is not a batch/v1 Job fails with what it is."""
    result = run(
        """
        given: [<w1>]
        steps:
          - complete: Widget/w1
        """
    )
    assert message(result) == "`complete` finishes a batch/v1 Job; Widget/w1 is a example.dev/v1 Widget"


def test_advance_moves_the_clock_for_time_based_rules(run: Run) -> None:
    """`advance` moves the fake clock: a deadline in the future passes, and now() in templates follows."""
    result = run(
        """
        clock: "2026-05-01T10:00:00Z"
        given:
          - apiVersion: example.dev/v1
            kind: Widget
            metadata: {name: w1}
            spec: {image: busybox, deadline: "2026-05-01T11:00:00Z"}
        steps:
          - evaluate: Widget/w1
            expect:
              fired: [start]
              objects: [{kind: Widget, metadata: {name: w1}, status: {since: "2026-05-01T10:00:00Z"}}]
          - advance: 30m
          - evaluate: Widget/w1
            expect: {fired: [keep-running]}
          - advance: 1h
          - evaluate: Widget/w1
            expect:
              fired: [timed-out]
              objects: [{kind: Widget, metadata: {name: w1}, status: {phase: Failed, since: "2026-05-01T11:30:00Z"}}]
        """
    )
    assert result.passed, full(result)


def test_world_changes_need_no_expectation(run: Run) -> None:
    """A step that changes the world may go without `expect`; the fixture passes when its rule steps hold."""
    result = run(
        """
        given: [<w1>]
        steps:
          - patch: {target: Widget/w1, merge: {spec: {paused: true}}}
          - advance: 90s
          - evaluate: Widget/w1
            expect: {fired: [pause]}
        """
    )
    assert result.passed, full(result)


def test_advance_takes_seconds_with_a_fraction(run: Run) -> None:
    """`advance: 1.5` moves the clock a second and a half (a number of seconds, as `advance: 90` is)."""
    result = run(
        """
        given: [<w1>]
        steps:
          - advance: 1.5
          - evaluate: Widget/w1
            expect: {fired: [start]}
        """
    )
    assert result.passed, full(result)


def test_a_kind_in_the_wrong_case_is_named_as_it_is_spelt(run: Run) -> None:
    """`evaluate: widget/w1` fails saying that kinds are case-sensitive and which kind was meant."""
    result = run(
        """
        given: [<w1>]
        steps:
          - evaluate: widget/w1
            expect: nothing
        """
    )
    assert message(result) == "there is no widget/w1 in the cluster; kinds are case-sensitive: did you mean Widget?"
