#!/usr/bin/env bash
# Fresh-machine test: the README's first command, `make demo`, in a clean container, as a new user
# would run it — and fail unless it ends with the scenario's expected verdict (PROMOTED, exit 0).
#
#   scripts/fresh-machine-test.sh [REF]        default REF: HEAD
#
# The container starts from the local debootstrap base image (scripts/build-base-image.sh, built here
# when absent): Debian bookworm minbase with Python 3.11 + venv and this machine's CA bundle, nothing
# else. Into it goes `git archive REF` — committed, tracked files only, so a file that exists only in
# this working tree is missing there too — and none of this machine's caches, virtualenvs, .tools/,
# apt lists or PATH. Inside, as root on the image's plain PATH, it installs the README's stated
# prerequisites that minbase lacks (make), then runs `make demo` with a shortened scenario
# (DEMO_ARGS). The container reaches PyPI and the Debian mirror like this machine does: the
# registry settings below are passed through explicitly, nothing else of the host's environment.
#
# Prints how long each phase took (base image, system packages, venv, model build, run), from the
# "took" lines bootstrap.sh prints and the build time `rolloutlab run` reports.
#
# Environment: ROLLOUTLAB_BASE_IMAGE (the base tag), FRESH_DEMO_ARGS (options for `rolloutlab run`),
# FRESH_TIMEOUT (seconds for the container run, default 900), FRESH_KEEP_LOG=1 (keep the full log).
set -euo pipefail
cd "$(dirname "$0")/.."

REF="${1:-HEAD}"
BASE="${ROLLOUTLAB_BASE_IMAGE:-rolloutlab-base:bookworm-py311}"
# The integration tests' shortening: 6 s windows, and enough requests for a verdict at ≈ 60 req/s × 10 %.
DEMO_ARGS="${FRESH_DEMO_ARGS:---time-scale 0.5 --set load.users=25}"
TIMEOUT="${FRESH_TIMEOUT:-900}"
CA_IN_IMAGE=/etc/ssl/certs/ca-certificates.crt

fail() { echo "fresh-machine test: FAILED — $*" >&2; exit 1; }
command -v docker >/dev/null || fail "no docker CLI"
docker info >/dev/null 2>&1 || fail "no Docker engine answers (docker info)"
commit="$(git rev-parse --verify --short "$REF^{commit}")" || fail "$REF is not a commit"

work="$(mktemp -d /tmp/rolloutlab-fresh.XXXXXX)"
name="rolloutlab-fresh-$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')"
cleanup() {
    docker rm -f "$name" >/dev/null 2>&1 || true
    if [ "${FRESH_KEEP_LOG:-0}" = 1 ]; then echo "fresh-machine test: log kept in $work/run.log"; else rm -rf "$work"; fi
}
trap cleanup EXIT
started=$SECONDS

# --- phase: base image --------------------------------------------------------------------------------
phase=$SECONDS
if docker image inspect "$BASE" >/dev/null 2>&1; then
    base_note="cached"
else
    scripts/build-base-image.sh "$BASE" || fail "could not build the base image $BASE"
    base_note="built"
fi
base_s=$((SECONDS - phase))

# --- the registry settings the container needs, passed through explicitly -----------------------------
# Proxies and package indexes as this machine's pip/uv/apt see them; CA-bundle variables point at the
# copy of this machine's bundle inside the image. Host paths (PIP_FIND_LINKS, caches) stay out on purpose.
env_args=()
passed=()
for var in HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY http_proxy https_proxy no_proxy all_proxy \
           PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_DEFAULT_TIMEOUT \
           UV_INDEX_URL UV_EXTRA_INDEX_URL UV_DEFAULT_INDEX UV_INDEX UV_HTTP_TIMEOUT UV_NATIVE_TLS; do
    if [ -n "${!var:-}" ]; then env_args+=(-e "$var=${!var}"); passed+=("$var"); fi
done
for var in SSL_CERT_FILE REQUESTS_CA_BUNDLE PIP_CERT CURL_CA_BUNDLE; do
    if [ -n "${!var:-}" ]; then env_args+=(-e "$var=$CA_IN_IMAGE"); passed+=("$var"); fi
done
# apt: this machine's proxy and Release-file checks (e.g. Check-Valid-Until for a snapshot mirror).
apt_conf="$(apt-config dump 2>/dev/null \
    | grep -E '^Acquire::((https?|ftp)::Proxy|Check-Valid-Until|Check-Date|https?::Verify-(Peer|Host)|https?::CaInfo)' || true)"
echo "fresh-machine test: $commit in a clean $BASE container; passed through: ${passed[*]:-nothing}" \
     "${apt_conf:+; apt: $(echo "$apt_conf" | cut -d' ' -f1 | paste -sd, -)}"

# --- inside: prerequisites, then the README's command ---------------------------------------------------
cat > "$work/inside.sh" <<EOF
set -euo pipefail
cd /root/rolloutlab
# Fresh means fresh: nothing of a previous run, no uv anywhere on PATH.
if command -v uv >/dev/null || [ -e .tools ] || [ -e .venv ] || [ -e /root/.cache ]; then
    echo "fresh: not a fresh machine (uv on PATH, or .tools/.venv/~/.cache present)"; exit 90
fi
# The base image carries venv for the model images; a stock Debian/Ubuntu python3 has none.
dpkg --purge python3-venv python3.11-venv >/dev/null
if python3 -c 'import ensurepip' 2>/dev/null && python3 -m venv /tmp/venv-probe >/dev/null 2>&1; then
    echo "fresh: python3 can still create a virtualenv after removing python3-venv"; exit 90
