#!/usr/bin/env bash
# Build the local base image for model containers, without any registry: a minimal Debian bookworm
# root file system made by debootstrap (from Debian's package mirror), with Python 3.11, venv and this
# machine's CA bundle (so `pip install` inside `docker build` trusts the same HTTPS endpoints the host
# does), imported with `docker import`.
#
#   scripts/build-base-image.sh [TAG]        default TAG: $ROLLOUTLAB_BASE_IMAGE or rolloutlab-base:bookworm-py311
#
# Skips the build when the tag already exists (delete it with `docker rmi TAG` to rebuild).
# Needs: root (debootstrap), debootstrap, a running Docker engine. Mirror: $ROLLOUTLAB_DEBIAN_MIRROR.
set -euo pipefail

TAG="${1:-${ROLLOUTLAB_BASE_IMAGE:-rolloutlab-base:bookworm-py311}}"
MIRROR="${ROLLOUTLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE="${ROLLOUTLAB_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "base image $TAG exists; not rebuilding"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "error: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "error: debootstrap needs root; run as root or with sudo" >&2; exit 1; }
[ -f "$CA_BUNDLE" ] || { echo "error: CA bundle $CA_BUNDLE not found (set ROLLOUTLAB_CA_BUNDLE)" >&2; exit 1; }

ROOTFS="$(mktemp -d /tmp/rolloutlab-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT

echo "debootstrap bookworm (minbase + python3, python3-venv, ca-certificates) from $MIRROR"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$ROOTFS" "$MIRROR" > "$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log" >&2; exit 1; }
rm -f "$ROOTFS.log"

# The host's bundle may hold a site CA (a TLS-inspecting proxy): keep it as the image's bundle, and as a
# local CA so a later update-ca-certificates in a derived image keeps it too.
cp "$CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
fi
# Smaller image: no package caches, indexes or docs.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* \
       "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*

echo "docker import → $TAG"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["/bin/bash"]' \
    - "$TAG" >/dev/null
echo "built base image $TAG"
