// SPDX-License-Identifier: Apache-2.0
/*
 * The io_uring engine: READ, WRITE and FLUSH without a thread handoff.
 *
 * bs_submit() fills an SQE on the loop thread and activates one "kick"
 * event; the kick submits every SQE queued during that loop turn with one
 * io_uring_enter(), then reaps what already completed (page-cache hits
 * complete inside the submit). Requests the kernel finishes later post a
 * CQE and signal an eventfd watched by the loop; one wakeup reaps every
 * CQE.
 *
 * Durability is bs_file.c's: a stable write (write-through LUN, or FUA) is
 * on stable storage when it completes. Here it is a plain write followed by
 * IORING_OP_FSYNC(DATASYNC) of the range written, which is what RWF_DSYNC
 * does inside the kernel (generic_write_sync -> vfs_fsync_range), but the
 * page-cache copy completes inline and the syncs of concurrent writes run
 * in parallel; a RWF_DSYNC write is punted to io-wq, where writes to one
 * file are serialized (hashed per inode): measured 2-3x fewer 4K QD32
 * write-through IOPS on ext4. So RWF_DSYNC is never needed here. FLUSH is
 * IORING_OP_FSYNC(DATASYNC) of the whole file. Short transfers are
 * resubmitted for the rest; a read that hits EOF (the file shrank) is -EIO,
 * like the pool.
 *
 * At most URING_CQ_ENTRIES requests are in the kernel, so the CQ never
 * overflows; beyond that, and when the SQ is full after a submit, requests
 * wait in a FIFO in user space. Nothing is dropped, nothing blocks.
 */
#include <errno.h>
#include <event2/event.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "bs_int.h"
#include "duet/log.h"
#include "duet/util.h"

#define URING_SQ_ENTRIES 256u
#define URING_CQ_ENTRIES 1024u
#define URING_MAX_XFER (1u << 30)
#define URING_RETRIES 100u   /* -EAGAIN/-EINTR in a row before giving up */
#define URING_DRAIN_MS 30000 /* bs_shutdown waits this long at most */
#define URING_PUMP_ROUNDS 8u /* submit+reap rounds per loop turn */

enum {
	ST_READ,
	ST_WRITE,	    /* write-back: plain write */
	ST_WRITE_THEN_SYNC, /* stable: write, then fdatasync of the range */
	ST_FSYNC,	    /* FLUSH, or the second half of the above */
};

static struct {
	struct io_uring ring;
	bool active;
	bool stopping;
	bool kicked; /* ev_kick is active or armed */
	bool submit_err_logged;
	int efd;
	struct event *ev_cq;
	struct event *ev_kick;
	unsigned inflight;	 /* SQEs filled whose CQE is not reaped */
	struct bs_io *wait_head; /* waiting for room in the ring (FIFO) */
	struct bs_io *wait_tail;
} ur = {.efd = -1};

bool bs_uring_active(void)
{
	return ur.active;
}

static void kick(void)
{
	if (ur.kicked || !ur.ev_kick)
		return;
	ur.kicked = true;
	event_active(ur.ev_kick, EV_TIMEOUT, 1);
}

static void prep(struct io_uring_sqe *sqe, struct bs_io *io)
{
	int fd = io->dev->fd;
	uint64_t left = io->len - io->xfer;
	unsigned n = (unsigned)MIN(left, (uint64_t)URING_MAX_XFER);
	char *buf = io->buf; /* NULL for FLUSH */
	uint64_t off = io->offset + io->xfer;

	if (io->stage == ST_FSYNC) {
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		if (io->op == BS_OP_WRITE && io->len && io->len <= UINT32_MAX) {
			sqe->off = io->offset; /* just the range written */
			sqe->len = (uint32_t)io->len;
		}
	} else if (left == 0) /* zero-length READ/WRITE: nothing to do */
		io_uring_prep_nop(sqe);
	else if (io->stage == ST_READ)
		io_uring_prep_read(sqe, fd, buf + io->xfer, n, off);
	else
		io_uring_prep_write(sqe, fd, buf + io->xfer, n, off);
	io_uring_sqe_set_data(sqe, io);
}

