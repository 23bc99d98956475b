/* openwrt/tests/mips-system/tbcount.c — a qemu TCG plugin for profile.sh: guest instructions
 * executed per translation block (by its start address), written at exit as "hexaddr count"
 * lines to the file out=PATH. The few plugin API calls it uses are declared here (qemu 7.2,
 * plugin API version 1: Debian bookworm's qemu-user ships no plugin header). Build:
 *   cc -O2 -shared -fPIC -fvisibility=hidden -o tbcount.so tbcount.c
 * Use: qemu-mipsel -plugin ./tbcount.so,out=FILE PROGRAM ARGS...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, struct qemu_plugin_tb *));
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, void *), void *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* one counter per translation (a block translated again gets another; the report adds them) */
struct block { uint64_t vaddr, insns; };
#define MAX_BLOCKS (1 << 22)
static struct block *blocks;
static size_t nblocks;
static char out[512] = "/dev/stderr";

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
	(void)id;
	if (nblocks >= MAX_BLOCKS) return;
	struct block *b = &blocks[nblocks++];
	b->vaddr = qemu_plugin_tb_vaddr(tb);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->insns, qemu_plugin_tb_n_insns(tb));
}

static void finished(qemu_plugin_id_t id, void *unused) {
	(void)id, (void)unused;
	FILE *f = fopen(out, "w");
	if (!f) return;
	for (size_t i = 0; i < nblocks; i++)
		if (blocks[i].insns) fprintf(f, "%llx %llu\n", (unsigned long long)blocks[i].vaddr, (unsigned long long)blocks[i].insns);
	fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc, char **argv) {
	(void)info;
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4)) snprintf(out, sizeof out, "%s", argv[i] + 4);
	blocks = calloc(MAX_BLOCKS, sizeof *blocks);
	if (!blocks) return 1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	qemu_plugin_register_atexit_cb(id, finished, NULL);
	return 0;
}
