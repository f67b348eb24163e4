#!/usr/bin/env bash
# Make this machine ready for Rollout Lab, idempotently:
#   1. the system programs the local target runs (nginx, prometheus) and the tests' HTTP load tool
#      (hey), from the OS package manager;
#   2. uv, if it is not installed (into .tools/, never system-wide);
#   3. the project's virtualenv (.venv) from the committed lock file, exactly.
# Each phase that did something says how long it took (the fresh-machine test in CI reads these lines).
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]; }
say() { printf '\033[1mbootstrap:\033[0m %s\n' "$*"; }
# "took" lines: `bootstrap: <phase> took <seconds>s`, one per phase that ran.
started=$SECONDS
took() { say "$1 took $((SECONDS - started))s"; started=$SECONDS; }

# Package installs need root: directly, or through sudo (which drops the environment: hence `env`).
sudo_cmd=""
if [ "$(id -u)" -ne 0 ] && have sudo; then sudo_cmd="sudo"; fi
can_apt() { have apt-get && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo_cmd" ]; }; }
apt_install() { $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

missing=()
have nginx || missing+=(nginx)
have prometheus || missing+=(prometheus)
have hey || missing+=(hey)
if ((${#missing[@]})); then
  if [ "$(uname -s)" = "Darwin" ] && have brew; then
    say "installing ${missing[*]} with Homebrew"
    brew install "${missing[@]}"
  elif can_apt; then
    say "installing ${missing[*]} with apt-get"
    $sudo_cmd apt-get update -qq
    packages=()
    for program in "${missing[@]}"; do
      if [ "$program" = nginx ] && apt-cache show nginx-light >/dev/null 2>&1; then
        packages+=(nginx-light)  # the smallest build with everything the router uses
      else
        packages+=("$program")
      fi
    done
    apt_install "${packages[@]}"
  else
    echo "Rollout Lab needs ${missing[*]} and cannot install them here." >&2
    echo "Install them, then run this again:  Debian/Ubuntu: sudo apt-get install nginx-light prometheus hey;" >&2
    echo "  macOS: brew install nginx prometheus hey;  elsewhere: your OS's nginx, prometheus and hey packages" >&2
    echo "  (or set ROLLOUTLAB_NGINX / ROLLOUTLAB_PROMETHEUS / ROLLOUTLAB_HEY to the binaries)." >&2
    exit 1
  fi
  took "system packages (${missing[*]})"
fi

if command -v uv >/dev/null 2>&1; then
  uv=uv
else
  if [ ! -x .tools/bin/uv ]; then
    say "installing uv into .tools/"
    if ! python3 -m venv .tools >/dev/null 2>&1; then
      rm -rf .tools
      if can_apt; then
        # Debian and Ubuntu ship python3 without venv/ensurepip.
        say "installing python3-venv with apt-get"
        $sudo_cmd apt-get update -qq
        apt_install python3-venv
        took "system packages (python3-venv)"
        python3 -m venv .tools
      else
        echo "bootstrap: uv is not installed and python3 cannot create a virtualenv." >&2
        echo "  Install uv (pip install uv, brew install uv, or your OS's package) or python3-venv, then run again." >&2
        exit 1
      fi
    fi
    .tools/bin/pip install --quiet --disable-pip-version-check uv
    took "uv into .tools/"
  fi
  uv=.tools/bin/uv
fi

say "syncing .venv from uv.lock"
"$uv" sync --frozen --quiet
took ".venv sync"
say "ready: $(.venv/bin/rolloutlab --version)"
