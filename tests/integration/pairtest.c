// SPDX-License-Identifier: Apache-2.0
/*
 * pairtest: verifying writer/reader over libiscsi's async API (see
 * pairtest.h for the model and the verification rule).
 */
#include "pairtest.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define PT_MAGIC 0x4455455450543031ull /* "DUETPT01" */
#define HDR_CRC_OFF 32u
#define MAX_D(a, b) ((a) > (b) ? (a) : (b))
#define MIN_U(a, b) \
	((uint64_t)(a) < (uint64_t)(b) ? (uint64_t)(a) : (uint64_t)(b))

enum slot_state { SLOT_FREE, SLOT_INFLIGHT, SLOT_RESUBMIT };

struct slot {
	enum slot_state state;
	int path;
	uint64_t blk, seq;
	double not_before; /* RESUBMIT: earliest re-issue */
	int attempts;
	uint8_t *buf;
	struct pt_writer *w;
};

struct path {
	struct iscsi_context *ctx;
	struct iscsi_url *url;
	bool failed; /* needs replacing (deferred out of callbacks) */
	const char *why;
	double last_nop;
};

struct pt_writer {
	struct pt_config cfg;
	struct path paths[PT_MAX_PATHS];
	int active; /* path index, -1 none */
	uint32_t lba_per_blk, block_size;
	uint64_t lun_blocks;
	struct slot *slots;
	int inflight;
	uint8_t *busy;	     /* per block: a write in flight */
	uint64_t *acked_seq; /* per block: last acknowledged, 0 none */
	uint64_t *max_seq;   /* per block: last issued, 0 none */
	uint64_t next_seq, rng;
	double t0, last_done, next_issue, next_progress;
	uint64_t progress_acked;
	struct pt_result r;
	atomic_bool stop;
	atomic_bool abort_now;
	bool closing; /* tearing contexts down: callbacks only free */
	atomic_int n_marks;
	atomic_uint_fast64_t acked_pub; /* for other threads */
	atomic_int active_pub;
	struct pt_mark marks[PT_MAX_MARKS];
};

/* ---- block format ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t pt_crc32c(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = 0xffffffffu;

	if (!crc_table[1])
		crc_init();
	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Header: magic(8) block(8) seq(8) gen(4) pad(4) crc(4) at 32; the rest
 * is a pseudo-random stream from (block, seq, gen). CRC over the block
 * with the CRC field zero. */
void pt_fill_block(uint8_t *buf, uint64_t blk, uint64_t seq, uint32_t gen)
{
	uint64_t x = (blk * 0x9e3779b97f4a7c15ull) ^ (seq << 17) ^ gen ^ 1;

	memset(buf, 0, 40);
	put64(buf, PT_MAGIC);
	put64(buf + 8, blk);
	put64(buf + 16, seq);
	put64(buf + 24, (uint64_t)gen << 32);
	for (size_t i = 40; i < PT_BLOCK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		put64(buf + i, x);
	}
	put64(buf + HDR_CRC_OFF, (uint64_t)pt_crc32c(buf, PT_BLOCK) << 32);
}

int pt_check_block(const uint8_t *buf, uint64_t blk, uint32_t gen,
		   uint64_t *seq)
{
	uint8_t tmp[PT_BLOCK];
	uint32_t crc;

	if (get64(buf) != PT_MAGIC || get64(buf + 8) != blk ||
	    (uint32_t)(get64(buf + 24) >> 32) != gen)
		return -1;
	memcpy(tmp, buf, PT_BLOCK);
	crc = (uint32_t)(get64(tmp + HDR_CRC_OFF) >> 32);
	memset(tmp + HDR_CRC_OFF, 0, 8);
	if (pt_crc32c(tmp, PT_BLOCK) != crc)
		return -1;
	*seq = get64(buf + 16);
	return 0;
}

