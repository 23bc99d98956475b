#!/bin/bash
# openwrt/tests/time64_test.sh — every 32-bit cross-built connmap (build/cross/<arch>/connmap:
# mipsel, mips, armv7) must use musl's 64-bit time_t ABI, or it dies on 2038-01-19 03:14:08 UTC
# (musl's time32 compatibility functions trap when the time no longer fits; seen as exit 133,
# SIGTRAP, on a MIPS guest whose clock was set past 2038).
#
# musl >= 1.2 keeps the old symbol names (`clock_gettime`, `stat`, ...) for programs built
# before 1.2, and its headers redirect new programs to `__clock_gettime64`, `__stat_time64`, ...
# Rust does not read those headers: the libc crate chooses the names, and std's own copy of it
# (build-std) only picks the time64 ones when RUST_LIBC_UNSTABLE_MUSL_V1_2_3 is set
# (scripts/cross-build.sh). This test reads the symbols each binary imports (its undefined
# dynamic symbols: works on the sstripped binary through the dynamic segment) and fails on any
# name that musl's headers redirect (the `__REDIR(name, __name_time64)` lines of musl 1.2.3's
# include/, listed below and re-read from the musl source when scripts/cross-build.sh fetched
# it), and when `__clock_gettime64` is not imported (proof that the time64 ABI is the one used).
# Statically linked builds import nothing: they are reported as skipped.
#
# The clock itself past 2038 is checked in a real MIPS guest (openwrt/tests/mips-system/run.sh):
# qemu-user reads the host's clock, and a time namespace cannot move CLOCK_REALTIME.
# Prints ok/FAIL lines and "time64: N passed, N failed".
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # also when started as `sh FILE`
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CROSS=${CONNMAP_CROSS:-$REPO/build/cross}
CACHE=${CONNMAP_CACHE:-$HOME/.cache/connmap}
MUSL_SRC=${CONNMAP_MUSL_SRC:-$CACHE/src/musl-1.2.3}
pass=0 fail=0 skipped=0
ok() { echo "ok   time64: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL time64: $*"; fail=$((fail + 1)); }

# musl 1.2.3 include/*.h: __REDIR(old, new) — the time32 names a 32-bit program must not import
TIME32="adjtime adjtimex aio_suspend clock_adjtime clock_getres clock_gettime clock_nanosleep
clock_settime cnd_timedwait ctime ctime_r difftime dlsym fstat fstatat ftime futimens futimes
futimesat getitimer getrusage gettimeofday gmtime gmtime_r localtime localtime_r lstat lutimes
mktime mq_timedreceive mq_timedsend mtx_timedlock nanosleep ppoll pselect pthread_cond_timedwait
pthread_mutex_timedlock pthread_rwlock_timedrdlock pthread_rwlock_timedwrlock
pthread_timedjoin_np recvmmsg sched_rr_get_interval select sem_timedwait semtimedop setitimer
settimeofday sigtimedwait stat stime thrd_sleep time timegm timer_gettime timer_settime
timerfd_gettime timerfd_settime timespec_get utime utimensat utimes wait3 wait4"
if [ -d "$MUSL_SRC/include" ]; then
	from_src=$(grep -rhoE '__REDIR\([a-z_0-9]+, *__[a-z_0-9]+\)' "$MUSL_SRC/include" |
		sed -E 's/__REDIR\(([a-z_0-9]+),.*/\1/' | sort -u | tr '\n' ' ')
	listed=$(tr -s ' \n' '\n' <<<"$TIME32" | sed '/^$/d' | sort -u | tr '\n' ' ')
	if [ "$from_src" = "$listed" ]; then
		ok "the list of time32 names is musl's (${MUSL_SRC##*/}/include: $(wc -w <<<"$from_src") __REDIR lines)"
	else
		bad "the time32 list differs from $MUSL_SRC/include's __REDIR lines: $(comm -3 <(tr ' ' '\n' <<<"$listed") <(tr ' ' '\n' <<<"$from_src") | tr -s '\t\n' '  ')"
		TIME32=$from_src
	fi
fi

command -v llvm-readelf >/dev/null || { bad "llvm-readelf not found (openwrt/tests/deps.sh)"; echo "time64: $pass passed, $fail failed"; exit 1; }

checked=0
for d in "$CROSS"/*/; do
	bin="$d/connmap" arch=$(basename "$d")
	[ -f "$bin" ] || continue
	hdr=$(llvm-readelf -h "$bin" 2>/dev/null)
	grep -q 'Class: *ELF32' <<<"$hdr" || continue
	checked=$((checked + 1))
	# undefined dynamic symbols (Ndx UND), version suffix off; the name is the field after
	# UND, not a fixed column: a non-PIE MIPS binary's symbols carry STO_MIPS_PLT/PIC flags,
	# which llvm-readelf prints as "[<other: 0x20>]" inside the visibility column
	imports=$(llvm-readelf --dyn-syms "$bin" 2>/dev/null |
		awk '{ for (i = 7; i < NF; i++) if ($i == "UND") { n = $(i + 1); sub(/@.*/, "", n); print n; break } }' | sort -u)
	if [ -z "$imports" ]; then
		phdrs=$(llvm-readelf -l "$bin" 2>/dev/null)
		if grep -q INTERP <<<"$phdrs"; then
			bad "$arch: dynamically linked, but no imported symbol could be read"
		else
			echo "skip time64: $arch: statically linked (imports nothing; CONNMAP_LINK=static)"
			skipped=$((skipped + 1))
		fi
		continue
	fi
	old=""
	for s in $TIME32; do
		grep -qx "$s" <<<"$imports" && old="$old $s"
	done
	new=$(grep -E '^__.*(64|_time64|64_r)$' <<<"$imports" | tr '\n' ' ')
	if [ -n "$old" ]; then
		bad "$arch: imports musl's time32 functions (dies after 2038-01-19):$old"
	elif ! grep -qx __clock_gettime64 <<<"$imports"; then
		bad "$arch: does not import __clock_gettime64 (time64 ABI not in use?); imports: $(tr '\n' ' ' <<<"$imports")"
	else
		ok "$arch: $(wc -l <<<"$imports") imported symbols, no time32 one; time64: $new"
	fi
done
[ "$checked" -gt 0 ] || bad "no 32-bit binary in $CROSS (scripts/cross-build.sh mipsel_24kc ...)"
echo "time64: $pass passed, $fail failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")"
[ "$fail" -eq 0 ]
