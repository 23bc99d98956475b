#!/bin/sh
# openwrt/tools/cross-prebuild-libpcap.sh — cross-rs pre-build hook (see cross.toml): builds a
# static libpcap for the target with the image's musl cross compiler into /opt/libpcap, where
# cross.toml points the pcap crate (LIBPCAP_LIBDIR). Runs inside the docker image as
# `./cross-prebuild-libpcap.sh $CROSS_TARGET`; needs network access to tcpdump.org.
set -eu
TARGET=${1:-${CROSS_TARGET:-}}
VER=${LIBPCAP_VER:-1.10.3}
[ -n "$TARGET" ] || { echo "usage: $0 RUST_TARGET" >&2; exit 1; }

# the image names its C compiler CC_<target with underscores>
var=CC_$(echo "$TARGET" | tr '-' '_')
CC=$(eval "echo \${$var:-}")
[ -n "$CC" ] || CC="${CROSS_TOOLCHAIN_PREFIX:-}gcc"
host=$($CC -dumpmachine)

apt-get update -qq && apt-get install -y -qq --no-install-recommends flex bison curl ca-certificates make
cd /tmp
curl -fsSL "https://www.tcpdump.org/release/libpcap-$VER.tar.gz" | tar -xzf -
cd "libpcap-$VER"
CC="$CC" CFLAGS="-Os -ffunction-sections -fdata-sections" ./configure --host="$host" \
	--prefix=/opt/libpcap --disable-shared --enable-static --with-pcap=linux --disable-dbus \
	--disable-bluetooth --disable-rdma --disable-netmap --disable-usb --disable-remote --without-libnl
make -j"$(nproc)" libpcap.a
mkdir -p /opt/libpcap/lib /opt/libpcap/include
cp libpcap.a /opt/libpcap/lib/
cp -R pcap pcap.h /opt/libpcap/include/
rm -rf "/tmp/libpcap-$VER"
