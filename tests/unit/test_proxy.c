// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the proxy data path (src/proxy/vadapter.c, remote.c):
 * two interconnect links over a socketpair in one event loop; node "a"
 * runs the local virtual adapter, node "b" the partner virtual adapter in
 * front of a real local SCSI target on a temporary file. A "gate"
 * dispatcher between b's adapter and the target can hold commands, so
 * tests can keep them in flight. The loop runs for a bounded number of
 * iterations and time.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "duet/bs.h"
#include "duet/ic_link.h"
#include "duet/log.h"
#include "duet/proxy.h"
#include "duet/scsi.h"

#include "ic_test_pair.h"
#include "duet/scsi_proto.h"
#include "duet/util.h"

#define LOG_CAPTURE_ENV "PROXY_TEST_LOG"
#include "log_capture.h"

/* ---- the gate: holds owner-side commands while closed ---- */

#define TGT "iqn.2026-11.org.example:b.disk0"
#define GATE_MAX 256

struct gate {
	struct scsi_dispatcher disp;
	struct scsi_dispatcher *real;
	bool closed;
	bool sticky; /* held tasks ignore aborts (already at the disk) */
	struct scsi_task *held[GATE_MAX];
	int n_held;
	uint8_t order[GATE_MAX]; /* ISID[5] of each task reaching the target */
	int n_order;
};

static struct gate G;

static void gate_pass(struct scsi_task *t)
{
	if (G.n_order < GATE_MAX)
		G.order[G.n_order++] = t->itn->isid[5];
	scsi_dispatch_submit(G.real, t);
}

static void gate_submit(struct scsi_dispatcher *d, struct scsi_task *t)
{
	if (G.closed && G.n_held < GATE_MAX) {
		G.held[G.n_held++] = t;
		return;
	}
	gate_pass(t);
}

static bool gate_hits(const struct scsi_tmf *tmf, struct scsi_task *t)
{
	if (tmf->fn == SCSI_TMF_LUN_RESET)
		return t->lun == tmf->lun;
	for (unsigned i = 0; i < tmf->n_tasks; i++)
		if (tmf->tasks[i] == t)
			return true;
	return false;
}

static void gate_tmf(struct scsi_dispatcher *d, struct scsi_tmf *tmf)
{
	struct scsi_task *keep[GATE_MAX];
	unsigned k = 0;

	/* the target only gets the listed tasks it really has */
	for (unsigned i = 0; i < tmf->n_tasks && k < GATE_MAX; i++) {
		bool here = false;

		for (int j = 0; j < G.n_held; j++)
			here |= G.held[j] == tmf->tasks[i];
		if (!here)
			keep[k++] = tmf->tasks[i];
	}
	for (int i = 0; i < G.n_held;) {
		struct scsi_task *t = G.held[i];

		if (G.sticky || !gate_hits(tmf, t)) {
			i++;
			continue;
		}
		memmove(&G.held[i], &G.held[i + 1],
			(size_t)(G.n_held - i - 1) * sizeof(G.held[0]));
		G.n_held--;
		t->aborted = true;
		t->done(t);
	}
	if (tmf->tasks)
		memcpy(tmf->tasks, keep, k * sizeof(keep[0]));
	tmf->n_tasks = k;
	scsi_dispatch_tmf(G.real, tmf);
}

static void gate_nexus_end(struct scsi_dispatcher *d,
			   const struct scsi_itn *itn)
{
	scsi_dispatch_nexus_end(G.real, itn);
}

static const struct scsi_dispatch_ops gate_ops = {
	.submit = gate_submit,
	.tmf = gate_tmf,
	.nexus_end = gate_nexus_end,
};

static void gate_open(void)
{
	int n = G.n_held;

	G.closed = false;
	G.n_held = 0;
	for (int i = 0; i < n; i++)
		gate_pass(G.held[i]);
}

/* ---- harness ---- */

static const uint8_t secret[] = "0123456789abcdef-pair0-secret!!";

struct side {
	struct ic_link *l;
	struct proxy_vadapter *va;
	struct proxy_remote *rm;
	int ups, downs;
};

static struct event_base *base;
static struct side A, B;
static struct scsi_target *tgt;
static char dir[64], img[128];

static void cb_up(struct ic_link *l, void *arg)
{
	((struct side *)arg)->ups++;
}

static void cb_down(struct ic_link *l, int err, const char *reason, void *arg)
{
	struct side *s = arg;

	s->downs++;
	if (s->va)
		proxy_vadapter_link_down(s->va);
	if (s->rm)
		proxy_remote_link_down(s->rm);
}

static uint8_t *cb_get_buf(struct ic_link *l, const struct ic_msg *m, void *arg)
{
	struct side *s = arg;

	if (s->va && proxy_msg_for_vadapter(m))
		return proxy_vadapter_get_buf(s->va, m);
	if (s->rm && proxy_msg_for_remote(m))
		return proxy_remote_get_buf(s->rm, m);
	return NULL;
}

