// SPDX-License-Identifier: Apache-2.0
/*
 * Backing stores on regular files and block devices: opening (create,
 * grow, size checks, exclusive use) and the synchronous I/O that worker
 * threads run.
 *
 * Durability: a single read-write descriptor without O_DSYNC. A write
 * that must be stable when it completes (the LUN is write-through, or the
 * write has FUA) is issued with pwritev2(RWF_DSYNC), which is O_DSYNC for
 * that one call; so switching write-back on and off at run time is just a
 * flag. Where RWF_DSYNC is not supported (old kernels) we fall back to
 * pwrite + fdatasync. DISCARD and WRITE_ZEROES on a write-through LUN are
 * followed by fdatasync.
 *
 * DISCARD guarantees zeroes on read back (we may report LBPRZ): on files it
 * punches a hole; on block devices fallocate(PUNCH_HOLE) is the kernel's
 * "zero out, unmapping if the device can" (plain BLKDISCARD does not
 * guarantee zeroes, so it is not used); BLKZEROOUT and finally writing
 * zeroes are the fallbacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bs_int.h"
#include "duet/log.h"
#include "duet/util.h"

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif

static const char zero_buf[64 * 1024];

/* ---- open ---- */

static int dir_of_missing_file(const char *path, char *err, size_t errlen)
{
	char *copy = strdup(path);
	struct stat st;
	const char *dir;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	if (stat(dir, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen,
			 "%s: cannot create the file: directory %s %s; duetd "
			 "does not create directories: create it (mkdir -p "
			 "%s) or fix the path",
			 path, dir,
			 errno == ENOENT ? "does not exist" : strerror(errno),
			 dir);
	} else if (!S_ISDIR(st.st_mode)) {
		ret = -ENOTDIR;
		snprintf(err, errlen,
			 "%s: cannot create the file: %s is not a "
			 "directory",
			 path, dir);
	}
	free(copy);
	return ret;
}

static void fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int dfd;

	if (!copy)
		return;
	dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(copy);
}

static int create_file(const struct bs_open_params *p, int *fdp, char *err,
		       size_t errlen)
{
	int ret, fd;

	if (!p->create || p->size == 0) {
		snprintf(err, errlen,
			 "%s does not exist%s; give the LUN a size so duetd "
			 "creates it (sparse), or fix the path",
			 p->path,
			 p->create ? " and no size is configured" : "");
		return -ENOENT;
	}
	if (p->readonly) {
		snprintf(err, errlen,
			 "%s does not exist and the LUN is read-only; create "
			 "the file first or fix the path",
			 p->path);
		return -ENOENT;
	}
	ret = dir_of_missing_file(p->path, err, errlen);
	if (ret < 0)
		return ret;
	fd = open(p->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot create: %s", p->path,
			 strerror(errno));
		return ret;
	}
	if (ftruncate(fd, (off_t)p->size) < 0 || fsync(fd) < 0) {
		ret = -errno;
		snprintf(err, errlen,
			 "%s: cannot set the size to %" PRIu64 " bytes: %s",
			 p->path, p->size, strerror(errno));
		close(fd);
		unlink(p->path);
		return ret;
	}
	fsync_parent(p->path);
	log_info("%s: created sparse file of %" PRIu64 " bytes", p->path,
		 p->size);
	*fdp = fd;
	return 0;
}

static int size_file(struct bs_dev *dev, const struct bs_open_params *p,
		     const struct stat *st, char *err, size_t errlen)
{
	uint64_t cur = (uint64_t)st->st_size;

	if (p->size == 0) {
		if (cur < 512) {
			snprintf(err, errlen,
				 "%s is %" PRIu64
				 " bytes; a LUN needs at least "
				 "512: configure a size to grow it",
				 p->path, cur);
			return -EINVAL;
		}
		dev->size = cur;
		return 0;
	}
	dev->size = p->size;
	if (cur == p->size)
		return 0;
	if (cur > p->size) {
		snprintf(err, errlen,
			 "%s is %" PRIu64 " bytes, larger than the configured "
			 "size %" PRIu64 "; duetd never shrinks a file: set "
			 "size = %" PRIu64 " (or leave size out to use the "
			 "file's size)",
			 p->path, cur, p->size, cur);
		return -EFBIG;
	}
	if (p->readonly) {
		snprintf(err, errlen,
			 "%s is %" PRIu64 " bytes, smaller than the configured "
			 "size %" PRIu64 ", and the LUN is read-only: fix the "
			 "size or leave it out",
			 p->path, cur, p->size);
		return -EINVAL;
	}
	if (ftruncate(dev->fd, (off_t)p->size) < 0 || fsync(dev->fd) < 0) {
		int ret = -errno;

		snprintf(err, errlen,
			 "%s: cannot grow to %" PRIu64 " bytes: %s", p->path,
			 p->size, strerror(errno));
		return ret;
	}
	log_info("%s: grew from %" PRIu64 " to %" PRIu64 " bytes (sparse)",
		 p->path, cur, p->size);
	return 0;
}

