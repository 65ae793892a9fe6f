/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backing stores: regular files (created sparse at the configured size when
 * missing) and block devices. I/O never blocks the event loop. Two engines:
 * io_uring (READ, WRITE and FLUSH go to the kernel from the loop thread,
 * batched once per loop turn; completions come back through an eventfd)
 * and a pool of worker threads (everything else, and everything when
 * io_uring is unavailable or not wanted). Done callbacks always run on the
 * loop thread. Workers touch only the buffer handed to them.
 */
#ifndef DUET_BS_H
#define DUET_BS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bs_dev;

enum bs_op {
	BS_OP_READ,
	BS_OP_WRITE,
	BS_OP_FLUSH,   /* fdatasync the whole device */
	BS_OP_DISCARD, /* punch a hole / BLKDISCARD; reads back as zeroes */
	BS_OP_WRITE_ZEROES,
};

struct bs_io;
typedef void (*bs_done_fn)(struct bs_io *io);

struct bs_io {
	enum bs_op op;
	uint64_t offset; /* bytes */
	uint64_t len;	 /* bytes */
	void *buf;	 /* READ/WRITE only */
	bool fua;	 /* WRITE: on stable storage before completion */
	bs_done_fn done; /* runs on the loop thread */
	void *priv;
	int result;	    /* out: 0 or -errno (short I/O is -EIO) */
	struct bs_dev *dev; /* private */
	struct bs_io *next; /* private: queue link */
	uint64_t xfer;	    /* private: bytes transferred so far (io_uring) */
	uint8_t stage;	    /* private: what the next io_uring request does */
	uint8_t retries;    /* private: -EAGAIN/-EINTR retries in a row */
};

struct bs_open_params {
	const char *path;
	uint64_t size; /* bytes; 0 = use the existing file/device size */
	bool create;   /* create a sparse regular file of `size` if missing */
	bool readonly;
	bool write_back; /* false (default): every write is on stable storage
			   * when it completes (O_DSYNC) */
};

enum bs_engine {
	BS_ENGINE_AUTO,	 /* io_uring where the kernel allows it, else threads */
	BS_ENGINE_URING, /* io_uring, or bs_init_engine() fails */
	BS_ENGINE_THREADS, /* the worker pool for everything */
};

/* Start the engines on this loop. nworkers 0 = a default. */
int bs_init_engine(struct event_base *base, unsigned nworkers,
		   enum bs_engine engine);
/* bs_init_engine(base, nworkers, BS_ENGINE_AUTO) */
int bs_init(struct event_base *base, unsigned nworkers);
/* "io_uring" or "threads": what runs READ/WRITE/FLUSH now. */
const char *bs_engine_name(void);
/* Stop after finishing queued and in-flight I/O (io_uring: bounded wait);
 * completions are delivered before it returns, none after. */
void bs_shutdown(void);

/* Open (and maybe create) a backing store. On error returns -errno and
 * writes a message an administrator can act on into err (if non-NULL). */
int bs_open(const struct bs_open_params *p, struct bs_dev **out, char *err,
	    size_t errlen);
void bs_close(struct bs_dev *dev);
uint64_t bs_size(const struct bs_dev *dev);
bool bs_readonly(const struct bs_dev *dev);
bool bs_write_back(const struct bs_dev *dev);
/* Switch write-back on/off at run time (MODE SELECT caching page WCE). */
void bs_set_write_back(struct bs_dev *dev, bool on);
/* Physical/logical block size hints of the underlying device (512 for files). */
uint32_t bs_phys_block_size(const struct bs_dev *dev);
bool bs_supports_discard(const struct bs_dev *dev);

/* Queue an I/O; io->done runs later on the loop thread, never inside
 * bs_submit(). Returns 0, or -errno without queueing. */
int bs_submit(struct bs_dev *dev, struct bs_io *io);

#endif
