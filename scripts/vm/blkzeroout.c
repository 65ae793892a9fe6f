// SPDX-License-Identifier: Apache-2.0
/*
 * blkzeroout DEV OFFSET LENGTH: BLKZEROOUT ioctl on a block device (the
 * kernel sends WRITE SAME / WRITE ZEROES when the disk advertises it).
 * Built static by scripts/vm/build-guest.sh for the test guest (busybox
 * has no zero-out applet).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	uint64_t range[2];
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: blkzeroout DEV OFFSET LENGTH\n");
		return 2;
	}
	range[0] = strtoull(argv[2], NULL, 0);
	range[1] = strtoull(argv[3], NULL, 0);
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (ioctl(fd, BLKZEROOUT, range) < 0) {
		fprintf(stderr, "BLKZEROOUT %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	return close(fd) ? 1 : 0;
}
