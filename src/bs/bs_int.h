/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/bs: the device and its synchronous I/O, run by workers. */
#ifndef DUET_BS_INT_H
#define DUET_BS_INT_H

#include <stdatomic.h>

#include "duet/bs.h"

struct bs_dev {
	int fd;
	char *path;
	uint64_t size;
	bool readonly;
	bool is_blk;
	bool discard;
	uint32_t lbs; /* logical block size */
	uint32_t pbs; /* physical block size */
	atomic_bool write_back;
	atomic_bool rwf_dsync_ok; /* pwritev2(RWF_DSYNC) works here */
};

/* Run one request to completion on the calling (worker) thread.
 * Returns 0 or -errno; never a short transfer. */
int bs_dev_execute(struct bs_dev *dev, struct bs_io *io);

/* The io_uring engine (bs_uring.c), loop thread only. init returns 0 or
 * -errno when io_uring cannot be used here (the caller falls back). */
int bs_uring_init(struct event_base *base);
bool bs_uring_active(void);
/* Queue READ/WRITE/FLUSH (already checked); 0 or -ESHUTDOWN. */
int bs_uring_submit(struct bs_io *io);
/* Refuse new requests, then wait (bounded) for the ones in flight. */
void bs_uring_shutdown(void);

#endif
