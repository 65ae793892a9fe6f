// SPDX-License-Identifier: Apache-2.0
/*
 * duetctl: send one command to duetd's control socket and print the
 * answer. Exit status: 0 on OK, 1 on ERR, 2 if the daemon is not
 * reachable or the exchange failed.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "duet/ctl.h"
#include "duet/version.h"

#define TIMEOUT_MS 10000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: duetctl [-s SOCKET] COMMAND [ARGS...]\n"
		"  -s, --socket PATH  duetd's control socket (default %s)\n"
		"  -h, --help         this help\n"
		"  -V, --version      print the version\n"
		"Commands (ask the daemon: duetctl help): help, version, "
		"status,\n"
		"  log-level [error|warn|info|debug], ...\n",
		CTL_DEFAULT_SOCKET);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "duetctl: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno;

		fprintf(stderr,
			"duetctl: cannot reach duetd at %s: %s\n"
			"Check that duetd is running (systemctl status duetd) "
			"and that the socket path is right (-s PATH, duetd "
			"--ctl-socket)%s.\n",
			path, strerror(err),
			err == EACCES ? "; the socket is only accessible to "
					"the user running duetd (try sudo)"
				      : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Print one response line; returns 0 (data), 1 (OK), 2 (ERR). */
static int handle_line(const char *line)
{
	if (strcmp(line, "OK") == 0)
		return 1;
	if (strncmp(line, "ERR", 3) == 0 && (line[3] == ' ' || !line[3])) {
		fprintf(stderr, "duetctl: %s\n", line[3] ? line + 4 : "error");
		return 2;
	}
	/* Lines that would look final are sent with a leading blank. */
	puts(line[0] == ' ' && (strncmp(line + 1, "OK", 2) == 0 ||
				strncmp(line + 1, "ERR", 3) == 0)
		     ? line + 1
		     : line);
	return 0;
}

static int read_response(int fd)
{
	static char buf[65536];
	size_t have = 0;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char *nl;
		ssize_t r;

		while ((nl = memchr(buf, '\n', have))) {
			int st;

			*nl = '\0';
			st = handle_line(buf);
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
			if (st)
				return st == 1 ? 0 : 1;
		}
		if (have == sizeof(buf)) {
			fprintf(stderr, "duetctl: response line too long\n");
			return 2;
		}
		if (poll(&pfd, 1, TIMEOUT_MS) == 0) {
			fprintf(stderr,
				"duetctl: no answer from duetd within "
				"%d s\n",
				TIMEOUT_MS / 1000);
			return 2;
		}
		r = read(fd, buf + have, sizeof(buf) - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "duetctl: duetd closed the connection "
					"before answering\n");
			return 2;
		}
		have += (size_t)r;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *path = CTL_DEFAULT_SOCKET;
	char line[CTL_LINE_MAX + 2];
	size_t len = 0;
	int c, fd, ret;

	while ((c = getopt_long(argc, argv, "+s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("duetctl %s\n", DUET_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (len + n + 1 > CTL_LINE_MAX || strchr(argv[i], '\n')) {
			fprintf(stderr, "duetctl: command too long or "
					"contains a newline\n");
			return 2;
		}
		if (i > optind)
			line[len++] = ' ';
		memcpy(line + len, argv[i], n);
		len += n;
	}
	line[len++] = '\n';
	fd = connect_to(path);
	if (fd < 0)
		return 2;
	if (send_all(fd, line, len) < 0) {
		fprintf(stderr, "duetctl: sending to %s: %s\n", path,
			strerror(errno));
		close(fd);
		return 2;
	}
	shutdown(fd, SHUT_WR);
	ret = read_response(fd);
	close(fd);
	return ret;
}
