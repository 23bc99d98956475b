#!/bin/bash
# scripts/bench-conntrack.sh — what `--conntrack` costs (BENCHMARKS.md, "Conntrack").
#
# In a network namespace of its own (root): N tracked UDP connections (default 16384) from
# 192.168.1.1 to 198.18.x.y, accounting on; then ctnetlink dumps of that table (with and
# without zeroing the counters), and the saved dump replayed through the conntrack source
# in user space (parse + deltas + tables), as dumps and as DESTROY events. With
# CONNMAP_QEMU_MIPSEL=1 the replay also runs under qemu-mipsel (24Kc) with a mipsel build
# of the example (scripts/cross-build.sh's toolchain and sysroot; CONNMAP_CROSS_TARGET_DIR
# for its cargo target directory). CONNMAP_SAVE_DUMP=FILE keeps the dump (for callgrind).
#
# usage: scripts/bench-conntrack.sh [N]
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
N=${1:-16384}
REPO=$(cd "$(dirname "$0")/.." && pwd)
NS=cmbench$$
OUT=$(mktemp -d)
trap 'ip netns del $NS 2>/dev/null || true; rm -rf "$OUT"' EXIT
cd "$REPO"
cargo build -q --release --example conntrack_bench
BIN=$REPO/target/release/examples/conntrack_bench

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add d0 type veth peer name d1
ip -n "$NS" link set d1 up
ip -n "$NS" addr add 192.168.1.1/24 dev d0
ip -n "$NS" link set d0 up
ip -n "$NS" route add 198.18.0.0/15 dev d0
ip netns exec "$NS" sh -c 'echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct;
	echo 600 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout'
# a rule with a conntrack expression: conntrack runs in this namespace
printf 'table inet cmct {\n chain o {\n type filter hook output priority 0\n ct state new counter\n }\n}\n' |
	ip netns exec "$NS" nft -f -
ip netns exec "$NS" "$BIN" fill "$N"
echo "conntrack-bench: $N connections on $(nproc) cores, $(uname -m); hash table of $(cat /proc/sys/net/netfilter/nf_conntrack_buckets) buckets (shared by all namespaces), $(ip netns exec "$NS" cat /proc/sys/net/netfilter/nf_conntrack_count) connections in this namespace"
ip netns exec "$NS" "$BIN" dump 20 --save "$OUT/dump.bin"
ip netns exec "$NS" "$BIN" dump 20
ip netns exec "$NS" "$BIN" dump 20 --zero
"$BIN" replay "$OUT/dump.bin" 20
if [ "${CONNMAP_QEMU_MIPSEL:-0}" = 1 ]; then
	CACHE=${CONNMAP_CACHE:-$HOME/.cache/connmap}
	export PATH="$CACHE/zig-0.17.1/bin:$CACHE/cargo-zigbuild-0.24.1/bin:$PATH"
	export CARGO_TARGET_DIR="${CONNMAP_CROSS_TARGET_DIR:-$CACHE/target}" LIBPCAP_LIBDIR="$CACHE/sysroot/mipsel_24kc/usr/lib" LIBPCAP_VER=1.10.3
	# the flags of scripts/cross-build.sh (so that its build of std is reused)
	export CONNMAP_LINKER_VAR=CARGO_TARGET_MIPSEL_UNKNOWN_LINUX_MUSL_LINKER
	RUSTFLAGS="--cfg libc_unstable_musl_v1_2 -C linker=$REPO/scripts/link-ordered.sh -C target-feature=-crt-static -C link-self-contained=no -Zunstable-options -Cpanic=immediate-abort -Cforce-unwind-tables=no -Zlocation-detail=none" \
		cargo +nightly zigbuild -q --release -j 2 -Z build-std=std,panic_abort \
		-Z build-std-features=optimize_for_size --no-default-features \
		--example conntrack_bench --target mipsel-unknown-linux-musl
	echo "conntrack-bench: under qemu-mipsel -cpu 24Kc"
	qemu-mipsel-static -cpu 24Kc -L "$CACHE/sysroot/mipsel_24kc" \
		"$CARGO_TARGET_DIR/mipsel-unknown-linux-musl/release/examples/conntrack_bench" replay "$OUT/dump.bin" 3
fi
# the dump kept for other measurements (callgrind), when asked
if [ -n "${CONNMAP_SAVE_DUMP:-}" ]; then
	cp "$OUT/dump.bin" "$CONNMAP_SAVE_DUMP"
fi
