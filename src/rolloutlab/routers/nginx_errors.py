"""The router's own error answers as JSON: NGINX `error_page` rules and the locations they lead to (pure).

NGINX answers some requests itself (a body over the limit, a version that refuses or times out, a path
of its own that does not exist) with an HTML page. A JSON API answers JSON everywhere, with the same
fields as a model server's errors: error (what went wrong), reason (a stable word), version (the one
NGINX tried, null when it tried none), request_id (the caller's x-request-id if it looks like one,
else NGINX's own, which is also what the version was sent). Answers a version itself gives (its own
4xx/5xx JSON) pass through untouched: NGINX only replaces errors it makes (proxy_intercept_errors off).
"""

from __future__ import annotations

from dataclasses import dataclass

REQUEST_ID = "$rl_request_id"  # also sent upstream as x-request-id (nginx_config._proxy_settings)
TRIED = "$rl_tried_version"  # the version whose address NGINX tried, as a JSON value


@dataclass(frozen=True)
class RouterError:
    """One status NGINX may answer itself: the status the client gets, a stable reason, and the words."""

    status: int
    reason: str
    message: str
    sent_as: int = 0  # NGINX's internal codes (494: header too large) go out as a standard status


def router_errors(max_body_kib: int, connect_timeout_s: float, read_timeout_s: float) -> list[RouterError]:
    """Every status NGINX answers itself on this router, worded for the client."""
    return [
        RouterError(400, "bad_request", "the router could not read this request: it is not valid HTTP/1.1"),
        RouterError(494, "headers_too_large", "the request headers are too large for the router "
                                              "(at most 8 KiB per line, 32 KiB in all)", sent_as=400),
        RouterError(404, "not_found", "no such path on the router: versions answer POST /predict and POST /feedback; "
                                      "the router itself answers GET /_rolloutlab/routing and /_rolloutlab/metrics"),
        RouterError(405, "method_not_allowed", "this method is not allowed here: the router refuses TRACE, "
                                               "and its own /_rolloutlab/ paths answer GET and HEAD only"),
        RouterError(408, "request_timeout", "the router stopped waiting for the rest of the request"),
        RouterError(411, "length_required", "this request needs a content-length header"),
        RouterError(413, "body_too_large", f"the body is over {max_body_kib * 1024} bytes ({max_body_kib} KiB), "
                                           "the limit of the router (serving.max_body_kib in models/versions.yaml); "
                                           "no version was asked"),
        RouterError(414, "uri_too_long", "the request URI is too long for the router (at most 8 KiB)"),
        RouterError(500, "router_error", "the router failed internally; see its nginx-error.log"),
        RouterError(501, "not_implemented", "the router does not support this transfer-encoding"),
        RouterError(502, "version_unreachable", "the version did not answer: its server refused or closed the "
                                                "connection, or sent a broken response (is it running?)"),
        RouterError(503, "no_version_available", "no version can take this request now"),
        RouterError(504, "version_timeout", f"the version did not answer in time (connect {connect_timeout_s:g}s, "
                                            f"read {read_timeout_s:g}s)"),
    ]


ERROR_PATH = "/_rolloutlab/error/"


def _location(error: RouterError) -> str:
    # A URI, not a named location: NGINX refuses to enter a named location for a request whose line it
    # could not parse ("empty URI"), and would answer its HTML 500 instead. A URI error page turns the
    # method into GET, so no message may name the method.
    return f"{ERROR_PATH}{error.status}"


def error_pages(errors: list[RouterError], indent: str = "        ") -> str:
    """error_page directives for a server or location block (a location with its own error_page inherits none)."""
    return "\n".join(
        f"{indent}error_page {e.status} {'=' + str(e.sent_as) + ' ' if e.sent_as else ''}{_location(e)};"
        for e in errors
    )


def error_locations(errors: list[RouterError]) -> str:
    """One internal location per status, answering the JSON body (its status is the error's)."""
    blocks = []
    for e in errors:
        # Only fixed text and variables whose values cannot hold a quote or backslash go into the body:
        # a request id (checked by the map) and a version name.
        body = (f'{{"error":"{e.message}","reason":"{e.reason}","version":{TRIED},'
                f'"request_id":"{REQUEST_ID}"}}')
        blocks.append(f"""        location = {_location(e)} {{
            internal;
            default_type application/json;
            add_header X-Request-Id {REQUEST_ID} always;
            return {e.sent_as or e.status} '{body}';
        }}""")
    return "\n".join(blocks)


def error_maps(backends: dict[str, int]) -> str:
    """http-level maps: the request id the router answers (and forwards) with, and the version it tried."""
    lines = [
        "    # The caller's request id when it looks like one (traces line up), else NGINX's own.",
        "    map $http_x_request_id $rl_request_id {",
        "        default $request_id;",
        '        "~^[A-Za-z0-9._:-]{8,128}$" $http_x_request_id;',
        "    }",
        "    # Which version NGINX tried, for its own error answers (a JSON value: a name or null).",
        f"    map $upstream_addr {TRIED} {{",
        "        default null;",
    ]
    lines += [f"        \"127.0.0.1:{port}\" '\"{version}\"';" for version, port in sorted(backends.items())]
    lines.append("    }")
    return "\n".join(lines)