/* Give the kernel every filled SQE; on failure they stay and we retry. */
static void submit_now(void)
{
	static const struct timeval retry = {0, 1000};
	int ret;

	if (!io_uring_sq_ready(&ur.ring))
		return;
	ret = io_uring_submit(&ur.ring);
	if (ret >= 0 || ret == -EINTR) {
		if (io_uring_sq_ready(&ur.ring))
			kick();
		return;
	}
	if (!ur.submit_err_logged)
		log_warn("backing store: io_uring submit failed: %s; retrying",
			 strerror(-ret));
	ur.submit_err_logged = true;
	if (!ur.kicked && event_add(ur.ev_kick, &retry) == 0)
		ur.kicked = true;
}

/* Fill an SQE for io's next step, or false when the ring has no room. */
static bool start(struct bs_io *io)
{
	struct io_uring_sqe *sqe;

	if (ur.inflight >= URING_CQ_ENTRIES)
		return false;
	sqe = io_uring_get_sqe(&ur.ring);
	if (!sqe) {
		submit_now();
		sqe = io_uring_get_sqe(&ur.ring);
		if (!sqe)
			return false;
	}
	prep(sqe, io);
	ur.inflight++;
	kick();
	return true;
}

static void wait_push(struct bs_io *io)
{
	io->next = NULL;
	if (ur.wait_tail)
		ur.wait_tail->next = io;
	else
		ur.wait_head = io;
	ur.wait_tail = io;
}

/* Start waiting requests, oldest first, while there is room. */
static void drain_waiting(void)
{
	while (ur.wait_head && start(ur.wait_head)) {
		ur.wait_head = ur.wait_head->next;
		if (!ur.wait_head)
			ur.wait_tail = NULL;
	}
}

/* The next step of io: start it now unless older requests wait. */
static void step(struct bs_io *io)
{
	if (ur.wait_head || !start(io))
		wait_push(io);
}

static void finish(struct bs_io *io, int result)
{
	io->result = result;
	io->next = NULL;
	io->done(io);
}

/* A CQE for io: finish it, or send the rest / the next step. */
static void complete(struct bs_io *io, int res)
{
	ur.inflight--;
	if ((res == -EAGAIN || res == -EINTR) && io->retries < URING_RETRIES) {
		io->retries++;
		step(io);
		return;
	}
	io->retries = 0;
	if (res < 0 || io->stage == ST_FSYNC) {
		finish(io, res < 0 ? res : 0);
		return;
	}
	if (io->xfer < io->len) {
		if (res == 0) { /* EOF: the file shrank under us */
			finish(io, -EIO);
			return;
		}
		io->xfer += (uint64_t)res;
		if (io->xfer < io->len) {
			step(io);
			return;
		}
	}
	if (io->stage == ST_WRITE_THEN_SYNC) {
		io->stage = ST_FSYNC;
		step(io);
		return;
	}
	finish(io, 0);
}

/* Run every CQE available now; returns how many. */
static unsigned reap(void)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(&ur.ring, &cqe) == 0) {
		struct bs_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&ur.ring, cqe);
		complete(io, res);
		n++;
	}
	return n;
}

/* Submit what is queued and run what completed, a few rounds at most.
 * (The eventfd stays armed: switching it off while we reap would race
 * with a CQE posted by another CPU, and a lost wakeup stalls I/O.) */
static void pump(void)
{
	unsigned rounds = 0;

	do {
		drain_waiting();
		submit_now();
	} while (reap() && ++rounds < URING_PUMP_ROUNDS);
	if (io_uring_cq_ready(&ur.ring) || io_uring_sq_ready(&ur.ring) ||
	    (ur.wait_head && ur.inflight < URING_CQ_ENTRIES))
		kick(); /* more to do: next loop turn (full ring: the eventfd) */
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	ur.kicked = false;
	pump();
}

static void on_eventfd(evutil_socket_t fd, short what, void *arg)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
		log_err("backing store: reading the io_uring eventfd: %s",
			strerror(errno));
	pump();
}

