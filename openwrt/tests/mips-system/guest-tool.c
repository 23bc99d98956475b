/* openwrt/tests/mips-system/guest-tool.c — the MIPS guest test's own helper (built static with
 * zig cc for mipsel, musl with a 64-bit time_t): traffic from the guest's LAN namespace, and the
 * clock past 2038, which the guest's busybox (glibc, 32-bit time_t) cannot set or print.
 *
 *   guest-tool send DST PORT RATE COUNT [NDST]   COUNT UDP datagrams (18 bytes of payload) to
 *        NDST consecutive IPv4 addresses from DST (default 1), RATE per second (0: as fast as
 *        possible), in batches of sendmmsg() once per millisecond; prints what it sent and when
 *   guest-tool sink ADDR PORT                    binds ADDR:PORT and never reads (no ICMP port
 *        unreachable goes back, and receiving costs nothing past the socket buffer)
 *   guest-tool settime SECONDS              sets CLOCK_REALTIME (unix seconds, 64-bit)
 *   guest-tool now                          prints CLOCK_REALTIME in unix seconds
 *   guest-tool run CMD [ARG...]             runs CMD, waits for it and prints its CPU time
 *        (user and system, all its threads, from wait4's rusage): "cpu_us=N user_us=N sys_us=N"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXB 256

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc == 3 && !strcmp(argv[1], "settime")) {
		struct timespec t = {.tv_sec = (time_t)atoll(argv[2])};
		if (clock_settime(CLOCK_REALTIME, &t)) { perror("clock_settime"); return 1; }
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "run")) {
		pid_t p = fork();
		if (p == 0) { execvp(argv[2], argv + 2); perror(argv[2]); _exit(127); }
		int st;
		struct rusage r;
		if (p < 0 || wait4(p, &st, 0, &r) < 0) { perror("run"); return 1; }
		long long u = r.ru_utime.tv_sec * 1000000LL + r.ru_utime.tv_usec;
		long long k = r.ru_stime.tv_sec * 1000000LL + r.ru_stime.tv_usec;
		printf("cpu_us=%lld user_us=%lld sys_us=%lld status=%d\n", u + k, u, k, st);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "now")) {
		printf("%lld\n", (long long)time(NULL));
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "sink")) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
		int s = socket(AF_INET, SOCK_DGRAM, 0), small = 2048;
		inet_pton(AF_INET, argv[2], &a.sin_addr);
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
		if (bind(s, (struct sockaddr *)&a, sizeof a)) { perror("bind"); return 1; }
		for (;;) pause();
	}
	if (argc < 6 || strcmp(argv[1], "send")) {
		fprintf(stderr, "usage: guest-tool send DST PORT RATE COUNT [NDST] | sink ADDR PORT | settime SECONDS | now | run CMD...\n");
		return 2;
	}
	struct in_addr base;
	inet_pton(AF_INET, argv[2], &base);
	int port = atoi(argv[3]);
	long rate = atol(argv[4]), count = atol(argv[5]), ndst = argc > 6 ? atol(argv[6]) : 1;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	static struct sockaddr_in to[MAXB];
	static struct mmsghdr m[MAXB];
	static struct iovec iov;
	static char payload[18] = "connmap mips test";
	iov.iov_base = payload;
	iov.iov_len = sizeof payload;
	long batch = rate == 0 ? 64 : (rate + 999) / 1000;
	if (batch > MAXB) batch = MAXB;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	double t0 = now();
	long sent = 0, i = 0, errors = 0;
	while (sent < count) {
		long n = count - sent < batch ? count - sent : batch;
		/* with a rate: as many as are due by now (the last tick may have been late) */
		if (rate) {
			long due = (long)((now() - t0) * rate) + 1 - sent;
			if (due < n) n = due < 1 ? 1 : due;
		}
		for (long k = 0; k < n; k++, i++) {
			to[k].sin_family = AF_INET;
			to[k].sin_port = htons(port);
			to[k].sin_addr.s_addr = htonl(ntohl(base.s_addr) + (uint32_t)(i % ndst));
			m[k].msg_hdr.msg_name = &to[k];
			m[k].msg_hdr.msg_namelen = sizeof to[k];
			m[k].msg_hdr.msg_iov = &iov;
			m[k].msg_hdr.msg_iovlen = 1;
		}
		int r = sendmmsg(s, m, n, 0);
		if (r < 0) { errors++; r = 0; if (errors > 1000) { perror("sendmmsg"); return 1; } }
		sent += r;
		if (rate) {
			next.tv_nsec += 1000000;
			if (next.tv_nsec >= 1000000000) { next.tv_sec++; next.tv_nsec -= 1000000000; }
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		}
	}
	double dt = now() - t0;
	printf("guest-tool: sent %ld datagrams in %.3f s (%.0f/s)\n", sent, dt, dt > 0 ? sent / dt : 0.0);
	return 0;
}
