"""The operator process: `arcane run` — settings, logs, health and metrics, leader election, reload, shutdown.

Where this sits: engine.cli calls `run_operator(args)`; everything here is wiring of the pieces in
engine.kube and engine.runtime around one Reactor. Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT),
1 when leadership is lost or the process fails, 2 when the rules or the settings are unusable.

Shutdown: stop taking keys, let in-flight work finish (bounded), release the lease, exit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from engine.errors import RuleSetError
from engine.kube.client import ClientOptions, KubeClient
from engine.kube.config import ConfigError, load_settings
from engine.model import EmitEvent, EventType, ObjectRef
from engine.runtime.health import EndpointOptions, HealthServer, ListenError
from engine.runtime.leader import LeaderElector, LeaderOptions, default_identity
from engine.runtime.logs import configure_logging
from engine.runtime.metrics import Metrics
from engine.runtime.reactor import Reactor, ReactorOptions
from engine.runtime.reload import RuleReloader, load_rules
from engine.runtime.trim import trim_forever
from engine.spec import RuleSet

log = logging.getLogger("engine.main")

SHUTDOWN_SECONDS = 7.5
"""How long in-flight work may take to finish after SIGTERM."""
RELEASE_SECONDS = 1.0
"""How long releasing the Lease may take after that: a slow API server must not hold the exit (a standby takes
over when the Lease expires anyway). Both fit in the 10 s the issue allows, well inside Kubernetes' 30 s grace."""


@dataclass(frozen=True, slots=True)
class OperatorOptions:
    rules: Path
    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    health_port: int = 8888
    metrics_port: int = 9090
    leader_elect: bool = False
    leader_election_namespace: str | None = None
    leader_election_id: str = "arcane-operator"
    reload: bool = True
    dry_run: bool = False
    workers: int = 16
    write_qps: float = 50.0
    write_burst: int = 100
    component: str = "arcane-operator"
    metrics_prefix: str = "arcane"


def run_operator(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    try:
        configure_logging(args.log_level, args.log_format)
    except ValueError as error:
        print(f"arcane run: {error}")
        return 2
    options = OperatorOptions(
        rules=Path(args.rules),
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespaces=tuple(args.namespace),
        health_port=args.health_port,
        metrics_port=args.metrics_port,
        leader_elect=args.leader_elect,
        leader_election_namespace=args.leader_election_namespace,
        leader_election_id=args.leader_election_id,
        reload=not args.no_reload,
        dry_run=args.dry_run,
        workers=args.workers,
        write_qps=args.write_qps,
        write_burst=args.write_burst,
    )
    try:
        ruleset = load_rules(options.rules)
    except RuleSetError as error:
        for problem in error.problems:
            log.error(
                "rules rejected: %s", problem, extra={"file": problem.location.file, "line": problem.location.line}
            )
        return 2
    try:
        return asyncio.run(Operator(options, ruleset).run())
    except ConfigError as error:
        log.error("cannot connect: %s", error)
        return 2
    except ListenError as error:
        log.error("%s", error)
        return 2


class Operator:
    def __init__(self, options: OperatorOptions, ruleset: RuleSet) -> None:
        self.options = options
        self.ruleset = ruleset
        self.metrics = Metrics(options.metrics_prefix)
        self.exit_code = 0
        self._stop = asyncio.Event()

    async def run(self) -> int:
        settings = load_settings(self.options.kubeconfig, self.options.context)
        client_options = ClientOptions(
            write_qps=self.options.write_qps,
            write_burst=self.options.write_burst,
            user_agent=self.options.component,
            field_manager=self.options.component,
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop.set)
        async with KubeClient(settings, client_options, observer=self.metrics) as client:
            reactor = Reactor(
                client,
                self.ruleset,
                ReactorOptions(
                    workers=self.options.workers,
                    namespaces=self.options.namespaces,
                    dry_run=self.options.dry_run,
                    component=self.options.component,
                ),
                metrics=self.metrics,
            )
            self.metrics.set_ruleset_digest(self.ruleset.digest)
            health = HealthServer(
                EndpointOptions(health_port=self.options.health_port, metrics_port=self.options.metrics_port),
                readiness=reactor.unready,
                metrics=self.metrics.render,
            )
            await health.start()
            log.info(
                "operator started",
                extra={
                    "rules": str(self.options.rules),
                    "digest": self.ruleset.digest,
                    "health_port": health.health_port,
                    "metrics_port": health.metrics_port,
                },
            )
            tasks: list[asyncio.Task[object]] = [asyncio.create_task(trim_forever(), name="malloc-trim")]
            elector = self._elector(client, reactor)
            if elector is None:  # the only replica: it acts from the start, as a leader would
                self.metrics.leader_changed(True)
            await reactor.start(process=elector is None)
            if elector is not None:
                tasks.append(asyncio.create_task(elector.run()))
            reloader = self._reloader(reactor)
            if reloader is not None:
                tasks.append(asyncio.create_task(reloader.run()))
            await self._stop.wait()
            log.info("shutting down")
            if reloader is not None:
                reloader.stop()
            await reactor.stop(SHUTDOWN_SECONDS)
            if elector is not None:
                try:
                    async with asyncio.timeout(RELEASE_SECONDS):
                        await elector.stop()
                except TimeoutError:
                    log.warning("the Lease was not released in time: a standby takes over when it expires")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await health.stop()
        log.info("stopped", extra={"exit_code": self.exit_code})
        return self.exit_code

    def _elector(self, client: KubeClient, reactor: Reactor) -> LeaderElector | None:
        if not self.options.leader_elect:
            return None
        namespace = self.options.leader_election_namespace or os.environ.get("POD_NAMESPACE") or "default"
        options = LeaderOptions(namespace=namespace, name=self.options.leader_election_id, identity=default_identity())

        def lost() -> None:
            # Not a graceful stop: the in-flight work is cancelled now, not drained, since the Lease does not
            # fence writes and a standby may already be acting (controller-runtime exits the process here).
            reactor.halt()
            log.error("leadership lost: exiting so that no two replicas act at once")
            self.exit_code = 1
            self._stop.set()

        def started() -> None:
            log.info("leading: processing starts", extra={"identity": options.identity})
            reactor.start_workers()

        return LeaderElector(client, options, on_lost=lost, on_started=started, observer=self.metrics)

    def _reloader(self, reactor: Reactor) -> RuleReloader | None:
        if not self.options.reload:
            return None

        async def swap(ruleset: RuleSet) -> None:
            await reactor.swap(ruleset)
            self.metrics.reloaded("ok")
            self.metrics.set_ruleset_digest(ruleset.digest)

        async def reject(error: RuleSetError) -> None:
            self.metrics.reloaded("error")
            first = "; ".join(str(p) for p in error.problems[:3])
            more = f" (and {len(error.problems) - 3} more)" if len(error.problems) > 3 else ""
            message = f"New rules rejected, the previous rules stay active: {first}{more}"[:1000]
            await reactor.executor.events.emit(EmitEvent(_operator_ref(), EventType.WARNING, "RulesRejected", message))

        return RuleReloader(self.options.rules, self.ruleset, swap, reject, check=reactor.trial)


def _operator_ref() -> ObjectRef:
    """The operator's Pod when it knows it (downward API), else its namespace."""
    namespace = os.environ.get("POD_NAMESPACE") or "default"
    pod = os.environ.get("POD_NAME")
    if pod:
        return ObjectRef("v1", "Pod", namespace, pod, os.environ.get("POD_UID", ""))
    return ObjectRef("v1", "Namespace", "", namespace)
