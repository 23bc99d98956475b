#!/bin/sh
# tests/quic/deps.sh — what tests/quic.rs needs, installed under ${CONNMAP_CACHE:-$HOME/.cache/connmap}:
#   aioquic-<version>/   a Python venv with aioquic from PyPI (a real QUIC client and server,
#                        run sans-I/O by tests/quic/aioquic_flows.py: no socket, no network)
#   tcpdump-quic/        tcpdump's own QUIC test captures (tests/quic_*.pcap of Debian's tcpdump
#                        source package, fetched with a private apt state dir)
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
	python3 -m venv "$venv"
	"$venv/bin/pip" install -q "aioquic==$AIOQUIC_VERSION"
fi

out="$CACHE/tcpdump-quic"
if ! ls "$out"/quic_*.pcap >/dev/null 2>&1; then
	echo "quic deps: tcpdump $TCPDUMP_VERSION test captures (Debian source package)"
	command -v dpkg-source >/dev/null 2>&1 || {
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev
	}
	apt_dir="$CACHE/apt-src"
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
	echo "deb-src http://deb.debian.org/debian bookworm main" > "$apt_dir/sources.list"
	set -- -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" \
		-o APT::Sandbox::User=root
	apt-get "$@" update -qq
	tmp=$(mktemp -d "$CACHE/tcpdump-src.XXXXXX")
	(cd "$tmp" && apt-get "$@" source -qq --download-only "tcpdump=$TCPDUMP_VERSION" &&
		dpkg-source -x --no-check tcpdump_*.dsc src >/dev/null)
	mkdir -p "$out"
	cp "$tmp"/src/tests/quic_*.pcap* "$out"/
	rm -rf "$tmp"
fi
