/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the SCSI unit tests: an in-memory test double for EVERY
 * function of include/duet/bs.h (so the real bs.o is never linked), a
 * quiet logger, and helpers to build and submit tasks. I/O queued by
 * bs_submit() completes only when the test calls fake_bs_drain().
 */
#ifndef SCSI_TEST_COMMON_H
#define SCSI_TEST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "duet/bs.h"
#include "duet/log.h"
#include "duet/scsi.h"
#include "duet/scsi_proto.h"
#include "duet/scsi_sense.h"
#include "duet/task.h"
#include "duet/util.h"

/* ---- logger stand-in ---- */
static enum log_level test_log_level = LOG_LVL_ERR;
unsigned test_log_lines;

void log_init(const char *ident, bool foreground, enum log_level level)
{
	test_log_level = level;
}

void log_set_level(enum log_level level)
{
	test_log_level = level;
}

enum log_level log_get_level(void)
{
	return test_log_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	*out = LOG_LVL_INFO;
	return 0;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	test_log_lines++;
}

/* ---- backing store test double ---- */
struct bs_dev {
	uint8_t *mem;
	uint64_t size;
	bool ro, wb;
	uint32_t phys;
};

static struct bs_io *fake_q_head, *fake_q_tail;
int fake_bs_fail;      /* next completions fail with this -errno */
int fake_bs_submit_rc; /* bs_submit() returns this (0 = queue) */
unsigned fake_bs_flushes, fake_bs_fua_writes, fake_bs_queued, fake_bs_zeroes;
uint32_t fake_phys = 512;

int bs_init(struct event_base *base, unsigned nworkers)
{
	return 0;
}

void bs_shutdown(void)
{
}

int bs_open(const struct bs_open_params *p, struct bs_dev **out, char *err,
	    size_t errlen)
{
	struct bs_dev *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->size = p->size;
	d->mem = calloc(1, p->size ? p->size : 1);
	d->ro = p->readonly;
	d->wb = p->write_back;
	d->phys = fake_phys;
	*out = d;
	return 0;
}

void bs_close(struct bs_dev *dev)
{
	free(dev->mem);
	free(dev);
}

uint64_t bs_size(const struct bs_dev *dev)
{
	return dev->size;
}

bool bs_readonly(const struct bs_dev *dev)
{
	return dev->ro;
}

bool bs_write_back(const struct bs_dev *dev)
{
	return dev->wb;
}

void bs_set_write_back(struct bs_dev *dev, bool on)
{
	dev->wb = on;
}

uint32_t bs_phys_block_size(const struct bs_dev *dev)
{
	return dev->phys;
}

bool bs_supports_discard(const struct bs_dev *dev)
{
	return false;
}

int bs_submit(struct bs_dev *dev, struct bs_io *io)
{
	if (fake_bs_submit_rc)
		return fake_bs_submit_rc;
	io->dev = dev;
	io->next = NULL;
	if (fake_q_tail)
		fake_q_tail->next = io;
	else
		fake_q_head = io;
	fake_q_tail = io;
	fake_bs_queued++;
	return 0;
}

static void fake_exec(struct bs_io *io)
{
	struct bs_dev *d = io->dev;

	io->result = 0;
	if (fake_bs_fail) {
		io->result = fake_bs_fail;
		return;
	}
	if (io->op != BS_OP_FLUSH &&
	    (io->offset > d->size || io->len > d->size - io->offset)) {
		io->result = -EIO;
		return;
	}
	if (io->op == BS_OP_READ)
		memcpy(io->buf, d->mem + io->offset, io->len);
	else if (io->op == BS_OP_WRITE)
		memcpy(d->mem + io->offset, io->buf, io->len);
	else if (io->op == BS_OP_FLUSH)
		fake_bs_flushes++;
	else if (io->op == BS_OP_WRITE_ZEROES || io->op == BS_OP_DISCARD) {
		memset(d->mem + io->offset, 0, io->len);
		fake_bs_zeroes++;
	}
	if (io->op == BS_OP_WRITE && io->fua)
		fake_bs_fua_writes++;
}

/* Complete every queued I/O (and any queued by their completions). */
unsigned fake_bs_drain(void)
{
	unsigned n = 0;

	while (fake_q_head) {
		struct bs_io *io = fake_q_head;

		fake_q_head = io->next;
		if (!fake_q_head)
			fake_q_tail = NULL;
		fake_exec(io);
		io->done(io);
		n++;
	}
	return n;
}

uint8_t *fake_bs_mem(struct bs_dev *dev)
{
	return dev->mem;
}

