"""The one error hierarchy of Rollout Lab: every failure a user can cause or meet is one of these."""

from __future__ import annotations


class RolloutLabError(Exception):
    """Base class: the message is shown to the user as is, so it names what is wrong and where."""


class ScenarioError(RolloutLabError):
    """A scenario file is missing, not YAML, or does not match the schema."""


class CatalogueError(RolloutLabError):
    """The model version catalogue is invalid or names an unknown version."""


class LabError(RolloutLabError):
    """The local lab could not be started, inspected or stopped."""


class ProgramMissing(LabError):
    """A system program the lab needs (nginx, prometheus) is not installed."""


class PortBusy(LabError):
    """A port the lab was asked to use is already taken."""


class NotReady(LabError):
    """A process of the lab did not become ready in time."""


class RoutingError(RolloutLabError):
    """A routing state is invalid or could not be applied; the previous state stays in force."""


class MetricsUnavailable(RolloutLabError):
    """The metrics backend could not answer a query."""


class LoadError(RolloutLabError):
    """The load generator could not start or failed while running."""


class ClusterError(RolloutLabError):
    """The Kubernetes target's stack config is invalid, or its stack could not be brought up, inspected or torn down."""


class GateError(RolloutLabError):
    """A pre-deploy gate could not run at all (a server unreachable, the held-out data missing); not a failing model."""


class InfrastructureFault(RolloutLabError):
    """A part of the lab itself (a baseline's server, the router, Prometheus) stopped mid-run: not the candidate's fault."""


class RunDirError(RolloutLabError):
    """A run directory cannot be created or written (read-only, full): said before the lab starts."""
