#!/bin/sh
# End-to-end browser tests of the map page, from the repo root after `cargo build`:
#   tests/browser/run.sh
# Builds www/ (www/build.sh), installs this directory's pinned npm packages (npm ci), then
# runs unit.test.mjs, map.test.mjs and history.test.mjs (time control, timelines, alerts:
# a replayed capture across midnight) with node's test runner against the connmap daemon in
# Debian's chromium.
# Needs: node >= 20 + npm, apt packages chromium and fonts-dejavu-core (or any fonts).
# Environment: CONNMAP_BIN (default target/debug/connmap), CHROMIUM (default /usr/bin/chromium),
# CONNMAP_PCAP/CONNMAP_MMDB (+ CONNMAP_ARGS, CONNMAP_HOME, ...: see servers.mjs) to replay a
# capture for the fixed-data checks, by default the one `cargo run --example fixtures` writes
# (without that example: `connmap demo`), CONNMAP_FAKE=1 (a stand-in server, no daemon).
# Screenshots: tests/artifacts/{desktop,phone,dark}.png, and the README's docs/screenshots/
# from the current page after the tests pass (screenshots.mjs; CONNMAP_SKIP_SCREENSHOTS=1: not).
set -eu
cd "$(dirname "$0")/../.."
www/build.sh
cd tests/browser
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.connmap-lock; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.connmap-lock
fi
cd ../..
# Fixed data for the deterministic checks: the capture and database the daemon's fixtures
# example writes (unless a capture is given, or the stand-in server is used).
if [ -z "${CONNMAP_PCAP:-}" ] && [ "${CONNMAP_FAKE:-}" != 1 ] && [ -f examples/fixtures.rs ]; then
  fx=tests/artifacts/fixtures
  cargo run --quiet --example fixtures -- "$fx" >/dev/null
  CONNMAP_PCAP=$fx/replay.pcap
  CONNMAP_MMDB=$fx/geo.mmdb
  CONNMAP_ARGS=$(cat "$fx/args.txt")
  CONNMAP_HOME=${CONNMAP_HOME:-52.52,13.405}
  export CONNMAP_PCAP CONNMAP_MMDB CONNMAP_ARGS CONNMAP_HOME
fi
node --test tests/browser/unit.test.mjs tests/browser/map.test.mjs tests/browser/history.test.mjs
if [ "${CONNMAP_SKIP_SCREENSHOTS:-0}" != 1 ] && [ "${CONNMAP_FAKE:-}" != 1 ]; then
  # the README's pictures are of the page as it is now (connmap demo)
  node tests/browser/screenshots.mjs docs/screenshots
fi
