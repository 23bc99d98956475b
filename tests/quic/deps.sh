#!/bin/sh
# tests/quic/deps.sh — what tests/quic.rs needs, installed under ${CONNMAP_CACHE:-$HOME/.cache/connmap}:
#   aioquic-<version>/   a Python venv with aioquic from PyPI (a real QUIC client and server,
#                        run sans-I/O by tests/quic/aioquic_flows.py: no socket, no network)
# (tcpdump's own QUIC captures are in tests/data/tcpdump-quic: Debian's tcpdump 4.99 source
# package has none, they are only in tcpdump's development tree.)
# Idempotent. Called by dev.sh deps.
set -eu

AIOQUIC_VERSION=${AIOQUIC_VERSION:-1.7.2}
TCPDUMP_VERSION=${TCPDUMP_VERSION:-4.99.3-1}
CACHE=${CONNMAP_CACHE:-$HOME/.cache/connmap}
mkdir -p "$CACHE"

venv="$CACHE/aioquic-$AIOQUIC_VERSION"
if ! "$venv/bin/python" -c 'import aioquic' >/dev/null 2>&1; then
	echo "quic deps: aioquic $AIOQUIC_VERSION (PyPI) in $venv"
	rm -rf "$venv"
	if ! python3 -m venv "$venv"; then
		# Debian's python3 without ensurepip: python3-venv
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
		rm -rf "$venv"
		python3 -m venv "$venv"
	fi
	"$venv/bin/pip" install -q "aioquic==$AIOQUIC_VERSION"
fi
