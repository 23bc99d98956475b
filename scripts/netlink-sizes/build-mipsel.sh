#!/bin/bash
# scripts/netlink-sizes/build-mipsel.sh — what a netlink crate adds to the mipsel binary
# (BENCHMARKS.md, "Conntrack"): the same ctnetlink dump program (src/main.rs) with raw libc
# sockets, with neli, and with netlink-packet-netfilter/-core + netlink-sys, built as the
# router binary is (nightly build-std, opt-level z, LTO, panic=immediate-abort, static musl:
# no libpcap needed), sstripped. Prints "variant binary-bytes gzip-9-bytes".
# Prerequisites: openwrt/tests/deps.sh (zig, cargo-zigbuild, nightly with rust-src).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${CONNMAP_CACHE:-$HOME/.cache/connmap}
export PATH="$CACHE/zig-0.17.1/bin:$CACHE/cargo-zigbuild-0.24.1/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/netlink-sizes-target}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cd "$HERE"
for f in raw neli nlp; do
	RUSTFLAGS="--cfg libc_unstable_musl_v1_2 -C target-feature=+crt-static -C link-self-contained=no -Zunstable-options -Cpanic=immediate-abort -Cforce-unwind-tables=no -Zlocation-detail=none" \
		cargo +nightly zigbuild -q --release -j 2 -Z build-std=std,panic_abort \
		-Z build-std-features=optimize_for_size --features "$f" --target mipsel-unknown-linux-musl
	cp "$CARGO_TARGET_DIR/mipsel-unknown-linux-musl/release/netlink-sizes" "$OUT/$f"
	python3 "$REPO/openwrt/tools/sstrip.py" "$OUT/$f" >/dev/null
	echo "$f $(wc -c < "$OUT/$f") $(gzip -9 < "$OUT/$f" | wc -c)"
done
