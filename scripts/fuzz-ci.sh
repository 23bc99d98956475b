#!/usr/bin/env bash
# A short run of every cargo-fuzz target (libFuzzer), for CI; or a long one by hand.
#
#   scripts/fuzz-ci.sh                 # 15 s per target (FUZZ_SECONDS), all targets in fuzz/
#   FUZZ_SECONDS=600 scripts/fuzz-ci.sh decode state
#
# Installs what it needs when missing: the nightly toolchain (minimal profile) and cargo-fuzz
# (`cargo install --locked cargo-fuzz`). Each run starts from the committed seeds,
# fuzz/seeds/TARGET (frames of the test captures, DNS answers, ClientHellos, request heads,
# lease files, a state file: scripts/fuzz-seeds.py writes them), and from fuzz/corpus/TARGET
# (not in git), where new inputs are kept and grow from run to run; crashes land in fuzz/artifacts/TARGET and fail the script. For each
# target it prints libFuzzer's last status line (executions, cov, ft, corpus) and a summary.
# Exit status: 0 when no target crashed, 1 otherwise.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-15}"
export PATH="$HOME/.cargo/bin:$PATH"
cd "$ROOT"

start=$(date +%s)
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz-ci: installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-ci: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi
setup=$(($(date +%s) - start))

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Build all targets once (the longest step from scratch), then run each.
bstart=$(date +%s)
if [ $# -eq 0 ]; then
    cargo +nightly fuzz build
else
    for t in "${targets[@]}"; do cargo +nightly fuzz build "$t"; done
fi
build=$(($(date +%s) - bstart))

logdir="$(mktemp -d)"
trap 'rm -rf "$logdir"' EXIT
failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    seeds=()
    [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
    echo "fuzz-ci: $t for ${SECONDS_PER_TARGET} s"
    if cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "${seeds[@]}" -- -max_total_time="$SECONDS_PER_TARGET" \
        -print_final_stats=1 >"$logdir/$t.log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed+=("$t")
        tail -n 40 "$logdir/$t.log"
    fi
    last=$(grep -E '^#[0-9]+' "$logdir/$t.log" | tail -n 1 || true)
    execs=$(grep -E '^stat::number_of_executed_units' "$logdir/$t.log" | awk '{print $2}' || true)
    summary+=("$(printf '%-13s %-5s execs %-10s %s' "$t" "$status" "${execs:-?}" "$last")")
done

echo
echo "fuzz-ci: setup ${setup} s, build ${build} s, ${SECONDS_PER_TARGET} s per target"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz-ci: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
