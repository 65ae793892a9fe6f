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

#endif