static bool ops_supported(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	bool ok = p && io_uring_opcode_supported(p, IORING_OP_READ) &&
		  io_uring_opcode_supported(p, IORING_OP_WRITE) &&
		  io_uring_opcode_supported(p, IORING_OP_FSYNC) &&
		  io_uring_opcode_supported(p, IORING_OP_NOP);

	if (p)
		io_uring_free_probe(p);
	return ok;
}

static int ring_setup(void)
{
	struct io_uring_params prm = {.flags = IORING_SETUP_CQSIZE,
				      .cq_entries = URING_CQ_ENTRIES};
	int ret = io_uring_queue_init_params(URING_SQ_ENTRIES, &ur.ring, &prm);

	if (ret < 0)
		return ret;
	if (!(prm.features & IORING_FEAT_NODROP) || !ops_supported(&ur.ring) ||
	    prm.cq_entries < URING_CQ_ENTRIES) {
		io_uring_queue_exit(&ur.ring);
		return -EOPNOTSUPP; /* older than 5.6: use the pool */
	}
	return 0;
}

static void teardown(void)
{
	if (ur.ev_cq)
		event_free(ur.ev_cq);
	if (ur.ev_kick)
		event_free(ur.ev_kick);
	ur.ev_cq = ur.ev_kick = NULL;
	if (ur.efd >= 0)
		close(ur.efd);
	ur.efd = -1;
	io_uring_queue_exit(&ur.ring);
	ur.active = ur.stopping = ur.kicked = false;
}

int bs_uring_init(struct event_base *base)
{
	int ret;

	if (ur.active)
		return -EALREADY;
	ret = ring_setup();
	if (ret < 0)
		return ret;
	ur.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ur.efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = io_uring_register_eventfd(&ur.ring, ur.efd);
	if (ret < 0)
		goto fail;
	ur.ev_cq =
		event_new(base, ur.efd, EV_READ | EV_PERSIST, on_eventfd, NULL);
	ur.ev_kick = event_new(base, -1, 0, on_kick, NULL);
	if (!ur.ev_cq || !ur.ev_kick || event_add(ur.ev_cq, NULL) < 0) {
		ret = -ENOMEM;
		goto fail;
	}
	ur.inflight = 0;
	ur.wait_head = ur.wait_tail = NULL;
	ur.submit_err_logged = false;
	ur.active = true;
	return 0;
fail:
	teardown();
	return ret;
}

int bs_uring_submit(struct bs_io *io)
{
	bool wb;

	if (!ur.active || ur.stopping)
		return -ESHUTDOWN;
	io->xfer = 0;
	io->retries = 0;
	switch (io->op) {
	case BS_OP_READ:
		io->stage = ST_READ;
		break;
	case BS_OP_WRITE:
		wb = atomic_load_explicit(&io->dev->write_back,
					  memory_order_relaxed);
		io->stage = wb && !io->fua ? ST_WRITE : ST_WRITE_THEN_SYNC;
		break;
	default:
		io->stage = ST_FSYNC;
		break;
	}
	step(io);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waiting requests never reached the kernel: fail them. */
static void fail_waiting(void)
{
	while (ur.wait_head) {
		struct bs_io *io = ur.wait_head;

		ur.wait_head = io->next;
		if (!ur.wait_head)
			ur.wait_tail = NULL;
		finish(io, -ESHUTDOWN);
	}
}

void bs_uring_shutdown(void)
{
	uint64_t deadline = now_ms() + URING_DRAIN_MS;

	if (!ur.active)
		return;
	ur.stopping = true; /* bs_submit refuses; steps of old ones go on */
	while ((ur.inflight || ur.wait_head) && now_ms() < deadline) {
		struct __kernel_timespec ts = {.tv_nsec = 100 * 1000000};
		struct io_uring_cqe *cqe;

		drain_waiting();
		submit_now();
		if (io_uring_wait_cqe_timeout(&ur.ring, &cqe, &ts) == 0)
			reap();
	}
	if (ur.inflight)
		log_err("backing store: %u io_uring requests still in flight "
			"after %d s; closing the ring without their completion",
			ur.inflight, URING_DRAIN_MS / 1000);
	fail_waiting();
	teardown();
}
