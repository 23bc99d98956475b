#!/bin/sh
# openwrt/tests/deps.sh — installs everything the OpenWrt packaging, cross builds and their
# tests (openwrt/tests/run.sh, scripts/build-dist.sh) need on a Debian bookworm x86_64 machine.
# Idempotent: a second run only checks. Everything that is not a Debian package goes into
# ${CONNMAP_CACHE:-$HOME/.cache/connmap}, keyed by version, so scripts find it there.
#   apt:   flex bison (libpcap build), shellcheck, qemu-user-static (foreign-arch tests),
#          dpkg-dev (apt-get source), python3 venv support, llvm (llvm-objcopy for the sysroot's
#          musl, llvm-readelf for the qemu test's interpreter/NEEDED check), zopfli (the
#          packages' gzip streams, ~4 % smaller than gzip -9)
#   pip:   ziglang (C compiler/linker + musl for every target), in a private venv
#   cargo: cargo-zigbuild (cargo subcommand that links with zig)
#   rustup: musl std for x86_64/aarch64 on stable; the pinned nightly (CONNMAP_NIGHTLY, the one
#          scripts/cross-build.sh names) + rust-src for build-std (MIPS, armv7)
#   apt, for the MIPS system test (openwrt/tests/mips-system/): qemu-system-mips, cpio; and
#          Debian's `musl` package, which installs /etc/ld-musl-x86_64.path pointing at its own
#          libraries: kept installed so that the qemu tests prove the sysroot never loads them
# Set CONNMAP_SKIP_CROSS=1 to install only what the non-cross tests need.
set -eu

ZIG_VERSION=${ZIG_VERSION:-0.17.1}
ZIGBUILD_VERSION=${ZIGBUILD_VERSION:-0.24.1}
CACHE=${CONNMAP_CACHE:-$HOME/.cache/connmap}
mkdir -p "$CACHE"

need_apt=""
for p in shellcheck python3; do
	command -v "$p" >/dev/null 2>&1 || need_apt="$need_apt $p"
done
if [ "${CONNMAP_SKIP_CROSS:-0}" != 1 ]; then
	for p in flex bison qemu-user-static dpkg-dev llvm zopfli qemu-system-mips cpio musl; do
		dpkg -s "$p" >/dev/null 2>&1 || need_apt="$need_apt $p"
	done
fi
if [ -n "$need_apt" ]; then
	echo "deps: apt-get install$need_apt"
	apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need_apt
fi

[ "${CONNMAP_SKIP_CROSS:-0}" = 1 ] && { echo "deps: cross tools skipped (CONNMAP_SKIP_CROSS=1)"; exit 0; }

# zig from PyPI, in its own venv
ZIGVENV="$CACHE/zig-$ZIG_VERSION"
if [ ! -x "$ZIGVENV/bin/python-zig" ]; then
	echo "deps: ziglang $ZIG_VERSION -> $ZIGVENV"
	rm -rf "$ZIGVENV"
	python3 -m venv "$ZIGVENV"
	"$ZIGVENV/bin/pip" install -q "ziglang==$ZIG_VERSION"
	# cargo-zigbuild looks for `python3 -m ziglang` or `zig`; give it a `zig` wrapper
	printf '#!/bin/sh\nexec "%s/bin/python3" -m ziglang "$@"\n' "$ZIGVENV" > "$ZIGVENV/bin/zig"
	chmod +x "$ZIGVENV/bin/zig"
	: > "$ZIGVENV/bin/python-zig"
fi

# cargo-zigbuild from crates.io
ZB="$CACHE/cargo-zigbuild-$ZIGBUILD_VERSION"
if [ ! -x "$ZB/bin/cargo-zigbuild" ]; then
	echo "deps: cargo-zigbuild $ZIGBUILD_VERSION -> $ZB (takes a few minutes)"
	cargo install -q --locked --root "$ZB" -j 2 cargo-zigbuild --version "$ZIGBUILD_VERSION"
fi

# Rust std for the targets: prebuilt where rustup has it, else nightly build-std
rustup target add --toolchain stable x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null 2>&1 ||
	echo "deps: warning: rustup target add (stable) failed"
# (32-bit targets always build std: only then does it use musl's 64-bit time_t ABI)
# the nightly scripts/cross-build.sh pins (NIGHTLY= there; keep the two dates equal)
NIGHTLY=${CONNMAP_NIGHTLY:-nightly-2026-05-20}
rustup toolchain list | grep -q "^$NIGHTLY" ||
	rustup toolchain install --profile minimal --component rust-src "$NIGHTLY"
rustup component add rust-src --toolchain "$NIGHTLY" >/dev/null
echo "deps: ok"
