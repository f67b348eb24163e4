"""The gateway as a stack choice: Envoy Gateway by default, or an existing GatewayClass (e.g. Traefik) named by the stack."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from rolloutlab.errors import ClusterError
from rolloutlab.infra.config import parse_config
from rolloutlab.infra.gateway import GATEWAY_CLASS, ROUTER_SERVICE
from rolloutlab.k8s_names import K8sNames
from tests.infra.conftest import ProgramRun, run_program, validate_gateway_api

NAMES = K8sNames()
TRAEFIK = {"cluster": "existing", "loadImages": False, "installEnvoyGateway": True, "gatewayClass": "traefik",
           "gatewayPort": 41234, "gatewayUrl": "http://10.89.0.1:41235", "gatewayMetrics": "10.89.0.1:41236",
           "loadImage": "rolloutlab-load:ci"}


@pytest.fixture(scope="module")
def traefik(tmp_path_factory: pytest.TempPathFactory) -> ProgramRun:
    holdout = tmp_path_factory.mktemp("holdout") / "holdout.json"
    holdout.write_text(json.dumps([{"features": [0.0] * 64, "label": 3}]))
    return run_program("traefik-node", holdout=str(holdout), **TRAEFIK)


def test_an_existing_gateway_class_installs_nothing_and_names_that_class(traefik: ProgramRun) -> None:
    assert traefik.of_type("kubernetes:helm.sh/v3:Release") == []  # even with installEnvoyGateway left true
    assert traefik.objects("GatewayClass") == {} and traefik.objects("EnvoyProxy") == {}
    gateway = traefik.one("Gateway", NAMES.gateway)
    validate_gateway_api(gateway)
    assert gateway["spec"]["gatewayClassName"] == "traefik"
    assert [listener["port"] for listener in gateway["spec"]["listeners"]] == [41234]
    validate_gateway_api(traefik.one("HTTPRoute", NAMES.httproute))


def test_in_cluster_load_and_the_endpoints_use_the_configured_gateway_url(traefik: ProgramRun) -> None:
    router = traefik.outputs["endpoints"]["router"]
    assert router == {"url": "http://10.89.0.1:41235", "namespace": None, "service": None, "port": 41234,
                      "class": "traefik"}
    (master,) = traefik.one("Deployment", "locust-master")["spec"]["template"]["spec"]["containers"]
    assert master["args"][master["args"].index("--host") + 1] == "http://10.89.0.1:41235"


def test_prometheus_scrapes_the_gateway_and_labels_each_backend_with_its_version(traefik: ProgramRun) -> None:
    config = yaml.safe_load(traefik.one("ConfigMap", "prometheus-config")["data"]["prometheus.yml"])
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "gateway"]
    assert job["static_configs"] == [{"targets": ["10.89.0.1:41236"]}]
    # Traefik's backend names as the testbed's gateway reports them; v1 must not match v10's Service.
    names = {v: f"httproute-rolloutlab-models-gw-rolloutlab-models-ep-web-0-1c0a5-svc-rolloutlab-{NAMES.version_service(v)}-0"
                f"@kubernetesgateway" for v in ("v1", "v2")}


    for version, service in names.items():
        matching = [r["replacement"] for r in job["metric_relabel_configs"] if re.fullmatch(r["regex"], service)]
        assert matching == [version]
    assert not any(re.fullmatch(r["regex"], names["v1"].replace("-v1-", "-v10-")) for r in job["metric_relabel_configs"])


def test_the_default_stack_keeps_envoy_gateway_its_class_and_no_gateway_job(tmp_path: Path) -> None:
    holdout = tmp_path / "holdout.json"
    holdout.write_text(json.dumps([{"features": [0.0] * 64, "label": 3}]))
    run = run_program("kind", holdout=str(holdout))
    assert len(run.of_type("kubernetes:helm.sh/v3:Release")) == 1
    assert run.one("Gateway", NAMES.gateway)["spec"]["gatewayClassName"] == GATEWAY_CLASS
    assert run.one("Gateway", NAMES.gateway)["spec"]["listeners"][0]["port"] == 80
    assert run.outputs["endpoints"]["router"]["service"] == ROUTER_SERVICE
    config = yaml.safe_load(run.one("ConfigMap", "prometheus-config")["data"]["prometheus.yml"])
    assert "gateway" not in [j["job_name"] for j in config["scrape_configs"]]


@pytest.mark.parametrize("raw, needle", [
    ({"gatewayClass": "Traefik_1"}, "rolloutlab:gatewayClass must name a GatewayClass"),
    ({"gatewayPort": "70000"}, "rolloutlab:gatewayPort must be a TCP port"),
    ({"gatewayClass": "traefik", "gatewayUrl": "10.89.0.1:80"}, "rolloutlab:gatewayUrl must be an http://"),
    ({"gatewayClass": "traefik", "gatewayUrl": "http://gw", "gatewayMetrics": "http://x/metrics"},
     "rolloutlab:gatewayMetrics must be host:port"),
    ({"gatewayMetrics": "10.89.0.1:9100"}, "rolloutlab:gatewayMetrics is for an existing gateway"),
    ({"gatewayClass": "traefik"}, "rolloutlab:gatewayUrl must say where in-cluster load reaches the 'traefik' gateway"),
])
def test_bad_gateway_settings_name_the_key(raw: dict[str, str], needle: str) -> None:
    with pytest.raises(ClusterError, match="stacks/Pulumi.dev.yaml") as caught:
        parse_config(raw)
    assert needle in str(caught.value)


def test_an_existing_gateway_without_load_needs_no_url() -> None:
    config = parse_config({"gatewayClass": "traefik", "gatewayPort": "8000", "loadWorkers": "0"})
    assert (config.gateway_class, config.gateway_port, config.gateway_url) == ("traefik", 8000, "")