static bool blk_discard_supported(const struct stat *st)
{
	char path[96], buf[32];
	FILE *f;
	bool ok = false;

	snprintf(path, sizeof(path),
		 "/sys/dev/block/%u:%u/queue/discard_max_bytes",
		 major(st->st_rdev), minor(st->st_rdev));
	f = fopen(path, "re");
	if (f) {
		ok = fgets(buf, sizeof(buf), f) && strtoull(buf, NULL, 10) > 0;
		fclose(f);
	}
	return ok;
}

static int size_blk(struct bs_dev *dev, const struct bs_open_params *p,
		    const struct stat *st, char *err, size_t errlen)
{
	uint64_t bytes = 0;
	int lbs = 512;
	unsigned int pbs = 512;

	if (ioctl(dev->fd, BLKGETSIZE64, &bytes) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "%s: cannot read the device size: %s",
			 p->path, strerror(errno));
		return ret;
	}
	if (ioctl(dev->fd, BLKSSZGET, &lbs) < 0 || lbs < 512)
		lbs = 512;
	if (ioctl(dev->fd, BLKPBSZGET, &pbs) < 0 || pbs < (unsigned)lbs)
		pbs = (unsigned)lbs;
	dev->lbs = (uint32_t)lbs;
	dev->pbs = pbs;
	if (p->size > bytes) {
		snprintf(err, errlen,
			 "%s: configured size %" PRIu64 " is larger than the "
			 "device (%" PRIu64 " bytes): lower the size or leave "
			 "it out",
			 p->path, p->size, bytes);
		return -EFBIG;
	}
	dev->size = p->size ? p->size : bytes;
	if (dev->size == 0) {
		snprintf(err, errlen, "%s: the device is empty (0 bytes)",
			 p->path);
		return -EINVAL;
	}
	dev->discard = !p->readonly && blk_discard_supported(st);
	return 0;
}

static int open_existing(struct bs_dev *dev, const struct bs_open_params *p,
			 const struct stat *st, char *err, size_t errlen)
{
	int flags = (p->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	if (S_ISBLK(st->st_mode))
		flags |= O_EXCL; /* fails if mounted or claimed */
	else if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen,
			 "%s is neither a regular file nor a block device",
			 p->path);
		return -EINVAL;
	}
	dev->fd = open(p->path, flags);
	if (dev->fd < 0) {
		int ret = -errno;

		snprintf(err, errlen, "%s: cannot open%s: %s%s", p->path,
			 p->readonly ? "" : " read-write", strerror(errno),
			 errno == EBUSY ? " (mounted, or in use by another "
					  "program?)"
			 : errno == EACCES || errno == EROFS
				 ? " (set readonly = true for a "
				   "read-only LUN)"
				 : "");
		return ret;
	}
	dev->is_blk = S_ISBLK(st->st_mode);
	return 0;
}

static int lock_file(struct bs_dev *dev, char *err, size_t errlen)
{
	if (dev->is_blk)
		return 0; /* O_EXCL already */
	if (flock(dev->fd, (dev->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int ret = -errno;

		snprintf(err, errlen,
			 "%s is locked by another process (another duetd "
			 "exporting it?): %s",
			 dev->path, strerror(errno));
		return ret;
	}
	return 0;
}

static void probe_file_discard(struct bs_dev *dev)
{
	/* Punching beyond EOF with KEEP_SIZE changes nothing: a free probe. */
	dev->discard =
		!dev->readonly &&
		fallocate(dev->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)dev->size, 4096) == 0;
}

static int open_and_size(struct bs_dev *dev, const struct bs_open_params *p,
			 char *err, size_t errlen)
{
	struct stat st;
	int ret;

	if (stat(p->path, &st) < 0) {
		if (errno != ENOENT) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", p->path,
				 strerror(errno));
			return ret;
		}
		ret = create_file(p, &dev->fd, err, errlen);
		if (ret < 0)
			return ret;
		dev->size = p->size;
		ret = lock_file(dev, err, errlen);
	} else {
		ret = open_existing(dev, p, &st, err, errlen);
		if (ret == 0)
			ret = lock_file(dev, err, errlen);
		if (ret == 0 && dev->is_blk)
			return size_blk(dev, p, &st, err, errlen);
		if (ret == 0)
			ret = size_file(dev, p, &st, err, errlen);
	}
	if (ret == 0)
		probe_file_discard(dev);
	return ret;
}

int bs_open(const struct bs_open_params *p, struct bs_dev **out, char *err,
	    size_t errlen)
{
	char dummy[8];
	struct bs_dev *dev;
	int ret;

	if (!err) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	if (!p || !p->path || !*p->path) {
		snprintf(err, errlen, "no path given for the backing store");
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev || !(dev->path = strdup(p->path))) {
		free(dev);
		snprintf(err, errlen, "%s: out of memory", p->path);
		return -ENOMEM;
	}
	dev->fd = -1;
	dev->readonly = p->readonly;
	dev->lbs = dev->pbs = 512;
	atomic_init(&dev->write_back, p->write_back);
	atomic_init(&dev->rwf_dsync_ok, true);
	ret = open_and_size(dev, p, err, errlen);
	if (ret == 0) {
		*out = dev;
		return 0;
	}
	if (dev->fd >= 0)
		close(dev->fd);
	free(dev->path);
	free(dev);
	return ret;
}

