#!/bin/sh
# End-to-end browser tests of the map page, from the repo root after `cargo build`:
#   tests/browser/run.sh
# Builds www/ (www/build.sh), installs this directory's pinned npm packages (npm ci), then
# runs map.test.mjs with node's test runner against the connmap daemon in Debian's chromium.
# Needs: node >= 20 + npm, apt packages chromium and fonts-dejavu-core (or any fonts).
# Environment: CONNMAP_BIN (default target/debug/connmap), CHROMIUM (default /usr/bin/chromium),
# CONNMAP_PCAP/CONNMAP_MMDB/CONNMAP_LAN/CONNMAP_HOME (replay a capture for the fixed-data
# checks; otherwise `connmap demo` is used), CONNMAP_FAKE=1 (a stand-in server, no daemon).
# Screenshots: tests/artifacts/{desktop,phone,dark}.png
set -eu
cd "$(dirname "$0")/../.."
www/build.sh
cd tests/browser
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.connmap-lock; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.connmap-lock
fi
cd ../..
exec node --test --test-concurrency=1 tests/browser/unit.test.mjs tests/browser/map.test.mjs
