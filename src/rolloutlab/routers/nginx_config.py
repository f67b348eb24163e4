"""Render a RoutingState into a complete nginx.conf (pure: no I/O).

Each request's upstream is picked by a chain of `map`s evaluated lazily per request (a hash lookup
each): `x-model-version` first, then the header rules, then the sticky user key (`split_clients`,
a MurmurHash2 of the key), else the weighted upstream (smooth weighted round robin, exact shares).
Only versions of the state get an upstream block, so nothing can be routed outside the state.
Whatever NGINX answers itself (413, 502, 504, ...) is JSON, as nginx_errors renders it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from rolloutlab.routers.nginx_errors import REQUEST_ID, error_locations, error_maps, error_pages, router_errors
from rolloutlab.routing import FORCE_HEADER, USER_COOKIE, USER_HEADER, RoutingState

ROUTING_PATH = "/_rolloutlab/routing"
METRICS_PATH = "/_rolloutlab/metrics"  # Prometheus job "router" (targets/prometheus_config.py)
MIRROR_PATH = "/_rolloutlab/mirror"
DRAINING_PATH = "/_rolloutlab/draining"  # answers "draining" while NGINX sees DRAIN_FLAG
ACCESS_LOG = "nginx-access.log"
DRAIN_FLAG = "draining"  # while this file exists, every answer closes its client connection
WEIGHTED = "rl_weighted"
# Words a `map` would read as directives unless escaped.
_MAP_KEYWORDS = {"default", "hostnames", "include", "volatile"}


@dataclass(frozen=True)
class NginxLayout:
    """Where this NGINX listens and keeps its files; backends map version → model server port.

    metrics_port is the router exporter's port behind METRICS_PATH (0: none, the path answers 404).
    """

    listen_port: int
    workdir: Path
    backends: dict[str, int]
    # Workers of a root master run as 'nobody' unless told otherwise, and could not see the lab's files.
    run_as_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    metrics_port: int = 0
    connect_timeout_s: float = 1.0
    read_timeout_s: float = 10.0
    # Long, as NGINX's own default: NGINX closing an idle keep-alive connection races with a client
    # that reuses it at that instant, and a POST sent into that close is lost (Locust does not retry
    # it). At 2 s, clients pausing ~2 s between requests (the load's feedback delay) lost 11 of 770.
    keepalive_timeout_s: float = 75.0
    # How long a reload waits for the connections from before the drain flag to be used (and closed).
    drain_timeout_s: float = 2.5
    # The largest body NGINX takes (413 beyond): the versions' own limit, so NGINX never buffers a body
    # the version would refuse anyway.
    max_body_kib: int = 1024


def upstream_name(version: str) -> str:
    return f"rl_v_{version}"


def _header_variable(header: str) -> str:
    return "$http_" + header.lower().replace("-", "_")


def _map_key(value: str) -> str:
    return f'"\\{value}"' if value in _MAP_KEYWORDS else f'"{value}"'


def _sticky_split(state: RoutingState) -> list[tuple[str, str]]:
    """split_clients entries (percentage with two decimals, upstream); the last version takes the rest.

    Versions in name order: when a later version's weight grows, users only move towards it.
    """
    active = list(state.active().items())
    entries = [(f"{math.floor(10000 * w / state.total) / 100:.2f}%", upstream_name(v)) for v, w in active[:-1]]
    return [e for e in entries if e[0] != "0.00%"] + [("*", upstream_name(active[-1][0]))]


def _selection(state: RoutingState) -> str:
    """The map chain that sets $rl_backend (upstream) and $rl_route (which rule decided)."""
    in_state = sorted(state.weights)
    lines = [f"    map {_header_variable(FORCE_HEADER)} $rl_pick_forced {{", '        default "";']
    lines += [f'        {_map_key(v)} forced/{upstream_name(v)};' for v in in_state]
    lines.append("    }")
    previous = "$rl_pick_forced"
    for index, rule in enumerate(state.rules):
        lines += [
            f"    map {_header_variable(rule.header)} $rl_rule_{index} {{",
            '        default "";',
            f"        {_map_key(rule.value)} rule/{upstream_name(rule.version)};",
            "    }",
            f'    map {previous} $rl_pick_{index} {{ "" $rl_rule_{index}; default {previous}; }}',
        ]
        previous = f"$rl_pick_{index}"
    if state.sticky:
        lines += [
            "    # The user key: header first, else cookie.",
            f'    map {_header_variable(USER_HEADER)} $rl_user {{ "" $cookie_{USER_COOKIE}; default {_header_variable(USER_HEADER)}; }}',
            '    split_clients "${rl_user}" $rl_sticky_split {',
            *[f"        {share} sticky/{upstream};" for share, upstream in _sticky_split(state)],
            "    }",
            '    map $rl_user $rl_sticky { "" ""; default $rl_sticky_split; }',
            f'    map {previous} $rl_pick {{ "" $rl_sticky; default {previous}; }}',
        ]
    else:
        lines.append(f"    map {previous} $rl_pick {{ default {previous}; }}")
    picks = [(f"forced/{upstream_name(v)}", upstream_name(v)) for v in in_state]
    picks += [(f"rule/{upstream_name(v)}", upstream_name(v)) for v in in_state if any(r.version == v for r in state.rules)]
    picks += [(f"sticky/{upstream_name(v)}", upstream_name(v)) for v in state.active()] if state.sticky else []
    lines += ["    map $rl_pick $rl_backend {", f"        default {WEIGHTED};"]
    lines += [f"        {pick} {upstream};" for pick, upstream in picks]
    lines += ["    }", "    map $rl_pick $rl_route {", "        default weighted;"]
    lines += [f"        {pick} {pick.split('/')[0]};" for pick, _ in picks]
    lines.append("    }")
    return "\n".join(lines)


def _upstreams(state: RoutingState, layout: NginxLayout) -> str:
    weighted = "\n".join(
        # max_fails=0: NGINX must not quietly shift a failing version's share to the others;
        # the rollout controller decides where traffic goes, from metrics.
        f"        server 127.0.0.1:{layout.backends[version]} weight={weight} max_fails=0;  # {version}"
        for version, weight in state.active().items()
    )
    blocks = [f"    upstream {WEIGHTED} {{\n{weighted}\n        keepalive 32;\n    }}"]
    blocks += [
        f"    upstream {upstream_name(v)} {{\n        server 127.0.0.1:{layout.backends[v]} max_fails=0;\n"
        f"        keepalive 8;\n    }}"
        for v in sorted(state.versions)
    ]
    return "\n".join(blocks)


def _proxy_settings(layout: NginxLayout) -> str:
    return f"""            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Request-Id {REQUEST_ID};
            # A retry on another version would hide the candidate's errors from the analysis.
            proxy_next_upstream off;
            # A dead or hung version fails fast (502/504, counted per version by the exporter).
            proxy_connect_timeout {layout.connect_timeout_s:g}s;
            proxy_send_timeout {layout.read_timeout_s:g}s;
            proxy_read_timeout {layout.read_timeout_s:g}s;"""


def _mirror(state: RoutingState, layout: NginxLayout) -> tuple[str, str, str]:
    """(http-level maps, directives for `location /`, the mirror location); empty without a mirror."""
    if state.mirror is None:
        return "", "", ""
    work = layout.workdir
    maps = f"""
    # Mirror a share of the requests that follow the weights (not those forced by a header).
    split_clients "${{request_id}}" $rl_mirror_pick {{
        {state.mirror.percent}% 1;
        * "";
    }}
    map "$rl_route:$rl_mirror_pick" $rl_mirror {{
        default "";
        "weighted:1" 1;
        "sticky:1" 1;
    }}
    log_format rolloutlab_mirror escape=json '{{"ts":"$msec","status":"$status","route":"mirror",'
        '"upstream":"$upstream_addr","request_time":"$request_time","connect_time":"$upstream_connect_time"}}';"""
    directives = f"""            mirror {MIRROR_PATH};
            mirror_request_body on;"""
    # The client gets the primary's response only; what the shadow answers is read and dropped.
    location = f"""
        location = {MIRROR_PATH} {{
            internal;
            log_subrequest on;
            access_log {work / ACCESS_LOG} rolloutlab_mirror buffer=32k flush=250ms if=$rl_mirror;
            if ($rl_mirror = "") {{
                return 204;
            }}
            proxy_pass http://{upstream_name(state.mirror.version)}$request_uri;
{_proxy_settings(layout)}
            proxy_set_header x-rolloutlab-mirror 1;
        }}