static void cb_recv(struct ic_link *l, const struct ic_msg *m, uint8_t *data,
		    uint32_t dlen, void *arg)
{
	struct side *s = arg;

	if (s->va && proxy_msg_for_vadapter(m))
		proxy_vadapter_recv(s->va, m, data, dlen);
	else if (s->rm && proxy_msg_for_remote(m))
		proxy_remote_recv(s->rm, m, data, dlen);
}

static void cb_writable(struct ic_link *l, void *arg)
{
	struct side *s = arg;

	if (s->va)
		proxy_vadapter_writable(s->va);
	if (s->rm)
		proxy_remote_writable(s->rm);
}

static const struct ic_link_ops ops = {
	.up = cb_up,
	.down = cb_down,
	.get_buf = cb_get_buf,
	.recv = cb_recv,
	.writable = cb_writable,
};

static void link_cfg(struct ic_link_cfg *c, const char *local, const char *peer)
{
	ic_test_cfg(c, local, peer, secret, sizeof(secret) - 1);
	c->hb_interval_ms = 50;
	c->hb_deadline_ms = 2000;
}

static bool run_until(bool (*cond)(void), int max_ms)
{
	uint64_t end = ic_test_mono_ms() + (uint64_t)max_ms;

	for (int i = 0; i < 100000; i++) {
		if (cond && cond())
			return true;
		if (ic_test_mono_ms() >= end)
			break;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (i > 1000)
			usleep(100);
	}
	return cond ? cond() : true;
}

static bool both_up(void)
{
	return ic_link_is_up(A.l) && ic_link_is_up(B.l);
}

static struct scsi_dispatcher *lookup(void *arg, const char *name)
{
	return strcmp(name, TGT) ? NULL : &G.disp;
}

static bool local_busy_flag;
static unsigned rm_max_tasks;
static uint32_t tx_high_b;

static bool local_busy(void *arg, const char *initiator, const char *target)
{
	return local_busy_flag && !strcmp(target, TGT);
}

static void make_links(uint32_t tx_high_a, unsigned max_queued)
{
	struct ic_link_cfg ca, cb;
	struct proxy_vadapter_cfg vc = {.max_queued = max_queued};
	struct proxy_remote_cfg rc = {.lookup = lookup,
				      .local_busy = local_busy,
				      .max_tasks = rm_max_tasks};
	char err[256];
	int sv[2];

	link_cfg(&ca, "a", "b");
	link_cfg(&cb, "b", "a");
	ca.tx_high_water = tx_high_a;
	cb.tx_high_water = tx_high_b;
	assert_int_equal(
		ic_link_new(base, &ca, &ops, &A, &A.l, err, sizeof(err)), 0);
	assert_int_equal(
		ic_link_new(base, &cb, &ops, &B, &B.l, err, sizeof(err)), 0);
	vc.link = A.l;
	rc.link = B.l;
	assert_int_equal(proxy_vadapter_new(&vc, &A.va), 0);
	assert_int_equal(proxy_remote_new(&rc, &B.rm), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (tx_high_b) {
		/* a backpressure test: small socket buffers, so the owner's
		 * answers queue up in the link however fast the other side
		 * reads (otherwise the kernel may absorb them all) */
		int small = 8192;

		assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF,
					    &small, sizeof(small)),
				 0);
		assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF,
					    &small, sizeof(small)),
				 0);
	}
	assert_int_equal(ic_link_attach_fd(A.l, sv[0], "sp-b"), 0);
	assert_int_equal(ic_link_attach_fd(B.l, sv[1], "sp-a"), 0);
	assert_true(run_until(both_up, 2000));
}

static int setup(void **state)
{
	struct cfg_lun lun = {.id = 0, .size = 16u << 20};
	char err[256];

	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	memset(&G, 0, sizeof(G));
	local_busy_flag = false;
	rm_max_tasks = 0;
	tx_high_b = 0;
	log_capture_reset();
	strcpy(dir, "/tmp/duet-proxy-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/b.img", dir);
	base = event_base_new();
	assert_non_null(base);
	assert_int_equal(bs_init(base, 4), 0);
	tgt = scsi_target_new(TGT);
	lun.path = img;
	assert_int_equal(scsi_target_add_lun(tgt, &lun, err, sizeof(err)), 0);
	G.disp.ops = &gate_ops;
	G.real = scsi_target_dispatcher(tgt);
	return 0;
}

static bool owner_idle(void)
{
	return (!B.rm || proxy_remote_idle(B.rm)) &&
	       scsi_target_inflight(tgt) == 0;
}

