// SPDX-License-Identifier: Apache-2.0
/* Backing store: open/create/grow rules and real I/O on a real event_base,
 * against temporary files. Every case runs twice: once on the worker pool,
 * once on the io_uring engine (skipped, not passed, where the kernel does
 * not allow io_uring). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/bs/bs_int.h"
#include "duet/bs.h"
#include "duet/log.h"

static char dir[64];
static char path[128];
static struct event_base *base;
static unsigned n_done;
static bool in_submit;
static enum bs_engine engine;

static int setup(void **state)
{
	int ret;

	log_init("test_bs", true, LOG_LVL_ERR);
	base = event_base_new();
	assert_non_null(base);
	ret = bs_init_engine(base, 4, engine);
	if (engine == BS_ENGINE_URING && ret < 0) {
		/* The kernel refuses io_uring: a skip, never a pass. */
		event_base_free(base);
		base = NULL;
		skip();
	}
	assert_int_equal(ret, 0);
	assert_string_equal(bs_engine_name(),
			    engine == BS_ENGINE_URING ? "io_uring" : "threads");
	strcpy(dir, "/tmp/duet-bs-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/lun0.img", dir);
	n_done = 0;
	return 0;
}

static int teardown(void **state)
{
	if (!base)
		return 0;
	bs_shutdown();
	event_base_free(base);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void on_done(struct bs_io *io)
{
	assert_false(in_submit);
	n_done++;
}

static void wait_for(unsigned n)
{
	while (n_done < n)
		assert_true(event_base_loop(base, EVLOOP_ONCE) >= 0);
}

static int submit(struct bs_dev *dev, struct bs_io *io)
{
	int ret;

	io->done = on_done;
	in_submit = true;
	ret = bs_submit(dev, io);
	in_submit = false;
	return ret;
}

/* Synchronous helper: one request, wait for it, return its result. */
static int do_io(struct bs_dev *dev, enum bs_op op, uint64_t off, uint64_t len,
		 void *buf, bool fua)
{
	struct bs_io io = {
		.op = op, .offset = off, .len = len, .buf = buf, .fua = fua};
	unsigned want = n_done + 1;
	int ret = submit(dev, &io);

	if (ret < 0)
		return ret;
	wait_for(want);
	return io.result;
}

static struct bs_dev *open_dev(uint64_t size, bool create, bool ro, int *ret,
			       char *err, size_t errlen)
{
	struct bs_open_params p = {
		.path = path, .size = size, .create = create, .readonly = ro};
	struct bs_dev *dev = NULL;

	*ret = bs_open(&p, &dev, err, errlen);
	return dev;
}

static void test_create_sparse(void **state)
{
	char err[256];
	struct stat st;
	int ret;
	struct bs_dev *dev =
		open_dev(64 << 20, true, false, &ret, err, sizeof(err));

	assert_int_equal(ret, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	assert_true(st.st_blocks * 512 < (1 << 20)); /* sparse */
	assert_int_equal(bs_size(dev), 64 << 20);
	assert_false(bs_readonly(dev));
	assert_false(bs_write_back(dev));
	assert_int_equal(bs_phys_block_size(dev), 512);
	bs_close(dev);
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 9));
}

static void test_write_read_many(void **state)
{
	enum { N = 64, LEN = 8192 + 512 };
	static unsigned char wbuf[N][LEN], rbuf[N][LEN];
	struct bs_io ios[N];
	char err[256];
	int ret;
	struct bs_dev *dev =
		open_dev(16 << 20, true, false, &ret, err, sizeof(err));

	assert_int_equal(ret, 0);
	/* Many writes in flight at once, at scattered (odd) offsets. */
	for (unsigned i = 0; i < N; i++) {
		fill(wbuf[i], LEN, i);
		ios[i] = (struct bs_io){.op = BS_OP_WRITE,
					.offset = (uint64_t)i * (LEN + 4099) +
						  (i % 3) * 511,
					.len = LEN,
					.buf = wbuf[i]};
	}
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(submit(dev, &ios[i]), 0);
	wait_for(N);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(ios[i].result, 0);
	for (unsigned i = 0; i < N; i++) {
		ios[i].op = BS_OP_READ;
		ios[i].buf = rbuf[i];
		assert_int_equal(submit(dev, &ios[i]), 0);
	}
	wait_for(2 * N);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(ios[i].result, 0);
		assert_memory_equal(rbuf[i], wbuf[i], LEN);
	}
	/* The last block of the device is reachable; one past is not. */
	assert_int_equal(
		do_io(dev, BS_OP_WRITE, (16 << 20) - 512, 512, wbuf[0], false),
		0);
	assert_int_equal(
		do_io(dev, BS_OP_READ, (16 << 20) - 512, 1024, rbuf[0], false),
		-EINVAL);
	bs_close(dev);
}

