/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pairtest: a verifying writer/reader for failover tests, on libiscsi's
 * async API. It writes 4 KiB blocks that each carry (block number, sequence
 * number, generation, CRC32C), QD >= 1, keeps going across connection loss,
 * records every acknowledged write, measures stalls, then reads every block
 * back and checks it against the rule in pt_verify().
 *
 * Two ways to survive a dead path, as real initiators do (DESIGN.md §5):
 * - one URL (takeover form, single node): libiscsi's own reconnect to the
 *   same address, in-flight commands re-queued by libiscsi; a silent dead
 *   path is noticed qemu's way (NOP-Out every nop_interval_ms, reconnect
 *   when nop_max are unanswered).
 * - several URLs (portal form): a dm-multipath-like client. Path 0 is
 *   preferred. When the active path fails (connection error, or NOP
 *   timeout), its commands are cancelled and re-issued on the first path
 *   that logs in, trying the next paths first and the failed one last
 *   (with two paths: the other one, then the failed one again). A proxy
 *   port dropping its sessions at giveback thus sends the writer home to
 *   path 0. libiscsi cannot do this by itself: it only ever reconnects to
 *   the address it first used. A NOP-Out every nop_interval_ms with
 *   nop_max unanswered marks a silent dead path, as in the one-URL case.
 *
 * One pt_writer is driven by one thread; pt_writer_stop() and
 * pt_writer_mark() may be called from any thread.
 */
#ifndef DUET_PAIRTEST_H
#define DUET_PAIRTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PT_BLOCK 4096u
#define PT_MAX_PATHS 4
#define PT_MAX_MARKS 64

struct pt_config {
	const char *urls[PT_MAX_PATHS]; /* iscsi://host[:port]/iqn/lun */
	int n_urls;
	const char *initiator; /* default iqn.2026-11.org.example:pairio */
	uint64_t first_block;  /* in 4 KiB blocks */
	uint64_t n_blocks;     /* region written and verified; default 2048 */
	int qd;		       /* default 8 */
	double seconds;	       /* writing time; 0 = until pt_writer_stop() */
	double rate;	       /* writes per second, 0 = unlimited */
	int nop_interval_ms;   /* default 1000; <0 = no NOPs */
	int nop_max;	       /* unanswered NOPs = dead path; default 3 */
	int connect_timeout_s; /* per login attempt; default 3 */
	int drain_timeout_s;   /* after writing stops; default 60 */
	int max_attempts;      /* re-issues of one write; default 1000 */
	uint32_t generation;   /* default: time-derived */
	FILE *log;	       /* JSON lines; NULL = none */
	bool log_each;	       /* one line per completion */
	double progress_s;     /* a "progress" line this often; 0 = none */
};

struct pt_mark {
	char label[32];
	double t;	   /* seconds since start */
	double first_done; /* first completion after the mark, s after it; -1 */
	double resume;	   /* end of the longest stall that ends after the
			    * mark and before the next mark, s after the
			    * mark; -1 */
	double stall;	   /* length of that stall */
};

struct pt_result {
	uint64_t issued;	/* distinct writes (sequence numbers) */
	uint64_t acked;		/* GOOD */
	uint64_t retry_ua;	/* CHECK CONDITION UNIT ATTENTION, re-issued */
	uint64_t retry_busy;	/* BUSY / TASK SET FULL, re-issued */
	uint64_t requeued;	/* cancelled by a path switch, re-issued */
	uint64_t hard_errors;	/* anything else; the write is re-issued too */
	uint64_t abandoned;	/* still unacknowledged at the end */
	uint64_t nop_timeouts;	/* dead paths found by NOPs */
	uint64_t path_switches; /* multipath: active path changed */
	int active_path;
	double elapsed;
	double max_gap;	   /* longest time between two completions, s */
	double max_gap_at; /* when it ended, s since start */
	/* pt_verify() */
	uint64_t v_ok, v_unwritten, v_bad, v_stale, v_read_errors;
	char first_problem[160];
};

