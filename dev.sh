#!/bin/sh
# dev.sh — the project's two everyday commands, on a fresh Debian/Ubuntu machine with rustup:
#
#   ./dev.sh demo   install what the build needs, build the map page, serve the demo map
#                   on http://127.0.0.1:8090/ (synthetic traffic; Ctrl-C to stop)
#   ./dev.sh test   install what the tests need, then run every test: formatting and lints,
#                   cargo tests, a short fuzzing run, the browser test, the geo database tool,
#                   the OpenWrt packages (cross builds under qemu-user)
#
# Also: `./dev.sh deps` (install only), `./dev.sh dist` (router packages into dist/).
# Environment: CONNMAP_SKIP_CROSS=1 skips the cross builds and their qemu tests;
# CONNMAP_SKIP_BROWSER=1 the browser test; CONNMAP_SKIP_GEODB=1 the real-data geodb trim;
# CONNMAP_SKIP_FUZZ=1 the fuzzing run (CONNMAP_FUZZ_SECONDS per target, default 10).
set -eu
cd "$(dirname "$0")"

say() { printf '\n== %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
	missing=""
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "apt-get install$missing"
	as_root apt-get update -qq
	# shellcheck disable=SC2086
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}

deps_build() {
	# libpcap for the pcap crate, a C toolchain for -sys crates, Node.js for the page build.
	apt_install libpcap-dev build-essential pkg-config ca-certificates
	if ! command -v npm >/dev/null 2>&1; then
		apt_install nodejs npm
	fi
	command -v cargo >/dev/null 2>&1 || {
		echo "dev.sh: cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
		exit 1
	}
}

deps_test() {
	deps_build
	# tcpdump: the benchmark's reference; mmdb-bin: mmdblookup reads our databases;
	# chromium + fonts: the browser test; iproute2: the live-capture namespace test;
	# mtd-utils: the geo database's size on JFFS2/UBIFS (geodb/flash-size.sh).
	# prometheus (promtool) + nfdump (nfcapd): the export tests scrape and collect for real;
	# nftables: the conntrack test blinds the capture with marks and policy routing.
	apt_install tcpdump mmdb-bin chromium fonts-dejavu-core iproute2 shellcheck mtd-utils \
		prometheus nfdump nftables
	rustup component add rustfmt clippy >/dev/null 2>&1 || true
	bash openwrt/tests/deps.sh
	# aioquic (PyPI, in a venv): the real QUIC stack of tests/quic.rs
	sh tests/quic/deps.sh
}

build_page() {
	say "building the map page (www/dist)"
	bash www/build.sh
}

case "${1:-}" in
demo)
	deps_build
	build_page
	say "building connmap"
	cargo build --release
	say "demo map: http://127.0.0.1:${CONNMAP_DEMO_PORT:-8090}/  (Ctrl-C to stop)"
	exec ./target/release/connmap demo --port "${CONNMAP_DEMO_PORT:-8090}" --www www/dist
	;;
deps)
	deps_test
	;;
test)
	deps_test
	say "cargo fmt --check"
	cargo fmt --all -- --check
	say "cargo clippy"
	cargo clippy --workspace --all-targets -- -D warnings
	# OpenWrt's userland built from its sources (cached; the real-OpenWrt suite below uses it
	# too): tests/alerts.rs sends its ubus event to the real ubusd and `ubus listen`
	bash openwrt/tests/real/build.sh >/dev/null || say "no OpenWrt userland: the ubus alert test skips"
	say "cargo test (unit and end-to-end)"
	if [ "$(id -u)" = 0 ]; then
		# the tests that need root (network and mount namespaces, dropping root) are
		# #[ignore = "needs root: ..."]: run them too
		cargo test --workspace -- --include-ignored
	else
		say "not root: the tests that need root are listed as ignored, not run"
		cargo test --workspace
	fi
	say "router build (--no-default-features, what the packages ship): clippy and tests"
	cargo clippy --all-targets --no-default-features -- -D warnings
	cargo test --no-default-features
	cargo build
	if [ "${CONNMAP_SKIP_FUZZ:-0}" != 1 ]; then
		say "fuzzing: a short run of every cargo-fuzz target"
		FUZZ_SECONDS="${CONNMAP_FUZZ_SECONDS:-10}" bash scripts/fuzz-ci.sh
	fi
	if [ "${CONNMAP_SKIP_BROWSER:-0}" != 1 ]; then
		say "browser test (headless chromium)"
		bash tests/browser/run.sh
	fi
	say "geo database tool"
	bash scripts/test-geodb.sh
	say "OpenWrt packages, init script, cross builds"
	bash openwrt/tests/run.sh
	say "all tests passed"
	;;
dist)
	deps_test
	bash scripts/build-dist.sh
	;;
*)
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