static int teardown(void **state)
{
	gate_open();
	run_until(owner_idle, 2000);
	ic_link_free(A.l);
	ic_link_free(B.l);
	if (B.rm) {
		assert_true(proxy_remote_idle(B.rm));
		proxy_remote_free(B.rm);
	}
	proxy_vadapter_free(A.va);
	assert_int_equal(scsi_target_inflight(tgt), 0);
	scsi_target_free(tgt);
	bs_shutdown();
	event_base_free(base);
	unlink(img);
	rmdir(dir);
	return 0;
}

/* ---- initiator-side tasks on node a ---- */

static struct scsi_itn itn1 = {
	.initiator_name = "iqn.2026-11.org.example:client",
	.isid = {0x80, 0, 0, 0, 0, 1},
	.tpgt = 2,
	.rel_tgt_port_id = 2,
	.target_name = TGT,
};
static struct scsi_itn itn2 = {
	.initiator_name = "iqn.2026-11.org.example:client",
	.isid = {0x80, 0, 0, 0, 0, 2},
	.tpgt = 2,
	.rel_tgt_port_id = 2,
	.target_name = TGT,
};

struct itask {
	struct scsi_task t;
	int done;
};

static void itask_done(struct scsi_task *t)
{
	((struct itask *)t->priv)->done++;
}

static struct itask *it_new(const struct scsi_itn *itn, enum scsi_data_dir d,
			    uint32_t len)
{
	struct itask *it = calloc(1, sizeof(*it));
	void *p = NULL;

	assert_non_null(it);
	if (len)
		assert_int_equal(posix_memalign(&p, DUET_BUF_ALIGN, len), 0);
	it->t.itn = itn;
	it->t.dir = d;
	it->t.attr = SCSI_ATTR_SIMPLE;
	it->t.exp_xfer_len = len;
	it->t.buf = p;
	it->t.buf_cap = len;
	it->t.done = itask_done;
	it->t.priv = it;
	it->t.lun = scsi_lun_encode(0);
	return it;
}

static void it_free(struct itask *it)
{
	free(it->t.buf);
	free(it);
}

static struct itask *it_rw(const struct scsi_itn *itn, bool write, uint32_t lba,
			   uint32_t blocks, uint8_t fill)
{
	struct itask *it = it_new(itn, write ? SCSI_DIR_WRITE : SCSI_DIR_READ,
				  blocks * 512);

	it->t.cdb[0] = write ? 0x2a : 0x28;
	put_be32(&it->t.cdb[2], lba);
	put_be16(&it->t.cdb[7], (uint16_t)blocks);
	it->t.cdb_len = 10;
	if (write) {
		memset(it->t.buf, fill, blocks * 512);
		it->t.data_out_len = blocks * 512;
	}
	return it;
}

static struct itask **wait_set;
static int wait_n;

static bool all_done(void)
{
	for (int i = 0; i < wait_n; i++)
		if (!wait_set[i]->done)
			return false;
	return true;
}

static bool wait_tasks(struct itask **v, int n, int ms)
{
	wait_set = v;
	wait_n = n;
	return run_until(all_done, ms);
}

static struct scsi_dispatcher *vad(void)
{
	return proxy_vadapter_dispatcher(A.va);
}

static void submit(struct itask *it)
{
	scsi_dispatch_submit(vad(), &it->t);
}

static bool is_nexus_loss_ua(const struct scsi_task *t)
{
	return t->status == SCSI_STATUS_CHECK_CONDITION && t->sense_len >= 14 &&
	       (t->sense[2] & 0xf) == SCSI_SK_UNIT_ATTENTION &&
	       t->sense[12] == 0x29 && t->sense[13] == 0x07;
}

/* Clear the first access's UA (29/00) for a nexus, through the proxy. */
static void clear_ua(const struct scsi_itn *itn)
{
	struct itask *it = it_new(itn, SCSI_DIR_NONE, 0);

	it->t.cdb_len = 6; /* TEST UNIT READY */
	submit(it);
	assert_true(wait_tasks(&it, 1, 2000));
	it_free(it);
}

/* ---- tests ---- */

static void inquiry_83(struct scsi_dispatcher *d, const struct scsi_itn *itn,
		       uint8_t *out, uint32_t *len)
{
	struct itask *it = it_new(itn, SCSI_DIR_READ, 255);

	it->t.cdb[0] = 0x12;
	it->t.cdb[1] = 1;
	it->t.cdb[2] = 0x83;
	it->t.cdb[4] = 255;
	it->t.cdb_len = 6;
	scsi_dispatch_submit(d, &it->t);
	assert_true(wait_tasks(&it, 1, 2000));
	assert_int_equal(it->t.status, SCSI_STATUS_GOOD);
	assert_true(it->t.data_len > 8);
	memcpy(out, it->t.buf, it->t.data_len);
	*len = it->t.data_len;
	it_free(it);
}