struct pt_writer;

struct pt_writer *pt_writer_new(const struct pt_config *cfg);
void pt_writer_free(struct pt_writer *w);

/* Log in on the first path that answers (bounded). 0 or -errno. */
int pt_writer_connect(struct pt_writer *w);

/* Write until cfg.seconds elapse or pt_writer_stop(), then drain what is in
 * flight (bounded by drain_timeout_s). 0, or -errno if no path could be
 * used at all. Results so far are in pt_writer_result(). */
int pt_writer_run(struct pt_writer *w);

void pt_writer_stop(struct pt_writer *w);
/* Stop without draining (teardown after a failure): what is in flight is
 * counted abandoned. pt_writer_run() returns within one path attempt. */
void pt_writer_abort(struct pt_writer *w);

/* Note a moment ("pull", "restore"); returns its index or -1. */
int pt_writer_mark(struct pt_writer *w, const char *label);
int pt_writer_get_mark(struct pt_writer *w, int idx, struct pt_mark *m);
int pt_writer_n_marks(struct pt_writer *w);

/* Read every block of the region back and check it. A block is right iff
 *  - it was never written and no write to it was ever issued (any content
 *    is accepted: counted as unwritten), or
 *  - it carries our generation, its own block number, a good CRC, and a
 *    sequence number S with S == last acknowledged write to it, or
 *    S > that and S was issued to it and not acknowledged (a write in
 *    flight when the path failed may have landed: it was issued after the
 *    last acknowledged one, so it is newer). Anything else -- an older
 *    write (stale), a torn/foreign/zero block where an acknowledged write
 *    should be -- is bad. 0 if every block is right, -EIO if not,
 *    other -errno if the read-back itself failed. */
int pt_verify(struct pt_writer *w);

const struct pt_result *pt_writer_result(struct pt_writer *w);

/* Safe from other threads while pt_writer_run() runs: */
uint64_t pt_writer_acked(struct pt_writer *w);
int pt_writer_active_path(struct pt_writer *w);

/* After pt_writer_run(): the expectations for one block (0-based in the
 * region), for tests that tamper with a block to prove pt_verify() sees
 * it. 0 or -1 (out of range). */
int pt_writer_block_state(struct pt_writer *w, uint64_t blk, uint64_t *acked,
			  uint64_t *last_issued);
uint32_t pt_writer_generation(struct pt_writer *w);

/* One JSON line with the result and every mark. */
void pt_print_result(struct pt_writer *w, FILE *f);

/* Throughput on one path, no verification: random @io_size (multiple of
 * 4 KiB) reads or writes at @qd for @seconds, at offsets from @first_byte
 * to the end of the LUN (keep it clear of a verified region). 0, or -EIO
 * on any error (counted in out->errors). */
struct pt_bench_result {
	double seconds, iops, mbps;
	uint64_t ios, errors;
};
int pt_bench(const char *url, const char *initiator, uint64_t first_byte,
	     uint32_t io_size, int qd, double seconds, bool write,
	     struct pt_bench_result *out);

/* Write every byte from @first_byte to the end of the LUN once (1 MiB
 * writes, QD 8), so that a benchmark that follows measures overwrites of
 * allocated blocks, not a sparse file's block allocation. 0 or -EIO. */
int pt_fill(const char *url, const char *initiator, uint64_t first_byte);

/* The block format, for unit use: fill / check one 4 KiB block. */
void pt_fill_block(uint8_t *buf, uint64_t blk, uint64_t seq, uint32_t gen);
/* 0 ok (seq returned), -1 not ours / torn / wrong block */
int pt_check_block(const uint8_t *buf, uint64_t blk, uint32_t gen,
		   uint64_t *seq);
uint32_t pt_crc32c(const void *buf, size_t len);

#endif