void bs_close(struct bs_dev *dev)
{
	if (!dev)
		return;
	if (!dev->readonly && fdatasync(dev->fd) < 0)
		log_warn("%s: fdatasync on close failed: %s", dev->path,
			 strerror(errno));
	close(dev->fd);
	free(dev->path);
	free(dev);
}

uint64_t bs_size(const struct bs_dev *dev)
{
	return dev->size;
}

bool bs_readonly(const struct bs_dev *dev)
{
	return dev->readonly;
}

bool bs_write_back(const struct bs_dev *dev)
{
	return atomic_load_explicit(&dev->write_back, memory_order_relaxed);
}

/*
 * Runs on the loop thread, so it never blocks: data written while
 * write-back was on stays volatile until the caller submits BS_OP_FLUSH
 * (SYNCHRONIZE CACHE). Writes queued before the switch may still be
 * issued with the old mode.
 */
void bs_set_write_back(struct bs_dev *dev, bool on)
{
	bool old = atomic_exchange(&dev->write_back, on);

	if (old != on)
		log_info("%s: write-back caching %s", dev->path,
			 on ? "enabled" : "disabled (write-through)");
}

uint32_t bs_phys_block_size(const struct bs_dev *dev)
{
	return dev->pbs;
}

bool bs_supports_discard(const struct bs_dev *dev)
{
	return dev->discard;
}

/* ---- synchronous I/O (worker threads) ---- */

static int do_read(struct bs_dev *dev, char *buf, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t r = pread(dev->fd, buf, MIN(len, (uint64_t)1 << 30),
				  (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* the file shrank under us */
		buf += r;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

static ssize_t write_once(struct bs_dev *dev, const char *buf, size_t len,
			  uint64_t off, bool sync)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	ssize_t w;

	if (!sync)
		return pwrite(dev->fd, buf, len, (off_t)off);
	if (atomic_load_explicit(&dev->rwf_dsync_ok, memory_order_relaxed)) {
		w = pwritev2(dev->fd, &iov, 1, (off_t)off, RWF_DSYNC);
		if (w >= 0 ||
		    (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL))
			return w;
		atomic_store(&dev->rwf_dsync_ok, false);
		log_info("%s: pwritev2(RWF_DSYNC) unsupported; using "
			 "fdatasync after each stable write",
			 dev->path);
	}
	w = pwrite(dev->fd, buf, len, (off_t)off);
	if (w > 0 && fdatasync(dev->fd) < 0)
		return -1;
	return w;
}

static int do_write(struct bs_dev *dev, const char *buf, uint64_t len,
		    uint64_t off, bool sync)
{
	while (len) {
		ssize_t w = write_once(dev, buf, MIN(len, (uint64_t)1 << 30),
				       off, sync);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		buf += w;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

static int write_zero_buf(struct bs_dev *dev, uint64_t off, uint64_t len)
{
	while (len) {
		uint64_t n = MIN(len, (uint64_t)sizeof(zero_buf));
		int ret = do_write(dev, zero_buf, n, off, false);

		if (ret < 0)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

static bool unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOTTY || err == ENOSYS ||
	       err == EINVAL;
}

static int zero_range(struct bs_dev *dev, uint64_t off, uint64_t len,
		      bool punch)
{
	int mode = (punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
		   FALLOC_FL_KEEP_SIZE;

	if (len == 0)
		return 0;
	if (fallocate(dev->fd, mode, (off_t)off, (off_t)len) == 0)
		return 0;
	if (!unsupported(errno))
		return -errno;
	if (!punch &&
	    fallocate(dev->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) == 0)
		return 0;
	if (dev->is_blk) {
		uint64_t range[2] = {off, len};

		if (ioctl(dev->fd, BLKZEROOUT, range) == 0)
			return 0;
		if (!unsupported(errno))
			return -errno;
	}
	return write_zero_buf(dev, off, len);
}

int bs_dev_execute(struct bs_dev *dev, struct bs_io *io)
{
	bool wb = atomic_load_explicit(&dev->write_back, memory_order_relaxed);
	int ret;

	switch (io->op) {
	case BS_OP_READ:
		return do_read(dev, io->buf, io->len, io->offset);
	case BS_OP_WRITE:
		return do_write(dev, io->buf, io->len, io->offset,
				!wb || io->fua);
	case BS_OP_FLUSH:
		return fdatasync(dev->fd) < 0 ? -errno : 0;
	case BS_OP_DISCARD:
	case BS_OP_WRITE_ZEROES:
		ret = zero_range(dev, io->offset, io->len,
				 io->op == BS_OP_DISCARD);
		if (ret == 0 && !wb && io->len && fdatasync(dev->fd) < 0)
			ret = -errno;
		return ret;
	}
	return -EINVAL;
}
