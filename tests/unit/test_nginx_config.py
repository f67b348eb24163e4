from __future__ import annotations

import re
from pathlib import Path

import pytest

from rolloutlab.errors import RoutingError
from rolloutlab.routers.nginx import check_config, write_config
from rolloutlab.routers.nginx_config import NginxLayout, render_nginx_config
from rolloutlab.routing import RoutingState
from rolloutlab.targets.programs import find_program


@pytest.fixture
def layout(tmp_path: Path) -> NginxLayout:
    return NginxLayout(listen_port=18080, workdir=tmp_path, backends={"v1": 9001, "v2": 9002, "v3": 9003})


def upstream_servers(config: str) -> list[tuple[int, int]]:
    return [(int(p), int(w)) for p, w in re.findall(r"server 127\.0\.0\.1:(\d+) weight=(\d+)", config)]


def test_weights_render_as_upstream_servers(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 90, "v2": 10}, generation=3), layout)
    assert upstream_servers(config) == [(9001, 90), (9002, 10)]
    assert "listen 127.0.0.1:18080;" in config
    assert '{"generation":3,"weights":{"v1":90,"v2":10}}' in config


def test_zero_weight_version_gets_no_traffic_at_all(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 100, "v2": 0}), layout)
    assert upstream_servers(config) == [(9001, 100)]
    assert "9002" not in config


def test_router_listens_only_on_loopback(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 1}), layout)
    assert re.findall(r"listen ([^;]+);", config) == ["127.0.0.1:18080"]


def test_failing_version_keeps_its_share(layout: NginxLayout) -> None:
    config = render_nginx_config(RoutingState({"v1": 50, "v2": 50}), layout)
    assert config.count("max_fails=0") == 2
    assert "proxy_next_upstream off;" in config


def test_rendered_config_passes_nginx_t(layout: NginxLayout) -> None:
    nginx = find_program("nginx")
    live = write_config(nginx, RoutingState({"v1": 70, "v2": 20, "v3": 10}), layout)
    check_config(nginx, live, layout.workdir)  # raises on an invalid config


def test_broken_config_is_refused_and_the_live_one_kept(layout: NginxLayout, tmp_path: Path) -> None:
    nginx = find_program("nginx")
    live = write_config(nginx, RoutingState({"v1": 100}), layout)
    before = live.read_text()
    bad = NginxLayout(listen_port=70000, workdir=tmp_path, backends=layout.backends)  # no such port
    with pytest.raises(RoutingError, match="nginx rejected the rendered config"):
        write_config(nginx, RoutingState({"v1": 50, "v2": 50}), bad)
    assert live.read_text() == before
    assert not (tmp_path / "nginx.conf.next").exists()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({}, "has no versions"),
        ({"v1": -1, "v2": 2}, "non-negative integer"),
        ({"v1": 0, "v2": 0}, "sum to 0"),
        ({"v1": 50, "v9": 50}, "'v9', which is not running"),
        ({"v1": 0.5}, "non-negative integer"),
    ],
)
def test_invalid_routing_states_are_rejected(weights: dict, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        RoutingState(weights).validate({"v1", "v2"})