static void test_flush_fua_write_back(void **state)
{
	unsigned char b[4096], r[4096];
	char err[256];
	int ret;
	struct bs_dev *dev =
		open_dev(1 << 20, true, false, &ret, err, sizeof(err));

	assert_int_equal(ret, 0);
	bs_set_write_back(dev, true);
	assert_true(bs_write_back(dev));
	fill(b, sizeof(b), 9);
	assert_int_equal(do_io(dev, BS_OP_WRITE, 4096, 4096, b, false), 0);
	assert_int_equal(do_io(dev, BS_OP_WRITE, 0, 4096, b, true), 0);
	assert_int_equal(do_io(dev, BS_OP_FLUSH, 0, 0, NULL, false), 0);
	bs_set_write_back(dev, false);
	assert_false(bs_write_back(dev));
	assert_int_equal(do_io(dev, BS_OP_READ, 4096, 4096, r, false), 0);
	assert_memory_equal(b, r, sizeof(b));
	bs_close(dev);
}

static void test_discard_and_zeroes(void **state)
{
	static unsigned char b[65536], r[65536], z[65536];
	char err[256];
	int ret;
	struct bs_dev *dev =
		open_dev(1 << 20, true, false, &ret, err, sizeof(err));

	assert_int_equal(ret, 0);
	fill(b, sizeof(b), 3);
	assert_int_equal(do_io(dev, BS_OP_WRITE, 0, sizeof(b), b, false), 0);
	assert_int_equal(do_io(dev, BS_OP_WRITE, 65536, sizeof(b), b, false),
			 0);
	/* Discard 8K in the middle of the first 64K: reads back zeroes. */
	assert_int_equal(do_io(dev, BS_OP_DISCARD, 8192, 8192, NULL, false), 0);
	assert_int_equal(do_io(dev, BS_OP_READ, 0, sizeof(r), r, false), 0);
	assert_memory_equal(r, b, 8192);
	assert_memory_equal(r + 8192, z, 8192);
	assert_memory_equal(r + 16384, b + 16384, sizeof(b) - 16384);
	/* Unaligned write-zeroes. */
	assert_int_equal(
		do_io(dev, BS_OP_WRITE_ZEROES, 65536 + 100, 1000, NULL, false),
		0);
	assert_int_equal(do_io(dev, BS_OP_READ, 65536, sizeof(r), r, false), 0);
	assert_memory_equal(r, b, 100);
	assert_memory_equal(r + 100, z, 1000);
	assert_memory_equal(r + 1100, b + 1100, sizeof(b) - 1100);
	bs_close(dev);
}