/* ---- tasks ---- */
#define TEST_LUN_BYTES (1024u * 1024u) /* 2048 blocks of 512 */
#define TEST_NBLOCKS (TEST_LUN_BYTES / 512u)
#define TEST_TARGET "iqn.2026-11.org.example:disk0"

struct test_task {
	struct scsi_task t;
	unsigned done_calls;
	uint8_t *mem;
};

struct scsi_itn test_itn_a = {
	.initiator_name = "iqn.2026-11.org.example:host-a",
	.isid = {0x80, 0, 0, 0, 0, 1},
	.tpgt = 1,
	.rel_tgt_port_id = 1,
	.target_name = TEST_TARGET,
};
struct scsi_itn test_itn_b = {
	.initiator_name = "iqn.2026-11.org.example:host-b",
	.isid = {0x80, 0, 0, 0, 0, 2},
	.tpgt = 1,
	.rel_tgt_port_id = 1,
	.target_name = TEST_TARGET,
};

static void test_task_done(struct scsi_task *t)
{
	struct test_task *tt = container_of(t, struct test_task, t);

	tt->done_calls++;
}

/* A task with a buffer of `cap` bytes (data_out_len = cap for writes). */
struct test_task *tt_new(const struct scsi_itn *itn, uint32_t lun,
			 const uint8_t *cdb, unsigned cdb_len,
			 enum scsi_data_dir dir, uint32_t exp, uint32_t cap)
{
	struct test_task *tt = calloc(1, sizeof(*tt));

	assert_non_null(tt);
	if (cap) {
		assert_int_equal(
			posix_memalign((void **)&tt->mem, DUET_BUF_ALIGN, cap),
			0);
		memset(tt->mem, 0, cap);
	}
	tt->t.itn = itn;
	tt->t.lun = scsi_lun_encode(lun);
	memcpy(tt->t.cdb, cdb, cdb_len);
	tt->t.cdb_len = 16 > cdb_len ? 16 : (uint8_t)cdb_len;
	tt->t.dir = dir;
	tt->t.attr = SCSI_ATTR_SIMPLE;
	tt->t.exp_xfer_len = exp;
	tt->t.buf = tt->mem;
	tt->t.buf_cap = cap;
	tt->t.data_out_len = dir == SCSI_DIR_WRITE ? cap : 0;
	tt->t.done = test_task_done;
	return tt;
}

void tt_free(struct test_task *tt)
{
	free(tt->mem);
	free(tt);
}

struct scsi_target *test_target(bool readonly)
{
	struct scsi_target *t = scsi_target_new(TEST_TARGET);
	struct cfg_lun lun = {
		.id = 0,
		.path = "/mem/lun0",
		.size = TEST_LUN_BYTES,
		.readonly = readonly,
	};
	char err[256];

	assert_non_null(t);
	assert_int_equal(scsi_target_add_lun(t, &lun, err, sizeof(err)), 0);
	return t;
}

/* Submit, drain the backing store, and check the task completed once. */
void run_task(struct scsi_target *t, struct test_task *tt)
{
	scsi_dispatch_submit(scsi_target_dispatcher(t), &tt->t);
	fake_bs_drain();
	assert_int_equal(tt->done_calls, 1);
}

/* Runs a command with no data and returns the status. */
uint8_t simple_cmd(struct scsi_target *t, const struct scsi_itn *itn,
		   uint32_t lun, const uint8_t *cdb, unsigned len)
{
	struct test_task *tt = tt_new(itn, lun, cdb, len, SCSI_DIR_NONE, 0, 0);
	uint8_t st;

	run_task(t, tt);
	st = tt->t.status;
	tt_free(tt);
	return st;
}

/* Clear the power-on UA of a nexus on LUN 0. */
void clear_ua(struct scsi_target *t, const struct scsi_itn *itn)
{
	uint8_t tur[6] = {0};

	while (simple_cmd(t, itn, 0, tur, 6) != SCSI_STATUS_GOOD)
		;
}

/* Sense helpers for fixed format. */
uint8_t sense_key(const struct scsi_task *t)
{
	if ((t->sense[0] & 0x7f) == 0x72)
		return t->sense[1] & 0x0f;
	return t->sense[2] & 0x0f;
}

uint16_t sense_asc(const struct scsi_task *t)
{
	if ((t->sense[0] & 0x7f) == 0x72)
		return (uint16_t)(t->sense[2] << 8 | t->sense[3]);
	return (uint16_t)(t->sense[12] << 8 | t->sense[13]);
}

void assert_sense(const struct scsi_task *t, uint8_t key, uint16_t asc)
{
	assert_int_equal(t->status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(sense_key(t), key);
	assert_int_equal(sense_asc(t), asc);
}

#endif
