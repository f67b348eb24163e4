"""Prometheus through a port-forward that drops: re-established and asked again, else the lab's own error."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rolloutlab.errors import ClusterError, MetricsUnavailable
from rolloutlab.targets.forwarded_metrics import ForwardedPrometheus
from rolloutlab.targets.processes import free_port


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        if "bad" in self.path:
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b'{"status":"error","error":"parse error"}')
            return
        body = json.dumps({"status": "success", "data": {"result": [{"metric": {}, "value": [0, "7"]}]}}).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Forwards:
    """Re-establishes 'the forward' the way KubernetesTarget.reforward does: a new listener on the same port."""

    def __init__(self, port: int, works: bool = True) -> None:
        self.port, self.works, self.calls, self.server = port, works, [], None

    def reforward(self, role: str) -> str:
        self.calls.append(role)
        if not self.works:
            raise ClusterError("the prometheus's port-forward on stack kind could not be re-established: pods gone")
        self.server = serve(self.port)
        return "re-established"


def test_a_dropped_forward_is_re_established_on_its_port_and_the_query_answered() -> None:
    port = free_port()
    first = serve(port)
    forwards = Forwards(port)
    source = ForwardedPrometheus(f"http://127.0.0.1:{port}", forwards)
    assert source.query("up") == 7.0 and forwards.calls == []
    first.shutdown()
    first.server_close()  # kubectl port-forward exited: nothing listens on the port any more
    assert source.query("up") == 7.0
    assert forwards.calls == ["prometheus"] and source.reforwarded == 1 and source.down_since is None
    forwards.server.shutdown()


def test_a_forward_that_cannot_come_back_is_metrics_unavailable_naming_it_and_since_when() -> None:
    port = free_port()  # nothing ever listens
    source = ForwardedPrometheus(f"http://127.0.0.1:{port}", Forwards(port, works=False))
    with pytest.raises(MetricsUnavailable, match=rf"prometheus \(through its port-forward at http://127.0.0.1:{port}\) "
                                                 r"unreachable since \d\d:\d\d:\d\d \(\d+s\): .*could not be re-established"):
        source.query("up")
    assert source.down_since is not None


def test_a_query_prometheus_rejects_is_not_a_dropped_forward() -> None:
    port = free_port()
    server = serve(port)
    forwards = Forwards(port)
    with pytest.raises(MetricsUnavailable, match="prometheus rejected bad"):
        ForwardedPrometheus(f"http://127.0.0.1:{port}", forwards).query("bad")
    assert forwards.calls == []
    server.shutdown()