static void test_readonly(void **state)
{
	unsigned char b[512] = {1};
	char err[256];
	int ret;
	struct bs_dev *dev =
		open_dev(1 << 20, true, false, &ret, err, sizeof(err));

	assert_int_equal(ret, 0);
	bs_close(dev);
	dev = open_dev(0, false, true, &ret, err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_true(bs_readonly(dev));
	assert_false(bs_supports_discard(dev));
	assert_int_equal(bs_size(dev), 1 << 20);
	/* Rejected at submit time, nothing queued: -EROFS. */
	assert_int_equal(do_io(dev, BS_OP_WRITE, 0, 512, b, false), -EROFS);
	assert_int_equal(do_io(dev, BS_OP_DISCARD, 0, 512, NULL, false),
			 -EROFS);
	assert_int_equal(do_io(dev, BS_OP_READ, 0, 512, b, false), 0);
	assert_int_equal(b[0], 0);
	bs_close(dev);
}

static void test_missing_dir(void **state)
{
	struct bs_open_params p = {.path = "/tmp/duet-no-such-dir-x/a.img",
				   .size = 1 << 20,
				   .create = true};
	struct bs_dev *dev = NULL;
	char err[256];

	assert_int_equal(bs_open(&p, &dev, err, sizeof(err)), -ENOENT);
	assert_null(dev);
	assert_non_null(strstr(err, "does not exist"));
	assert_non_null(strstr(err, "mkdir -p /tmp/duet-no-such-dir-x"));
}

static void test_missing_no_size(void **state)
{
	char err[256];
	int ret;

	assert_null(open_dev(0, true, false, &ret, err, sizeof(err)));
	assert_int_equal(ret, -ENOENT);
	assert_non_null(strstr(err, "does not exist"));
	assert_int_equal(access(path, F_OK), -1);
}

static void test_grow_and_too_large(void **state)
{
	char err[512];
	struct stat st;
	int ret, fd = open(path, O_CREAT | O_RDWR, 0600);
	struct bs_dev *dev;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	/* Smaller existing file: grown sparse. */
	dev = open_dev(4 << 20, true, false, &ret, err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_int_equal(bs_size(dev), 4 << 20);
	bs_close(dev);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4 << 20);
	/* Larger than configured: refused, never shrunk. */
	dev = open_dev(2 << 20, true, false, &ret, err, sizeof(err));
	assert_null(dev);
	assert_int_equal(ret, -EFBIG);
	assert_non_null(strstr(err, "never shrinks"));
	assert_non_null(strstr(err, "size = 4194304"));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4 << 20);
	/* Size 0: the file's own size. */
	dev = open_dev(0, true, false, &ret, err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_int_equal(bs_size(dev), 4 << 20);
	/* A second exclusive user is refused. */
	assert_null(open_dev(0, true, false, &ret, err, sizeof(err)));
	assert_int_equal(ret, -EWOULDBLOCK);
	assert_non_null(strstr(err, "locked"));
	bs_close(dev);
	/* Not a file or device. */
	{
		struct bs_open_params p = {.path = dir};
		struct bs_dev *d = NULL;

		assert_int_equal(bs_open(&p, &d, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "neither"));
	}
}

static void test_shutdown_delivers(void **state)
{
	enum { N = 1500 }; /* more than the io_uring CQ: some wait */
	static unsigned char b[N][4096];
	struct bs_io ios[N];
	char err[256];
	int ret;
	struct bs_dev *dev =
		open_dev(1 << 20, true, false, &ret, err, sizeof(err));

	assert_int_equal(ret, 0);
	bs_set_write_back(dev, true);
	for (unsigned i = 0; i < N; i++) {
		ios[i] = (struct bs_io){.op = BS_OP_WRITE,
					.offset = (i % 256) * 4096ull,
					.len = 4096,
					.buf = b[i]};
		assert_int_equal(submit(dev, &ios[i]), 0);
	}
	bs_shutdown(); /* no loop iteration: shutdown delivers them */
	assert_int_equal(n_done, N);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(ios[i].result, 0);
	assert_int_equal(do_io(dev, BS_OP_FLUSH, 0, 0, NULL, false),
			 -ESHUTDOWN);
	bs_close(dev);
	assert_int_equal(bs_init_engine(base, 0, engine), 0); /* restartable */
}

/* More requests at once than the io_uring CQ holds (1024): the overflow
 * waits in user space; each completes exactly once, in whatever order. */
static void count_done(struct bs_io *io)
{
	assert_false(in_submit);
	(*(unsigned *)io->priv)++;
	n_done++;
}

static void test_beyond_ring(void **state)
{
	enum { N = 2500, LEN = 4096 };
	unsigned char *w = malloc((size_t)N * LEN), *r = calloc(N, LEN);
	struct bs_io *ios = calloc(N, sizeof(*ios));
	unsigned *seen = calloc(N, sizeof(*seen));
	char err[256];
	int ret;
	struct bs_dev *dev =
		open_dev(16 << 20, true, false, &ret, err, sizeof(err));

	assert_int_equal(ret, 0);
	assert_true(w && r && ios && seen);
	bs_set_write_back(dev, true);
	for (unsigned pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < N; i++) {
			fill(w + (size_t)i * LEN, LEN, i);
			ios[i] = (struct bs_io){
				.op = pass ? BS_OP_READ : BS_OP_WRITE,
				.offset = (uint64_t)i * LEN,
				.len = LEN,
				.buf = (pass ? r : w) + (size_t)i * LEN,
				.fua = i % 7 == 0,
				.priv = &seen[i]};
			in_submit = true;
			ios[i].done = count_done;
			assert_int_equal(bs_submit(dev, &ios[i]), 0);
			in_submit = false;
		}
		wait_for((pass + 1) * N);
		for (unsigned i = 0; i < N; i++) {
			assert_int_equal(ios[i].result, 0);
			assert_int_equal(seen[i], pass + 1);
		}
	}
	assert_memory_equal(r, w, (size_t)N * LEN);
	assert_int_equal(do_io(dev, BS_OP_FLUSH, 0, 0, NULL, false), 0);
	bs_close(dev);
	free(w);
	free(r);
	free(ios);
	free(seen);
}

/* The file shrinks under the LUN: a read reaching past its end is -EIO
 * (the part before EOF arrives, the rest is never silently zero). */