fi
echo "fresh: PATH=\$PATH, \$(python3 --version), $commit"
s=\$SECONDS
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >/dev/null
echo "fresh: prerequisites (make) took \$((SECONDS - s))s"
s=\$SECONDS
status=0
make demo DEMO_ARGS='$DEMO_ARGS' || status=\$?
echo "fresh: make demo took \$((SECONDS - s))s (exit \$status)"
exit \$status
EOF
[ -n "$apt_conf" ] && printf '%s\n' "$apt_conf" > "$work/90host-network"

phase=$SECONDS
docker create --name "$name" --init "${env_args[@]}" "$BASE" bash /root/inside.sh >/dev/null \
    || fail "docker create failed"
git archive --prefix=rolloutlab/ "$REF" | docker cp - "$name:/root/" || fail "could not copy $REF into the container"
docker cp "$work/inside.sh" "$name:/root/inside.sh" >/dev/null
if [ -n "$apt_conf" ]; then docker cp "$work/90host-network" "$name:/etc/apt/apt.conf.d/90host-network" >/dev/null; fi
setup_s=$((SECONDS - phase))

# --- the run -------------------------------------------------------------------------------------------
echo "fresh-machine test: make demo DEMO_ARGS='$DEMO_ARGS' (output follows)"
timed_out=0
timeout "$TIMEOUT" docker start -a "$name" 2>&1 | tee "$work/run.log" | sed -u 's/^/  | /' || true
[ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] && { timed_out=1; docker kill "$name" >/dev/null; }
code="$(docker inspect -f '{{.State.ExitCode}}' "$name")"
if [ "$code" != 0 ]; then
    # What the lab wrote (run journal, Locust and server logs) is the evidence: keep it for a look.
    docker cp "$name:/root/rolloutlab/.rolloutlab" "$work/lab-state" >/dev/null 2>&1 || true
    FRESH_KEEP_LOG=1
    echo "fresh-machine test: the container's .rolloutlab/ (runs, process logs) copied to $work/lab-state"
    find "$work/lab-state" -name '*.log' -size +0 -newer "$work/inside.sh" 2>/dev/null | while read -r f; do
        echo "--- last lines of ${f#"$work/"}"; tail -n 15 "$f"
    done
fi
docker rm -f "$name" >/dev/null  # now, so that the total below includes removing its layer
log="$(sed 's/\x1b\[[0-9;]*m//g' "$work/run.log")"

# --- phase timings, from the lines bootstrap.sh and rolloutlab print ----------------------------------------
seconds() { echo "$log" | grep -E "$1" | tail -1 | grep -oE "$2" | grep -oE '[0-9]+' || echo 0; }
prereq_s=$(seconds '^fresh: prerequisites' 'took [0-9]+s')
# bootstrap may install system packages twice: the lab's programs, then python3-venv for uv.
packages_s=$(echo "$log" | awk '/^bootstrap: system packages/ && match($0, /took [0-9]+s/) {
    s += substr($0, RSTART + 5, RLENGTH - 6) } END { print s + 0 }')
packages_what=$(echo "$log" | awk -F'[()]' '/^bootstrap: system packages/ { w = w (w ? ", " : "") $2 } END { print w }')
uv_s=$(seconds '^bootstrap: uv into' 'took [0-9]+s')
sync_s=$(seconds '^bootstrap: .venv sync' 'took [0-9]+s')
build_s=$(seconds 'built model versions' 'in [0-9]+s$')
demo_s=$(seconds '^fresh: make demo took' 'took [0-9]+s')
run_s=$((demo_s - packages_s - uv_s - sync_s - build_s))
verdict="$(echo "$log" | grep -E '^verdict: ' | tail -1 || true)"

echo "fresh-machine test: phase timings"
printf '  %-16s %4ss  (%s)\n' "base image" "$base_s" "$base_note" \
    "container setup" "$setup_s" "git archive $commit copied in" \
    "system packages" "$((prereq_s + packages_s))" "make ${prereq_s}s; bootstrap ${packages_what:-nothing}: ${packages_s}s" \
    "venv" "$((uv_s + sync_s))" "uv into .tools/ ${uv_s}s; .venv from uv.lock ${sync_s}s" \
    "model build" "$build_s" "train + bento build v1, v2" \
    "run" "$run_s" "lab start-up, canary, shutdown"
total_s=$((SECONDS - started))
printf '  %-16s %4ss  (%s)\n' "other" "$((total_s - base_s - setup_s - prereq_s - demo_s))" \
    "engine check, container start and removal"
printf '  %-16s %4ss\n' "total" "$total_s"

((timed_out == 0)) || fail "make demo did not finish within ${TIMEOUT}s"
# `rolloutlab run` says so when a SIGINT/SIGTERM stopped it: nothing in the container sends one.
if echo "$log" | grep -q '^interrupted: the lab was stopped'; then
    fail "rolloutlab run was interrupted by a signal from outside the container's make (exit $code); nothing to judge"
fi
[ "$code" = 0 ] || fail "the container exited with status $code (last lines above)"
[ -n "$verdict" ] || fail "no verdict line in the output"
case "$verdict" in
    "verdict: PROMOTED"*) ;;
    *) fail "expected 'verdict: PROMOTED', got: $verdict" ;;
esac
echo "$log" | grep -q '^bootstrap: system packages' || fail "bootstrap installed no system packages: not a fresh machine?"
echo "fresh-machine test: PASSED — $verdict"