static void test_inquiry_owner_naa(void **state)
{
	uint8_t direct[256], proxied[256];
	uint32_t dl, pl;

	make_links(0, 0);
	inquiry_83(scsi_target_dispatcher(tgt), &itn1, direct, &dl);
	inquiry_83(vad(), &itn1, proxied, &pl);
	assert_int_equal(dl, pl);
	assert_memory_equal(direct, proxied, dl);
	/* an NAA designator (type 3, NAA 6) */
	assert_int_equal(proxied[5] & 0xf, 3);
	assert_int_equal(proxied[8] >> 4, 6);
}

static void test_write_read_1m(void **state)
{
	struct itask *w, *r;
	struct ic_link_stats st;

	make_links(0, 0);
	clear_ua(&itn1);
	w = it_rw(&itn1, true, 100, 2048, 0);
	for (uint32_t i = 0; i < 2048 * 512; i++)
		w->t.buf[i] = (uint8_t)(i * 7 + i / 512);
	submit(w);
	assert_true(wait_tasks(&w, 1, 3000));
	assert_int_equal(w->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(w->t.xfer_len, 1u << 20);
	r = it_rw(&itn1, false, 100, 2048, 0);
	submit(r);
	assert_true(wait_tasks(&r, 1, 3000));
	assert_int_equal(r->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(r->t.data_len, 1u << 20);
	assert_memory_equal(r->t.buf, w->t.buf, 1u << 20);
	/* the read data landed straight in the task's buffer */
	ic_link_get_stats(A.l, &st);
	assert_true(st.rx_data_direct + st.rx_data_copied >= 1u << 20);
	assert_true(st.rx_data_direct >= (1u << 20) / 2);
	it_free(w);
	it_free(r);
}

static void test_64_in_flight(void **state)
{
	struct itask *v[64];
	struct proxy_remote_stats rs;

	make_links(0, 0);
	clear_ua(&itn1);
	G.closed = true;
	for (int i = 0; i < 64; i++) {
		v[i] = it_rw(&itn1, true, (uint32_t)i * 8, 8, (uint8_t)i);
		submit(v[i]);
	}
	run_until(NULL, 200);
	assert_int_equal(G.n_held, 64);
	proxy_remote_get_stats(B.rm, &rs);
	assert_int_equal(rs.tasks, 64);
	gate_open();
	assert_true(wait_tasks(v, 64, 3000));
	for (int i = 0; i < 64; i++) {
		assert_int_equal(v[i]->t.status, SCSI_STATUS_GOOD);
		assert_int_equal(v[i]->done, 1);
		it_free(v[i]);
	}
	for (int i = 0; i < 64; i++) {
		struct itask *r = it_rw(&itn1, false, (uint32_t)i * 8, 8, 0);

		submit(r);
		assert_true(wait_tasks(&r, 1, 2000));
		assert_int_equal(r->t.buf[0], (uint8_t)i);
		assert_int_equal(r->t.buf[8 * 512 - 1], (uint8_t)i);
		it_free(r);
	}
}

struct tmf_probe {
	struct scsi_tmf tmf;
	int done;
	int tasks_done_at_tmf; /* how many tasks had completed when it ran */
	struct itask **v;
	int n;
};

static void probe_done(struct scsi_tmf *tmf)
{
	struct tmf_probe *p = container_of(tmf, struct tmf_probe, tmf);

	p->done++;
	for (int i = 0; i < p->n; i++)
		p->tasks_done_at_tmf += p->v[i]->done;
}

static struct tmf_probe *probe_cur;

static bool probe_done_cond(void)
{
	return probe_cur->done > 0;
}

static void test_lun_reset_forwarded(void **state)
{
	struct itask *v[4];
	struct tmf_probe p = {0};

	make_links(0, 0);
	clear_ua(&itn1);
	G.closed = true;
	for (int i = 0; i < 4; i++) {
		v[i] = it_rw(&itn1, true, 0, 8, 0xee);
		submit(v[i]);
	}
	run_until(NULL, 100);
	assert_int_equal(G.n_held, 4);
	p.tmf.fn = SCSI_TMF_LUN_RESET;
	p.tmf.itn = &itn1;
	p.tmf.lun = scsi_lun_encode(0);
	p.tmf.done = probe_done;
	p.v = v;
	p.n = 4;
	probe_cur = &p;
	scsi_dispatch_tmf(vad(), &p.tmf);
	assert_true(run_until(probe_done_cond, 2000));
	assert_int_equal(p.tmf.result, SCSI_TMF_COMPLETE);
	assert_int_equal(p.tasks_done_at_tmf, 4); /* tasks first, then TMF */
	for (int i = 0; i < 4; i++) {
		assert_true(v[i]->t.aborted);
		it_free(v[i]);
	}
	assert_true(logged("TMF 5 from"));
}

/* The owner answers the LUN RESET while the tasks are still running
 * (already at the disk): the TMF completes only once they did; a link
 * cut then completes them (retryable) and the TMF after them. */
static void test_tmf_waits_for_tasks(void **state)
{
	struct itask *v[2];
	struct tmf_probe p = {0};
	struct proxy_vadapter_stats st;

	make_links(0, 0);
	clear_ua(&itn1);
	G.closed = true;
	G.sticky = true;
	for (int i = 0; i < 2; i++) {
		v[i] = it_rw(&itn1, true, 0, 8, 0xee);
		submit(v[i]);
	}
	run_until(NULL, 100);
	assert_int_equal(G.n_held, 2);
	p.tmf.fn = SCSI_TMF_LUN_RESET;
	p.tmf.itn = &itn1;
	p.tmf.lun = scsi_lun_encode(0);
	p.tmf.done = probe_done;
	p.v = v;
	p.n = 2;
	probe_cur = &p;
	scsi_dispatch_tmf(vad(), &p.tmf);
	run_until(NULL, 200);
	assert_true(logged("TMF 5 from"));
	assert_int_equal(p.done, 0); /* answered, but its tasks run */
	proxy_vadapter_get_stats(A.va, &st);
	assert_int_equal(st.tmfs, 1);
	ic_link_drop(A.l, "test cut");
	assert_int_equal(p.done, 1);
	assert_int_equal(p.tasks_done_at_tmf, 2);
	for (int i = 0; i < 2; i++) {
		assert_true(is_nexus_loss_ua(&v[i]->t));
		it_free(v[i]);
	}
}

static void test_abort_task_forwarded(void **state)
{
	struct itask *v[2];
	struct scsi_task *list[1];
	struct tmf_probe p = {0};

	make_links(0, 0);
	clear_ua(&itn1);
	G.closed = true;
	for (int i = 0; i < 2; i++) {
		v[i] = it_rw(&itn1, true, 0, 8, 0xee);
		submit(v[i]);
	}
	run_until(NULL, 100);
	list[0] = &v[1]->t;
	p.tmf.fn = SCSI_TMF_ABORT_TASK;
	p.tmf.itn = &itn1;
	p.tmf.lun = scsi_lun_encode(0);
	p.tmf.tasks = list;
	p.tmf.n_tasks = 1;
	p.tmf.done = probe_done;
	p.v = &v[1];
	p.n = 1;
	probe_cur = &p;
	scsi_dispatch_tmf(vad(), &p.tmf);
	assert_true(run_until(probe_done_cond, 2000));
	assert_int_equal(p.tasks_done_at_tmf, 1);
	assert_true(v[1]->t.aborted);
	assert_int_equal(v[0]->done, 0);
	gate_open();
	assert_true(wait_tasks(v, 1, 2000));
	assert_int_equal(v[0]->t.status, SCSI_STATUS_GOOD);
	it_free(v[0]);
	it_free(v[1]);
}

static void test_link_cut_in_flight(void **state)
{
	struct itask *v[16], *late;
	struct proxy_vadapter_stats st;

	make_links(0, 0);
	clear_ua(&itn1);
	G.closed = true;
	for (int i = 0; i < 16; i++) {
		v[i] = it_rw(&itn1, i & 1, (uint32_t)i * 8, 8, 0x55);
		submit(v[i]);
	}
	run_until(NULL, 100);
	assert_int_equal(G.n_held, 16);
	ic_link_drop(A.l, "test cut");
	/* every task completed at once (down runs inside drop) */
	for (int i = 0; i < 16; i++) {
		assert_int_equal(v[i]->done, 1);
		assert_false(v[i]->t.aborted);
		assert_true(is_nexus_loss_ua(&v[i]->t));
	}
	proxy_vadapter_get_stats(A.va, &st);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.failed_link, 16);
	/* submit while down: completes at once, never GOOD */
	late = it_rw(&itn1, false, 0, 8, 0);
	submit(late);
	assert_int_equal(late->done, 1);
	assert_true(is_nexus_loss_ua(&late->t));
	/* the owner aborts what it held once it sees the drop */
	assert_true(run_until(owner_idle, 2000));
	for (int i = 0; i < 16; i++) {
		assert_int_equal(v[i]->done, 1);
		it_free(v[i]);
	}
	it_free(late);
}

static unsigned want_held;

static bool remote_holds(void)
{
	struct proxy_remote_stats rs;

	proxy_remote_get_stats(B.rm, &rs);
	return rs.held == want_held;
}

/* A new session's write to the same LBA runs only after the old
 * session's write, which was still in flight, completed. */
static void test_new_nexus_waits_for_old(void **state)
{
	struct itask *o, *tur, *n, *r;

	make_links(0, 0);
	clear_ua(&itn1);
	G.closed = true;
	o = it_rw(&itn1, true, 40, 8, 0x01);
	submit(o);
	run_until(NULL, 50);
	assert_int_equal(G.n_held, 1);
	G.closed = false; /* only the old one is held at the gate */
	tur = it_new(&itn2, SCSI_DIR_NONE, 0); /* eats itn2's first UA */
	tur->t.cdb_len = 6;
	submit(tur);
	n = it_rw(&itn2, true, 40, 8, 0x02);
	submit(n);
	want_held = 2;
	assert_true(run_until(remote_holds, 2000));
	run_until(NULL, 50);
	assert_int_equal(n->done, 0);
	assert_int_equal(tur->done, 0);
	assert_int_equal(G.n_order, 1); /* the first TUR only */
	gate_open();
	assert_true(wait_tasks(&n, 1, 2000));
	assert_int_equal(o->done, 1);
	assert_int_equal(o->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(n->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(G.n_order, 4);
	assert_int_equal(G.order[1], 1); /* old first, then the new nexus */
	assert_int_equal(G.order[2], 2);
	assert_int_equal(G.order[3], 2);
	r = it_rw(&itn2, false, 40, 8, 0);
	submit(r);
	assert_true(wait_tasks(&r, 1, 2000));
	assert_int_equal(r->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(r->t.buf[0], 0x02);
	it_free(o);
	it_free(tur);
	it_free(n);
	it_free(r);
}

static bool both_down(void)
{
	return !ic_link_is_up(A.l) && !ic_link_is_up(B.l);
}

/* The interconnect drops with an old write running on the owner and comes
 * back; the initiator's resent write (a new session) must run after it. */
static void test_relink_waits_for_old(void **state)
{
	struct itask *o, *tur, *n, *r;
	int sv[2];

	make_links(0, 0);
	clear_ua(&itn1);
	G.closed = true;
	G.sticky = true;
	o = it_rw(&itn1, true, 56, 8, 0x21);
	submit(o);
	run_until(NULL, 50);
	assert_int_equal(G.n_held, 1);
	G.closed = false;
	ic_link_drop(A.l, "test cut");
	assert_true(run_until(both_down, 2000));
	assert_true(is_nexus_loss_ua(&o->t));
	/* the owner asked the target to abort it, but the gate holds it:
	 * it stays "running" (as a write already at the disk would) */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(ic_link_attach_fd(A.l, sv[0], "sp-b2"), 0);
	assert_int_equal(ic_link_attach_fd(B.l, sv[1], "sp-a2"), 0);
	assert_true(run_until(both_up, 2000));
	tur = it_new(&itn2, SCSI_DIR_NONE, 0);
	tur->t.cdb_len = 6;
	submit(tur);
	n = it_rw(&itn2, true, 56, 8, 0x22);
	submit(n);
	want_held = 2;
	assert_true(run_until(remote_holds, 2000));
	assert_int_equal(n->done, 0);
	gate_open(); /* the old write lands first */
	assert_true(wait_tasks(&n, 1, 2000));
	assert_int_equal(n->t.status, SCSI_STATUS_GOOD);
	r = it_rw(&itn2, false, 56, 8, 0);
	submit(r);
	assert_true(wait_tasks(&r, 1, 2000));
	assert_int_equal(r->t.buf[0], 0x22);
	it_free(o);
	it_free(tur);
	it_free(n);
	it_free(r);
}

/* The owner's own iSCSI layer still has an old session of the initiator:
 * a new remote nexus waits until it says otherwise (and kick). */
static void test_local_busy_holds_new_nexus(void **state)
{
	struct itask *t;

	make_links(0, 0);
	local_busy_flag = true;
	t = it_new(&itn1, SCSI_DIR_NONE, 0);
	t->t.cdb_len = 6;
	submit(t);
	want_held = 1;
	assert_true(run_until(remote_holds, 2000));
	run_until(NULL, 50);
	assert_int_equal(t->done, 0);
	proxy_remote_kick(B.rm); /* still busy: nothing moves */
	assert_int_equal(t->done, 0);
	local_busy_flag = false;
	rm_max_tasks = 0;
	tx_high_b = 0;
	proxy_remote_kick(B.rm);
	assert_true(wait_tasks(&t, 1, 2000));
	it_free(t);
	/* passed once: never held again, even if the local side is busy */
	local_busy_flag = true;
	clear_ua(&itn1);
}

/* NEXUS_END of the old session aborts its held write; the new session's
 * write (same LBA) then runs: the final data is the new write's. */
static void test_nexus_end_aborts_old(void **state)
{
	struct itask *o, *n, *r;

	make_links(0, 0);
	clear_ua(&itn1);
	clear_ua(&itn2);
	G.closed = true;
	o = it_rw(&itn1, true, 48, 8, 0x0a);
	submit(o);
	run_until(NULL, 50);
	assert_int_equal(G.n_held, 1);
	G.closed = false;
	/* the old nexus ends; a NEW incarnation of itn1 (same ISID) writes */
	scsi_dispatch_nexus_end(vad(), &itn1);
	n = it_rw(&itn1, true, 48, 8, 0x0b);
	submit(n);
	assert_true(wait_tasks(&o, 1, 2000));
	assert_true(o->t.aborted);
	assert_true(wait_tasks(&n, 1, 2000));
	/* first access of the new nexus: 29/00, then the write itself */
	if (n->t.status != SCSI_STATUS_GOOD) {
		it_free(n);
		n = it_rw(&itn1, true, 48, 8, 0x0b);
		submit(n);
		assert_true(wait_tasks(&n, 1, 2000));
	}
	assert_int_equal(n->t.status, SCSI_STATUS_GOOD);
	r = it_rw(&itn2, false, 48, 8, 0);
	submit(r);
	assert_true(wait_tasks(&r, 1, 2000));
	assert_int_equal(r->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(r->t.buf[0], 0x0b);
	assert_true(logged("ended: 1 aborted"));
	it_free(o);
	it_free(n);
	it_free(r);
}

static void test_unknown_tag_ignored(void **state)
{
	struct ic_msg m;
	struct proxy_vadapter_stats st;

	make_links(0, 0);
	ic_msg_init(&m, IC_SCSI_RSP, 0x1234567800000005ull, 0);
	assert_int_equal(ic_link_send(B.l, &m, NULL, 0, NULL, NULL), 0);
	ic_msg_init(&m, IC_TMF_RSP, 0x8000000000000077ull, 0);
	assert_int_equal(ic_link_send(B.l, &m, NULL, 0, NULL, NULL), 0);
	run_until(NULL, 100);
	proxy_vadapter_get_stats(A.va, &st);
	assert_int_equal(st.bad_rsp, 2);
	assert_true(logged("unknown or stale tag"));
	assert_true(ic_link_is_up(A.l));
}

static uint8_t big[8192];

static void test_rsp_above_buf_cap(void **state)
{
	struct itask *r;
	struct ic_msg m;
	struct proxy_vadapter_stats st;
	uint64_t tag;

	make_links(0, 0);
	clear_ua(&itn1);
	G.closed = true;
	r = it_rw(&itn1, false, 0, 1, 0); /* 512-byte buffer */
	submit(r);
	run_until(NULL, 100);
	assert_int_equal(G.n_held, 1);
	tag = G.held[0]->tag;
	ic_msg_init(&m, IC_SCSI_RSP, tag, r->t.lun);
	m.u.rsp.xfer_len = sizeof(big);
	assert_int_equal(ic_link_send(B.l, &m, big, sizeof(big), NULL, NULL),
			 0);
	assert_true(wait_tasks(&r, 1, 2000));
	assert_int_equal(r->t.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(r->t.sense[2] & 0xf, SCSI_SK_HARDWARE_ERROR);
	assert_int_equal(r->t.data_len, 0);
	assert_true(logged("rejected"));
	/* the owner's real answer later: a stale tag, ignored */
	gate_open();
	assert_true(run_until(owner_idle, 2000));
	run_until(NULL, 50);
	proxy_vadapter_get_stats(A.va, &st);
	assert_int_equal(st.bad_rsp, 2);
	assert_int_equal(r->done, 1);
	it_free(r);
}

static void test_backpressure(void **state)
{
	struct itask *v[32];
	struct proxy_vadapter_stats st;
	int full = 0, good = 0;

	make_links(64 * 1024, 8);
	clear_ua(&itn1);
	for (int i = 0; i < 32; i++) {
		v[i] = it_rw(&itn1, true, (uint32_t)i * 128, 128, (uint8_t)i);
		submit(v[i]);
	}
	proxy_vadapter_get_stats(A.va, &st);
	assert_true(st.queued > 0);
	assert_true(wait_tasks(v, 32, 3000));
	for (int i = 0; i < 32; i++) {
		if (v[i]->t.status == SCSI_STATUS_TASK_SET_FULL)
			full++;
		else if (v[i]->t.status == SCSI_STATUS_GOOD)
			good++;
		it_free(v[i]);
	}
	assert_int_equal(full + good, 32);
	assert_true(full > 0);
	assert_true(good >= 9);
}

static void test_owner_budget_task_set_full(void **state)
{
	struct itask *v[3];

	rm_max_tasks = 2;
	make_links(0, 0);
	clear_ua(&itn1);
	G.closed = true;
	for (int i = 0; i < 3; i++) {
		v[i] = it_rw(&itn1, true, (uint32_t)i * 8, 8, 0x33);
		submit(v[i]);
	}
	assert_true(wait_tasks(&v[2], 1, 2000));
	assert_int_equal(v[2]->t.status, SCSI_STATUS_TASK_SET_FULL);
	assert_int_equal(G.n_held, 2);
	gate_open();
	assert_true(wait_tasks(v, 2, 2000));
	for (int i = 0; i < 3; i++) {
		if (i < 2)
			assert_int_equal(v[i]->t.status, SCSI_STATUS_GOOD);
		it_free(v[i]);
	}
	assert_true(logged("command refused"));
}

static void test_owner_error_fails_task(void **state)
{
	struct itask *w;
	struct ic_msg m;

	make_links(0, 0);
	clear_ua(&itn1);
	G.closed = true;
	w = it_rw(&itn1, true, 0, 8, 0x44);
	submit(w);
	run_until(NULL, 100);
	assert_int_equal(G.n_held, 1);
	ic_msg_init(&m, IC_ERROR, G.held[0]->tag, 0);
	m.u.error.code = IC_ERR_BAD_MESSAGE;
	m.u.error.bad_type = IC_SCSI_CMD;
	snprintf(m.u.error.reason, sizeof(m.u.error.reason), "test");
	assert_int_equal(ic_link_send(B.l, &m, NULL, 0, NULL, NULL), 0);
	assert_true(wait_tasks(&w, 1, 2000));
	assert_int_equal(w->t.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(w->t.sense[2] & 0xf, SCSI_SK_HARDWARE_ERROR);
	it_free(w);
}

/* The owner's TX queue is full: its responses wait and go out in order. */
static void test_owner_backpressure(void **state)
{
	struct itask *v[16];
	struct proxy_remote_stats rs;

	tx_high_b = 64 * 1024;
	make_links(0, 0);
	clear_ua(&itn1);
	for (int i = 0; i < 16; i++) {
		struct itask *w = it_rw(&itn1, true, (uint32_t)i * 128, 128,
					(uint8_t)(0x60 + i));

		submit(w);
		assert_true(wait_tasks(&w, 1, 2000));
		assert_int_equal(w->t.status, SCSI_STATUS_GOOD);
		it_free(w);
	}
	for (int i = 0; i < 16; i++) {
		v[i] = it_rw(&itn1, false, (uint32_t)i * 128, 128, 0);
		submit(v[i]);
	}
	assert_true(wait_tasks(v, 16, 3000));
	for (int i = 0; i < 16; i++) {
		assert_int_equal(v[i]->t.status, SCSI_STATUS_GOOD);
		assert_int_equal(v[i]->t.data_len, 128 * 512);
		assert_int_equal(v[i]->t.buf[0], 0x60 + i);
		assert_int_equal(v[i]->t.buf[128 * 512 - 1], 0x60 + i);
		it_free(v[i]);
	}
	proxy_remote_get_stats(B.rm, &rs);
	assert_int_equal(rs.answered, rs.received);
	assert_true(rs.rsp_held > 0);
}

static void fire(void *arg)
{
	(*(int *)arg)++;
}

static bool fired_cond_v;
static int *fired_p;
static bool fired_cond(void)
{
	return *fired_p > 0 || fired_cond_v;
}

static void test_remote_wait_hook(void **state)
{
	struct itask *o;
	struct proxy_remote_waiter w;
	int fired = 0;

	make_links(0, 0);
	clear_ua(&itn1);
	assert_false(proxy_remote_busy(B.rm, itn1.initiator_name, TGT));
	G.closed = true;
	o = it_rw(&itn1, true, 0, 8, 0x11);
	submit(o);
	run_until(NULL, 50);
	assert_true(proxy_remote_busy(B.rm, itn1.initiator_name, TGT));
	assert_false(proxy_remote_busy(B.rm, "iqn.other", TGT));
	assert_int_equal(proxy_remote_wait(B.rm, itn1.initiator_name, TGT, &w,
					   fire, &fired),
			 1);
	run_until(NULL, 50);
	assert_int_equal(fired, 0);
	gate_open();
	fired_p = &fired;
	assert_true(run_until(fired_cond, 2000));
	assert_int_equal(fired, 1);
	assert_true(wait_tasks(&o, 1, 2000));
	assert_false(proxy_remote_busy(B.rm, itn1.initiator_name, TGT));
	assert_int_equal(proxy_remote_wait(B.rm, itn1.initiator_name, TGT, &w,
					   fire, &fired),
			 0);
	proxy_remote_wait_cancel(B.rm, &w); /* harmless */
	it_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inquiry_owner_naa, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_read_1m, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_64_in_flight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lun_reset_forwarded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tmf_waits_for_tasks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_abort_task_forwarded,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_cut_in_flight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_new_nexus_waits_for_old,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_relink_waits_for_old,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_busy_holds_new_nexus,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_nexus_end_aborts_old,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_tag_ignored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rsp_above_buf_cap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_owner_budget_task_set_full,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_error_fails_task,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_backpressure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_remote_wait_hook, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
