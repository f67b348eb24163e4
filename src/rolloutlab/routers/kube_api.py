"""What the Kubernetes routers share: turning the client's failures into RoutingError, merge patches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from rolloutlab.errors import RolloutLabError, RoutingError

MERGE_PATCH = "application/merge-patch+json"
T = TypeVar("T")


def call(what: str, request: Callable[[], T]) -> T:
    """Run one Kubernetes API request; any failure becomes a RoutingError that says what was asked."""
    try:
        return request()
    except ApiException as exc:
        if exc.status == 404:
            raise RoutingError(f"{what}: not found (is the Kubernetes stack up?)") from exc
        if exc.status == 409:
            raise RoutingError(f"{what}: changed by someone else meanwhile (conflict); nothing applied, try again") from exc
        raise RoutingError(f"{what}: Kubernetes API answered {exc.status} {exc.reason}: {_message(exc)}") from exc
    except HTTPError as exc:
        raise RoutingError(f"{what}: cannot reach the Kubernetes API ({exc})") from exc


def kubeconfig_client(context: str = "", error: type[RolloutLabError] = RoutingError) -> Any:
    """The lab's one kubeconfig loader: an API client for a context ('' = the current one), or `error` saying why not."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    try:
        return config.new_client_from_config(context=context or None)
    except (ConfigException, OSError) as exc:
        raise error(f"no usable kubeconfig for context {context or '(current)'}: {exc}") from None


def _message(exc: ApiException) -> str:
    body = exc.body if isinstance(exc.body, str) else ""
    return body.strip()[:300] or "no details"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge, null deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
