"""Routing state → nginx.conf: what the config says, and the real `nginx -t` accepting every rendering."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rolloutlab.errors import RoutingError
from rolloutlab.routers.nginx import check_config, write_config
from rolloutlab.routers.nginx_config import NginxLayout, render_nginx_config
from rolloutlab.routers.nginx_errors import router_errors
from rolloutlab.routing import HeaderRule, Mirror, RoutingState, preview_rule
from rolloutlab.targets.programs import find_program

RUNNING = {"v1", "v2", "v3"}


@pytest.fixture
def layout(tmp_path: Path) -> NginxLayout:
    return NginxLayout(listen_port=18080, workdir=tmp_path, backends={"v1": 9001, "v2": 9002, "v3": 9003},
                       metrics_port=18081)


def weighted_servers(config: str) -> list[tuple[int, int]]:
    block = re.search(r"upstream rl_weighted \{(.*?)\}", config, re.S)
    assert block
    return [(int(p), int(w)) for p, w in re.findall(r"server 127\.0\.0\.1:(\d+) weight=(\d+)", block.group(1))]


def upstream_ports(config: str) -> set[int]:
    return {int(p) for p in re.findall(r"server 127\.0\.0\.1:(\d+)", config)}


STATES = {
    "weights only": RoutingState({"v1": 90, "v2": 10}),
    "three versions": RoutingState({"v1": 70, "v2": 20, "v3": 10}),
    "one version": RoutingState({"v1": 1}),
    "preview": RoutingState({"v1": 100, "v2": 0}, rules=(preview_rule("v2"),)),
    "map keyword value": RoutingState({"v1": 1, "v2": 0}, rules=(HeaderRule("x-beta", "default", "v2"),)),
    "sticky": RoutingState({"v1": 1, "v2": 2}, sticky=True),
    "sticky, tiny share": RoutingState({"v1": 99999, "v2": 1}, sticky=True),
    "mirror": RoutingState({"v1": 100}, mirror=Mirror("v3", 25)),
    "everything": RoutingState({"v1": 50, "v2": 50, "v3": 0}, generation=12, sticky=True, mirror=Mirror("v3", 100),
                               rules=(preview_rule("v3"), HeaderRule("x-tenant", "acme.io", "v2"))),
}


@pytest.mark.parametrize("name", list(STATES))
def test_every_rendering_passes_nginx_t(name: str, layout: NginxLayout) -> None:
    state = STATES[name]
    state.validate(RUNNING)
    live = write_config(find_program("nginx"), state, layout)
    check_config(find_program("nginx"), live, layout.workdir)  # raises on an invalid config


def test_weights_render_as_the_weighted_upstream(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 90, "v2": 10}, generation=3), layout)
    assert weighted_servers(config) == [(9001, 90), (9002, 10)]
    assert '"generation":3,"weights":{"v1":90,"v2":10}' in config


def test_zero_weight_version_gets_no_weighted_traffic(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 100, "v2": 0}), layout)
    assert weighted_servers(config) == [(9001, 100)]
    assert '"v2" forced/rl_v_v2;' in config  # still reachable by x-model-version


def test_versions_outside_the_state_have_no_upstream_at_all(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 50, "v2": 50}), layout)
    assert upstream_ports(config) == {9001, 9002}
    assert "v3" not in config
    shadowed = render_nginx_config(RoutingState({"v1": 100}, mirror=Mirror("v3", 10)), layout)
    assert upstream_ports(shadowed) == {9001, 9003}


def test_router_listens_only_on_loopback(layout: NginxLayout) -> None:
    config = render_nginx_config(STATES["everything"], layout)
    assert re.findall(r"listen ([^;]+);", config) == ["127.0.0.1:18080"]
    # Upstreams only: the exporter on loopback, and the state's own upstream groups (127.0.0.1 servers).
    targets = set(re.findall(r"proxy_pass http://([^/;$]+)", config))
    assert targets == {"127.0.0.1:18081", "rl_v_v3"}
    assert upstream_ports(config) == {9001, 9002, 9003}
    assert not re.search(r"^\s*server (?!127\.0\.0\.1:|\{)", config, re.M)


def test_control_paths_are_read_only(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 1}), layout)
    assert config.count("if ($request_method !~ ^(GET|HEAD)$)") == 2
    assert "location /_rolloutlab/ {" in config  # anything else under it: 404, never a model server


def test_failing_version_keeps_its_share_and_fails_fast(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 50, "v2": 50}), layout)
    assert "max_fails=0" in config and "proxy_next_upstream off;" in config
    assert "proxy_connect_timeout 1s;" in config and "proxy_read_timeout 10s;" in config


def test_drain_flag_makes_every_answer_close_its_connection(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 1}, mirror=Mirror("v2", 5)), layout)
    assert "keepalive_timeout 75s;" in config  # long: NGINX never cuts a client pausing for seconds
    assert f"if (-f {layout.workdir}/draining) {{\n                return 418;" in config
    assert "error_page 418 = @rl_closing;" in config
    closing = config[config.index("location @rl_closing {"):]
    assert "keepalive_timeout 0;" in closing
    # The closing path routes exactly like the normal one.
    normal = config[config.index("location / {"):config.index("location @rl_closing {")]
    for line in ("proxy_pass http://$rl_backend;", "mirror /_rolloutlab/mirror;", "proxy_next_upstream off;"):
        assert line in normal and line in closing


def test_header_rules_come_in_order_after_the_version_header(layout: NginxLayout) -> None:
    config = render_nginx_config(STATES["everything"], layout)
    chain = re.findall(r"map (\$\S+) (\$rl_pick\S*) \{", config)
    assert chain == [("$http_x_model_version", "$rl_pick_forced"), ("$rl_pick_forced", "$rl_pick_0"),
                     ("$rl_pick_0", "$rl_pick_1"), ("$rl_pick_1", "$rl_pick")]
    assert "map $http_x_rolloutlab_preview $rl_rule_0" in config
    assert "map $http_x_tenant $rl_rule_1" in config


def test_map_keywords_in_header_values_are_escaped(layout: NginxLayout) -> None:
    config = render_nginx_config(STATES["map keyword value"], layout)
    assert '"\\default" rule/rl_v_v2;' in config


def test_sticky_split_follows_the_weights(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 1, "v2": 2}, sticky=True), layout)
    assert re.findall(r"^\s+(\S+%|\*) sticky/(\S+);", config, re.M) == [("33.33%", "rl_v_v1"), ("*", "rl_v_v2")]
    tiny = render_nginx_config(STATES["sticky, tiny share"], layout)
    assert re.findall(r"^\s+(\S+%|\*) sticky/(\S+);", tiny, re.M) == [("99.99%", "rl_v_v1"), ("*", "rl_v_v2")]


def test_not_sticky_means_no_user_key_lookup(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 1, "v2": 2}), layout)
    assert "split_clients" not in config and "$cookie_" not in config


def test_mirror_copies_only_weighted_requests_to_the_shadow(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 100}, mirror=Mirror("v3", 25)), layout)
    assert "mirror /_rolloutlab/mirror;" in config and "25% 1;" in config
    assert '"weighted:1" 1;' in config and '"sticky:1" 1;' in config and "forced:1" not in config
    assert "proxy_pass http://rl_v_v3$request_uri;" in config
    assert "mirror " not in render_nginx_config(RoutingState({"v1": 100}), layout)


def test_broken_config_is_refused_and_the_live_one_kept(layout: NginxLayout, tmp_path: Path) -> None:
    nginx = find_program("nginx")
    live = write_config(nginx, RoutingState({"v1": 100}), layout)
    before = live.read_text()
    state_before = (tmp_path / "routing.json").read_text()
    bad = NginxLayout(listen_port=70000, workdir=tmp_path, backends=layout.backends)  # no such port
    with pytest.raises(RoutingError, match="nginx rejected the rendered config"):
        write_config(nginx, RoutingState({"v1": 50, "v2": 50}), bad)
    assert live.read_text() == before
    assert (tmp_path / "routing.json").read_text() == state_before
    assert not (tmp_path / "nginx.conf.next").exists()


def test_every_error_nginx_makes_itself_leads_to_a_json_answer(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 1}), layout)
    errors = router_errors(layout.max_body_kib, layout.connect_timeout_s, layout.read_timeout_s)
    assert {e.status for e in errors} >= {400, 404, 405, 413, 414, 494, 500, 502, 503, 504}
    server = config[config.index("    server {"):config.index("location = /_rolloutlab/routing")]
    normal = config[config.index("location / {"):config.index("location @rl_closing {")]
    for error in errors:
        target = f"/_rolloutlab/error/{error.status};"
        # location / has an error_page of its own (the drain's 418), so it repeats every one of the server's.
        assert re.search(rf"error_page {error.status} (={error.sent_as} )?{re.escape(target)}", server), error
        assert re.search(rf"error_page {error.status} (={error.sent_as} )?{re.escape(target)}", normal), error
        block = config[config.index(f"location = /_rolloutlab/error/{error.status} {{"):]
        block = block[:block.index("}\n")]
        assert "internal;" in block and "default_type application/json;" in block
        body = re.search(r"return (\d+) '(.*)';", block)
        assert body and int(body.group(1)) == (error.sent_as or error.status)
        # The body is JSON once NGINX puts in the version (a JSON value) and the request id.
        filled = json.loads(body.group(2).replace("$rl_tried_version", '"v1"').replace("$rl_request_id", "abc12345"))
        assert filled == {"error": error.message, "reason": error.reason, "version": "v1", "request_id": "abc12345"}
        assert "$" not in error.message  # a URI error page makes the request a GET: no variable may be quoted
    assert "recursive_error_pages on;" in server  # errors of the drain's @rl_closing get JSON too


def test_router_errors_name_the_version_tried_and_the_request_id(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 1, "v2": 1}), layout)
    tried = config[config.index("map $upstream_addr $rl_tried_version {"):]
    tried = tried[:tried.index("}")]
    assert "default null;" in tried
    for version in ("v1", "v2"):
        assert f"\"127.0.0.1:{layout.backends[version]}\" '\"{version}\"';" in tried
    assert "v3" not in tried  # outside the state: NGINX never tries it
    assert '"~^[A-Za-z0-9._:-]{8,128}$" $http_x_request_id;' in config  # the same rule as the model servers'
    assert config.count("proxy_set_header X-Request-Id $rl_request_id;") == 2  # normal and draining paths
    assert '"request_id":"$rl_request_id"' in config[config.index("log_format rolloutlab "):]


def test_router_refuses_bodies_over_the_versions_limit(tmp_path: Path) -> None:
    layout = NginxLayout(18080, tmp_path, {"v1": 9001}, max_body_kib=4096)
    config = render_nginx_config(RoutingState({"v1": 1}), layout)
    assert "client_max_body_size 4096k;" in config
    too_large = next(e for e in router_errors(4096, 1, 10) if e.status == 413)
    assert "4194304 bytes (4096 KiB)" in too_large.message and too_large.reason == "body_too_large"