static void test_read_past_shrunk_eof(void **state)
{
	static unsigned char b[65536], r[65536];
	char err[256];
	int ret, fd;
	struct bs_dev *dev =
		open_dev(1 << 20, true, false, &ret, err, sizeof(err));

	assert_int_equal(ret, 0);
	fill(b, sizeof(b), 5);
	assert_int_equal(do_io(dev, BS_OP_WRITE, 0, sizeof(b), b, false), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 40960), 0);
	close(fd);
	assert_int_equal(do_io(dev, BS_OP_READ, 0, sizeof(r), r, false), -EIO);
	assert_memory_equal(r, b, 40960);
	assert_int_equal(do_io(dev, BS_OP_READ, 512 << 10, 4096, r, false),
			 -EIO);
	assert_int_equal(do_io(dev, BS_OP_READ, 4096, 8192, r, false), 0);
	assert_memory_equal(r, b + 4096, 8192);
	bs_close(dev);
}

/* Zero-length transfers complete with 0; a chain where each done()
 * submits the next request runs to the end (done never nests in submit). */
static struct bs_dev *chain_dev;
static unsigned chain_left;
static unsigned char chain_buf[16][4096];

static void chain_next(struct bs_io *io)
{
	assert_false(in_submit);
	assert_int_equal(io->result, 0);
	n_done++;
	if (--chain_left == 0)
		return;
	io->op = chain_left % 2 ? BS_OP_WRITE : BS_OP_READ;
	io->offset = (chain_left % 16) * 4096ull;
	io->buf = chain_buf[chain_left % 16];
	io->fua = chain_left % 3 == 0;
	in_submit = true;
	assert_int_equal(bs_submit(chain_dev, io), 0);
	in_submit = false;
}

static void test_zero_len_and_chain(void **state)
{
	struct bs_io io = {.op = BS_OP_WRITE, .len = 4096};
	unsigned char b[512];
	char err[256];
	int ret;

	chain_dev = open_dev(1 << 20, true, false, &ret, err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_int_equal(do_io(chain_dev, BS_OP_READ, 4096, 0, b, false), 0);
	assert_int_equal(do_io(chain_dev, BS_OP_WRITE, 4096, 0, b, true), 0);
	chain_left = 200;
	io.buf = chain_buf[0];
	io.done = chain_next;
	in_submit = true;
	assert_int_equal(bs_submit(chain_dev, &io), 0);
	in_submit = false;
	wait_for(2 + 200);
	assert_int_equal(chain_left, 0);
	bs_close(chain_dev);
}

/* Stable writes where RWF_DSYNC is refused: the pool falls back to write
 * + fdatasync; io_uring never uses RWF_DSYNC (write + ranged fdatasync). */
static void test_dsync_fallback(void **state)
{
	static unsigned char b[3 * 4096 + 512], r[sizeof(b)];
	char err[256];
	int ret;
	struct bs_dev *dev =
		open_dev(1 << 20, true, false, &ret, err, sizeof(err));

	assert_int_equal(ret, 0);
	atomic_store(&dev->rwf_dsync_ok, false);
	fill(b, sizeof(b), 11);
	assert_int_equal(do_io(dev, BS_OP_WRITE, 1536, sizeof(b), b, false), 0);
	bs_set_write_back(dev, true);
	assert_int_equal(do_io(dev, BS_OP_WRITE, 65536, sizeof(b), b, true), 0);
	assert_int_equal(do_io(dev, BS_OP_READ, 1536, sizeof(r), r, false), 0);
	assert_memory_equal(r, b, sizeof(b));
	assert_int_equal(do_io(dev, BS_OP_READ, 65536, sizeof(r), r, false), 0);
	assert_memory_equal(r, b, sizeof(b));
	bs_close(dev);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create_sparse),
		T(test_write_read_many),
		T(test_flush_fua_write_back),
		T(test_discard_and_zeroes),
		T(test_readonly),
		T(test_missing_dir),
		T(test_missing_no_size),
		T(test_grow_and_too_large),
		T(test_shutdown_delivers),
		T(test_beyond_ring),
		T(test_read_past_shrunk_eof),
		T(test_zero_len_and_chain),
		T(test_dsync_fallback),
	};
	int fails;

	engine = BS_ENGINE_THREADS;
	fails = cmocka_run_group_tests_name("bs_threads", tests, NULL, NULL);
	engine = BS_ENGINE_URING;
	fails += cmocka_run_group_tests_name("bs_uring", tests, NULL, NULL);
	return fails;
}