/* ---- helpers ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rel(struct pt_writer *w)
{
	return now_s() - w->t0;
}

__attribute__((format(printf, 3, 4))) static void
logj(struct pt_writer *w, const char *event, const char *fmt, ...)
{
	va_list ap;

	if (!w->cfg.log)
		return;
	fprintf(w->cfg.log, "{\"t\":%.3f,\"event\":\"%s\"", rel(w), event);
	if (fmt && *fmt) {
		fputc(',', w->cfg.log);
		va_start(ap, fmt);
		vfprintf(w->cfg.log, fmt, ap);
		va_end(ap);
	}
	fputs("}\n", w->cfg.log);
	fflush(w->cfg.log);
}

static uint64_t rnd(struct pt_writer *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

struct pt_writer *pt_writer_new(const struct pt_config *cfg)
{
	struct pt_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cfg = *cfg;
	if (!w->cfg.initiator)
		w->cfg.initiator = "iqn.2026-11.org.example:pairio";
	if (!w->cfg.n_blocks)
		w->cfg.n_blocks = 2048;
	if (w->cfg.qd <= 0)
		w->cfg.qd = 8;
	if (!w->cfg.nop_interval_ms)
		w->cfg.nop_interval_ms = 1000;
	if (w->cfg.nop_max <= 0)
		w->cfg.nop_max = 3;
	if (w->cfg.connect_timeout_s <= 0)
		w->cfg.connect_timeout_s = 3;
	if (w->cfg.drain_timeout_s <= 0)
		w->cfg.drain_timeout_s = 60;
	if (w->cfg.max_attempts <= 0)
		w->cfg.max_attempts = 1000;
	if (!w->cfg.generation)
		w->cfg.generation = (uint32_t)time(NULL) ^ (uint32_t)rand();
	w->active = -1;
	w->t0 = now_s();
	w->rng = 0x2545f4914f6cdd1dull ^ w->cfg.generation;
	w->next_seq = 1;
	w->slots = calloc((size_t)w->cfg.qd, sizeof(*w->slots));
	w->busy = calloc(w->cfg.n_blocks, 1);
	w->acked_seq = calloc(w->cfg.n_blocks, sizeof(uint64_t));
	w->max_seq = calloc(w->cfg.n_blocks, sizeof(uint64_t));
	if (!w->slots || !w->busy || !w->acked_seq || !w->max_seq)
		goto fail;
	for (int i = 0; i < w->cfg.qd; i++) {
		w->slots[i].w = w;
		if (!(w->slots[i].buf = aligned_alloc(4096, PT_BLOCK)))
			goto fail;
	}
	return w;
fail:
	pt_writer_free(w);
	return NULL;
}

static void path_close(struct path *p)
{
	if (p->ctx) {
		iscsi_destroy_context(p->ctx);
		p->ctx = NULL;
	}
	if (p->url) {
		iscsi_destroy_url(p->url);
		p->url = NULL;
	}
	p->failed = false;
	p->why = NULL;
}

void pt_writer_free(struct pt_writer *w)
{
	if (!w)
		return;
	/* destroying a context calls back cancelled commands: stop first */
	for (int i = 0; i < PT_MAX_PATHS; i++)
		path_close(&w->paths[i]);
	if (w->slots)
		for (int i = 0; i < w->cfg.qd; i++)
			free(w->slots[i].buf);
	free(w->slots);
	free(w->busy);
	free(w->acked_seq);
	free(w->max_seq);
	free(w);
}

/* ---- connecting ---- */

struct conn_wait {
	int done, status;
};

static void connect_cb(struct iscsi_context *ctx, int status, void *data,
		       void *priv)
{
	struct conn_wait *cw = priv;
	cw->done = 1;
	cw->status = status;
}

/* Run ctx's loop until *done or the deadline. */
static int loop_until(struct iscsi_context *ctx, int *done, double deadline)
{
	while (!*done) {
		struct pollfd pfd = {.fd = iscsi_get_fd(ctx),
				     .events = (short)iscsi_which_events(ctx)};
		double left = deadline - now_s();
		int rc;

		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, left > 0.1 ? 100 : (int)(left * 1000) + 1);
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (iscsi_service(ctx, rc > 0 ? pfd.revents : 0) < 0)
			return -EIO;
	}
	return 0;
}

static int read_capacity(struct pt_writer *w, struct iscsi_context *ctx,
			 int lun)
{
	struct scsi_task *t = iscsi_readcapacity16_sync(ctx, lun);
	struct scsi_readcapacity16 *rc16;
	int ret = -EIO;

	if (t && t->status == SCSI_STATUS_GOOD &&
	    (rc16 = scsi_datain_unmarshall(t)) && rc16->block_length &&
	    PT_BLOCK % rc16->block_length == 0) {
		w->block_size = rc16->block_length;
		w->lba_per_blk = PT_BLOCK / rc16->block_length;
		w->lun_blocks = (rc16->returned_lba + 1) / w->lba_per_blk;
		ret = 0;
	}
	if (t)
		scsi_free_scsi_task(t);
	return ret;
}

