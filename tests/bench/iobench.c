// SPDX-License-Identifier: Apache-2.0
/*
 * iobench: a small libiscsi load generator for `make bench`.
 *   iobench -p HOST:PORT -t IQN [-l LUN] -m MODE -b BYTES -q DEPTH
 *           [-s SECONDS] [-r RANGE_MIB] [-c CONNECTIONS]
 * MODE: randread | randwrite | seqread | seqwrite | fill (one sequential
 * write pass over the range, for preconditioning). One iSCSI session per
 * connection, async API, DEPTH commands in flight per session.
 * Prints: "RESULT mode=... bs=... qd=... iops=... mbps=... avg_lat_us=..."
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define MAX_CONN 16

struct bench;

struct session {
	struct iscsi_context *ctx;
	struct bench *b;
	int inflight;
};

struct bench {
	const char *portal, *iqn, *mode;
	int lun, qd, nconn, seconds;
	uint32_t bs, blksz;
	uint64_t range_mib, cap_blocks, range_blocks, next_lba, done_ops,
		errors;
	bool rnd, write, fill, stop;
	double lat_sum, t_end;
	unsigned char *wbuf;
	struct scsi_iovec riov; /* reads land in one reused buffer */
	struct session s[MAX_CONN];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd64(void)
{
	static uint64_t x = 0x2545F4914F6CDD1Dull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

struct op {
	struct session *s;
	double start;
};

static int submit(struct session *s);

static void done_cb(struct iscsi_context *ctx, int status, void *data,
		    void *priv)
{
	struct op *op = priv;
	struct session *s = op->s;
	struct bench *b = s->b;

	if (status != SCSI_STATUS_GOOD) {
		b->errors++;
		if (b->errors < 5)
			fprintf(stderr, "iobench: I/O error: %s\n",
				iscsi_get_error(ctx));
	}
	b->done_ops++;
	b->lat_sum += now() - op->start;
	s->inflight--;
	scsi_free_scsi_task(data);
	free(op);
	if (!b->stop)
		submit(s);
}

static int submit(struct session *s)
{
	struct bench *b = s->b;
	uint32_t nblk = b->bs / b->blksz;
	struct scsi_task *t;
	struct op *op;
	uint64_t lba;

	if (b->rnd) {
		lba = (rnd64() % (b->range_blocks / nblk)) * nblk;
	} else {
		if (b->fill && b->next_lba + nblk > b->range_blocks) {
			b->stop = true;
			return 0;
		}
		if (b->next_lba + nblk > b->range_blocks)
			b->next_lba = 0;
		lba = b->next_lba;
		b->next_lba += nblk;
	}
	op = malloc(sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->s = s;
	op->start = now();
	if (b->write)
		t = iscsi_write16_task(s->ctx, b->lun, lba, b->wbuf, b->bs,
				       (int)b->blksz, 0, 0, 0, 0, 0, done_cb,
				       op);
	else
		t = iscsi_read16_iov_task(s->ctx, b->lun, lba, b->bs,
					  (int)b->blksz, 0, 0, 0, 0, 0, done_cb,
					  op, &b->riov, 1);
	if (!t) {
		free(op);
		fprintf(stderr, "iobench: submit: %s\n",
			iscsi_get_error(s->ctx));
		return -EIO;
	}
	s->inflight++;
	return 0;
}

static int connect_one(struct bench *b, struct session *s, int idx)
{
	char name[128];
	struct scsi_task *t;
	struct scsi_readcapacity16 *rc;

	snprintf(name, sizeof(name), "iqn.2026-11.org.example:iobench-%d", idx);
	s->b = b;
	s->ctx = iscsi_create_context(name);
	if (!s->ctx)
		return -ENOMEM;
	iscsi_set_targetname(s->ctx, b->iqn);
	iscsi_set_session_type(s->ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s->ctx, ISCSI_HEADER_DIGEST_NONE);
	iscsi_set_noautoreconnect(s->ctx, 1);
	if (iscsi_full_connect_sync(s->ctx, b->portal, b->lun)) {
		fprintf(stderr, "iobench: login to %s %s: %s\n", b->portal,
			b->iqn, iscsi_get_error(s->ctx));
		return -EIO;
	}
	t = iscsi_readcapacity16_sync(s->ctx, b->lun);
	if (!t || t->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iobench: READ CAPACITY failed\n");
		return -EIO;
	}
	rc = scsi_datain_unmarshall(t);
	if (rc) {
		uint64_t cap = rc->returned_lba + 1;

		b->blksz = rc->block_length;
		b->cap_blocks = cap;
	}
	scsi_free_scsi_task(t);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: iobench -p HOST:PORT -t IQN [-l LUN] -m "
		"randread|randwrite|seqread|seqwrite|fill -b BYTES -q DEPTH "
		"[-s SECONDS] [-r RANGE_MIB] [-c CONNECTIONS]\n");
	exit(2);
}

static void parse(struct bench *b, int argc, char **argv)
{
	int c;

	b->qd = 32;
	b->bs = 4096;
	b->seconds = 10;
	b->nconn = 1;
	b->mode = "randread";
	while ((c = getopt(argc, argv, "p:t:l:m:b:q:s:r:c:")) != -1) {
		switch (c) {
		case 'p':
			b->portal = optarg;
			break;
		case 't':
			b->iqn = optarg;
			break;
		case 'l':
			b->lun = atoi(optarg);
			break;
		case 'm':
			b->mode = optarg;
			break;
		case 'b':
			b->bs = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'q':
			b->qd = atoi(optarg);
			break;
		case 's':
			b->seconds = atoi(optarg);
			break;
		case 'r':
			b->range_mib = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			b->nconn = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (!b->portal || !b->iqn || b->qd < 1 || b->bs < 512 || b->nconn < 1 ||
	    b->nconn > MAX_CONN)
		usage();
	b->rnd = !strncmp(b->mode, "rand", 4);
	b->write = strstr(b->mode, "write") || !strcmp(b->mode, "fill");
	b->fill = !strcmp(b->mode, "fill");
	if (!b->rnd && strncmp(b->mode, "seq", 3) && !b->fill)
		usage();
}

static int loop(struct bench *b)
{
	struct pollfd pfd[MAX_CONN];

	for (;;) {
		int busy = 0;

		if (!b->stop && !b->fill && now() >= b->t_end)
			b->stop = true;
		for (int i = 0; i < b->nconn; i++) {
			pfd[i].fd = iscsi_get_fd(b->s[i].ctx);
			pfd[i].events = (short)iscsi_which_events(b->s[i].ctx);
			busy += b->s[i].inflight;
		}
		if (b->stop && !busy)
			break;
		if (poll(pfd, (nfds_t)b->nconn, 1000) < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < b->nconn; i++)
			if (iscsi_service(b->s[i].ctx, pfd[i].revents) < 0) {
				fprintf(stderr, "iobench: %s\n",
					iscsi_get_error(b->s[i].ctx));
				return -EIO;
			}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench b;
	double t0, el;

	parse(&b, argc, argv);
	for (int i = 0; i < b.nconn; i++)
		if (connect_one(&b, &b.s[i], i))
			return 1;
	if (!b.blksz || b.bs % b.blksz) {
		fprintf(stderr, "iobench: -b must be a multiple of %u\n",
			b.blksz);
		return 2;
	}
	b.range_blocks = b.cap_blocks;
	if (b.range_mib && (b.range_mib << 20) / b.blksz < b.cap_blocks)
		b.range_blocks = (b.range_mib << 20) / b.blksz;
	if (b.range_blocks < b.bs / b.blksz)
		return 2;
	b.wbuf = malloc(b.bs);
	if (!b.wbuf)
		return 1;
	for (uint32_t i = 0; i < b.bs; i++)
		b.wbuf[i] = (unsigned char)(i * 7 + 1);
	/* Reads go straight from the socket into this buffer (libiscsi's
	 * iovec path), as a kernel initiator reads into the caller's pages:
	 * no per-I/O malloc and copy in the load generator, whose CPU is
	 * shared with the target under test. */
	b.riov.iov_base = malloc(b.bs);
	b.riov.iov_len = b.bs;
	if (!b.riov.iov_base)
		return 1;
	t0 = now();
	b.t_end = t0 + b.seconds;
	for (int i = 0; i < b.nconn; i++)
		for (int k = 0; k < b.qd && !b.stop; k++)
			if (submit(&b.s[i]))
				return 1;
	if (loop(&b))
		return 1;
	el = now() - t0;
	printf("RESULT mode=%s bs=%u qd=%d conns=%d seconds=%.2f ops=%" PRIu64
	       " iops=%.0f mbps=%.1f avg_lat_us=%.0f errors=%" PRIu64 "\n",
	       b.mode, b.bs, b.qd, b.nconn, el, b.done_ops,
	       (double)b.done_ops / el, (double)b.done_ops * b.bs / el / 1e6,
	       b.done_ops ? b.lat_sum / (double)b.done_ops * 1e6 : 0.0,
	       b.errors);
	for (int i = 0; i < b.nconn; i++) {
		iscsi_logout_sync(b.s[i].ctx);
		iscsi_destroy_context(b.s[i].ctx);
	}
	free(b.wbuf);
	free(b.riov.iov_base);
	return b.errors ? 1 : 0;
}