"""
    return maps, directives, location


def render_nginx_config(state: RoutingState, layout: NginxLayout) -> str:
    """The whole nginx.conf serving `state`; call state.validate() first."""
    work = layout.workdir
    routing_json = json.dumps(state.to_dict(), separators=(",", ":"))
    # Workers of a root master run as 'nobody', who cannot reach a lab directory under /root.
    user = "user root;\n" if layout.run_as_root else ""
    mirror_maps, mirror_directives, mirror_location = _mirror(state, layout)
    errors = router_errors(layout.max_body_kib, layout.connect_timeout_s, layout.read_timeout_s)
    proxy = "\n".join(part for part in (
        "            proxy_pass http://$rl_backend;", mirror_directives, _proxy_settings(layout),
        "            add_header X-Rolloutlab-Upstream $upstream_addr always;") if part)
    metrics = (f"proxy_pass http://127.0.0.1:{layout.metrics_port}/metrics;" if layout.metrics_port
               else "return 404;")
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
    # One JSON line per request: the router exporter counts requests and failures per version from it.
    log_format rolloutlab escape=json '{{"ts":"$msec","status":"$status","route":"$rl_route",'
        '"upstream":"$upstream_addr","upstream_status":"$upstream_status","request_time":"$request_time",'
        '"upstream_time":"$upstream_response_time","connect_time":"$upstream_connect_time",'
        '"request_id":"{REQUEST_ID}"}}';
    access_log {work / ACCESS_LOG} rolloutlab buffer=32k flush=250ms;
    server_tokens off;
    # Long (see NginxLayout): NGINX never cuts a connection a client pauses on for seconds. Reloads do not
    # wait for this timeout: they drain with DRAIN_FLAG (see NginxRouter._draining).
    keepalive_timeout {layout.keepalive_timeout_s:g}s;
    client_max_body_size {layout.max_body_kib}k;

{_upstreams(state, layout)}

{_selection(state)}
{error_maps({v: layout.backends[v] for v in state.versions})}
{mirror_maps}

    server {{
        listen 127.0.0.1:{layout.listen_port};
        # NGINX's own error answers are JSON (nginx_errors); the drain's 418 below is one error_page deep already.
        recursive_error_pages on;
{error_pages(errors)}

        # Read-only views of the router; nothing over HTTP changes routing.
        location = {ROUTING_PATH} {{
            access_log off;
            if ($request_method !~ ^(GET|HEAD)$) {{
                return 405;
            }}
            default_type application/json;
            return 200 '{routing_json}';
        }}

        location = {METRICS_PATH} {{
            access_log off;
            if ($request_method !~ ^(GET|HEAD)$) {{
                return 405;
            }}
            {metrics}
        }}

        location = {DRAINING_PATH} {{
            access_log off;
            if (-f {work / DRAIN_FLAG}) {{
                return 200 "draining";
            }}
            return 200 "serving";
        }}

        location /_rolloutlab/ {{
            access_log off;
            return 404;
        }}
{mirror_location}
        location / {{
            # At a reload the old worker cuts its idle keep-alive connections, and a request a client
            # sends on one at that instant is lost (measured: 13 failed POSTs in 50 reloads at 200 req/s).
            # So before reloading, the router creates DRAIN_FLAG: from then on every answer closes its
            # connection, and the router reloads once no connection from before the flag is left.
            if (-f {work / DRAIN_FLAG}) {{
                return 418;
            }}
            error_page 418 = @rl_closing;
            # A location with an error_page of its own inherits none of the server's.
{error_pages(errors, "            ")}
{proxy}
        }}

        location @rl_closing {{
            keepalive_timeout 0;
{proxy}
        }}

{error_locations(errors)}
    }}
}}
"""