/* One bounded login attempt on path i. */
static int path_open(struct pt_writer *w, int i)
{
	struct path *p = &w->paths[i];
	struct conn_wait cw = {0};
	int rc;

	path_close(p);
	p->ctx = iscsi_create_context(w->cfg.initiator);
	if (!p->ctx)
		return -ENOMEM;
	p->url = iscsi_parse_full_url(p->ctx, w->cfg.urls[i]);
	if (!p->url) {
		logj(w, "error", "\"msg\":\"bad url %s\"", w->cfg.urls[i]);
		path_close(p);
		return -EINVAL;
	}
	iscsi_set_targetname(p->ctx, p->url->target);
	iscsi_set_session_type(p->ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(p->ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	/* one path: libiscsi reconnects by itself (qemu's way); several:
	 * we move commands between paths ourselves (multipath's way). */
	iscsi_set_noautoreconnect(p->ctx, w->cfg.n_urls > 1);
	if (iscsi_full_connect_async(p->ctx, p->url->portal, p->url->lun,
				     connect_cb, &cw) != 0)
		rc = -ECONNREFUSED;
	else
		rc = loop_until(p->ctx, &cw.done,
				now_s() + w->cfg.connect_timeout_s);
	if (rc == 0 && cw.status != SCSI_STATUS_GOOD)
		rc = -ECONNREFUSED;
	if (rc == 0 && !w->block_size) {
		iscsi_set_timeout(p->ctx, w->cfg.connect_timeout_s);
		rc = read_capacity(w, p->ctx, p->url->lun);
		iscsi_set_timeout(p->ctx, 0);
		if (rc == 0 &&
		    w->lun_blocks < w->cfg.first_block + w->cfg.n_blocks) {
			logj(w, "error", "\"msg\":\"LUN too small\"");
			rc = -ENOSPC;
		}
	}
	if (rc) {
		logj(w, "login_failed", "\"path\":%d,\"url\":\"%s\",\"err\":%d",
		     i, w->cfg.urls[i], rc);
		path_close(p);
		return rc;
	}
	p->last_nop = now_s();
	logj(w, "login", "\"path\":%d,\"url\":\"%s\"", i, w->cfg.urls[i]);
	return 0;
}

/* The first path that logs in, trying them in order from @start
 * (wrapping); one round. */
static int open_some_path(struct pt_writer *w, int start)
{
	for (int k = 0; k < w->cfg.n_urls; k++) {
		int i = (start + k) % w->cfg.n_urls;
		if (path_open(w, i) == 0) {
			if (w->active >= 0 && w->active != i) {
				w->r.path_switches++;
				logj(w, "path_switch", "\"from\":%d,\"to\":%d",
				     w->active, i);
			}
			w->active = i;
			w->r.active_path = i;
			atomic_store(&w->active_pub, i);
			return 0;
		}
	}
	w->active = -1;
	return -EHOSTUNREACH;
}

int pt_writer_connect(struct pt_writer *w)
{
	if (w->cfg.n_urls < 1 || w->cfg.n_urls > PT_MAX_PATHS)
		return -EINVAL;
	w->t0 = now_s();
	w->last_done = 0;
	return open_some_path(w, 0);
}

/* ---- writing ---- */

static void write_cb(struct iscsi_context *ctx, int status, void *data,
		     void *priv);

static void slot_done(struct pt_writer *w, struct slot *s)
{
	w->busy[s->blk] = 0;
	s->state = SLOT_FREE;
	w->inflight--;
}

static int slot_issue(struct pt_writer *w, struct slot *s)
{
	struct path *p = &w->paths[w->active];
	struct scsi_task *t;

	t = iscsi_write16_task(p->ctx, p->url->lun,
			       (w->cfg.first_block + s->blk) * w->lba_per_blk,
			       s->buf, PT_BLOCK, (int)w->block_size, 0, 0, 0, 0,
			       0, write_cb, s);
	if (!t)
		return -ENOMEM;
	s->path = w->active;
	s->state = SLOT_INFLIGHT;
	s->attempts++;
	return 0;
}

static void completion_tick(struct pt_writer *w)
{
	double t = rel(w);
	double gap = t - w->last_done;
	int n = atomic_load(&w->n_marks);

	if (gap > w->r.max_gap) {
		w->r.max_gap = gap;
		w->r.max_gap_at = t;
	}
	/* a completion counts for the latest mark before it only: a stall
	 * belongs to the event that caused it, not to earlier ones */
	for (int i = n - 1; i >= 0; i--) {
		struct pt_mark *m = &w->marks[i];
		if (t < m->t)
			continue;
		if (m->first_done < 0)
			m->first_done = t - m->t;
		if (gap > m->stall) {
			m->stall = gap;
			m->resume = t - m->t;
		}
		break;
	}
	w->last_done = t;
}

static bool sense_is_ua(struct scsi_task *t)
{
	return t && t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
}

static void retry_later(struct pt_writer *w, struct slot *s, double delay)
{
	if (s->attempts >= w->cfg.max_attempts) {
		logj(w, "give_up", "\"blk\":%" PRIu64 ",\"seq\":%" PRIu64,
		     s->blk, s->seq);
		w->r.abandoned++;
		slot_done(w, s);
		return;
	}
	s->state = SLOT_RESUBMIT;
	s->not_before = now_s() + delay;
}

static void write_cb(struct iscsi_context *ctx, int status, void *data,
		     void *priv)
{
	struct slot *s = priv;
	struct pt_writer *w = s->w;
	struct scsi_task *t = data;

	if (w->closing) {
		/* teardown: the write stays issued-not-acknowledged */
	} else if (status == SCSI_STATUS_GOOD) {
		w->r.acked++;
		atomic_store(&w->acked_pub, w->r.acked);
		if (s->seq > w->acked_seq[s->blk])
			w->acked_seq[s->blk] = s->seq;
		completion_tick(w);
		if (w->cfg.log_each)
			logj(w, "ack",
			     "\"blk\":%" PRIu64 ",\"seq\":%" PRIu64
			     ",\"path\":%d",
			     s->blk, s->seq, s->path);
		slot_done(w, s);
	} else if (status == SCSI_STATUS_CHECK_CONDITION && sense_is_ua(t)) {
		w->r.retry_ua++;
		logj(w, "retry", "\"why\":\"unit attention\",\"asc\":\"%04x\"",
		     t->sense.ascq);
		retry_later(w, s, 0);
	} else if (status == SCSI_STATUS_BUSY ||
		   status == SCSI_STATUS_TASK_SET_FULL) {
		w->r.retry_busy++;
		retry_later(w, s, 0.05);
	} else if (status == SCSI_STATUS_CANCELLED) {
		/* path switch (multipath mode) or context teardown */
		w->r.requeued++;
		w->paths[s->path].failed = true;
		retry_later(w, s, 0);
	} else {
		w->r.hard_errors++;
		logj(w, "write_error",
		     "\"status\":%d,\"sense\":\"%s\",\"blk\":%" PRIu64
		     ",\"err\":\"%s\"",
		     status, t ? scsi_sense_ascq_str(t->sense.ascq) : "-",
		     s->blk, iscsi_get_error(ctx));
		retry_later(w, s, 0.1);
	}
	if (t)
		scsi_free_scsi_task(t);
}

static struct slot *free_slot(struct pt_writer *w)
{
	for (int i = 0; i < w->cfg.qd; i++)
		if (w->slots[i].state == SLOT_FREE)
			return &w->slots[i];
	return NULL;
}

/* A random block with no write in flight (bounded search). */
static int pick_block(struct pt_writer *w, uint64_t *blk)
{
	for (int tries = 0; tries < 64; tries++) {
		uint64_t b = rnd(w) % w->cfg.n_blocks;
		if (!w->busy[b]) {
			*blk = b;
			return 0;
		}
	}
	return -1;
}

static void issue_new(struct pt_writer *w)
{
	struct slot *s;
	uint64_t blk;

	while (w->inflight < w->cfg.qd && (s = free_slot(w)) &&
	       pick_block(w, &blk) == 0) {
		if (w->cfg.rate > 0) {
			double t = now_s();
			if (t < w->next_issue)
				return;
			/* catch up after a slow poll, but no burst after
			 * a stall */
			w->next_issue =
				MAX_D(t - 0.1, w->next_issue) + 1 / w->cfg.rate;
		}
		s->blk = blk;
		s->seq = w->next_seq++;
		s->attempts = 0;
		pt_fill_block(s->buf, w->cfg.first_block + blk, s->seq,
			      w->cfg.generation);
		w->busy[blk] = 1;
		w->max_seq[blk] = s->seq;
		w->inflight++;
		w->r.issued++;
		if (slot_issue(w, s) != 0)
			retry_later(w, s, 0.1);
	}
}

static void resubmit_due(struct pt_writer *w)
{
	double t = now_s();

	for (int i = 0; i < w->cfg.qd; i++) {
		struct slot *s = &w->slots[i];
		if (s->state == SLOT_RESUBMIT && t >= s->not_before &&
		    slot_issue(w, s) != 0)
			s->not_before = t + 0.1;
	}
}

static void nop_cb(struct iscsi_context *ctx, int status, void *data,
		   void *priv)
{
}

/* qemu's dead-path check: a NOP-Out every interval; nop_max unanswered =
 * dead. One path: libiscsi reconnects (same address). Several: cancel
 * everything on this path; the loop moves it to another path. */
static void nop_tick(struct pt_writer *w)
{
	struct path *p = &w->paths[w->active];
	double t = now_s();

	if (w->cfg.nop_interval_ms < 0 || !iscsi_is_logged_in(p->ctx) ||
	    t - p->last_nop < w->cfg.nop_interval_ms / 1000.0)
		return;
	p->last_nop = t;
	if (iscsi_get_nops_in_flight(p->ctx) >= w->cfg.nop_max) {
		w->r.nop_timeouts++;
		logj(w, "nop_timeout", "\"path\":%d", w->active);
		if (w->cfg.n_urls > 1) {
			p->failed = true;
			p->why = "NOP timeout";
			iscsi_scsi_cancel_all_tasks(p->ctx);
		} else {
			iscsi_reconnect(p->ctx);
		}
		return;
	}
	iscsi_nop_out_async(p->ctx, nop_cb, NULL, 0, NULL);
}

/* The active path is gone: cancel what it holds (callbacks mark those
 * slots for re-issue) and open the first path that logs in. */
static void path_failover(struct pt_writer *w)
{
	int old = w->active;

	if (old >= 0) {
		logj(w, "path_down", "\"path\":%d,\"why\":\"%s\"", old,
		     w->paths[old].why ? w->paths[old].why : "connection lost");
		if (w->paths[old].ctx)
			iscsi_scsi_cancel_all_tasks(w->paths[old].ctx);
		path_close(&w->paths[old]);
		/* whatever the context dropped without a callback */
		for (int i = 0; i < w->cfg.qd; i++) {
			struct slot *s = &w->slots[i];
			if (s->state == SLOT_INFLIGHT && s->path == old) {
				w->r.requeued++;
				retry_later(w, s, 0);
			}
		}
	}
	/* like multipath: the other paths first, the one that just failed
	 * last (from the preferred one after it when there are several) */
	if (open_some_path(w, old >= 0 ? (old + 1) % w->cfg.n_urls : 0) != 0) {
		w->active = -1;
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
		return;
	}
	if (old >= 0 && w->active == old)
		logj(w, "path_back", "\"path\":%d", old);
}

static void progress_tick(struct pt_writer *w)
{
	double t = rel(w);

	if (w->cfg.progress_s <= 0 || t < w->next_progress)
		return;
	logj(w, "progress",
	     "\"acked\":%" PRIu64 ",\"iops\":%.0f,\"inflight\":%d,"
	     "\"path\":%d,\"retries\":%" PRIu64 ",\"errors\":%" PRIu64,
	     w->r.acked,
	     (double)(w->r.acked - w->progress_acked) / w->cfg.progress_s,
	     w->inflight, w->active,
	     w->r.retry_ua + w->r.retry_busy + w->r.requeued, w->r.hard_errors);
	w->progress_acked = w->r.acked;
	w->next_progress = t + w->cfg.progress_s;
}

static void service_once(struct pt_writer *w)
{
	struct path *p = &w->paths[w->active];
	struct pollfd pfd = {.fd = iscsi_get_fd(p->ctx),
			     .events = (short)iscsi_which_events(p->ctx)};
	int rc = poll(&pfd, 1, 20);

	if (rc < 0 && errno != EINTR)
		return;
	if (iscsi_service(p->ctx, rc > 0 ? pfd.revents : 0) < 0) {
		logj(w, "service_error", "\"path\":%d,\"err\":\"%s\"",
		     w->active, iscsi_get_error(p->ctx));
		p->failed = true;
	}
}

int pt_writer_run(struct pt_writer *w)
{
	double end = w->cfg.seconds > 0 ? now_s() + w->cfg.seconds : 1e300;
	double hard_end = 1e300;
	bool draining = false;

	w->last_done = rel(w);
	logj(w, "start", "\"qd\":%d,\"blocks\":%" PRIu64 ",\"gen\":%u",
	     w->cfg.qd, w->cfg.n_blocks, w->cfg.generation);
	for (;;) {
		double t = now_s();

		if (!draining && (atomic_load(&w->stop) || t >= end)) {
			draining = true;
			hard_end = t + w->cfg.drain_timeout_s;
			logj(w, "drain", "\"inflight\":%d", w->inflight);
		}
		if (draining && w->inflight == 0)
			break;
		if (atomic_load(&w->abort_now))
			hard_end = t;
		if (t >= hard_end) {
			logj(w, "drain_timeout", "\"inflight\":%d",
			     w->inflight);
			w->r.abandoned += (uint64_t)w->inflight;
			break;
		}
		if (w->active < 0 || w->paths[w->active].failed) {
			path_failover(w);
			continue;
		}
		resubmit_due(w);
		if (!draining)
			issue_new(w);
		nop_tick(w);
		progress_tick(w);
		if (w->active >= 0 && !w->paths[w->active].failed)
			service_once(w);
	}
	w->r.elapsed = rel(w);
	logj(w, "stop",
	     "\"issued\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"max_gap\":%.3f",
	     w->r.issued, w->r.acked, w->r.max_gap);
	return w->r.acked ? 0 : -EIO;
}

void pt_writer_stop(struct pt_writer *w)
{
	atomic_store(&w->stop, true);
}

void pt_writer_abort(struct pt_writer *w)
{
	atomic_store(&w->abort_now, true);
	atomic_store(&w->stop, true);
}

int pt_writer_mark(struct pt_writer *w, const char *label)
{
	int idx = atomic_load(&w->n_marks);
	struct pt_mark *m;

	if (idx >= PT_MAX_MARKS)
		return -1;
	m = &w->marks[idx];
	snprintf(m->label, sizeof(m->label), "%s", label);
	m->t = rel(w);
	m->first_done = -1;
	m->resume = -1;
	m->stall = 0;
	atomic_store(&w->n_marks, idx + 1);
	return idx;
}

int pt_writer_n_marks(struct pt_writer *w)
{
	return atomic_load(&w->n_marks);
}

int pt_writer_get_mark(struct pt_writer *w, int idx, struct pt_mark *m)
{
	if (idx < 0 || idx >= atomic_load(&w->n_marks))
		return -1;
	*m = w->marks[idx];
	return 0;
}

uint64_t pt_writer_acked(struct pt_writer *w)
{
	return atomic_load(&w->acked_pub);
}

int pt_writer_active_path(struct pt_writer *w)
{
	return atomic_load(&w->active_pub);
}

int pt_writer_block_state(struct pt_writer *w, uint64_t blk, uint64_t *acked,
			  uint64_t *last_issued)
{
	if (blk >= w->cfg.n_blocks)
		return -1;
	*acked = w->acked_seq[blk];
	*last_issued = w->max_seq[blk];
	return 0;
}

uint32_t pt_writer_generation(struct pt_writer *w)
{
	return w->cfg.generation;
}

const struct pt_result *pt_writer_result(struct pt_writer *w)
{
	return &w->r;
}

/* ---- verification ---- */

static void problem(struct pt_writer *w, const char *fmt, uint64_t blk,
		    uint64_t a, uint64_t b)
{
	if (!w->r.first_problem[0])
		snprintf(w->r.first_problem, sizeof(w->r.first_problem), fmt,
			 blk, a, b);
	logj(w, "verify_bad",
	     "\"blk\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"found\":%" PRIu64,
	     blk, a, b);
}

static void check_one(struct pt_writer *w, uint64_t b, const uint8_t *buf)
{
	uint64_t acked = w->acked_seq[b], mx = w->max_seq[b], s = 0;
	uint64_t abs_blk = w->cfg.first_block + b;
	bool ours = pt_check_block(buf, abs_blk, w->cfg.generation, &s) == 0;

	if (mx == 0 || (!ours && acked == 0)) {
		w->r.v_unwritten++; /* nothing acknowledged to find here */
	} else if (!ours) {
		w->r.v_bad++;
		problem(w,
			"block %" PRIu64 ": acknowledged seq %" PRIu64
			" missing (torn/foreign/old content)",
			abs_blk, acked, 0);
	} else if (s == acked || (s > acked && s <= mx)) {
		w->r.v_ok++;
	} else if (s < acked) {
		w->r.v_stale++;
		problem(w,
			"block %" PRIu64 ": stale: acknowledged seq %" PRIu64
			", found older %" PRIu64,
			abs_blk, acked, s);
	} else {
		w->r.v_bad++;
		problem(w,
			"block %" PRIu64 ": last issued %" PRIu64
			", found never-issued %" PRIu64,
			abs_blk, mx, s);
	}
}

static int read_chunk(struct pt_writer *w, uint64_t b, uint32_t n, uint8_t *out)
{
	for (int tries = 0; tries < 10; tries++) {
		struct path *p;
		struct scsi_task *t;

		if (w->active < 0 || w->paths[w->active].failed) {
			if (w->active >= 0)
				path_close(&w->paths[w->active]);
			if (open_some_path(w, 0) != 0) {
				sleep(1);
				continue;
			}
		}
		p = &w->paths[w->active];
		iscsi_set_timeout(p->ctx, 10);
		t = iscsi_read16_sync(p->ctx, p->url->lun,
				      (w->cfg.first_block + b) * w->lba_per_blk,
				      n * PT_BLOCK, (int)w->block_size, 0, 0, 0,
				      0, 0);
		if (t && t->status == SCSI_STATUS_GOOD &&
		    t->datain.size >= (int)(n * PT_BLOCK)) {
			memcpy(out, t->datain.data, (size_t)n * PT_BLOCK);
			scsi_free_scsi_task(t);
			return 0;
		}
		logj(w, "read_error", "\"blk\":%" PRIu64 ",\"err\":\"%s\"", b,
		     iscsi_get_error(p->ctx));
		if (t)
			scsi_free_scsi_task(t);
		w->r.v_read_errors++;
		w->paths[w->active].failed = true;
	}
	return -EIO;
}

int pt_verify(struct pt_writer *w)
{
	const uint32_t chunk = 64;
	uint8_t *buf = aligned_alloc(4096, (size_t)chunk * PT_BLOCK);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	/* A fresh session: nothing from the writing sessions can complete
	 * (and change the expectations) while we read. */
	w->closing = true;
	for (int i = 0; i < PT_MAX_PATHS; i++)
		path_close(&w->paths[i]);
	w->active = -1;
	for (uint64_t b = 0; b < w->cfg.n_blocks && rc == 0; b += chunk) {
		uint32_t n = (uint32_t)MIN_U(chunk, w->cfg.n_blocks - b);
		rc = read_chunk(w, b, n, buf);
		for (uint32_t i = 0; rc == 0 && i < n; i++)
			check_one(w, b + i, buf + (size_t)i * PT_BLOCK);
	}
	free(buf);
	logj(w, "verify",
	     "\"ok\":%" PRIu64 ",\"unwritten\":%" PRIu64 ",\"bad\":%" PRIu64
	     ",\"stale\":%" PRIu64,
	     w->r.v_ok, w->r.v_unwritten, w->r.v_bad, w->r.v_stale);
	if (rc)
		return rc;
	return w->r.v_bad || w->r.v_stale ? -EIO : 0;
}

void pt_print_result(struct pt_writer *w, FILE *f)
{
	const struct pt_result *r = &w->r;
	int n = pt_writer_n_marks(w);

	fprintf(f,
		"{\"event\":\"result\",\"elapsed\":%.3f,\"issued\":%" PRIu64
		",\"acked\":%" PRIu64 ",\"retry_ua\":%" PRIu64
		",\"retry_busy\":%" PRIu64 ",\"requeued\":%" PRIu64
		",\"hard_errors\":%" PRIu64 ",\"abandoned\":%" PRIu64
		",\"nop_timeouts\":%" PRIu64 ",\"path_switches\":%" PRIu64
		",\"max_gap\":%.3f,\"max_gap_at\":%.3f,\"v_ok\":%" PRIu64
		",\"v_unwritten\":%" PRIu64 ",\"v_bad\":%" PRIu64
		",\"v_stale\":%" PRIu64 ",\"marks\":[",
		r->elapsed, r->issued, r->acked, r->retry_ua, r->retry_busy,
		r->requeued, r->hard_errors, r->abandoned, r->nop_timeouts,
		r->path_switches, r->max_gap, r->max_gap_at, r->v_ok,
		r->v_unwritten, r->v_bad, r->v_stale);
	for (int i = 0; i < n; i++)
		fprintf(f,
			"%s{\"label\":\"%s\",\"t\":%.3f,\"first_done\":%.3f,"
			"\"resume\":%.3f,\"stall\":%.3f}",
			i ? "," : "", w->marks[i].label, w->marks[i].t,
			w->marks[i].first_done, w->marks[i].resume,
			w->marks[i].stall);
	fprintf(f, "]%s%s%s}\n", r->first_problem[0] ? ",\"problem\":\"" : "",
		r->first_problem, r->first_problem[0] ? "\"" : "");
	fflush(f);
}

/* ---- throughput (no verification) ---- */

struct bench {
	int inflight, errors;
	uint64_t ios;
	struct scsi_iovec iov; /* reads land here, straight off the socket */
};

static void bench_cb(struct iscsi_context *ctx, int status, void *data,
		     void *priv)
{
	struct bench *b = priv;

	b->inflight--;
	if (status == SCSI_STATUS_GOOD)
		b->ios++;
	else
		b->errors++;
	if (data)
		scsi_free_scsi_task(data);
}

static int bench_issue(struct iscsi_context *ctx, struct iscsi_url *u,
		       struct bench *b, uint8_t *buf, uint32_t io, bool wr,
		       uint64_t lba, uint32_t bsz)
{
	struct scsi_task *t;

	if (wr)
		t = iscsi_write16_task(ctx, u->lun, lba, buf, io, (int)bsz, 0,
				       0, 0, 0, 0, bench_cb, b);
	else
		t = iscsi_read16_iov_task(ctx, u->lun, lba, io, (int)bsz, 0, 0,
					  0, 0, 0, bench_cb, b, &b->iov, 1);
	if (!t)
		return -ENOMEM;
	b->inflight++;
	return 0;
}

/* fill: write every @io_size chunk from @first_byte to the end once, in
 * order (no time limit); otherwise random offsets for @seconds. */
static int bench_run(const char *url, const char *initiator,
		     uint64_t first_byte, uint32_t io_size, int qd,
		     double seconds, bool write, bool fill,
		     struct pt_bench_result *out)
{
	struct iscsi_context *ctx = iscsi_create_context(
		initiator ? initiator : "iqn.2026-11.org.example:bench");
	struct iscsi_url *u = NULL;
	struct bench b = {0};
	struct pt_writer tmp = {0};
	uint8_t *buf = aligned_alloc(4096, io_size);
	uint64_t span, next = 0, rng = 0x9e3779b97f4a7c15ull;
	double t0, end;
	int rc = -EIO;

	memset(out, 0, sizeof(*out));
	if (!ctx || !buf || io_size % PT_BLOCK)
		goto out;
	memset(buf, 0xa5, io_size);
	/* The load generator reads into one reused buffer, as a real
	 * initiator reads into the caller's pages: no per-I/O malloc and
	 * copy in the client, whose CPU shares this machine with the
	 * daemons it measures. */
	b.iov.iov_base = buf;
	b.iov.iov_len = io_size;
	u = iscsi_parse_full_url(ctx, url);
	if (!u)
		goto out;
	iscsi_set_targetname(ctx, u->target);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	if (iscsi_full_connect_sync(ctx, u->portal, u->lun) != 0 ||
	    read_capacity(&tmp, ctx, u->lun) != 0)
		goto out;
	span = tmp.lun_blocks * PT_BLOCK;
	if (span <= first_byte + io_size)
		goto out;
	span = (span - first_byte) / io_size;
	t0 = now_s();
	end = fill ? t0 + 3600 : t0 + seconds;
	while ((now_s() < end && next < span) || b.inflight > 0) {
		struct pollfd p;
		while (now_s() < end && next < span && b.inflight < qd) {
			uint64_t chunk = next;

			if (fill)
				next++;
			else
				rng ^= rng << 13, rng ^= rng >> 7,
					rng ^= rng << 17, chunk = rng % span;
			if (bench_issue(ctx, u, &b, buf, io_size, write,
					(first_byte + chunk * io_size) /
						tmp.block_size,
					tmp.block_size))
				goto out;
		}
		p.fd = iscsi_get_fd(ctx);
		p.events = (short)iscsi_which_events(ctx);
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			goto out;
		if (iscsi_service(ctx, p.revents) < 0 || now_s() > end + 30)
			goto out;
	}
	out->seconds = now_s() - t0;
	out->ios = b.ios;
	out->errors = (uint64_t)b.errors;
	out->iops = (double)b.ios / out->seconds;
	out->mbps = out->iops * io_size / 1e6;
	rc = b.errors ? -EIO : 0;
out:
	if (ctx) {
		if (iscsi_is_logged_in(ctx))
			iscsi_logout_sync(ctx);
		iscsi_destroy_context(ctx);
	}
	if (u)
		iscsi_destroy_url(u);
	free(buf);
	return rc;
}

int pt_bench(const char *url, const char *initiator, uint64_t first_byte,
	     uint32_t io_size, int qd, double seconds, bool write,
	     struct pt_bench_result *out)
{
	return bench_run(url, initiator, first_byte, io_size, qd, seconds,
			 write, false, out);
}

int pt_fill(const char *url, const char *initiator, uint64_t first_byte)
{
	struct pt_bench_result r;

	return bench_run(url, initiator, first_byte, 1u << 20, 8, 0, true, true,
			 &r);
}
