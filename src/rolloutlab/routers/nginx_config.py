"""Render a RoutingState into a complete nginx.conf (pure: no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rolloutlab.routing import RoutingState

ROUTING_PATH = "/_rolloutlab/routing"


@dataclass(frozen=True)
class NginxLayout:
    """Where this NGINX listens and keeps its files; backends map version → model server port."""

    listen_port: int
    workdir: Path
    backends: dict[str, int]
    run_as_root: bool = False


def render_nginx_config(state: RoutingState, layout: NginxLayout) -> str:
    """The whole nginx.conf serving `state`; call state.validate() first."""
    work = layout.workdir
    servers = "\n".join(
        # max_fails=0: NGINX must not quietly shift a failing version's share to the others;
        # the rollout controller decides where traffic goes, from metrics.
        f"        server 127.0.0.1:{layout.backends[version]} weight={weight} max_fails=0;  # {version}"
        for version, weight in state.active().items()
    )
    routing_json = json.dumps(state.to_dict(), separators=(",", ":"))
    # Workers of a root master run as 'nobody', who cannot reach a lab directory under /root.
    user = "user root;\n" if layout.run_as_root else ""
    return f"""# Rendered by Rollout Lab from routing generation {state.generation}; do not edit by hand.
{user}worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    log_format routed '$time_iso8601 $status $request_time $upstream_addr $upstream_response_time "$request"';
    access_log {work}/nginx-access.log routed buffer=64k flush=1s;
    server_tokens off;

    # Smooth weighted round robin in one worker: the split is exact, not merely expected.
    upstream model_versions {{
{servers}
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{layout.listen_port};

        location = {ROUTING_PATH} {{
            default_type application/json;
            return 200 '{routing_json}';
        }}

        location / {{
            proxy_pass http://model_versions;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # A retry on another version would hide the candidate's errors from the analysis.
            proxy_next_upstream off;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            add_header X-Rolloutlab-Upstream $upstream_addr always;
        }}
    }}
}}
"""
