#!/bin/sh
# Builds the map page into www/dist/ (what `connmap --www www/dist` serves and the OpenWrt
# package installs). One command from anywhere: www/build.sh
# Installs the pinned npm dependencies (npm ci, from package-lock.json) when node_modules is
# missing or was installed from another lockfile, then runs build.mjs.
set -eu
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.connmap-lock; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.connmap-lock
fi
exec node build.mjs
