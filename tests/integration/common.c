// SPDX-License-Identifier: Apache-2.0
/* Integration test helpers: see common.h. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_DAEMONS 16
static struct duet_daemon *live[MAX_DAEMONS];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kill_all_at_exit(void)
{
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (live[i] && live[i]->pid > 0)
			kill(live[i]->pid, SIGKILL);
}

static void track(struct duet_daemon *d, bool on)
{
	static bool registered;

	if (!registered) {
		atexit(kill_all_at_exit);
		registered = true;
	}
	for (int i = 0; i < MAX_DAEMONS; i++) {
		if (on && !live[i]) {
			live[i] = d;
			return;
		}
		if (!on && live[i] == d)
			live[i] = NULL;
	}
}

const char *duet_bin(void)
{
	static char path[512];
	const char *b = getenv("DUET_BUILD");

	snprintf(path, sizeof(path), "%s/duetd", b && *b ? b : "build");
	return path;
}

static int bind_probe(int family, int port)
{
	int fd = socket(family, SOCK_STREAM, 0), one = 1, rc;
	struct sockaddr_storage ss = {0};
	socklen_t sl;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = in6addr_loopback;
		sl = sizeof(*s6);
	}
	rc = bind(fd, (struct sockaddr *)&ss, sl);
	if (rc == 0 && port == 0) {
		struct sockaddr_in s4;
		socklen_t l = sizeof(s4);

		getsockname(fd, (struct sockaddr *)&s4, &l);
		rc = ntohs(s4.sin_port);
	} else if (rc == 0) {
		rc = port;
	} else {
		rc = -errno;
	}
	close(fd);
	return rc;
}

int duet_free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		int p = bind_probe(AF_INET, 0), r6;

		if (p <= 0)
			continue;
		r6 = bind_probe(AF_INET6, p);
		/* -EADDRNOTAVAIL / -EAFNOSUPPORT: no IPv6 loopback: fine */
		if (r6 == p || r6 == -EADDRNOTAVAIL || r6 == -EAFNOSUPPORT)
			return p;
	}
	return -1;
}

int duet_prepare(struct duet_daemon *d)
{
	const char *tmp = getenv("TMPDIR");

	if (d->dir[0])
		return 0;
	memset(d, 0, sizeof(*d));
	d->pid = -1;
	snprintf(d->dir, sizeof(d->dir), "%s/duet-it.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(d->dir)) {
		d->dir[0] = 0;
		return -errno;
	}
	d->port = duet_free_port();
	if (d->port <= 0)
		return -EADDRINUSE;
	snprintf(d->conf, sizeof(d->conf), "%s/duet.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/duetd.log", d->dir);
	snprintf(d->ctl, sizeof(d->ctl), "%s/ctl.sock", d->dir);
	snprintf(d->portal, sizeof(d->portal), "127.0.0.1:%d", d->port);
	return 0;
}

int duet_make_lun(struct duet_daemon *d, const char *name, uint64_t size,
		  char *out, size_t outlen)
{
	int fd;

	snprintf(out, outlen, "%s/%s", d->dir, name);
	fd = open(out, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	return 0;
}

int duet_start_argv(struct duet_daemon *d, char *const extra[])
{
	char *argv[64];
	int n = 0, logfd;
	pid_t pid;

	if (duet_prepare(d))
		return -EIO;
	argv[n++] = (char *)duet_bin();
	for (int i = 0; extra[i] && n < 60; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	logfd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (logfd < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(logfd);
		return -errno;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(logfd, 1);
		dup2(logfd, 2);
		close(logfd);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	d->pid = pid;
	track(d, true);
	return duet_wait_ready(d, 10000);
}

int duet_start_quick(struct duet_daemon *d, const char *iqn, int nluns,
		     uint64_t lun_size)
{
	static char lunarg[8][400];
	char portal[64], path[300];
	char *argv[40];
	int n = 0;

	if (duet_prepare(d))
		return -EIO;
	snprintf(portal, sizeof(portal), "127.0.0.1:%d", d->port);
	argv[n++] = "-f";
	argv[n++] = "--portal";
	argv[n++] = portal;
	argv[n++] = "--target";
	argv[n++] = (char *)iqn;
	argv[n++] = "--ctl-socket";
	argv[n++] = d->ctl;
	for (int i = 0; i < nluns && i < 8; i++) {
		snprintf(path, sizeof(path), "%s/lun%d.img", d->dir, i);
		snprintf(lunarg[i], sizeof(lunarg[i]), "%s:%llu", path,
			 (unsigned long long)lun_size);
		argv[n++] = "--lun";
		argv[n++] = lunarg[i];
	}
	argv[n] = NULL;
	return duet_start_argv(d, argv);
}

int duet_start_config(struct duet_daemon *d, const char *conf_text)
{
	FILE *f;
	char *argv[] = {"-f", "-c", d->conf, "--ctl-socket", d->ctl, NULL};

	if (duet_prepare(d))
		return -EIO;
	f = fopen(d->conf, "w");
	if (!f)
		return -errno;
	fputs(conf_text, f);
	fclose(f);
	return duet_start_argv(d, argv);
}

bool duet_alive(struct duet_daemon *d)
{
	int st;

	if (d->pid <= 0)
		return false;
	if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
		d->exit_status = st;
		track(d, false);
		d->pid = -1;
		return false;
	}
	return true;
}

static int try_connect(int port, int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;
	struct sockaddr_in s4 = {0};

	if (fd < 0)
		return -errno;
	s4.sin_family = AF_INET;
	s4.sin_port = htons(port);
	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&s4, sizeof(s4));
	close(fd);
	return rc == 0 ? 0 : -errno;
}

int duet_wait_ready(struct duet_daemon *d, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;

	while (now_ms() < end) {
		if (!duet_alive(d)) {
			fprintf(stderr, "duetd exited early (status 0x%x)\n",
				d->exit_status);
			duet_dump_log(d);
			return -ECHILD;
		}
		if (try_connect(d->port, AF_INET) == 0)
			return 0;
		usleep(20000);
	}
	fprintf(stderr, "duetd not accepting on %s after %d ms\n", d->portal,
		timeout_ms);
	duet_dump_log(d);
	return -ETIMEDOUT;
}

int duet_stop(struct duet_daemon *d, int timeout_ms)
{
	long long end;
	int st;

	if (d->pid <= 0)
		return WIFEXITED(d->exit_status) ? WEXITSTATUS(d->exit_status)
						 : -1;
	kill(d->pid, SIGTERM);
	end = now_ms() + timeout_ms;
	while (now_ms() < end) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = -1;
			track(d, false);
			d->exit_status = st;
			if (WIFEXITED(st))
				return WEXITSTATUS(st);
			fprintf(stderr, "duetd died by signal %d\n",
				WTERMSIG(st));
			duet_dump_log(d);
			return -1;
		}
		usleep(10000);
	}
	fprintf(stderr, "duetd did not exit within %d ms of SIGTERM\n",
		timeout_ms);
	duet_dump_log(d);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
	d->pid = -1;
	track(d, false);
	return -1;
}

void duet_dump_log(struct duet_daemon *d)
{
	char cmd[400];

	if (!d->log[0])
		return;
	fprintf(stderr, "---- %s (tail) ----\n", d->log);
	snprintf(cmd, sizeof(cmd), "tail -n 30 '%s' >&2", d->log);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
	fprintf(stderr, "----\n");
}

void duet_cleanup(struct duet_daemon *d)
{
	char cmd[400];

	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->pid = -1;
		track(d, false);
	}
	if (d->dir[0] && strncmp(d->dir, "/", 1) == 0 &&
	    strstr(d->dir, "duet-it.")) {
		if (getenv("DUET_KEEP_TMP")) {
			fprintf(stderr, "kept %s\n", d->dir);
		} else {
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
			if (system(cmd) != 0)
				fprintf(stderr, "could not remove %s\n",
					d->dir);
		}
	}
	memset(d, 0, sizeof(*d));
	d->pid = -1;
}

/* ---------------- libiscsi ---------------- */

void duet_iscsi_opts_init(struct duet_iscsi_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->initiator = TEST_INITIATOR;
	o->hdigest = ISCSI_HEADER_DIGEST_NONE;
	o->immediate_data = -1;
	o->initial_r2t = -1;
}

struct iscsi_context *duet_iscsi_login(struct duet_daemon *d, const char *iqn,
				       int lun, const struct duet_iscsi_opts *o)
{
	struct duet_iscsi_opts def;
	struct iscsi_context *ctx;

	if (!o) {
		duet_iscsi_opts_init(&def);
		o = &def;
	}
	ctx = iscsi_create_context(o->initiator ? o->initiator
						: TEST_INITIATOR);
	if (!ctx)
		return NULL;
	iscsi_set_targetname(ctx, iqn);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(ctx, o->hdigest);
	if (o->immediate_data >= 0)
		iscsi_set_immediate_data(
			ctx, o->immediate_data ? ISCSI_IMMEDIATE_DATA_YES
					       : ISCSI_IMMEDIATE_DATA_NO);
	if (o->initial_r2t >= 0)
		iscsi_set_initial_r2t(ctx, o->initial_r2t
						   ? ISCSI_INITIAL_R2T_YES
						   : ISCSI_INITIAL_R2T_NO);
	if (o->fixed_isid)
		iscsi_set_isid_en(ctx, 0x1234, o->isid_qual);
	iscsi_set_noautoreconnect(ctx, 1);
	iscsi_set_timeout(ctx, 10);
	if (iscsi_full_connect_sync(ctx, d->portal, lun) != 0) {
		fprintf(stderr, "login to %s on %s lun %d failed: %s\n", iqn,
			d->portal, lun, iscsi_get_error(ctx));
		iscsi_destroy_context(ctx);
		return NULL;
	}
	return ctx;
}

void duet_iscsi_logout(struct iscsi_context *ctx)
{
	if (!ctx)
		return;
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
}

static int check_task(struct iscsi_context *ctx, struct scsi_task *t,
		      const char *what)
{
	int rc = 0;

	if (!t) {
		fprintf(stderr, "%s: no task: %s\n", what,
			iscsi_get_error(ctx));
		return -EIO;
	}
	if (t->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "%s: status 0x%x sense %s/0x%04x: %s\n", what,
			t->status, scsi_sense_key_str(t->sense.key),
			t->sense.ascq, iscsi_get_error(ctx));
		rc = -EIO;
	}
	scsi_free_scsi_task(t);
	return rc;
}

int duet_write(struct iscsi_context *ctx, int lun, uint64_t lba,
	       const void *buf, uint32_t len)
{
	struct scsi_task *t;

	t = iscsi_write16_sync(ctx, lun, lba, (unsigned char *)buf, len,
			       TEST_BLOCK, 0, 0, 0, 0, 0);
	return check_task(ctx, t, "WRITE16");
}

int duet_read(struct iscsi_context *ctx, int lun, uint64_t lba, void *buf,
	      uint32_t len)
{
	struct scsi_task *t;

	t = iscsi_read16_sync(ctx, lun, lba, len, TEST_BLOCK, 0, 0, 0, 0, 0);
	if (t && t->status == SCSI_STATUS_GOOD) {
		if ((uint32_t)t->datain.size < len) {
			fprintf(stderr, "READ16: short data %d < %u\n",
				t->datain.size, len);
			scsi_free_scsi_task(t);
			return -EIO;
		}
		memcpy(buf, t->datain.data, len);
	}
	return check_task(ctx, t, "READ16");
}

int duet_iscsi_poll(struct iscsi_context *ctx, int timeout_ms)
{
	struct pollfd pfd;
	int rc;

	pfd.fd = iscsi_get_fd(ctx);
	pfd.events = iscsi_which_events(ctx);
	pfd.revents = 0;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -1;
	if (iscsi_service(ctx, rc == 0 ? 0 : pfd.revents) < 0) {
		fprintf(stderr, "iscsi_service: %s\n", iscsi_get_error(ctx));
		return -1;
	}
	return 0;
}

void duet_fill(void *buf, size_t len, uint64_t lba, uint32_t seed)
{
	uint8_t *p = buf;
	uint64_t x = (lba + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	for (size_t i = 0; i < len; i++) {
		if ((i % TEST_BLOCK) == 0)
			x = ((lba + i / TEST_BLOCK) + 1) *
				    0x9e3779b97f4a7c15ull ^
			    ((uint64_t)seed << 32 | seed);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

int duet_check_serving(struct duet_daemon *d, const char *iqn)
{
	struct iscsi_context *ctx;
	uint8_t w[4096], r[4096];
	int rc;

	if (!duet_alive(d)) {
		fprintf(stderr, "duetd is gone (status 0x%x)\n",
			d->exit_status);
		duet_dump_log(d);
		return -ECHILD;
	}
	ctx = duet_iscsi_login(d, iqn, 0, NULL);
	if (!ctx)
		return -ECONNREFUSED;
	duet_fill(w, sizeof(w), 8, 0x5eed);
	rc = duet_write(ctx, 0, 8, w, sizeof(w));
	if (!rc)
		rc = duet_read(ctx, 0, 8, r, sizeof(r));
	if (!rc && memcmp(w, r, sizeof(w)) != 0) {
		fprintf(stderr, "read-back mismatch\n");
		rc = -EIO;
	}
	duet_iscsi_logout(ctx);
	return rc;
}

/* ---------------- raw PDUs ---------------- */

uint32_t duet_crc32c(const void *buf, size_t len)
{
	static uint32_t table[256];
	const uint8_t *p = buf;
	uint32_t crc = 0xffffffffu;

	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct timeval tv = {.tv_sec = 10};
	struct sockaddr_in s4 = {0};

	if (fd < 0)
		return -1;
	s4.sin_family = AF_INET;
	s4.sin_port = htons(port);
	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&s4, sizeof(s4)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* never block forever on a target that stopped reading */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

int raw_send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int raw_send_pdu(struct raw_conn *c, const uint8_t bhs[48], const void *data,
		 uint32_t dlen)
{
	uint8_t hdr[52], tail[8] = {0};
	uint32_t pad = (4 - (dlen & 3)) & 3, hl = 48, tl = pad;
	int rc;

	memcpy(hdr, bhs, 48);
	if (c->hdigest) {
		uint32_t crc = duet_crc32c(hdr, 48);

		memcpy(hdr + 48, &crc, 4); /* CRC32C goes little-endian */
		hl = 52;
	}
	rc = raw_send_all(c->fd, hdr, hl);
	if (rc || !dlen)
		return rc;
	rc = raw_send_all(c->fd, data, dlen);
	if (rc)
		return rc;
	if (c->ddigest) {
		uint8_t *tmp = malloc(dlen + pad);
		uint32_t crc;

		if (!tmp)
			return -ENOMEM;
		memcpy(tmp, data, dlen);
		memset(tmp + dlen, 0, pad);
		crc = duet_crc32c(tmp, dlen + pad);
		free(tmp);
		memcpy(tail + pad, &crc, 4);
		tl += 4;
	}
	return tl ? raw_send_all(c->fd, tail, tl) : 0;
}

static int recv_exact(int fd, void *buf, size_t len, long long end)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = end - now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = recv(fd, p, len, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -ECONNRESET;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int raw_recv_pdu(struct raw_conn *c, struct raw_pdu *p, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	uint32_t ahs, dlen, pad, crc, got;
	uint8_t dig[4], skip[1024];
	int rc;

	memset(p, 0, sizeof(*p));
	rc = recv_exact(c->fd, p->bhs, 48, end);
	if (rc)
		return rc;
	ahs = p->bhs[4] * 4u;
	dlen = (uint32_t)p->bhs[5] << 16 | p->bhs[6] << 8 | p->bhs[7];
	while (ahs) {
		uint32_t n = ahs > sizeof(skip) ? sizeof(skip) : ahs;

		rc = recv_exact(c->fd, skip, n, end);
		if (rc)
			return rc;
		ahs -= n;
	}
	if (c->hdigest) {
		rc = recv_exact(c->fd, dig, 4, end);
		if (rc)
			return rc;
		crc = duet_crc32c(p->bhs, 48);
		if (memcmp(&crc, dig, 4) != 0)
			return -EBADMSG;
	}
	if (!dlen)
		return 0;
	pad = (4 - (dlen & 3)) & 3;
	p->data = calloc(1, dlen + pad + 1);
	if (!p->data)
		return -ENOMEM;
	p->dlen = dlen;
	rc = recv_exact(c->fd, p->data, dlen + pad, end);
	if (rc)
		return rc;
	if (c->ddigest) {
		rc = recv_exact(c->fd, dig, 4, end);
		if (rc)
			return rc;
		crc = duet_crc32c(p->data, dlen + pad);
		memcpy(&got, dig, 4);
		if (crc != got)
			return -EBADMSG;
	}
	p->data[dlen] = 0;
	return 0;
}

void raw_pdu_free(struct raw_pdu *p)
{
	free(p->data);
	p->data = NULL;
}

bool raw_wait_closed(int fd, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	uint8_t buf[4096];

	while (now_ms() < end) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, (int)(end - now_ms())) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

void raw_login_bhs(struct raw_conn *c, uint8_t bhs[48], int csg, int nsg,
		   bool transit, uint32_t dlen)
{
	memset(bhs, 0, 48);
	bhs[0] = 0x03 | 0x40;
	bhs[1] = (uint8_t)((transit ? 0x80 : 0) | (csg << 2) | nsg);
	bhs[5] = dlen >> 16;
	bhs[6] = dlen >> 8;
	bhs[7] = dlen;
	memcpy(bhs + 8, c->isid, 6);
	bhs[14] = c->tsih >> 8;
	bhs[15] = c->tsih;
	put32(bhs + 16, c->itt);
	put32(bhs + 24, c->cmdsn);
	put32(bhs + 28, c->expstatsn);
}

static size_t add_key(char *buf, size_t off, size_t cap, const char *kv)
{
	size_t l = strlen(kv) + 1;

	if (off + l > cap)
		return off;
	memcpy(buf + off, kv, l);
	return off + l;
}

static bool key_is(const struct raw_pdu *p, const char *key, const char *val)
{
	size_t kl = strlen(key);

	for (uint32_t i = 0; i < p->dlen;) {
		const char *s = (const char *)p->data + i;
		size_t l = strnlen(s, p->dlen - i);

		if (l > kl && !strncmp(s, key, kl) && s[kl] == '=' &&
		    (!val || !strcmp(s + kl + 1, val)))
			return true;
		i += l + 1;
	}
	return false;
}

/* Answers to the keys the target offered: those in its response that
 * we did not send ourselves (in @sent). */
static bool sent_key(const char *const sent[], const char *key, size_t kl)
{
	for (int i = 0; sent && sent[i]; i++)
		if (!strncmp(sent[i], key, kl) && sent[i][kl] == '=')
			return true;
	return false;
}

static size_t answer_offers(const struct raw_pdu *p, const char *const sent[],
			    char *keys, size_t cap)
{
	static const char *const offerable[] = {
		"InitialR2T", "ImmediateData", "MaxBurstLength",
		"FirstBurstLength", "MaxOutstandingR2T"};
	size_t off = 0;

	for (uint32_t i = 0; i < p->dlen;) {
		const char *s = (const char *)p->data + i;
		size_t l = strnlen(s, p->dlen - i);

		for (size_t k = 0; k < NELEM(offerable); k++) {
			size_t kl = strlen(offerable[k]);

			if (l > kl && !strncmp(s, offerable[k], kl) &&
			    s[kl] == '=' && l < 512 &&
			    !sent_key(sent, offerable[k], kl)) {
				char kv[512];

				memcpy(kv, s, l);
				kv[l] = '\0';
				off = add_key(keys, off, cap, kv);
			}
		}
		i += l + 1;
	}
	return off;
}

static void parse_mrdsl(struct raw_conn *c, const struct raw_pdu *p)
{
	for (uint32_t i = 0; i < p->dlen;) {
		const char *s = (const char *)p->data + i;
		size_t l = strnlen(s, p->dlen - i);

		if (!strncmp(s, "MaxRecvDataSegmentLength=", 25))
			c->mrdsl = (uint32_t)strtoul(s + 25, NULL, 10);
		i += l + 1;
	}
}

int raw_login(struct raw_conn *c, const char *iqn, const char *const extra[])
{
	char keys[16384], kv[512];
	bool want_hd = false, want_dd = false;
	size_t off = 0;
	uint8_t bhs[48];
	struct raw_pdu rsp;
	int rc, round;

	if (!c->isid[0]) {
		c->isid[0] = 0x80;
		c->isid[5] = (uint8_t)(getpid() ^ c->fd);
		c->isid[4] = (uint8_t)(now_ms());
	}
	c->mrdsl = 8192;
	snprintf(kv, sizeof(kv), "InitiatorName=%s", TEST_INITIATOR);
	off = add_key(keys, off, sizeof(keys), kv);
	snprintf(kv, sizeof(kv), "TargetName=%s", iqn);
	off = add_key(keys, off, sizeof(keys), kv);
	off = add_key(keys, off, sizeof(keys), "SessionType=Normal");
	for (int i = 0; extra && extra[i]; i++) {
		off = add_key(keys, off, sizeof(keys), extra[i]);
		if (!strcmp(extra[i], "HeaderDigest=CRC32C"))
			want_hd = true;
		if (!strcmp(extra[i], "DataDigest=CRC32C"))
			want_dd = true;
	}
	for (round = 0; round < 4; round++) {
		raw_login_bhs(c, bhs, 1, 3, true, (uint32_t)off);
		rc = raw_send_pdu(c, bhs, keys, (uint32_t)off);
		if (rc)
			return rc;
		rc = raw_recv_pdu(c, &rsp, 5000);
		if (rc)
			return rc;
		if ((rsp.bhs[0] & 0x3f) != 0x23) {
			raw_pdu_free(&rsp);
			return -EPROTO;
		}
		c->expstatsn = get32(rsp.bhs + 24) + 1;
		if (rsp.bhs[36] || rsp.bhs[37]) {
			rc = rsp.bhs[36] << 8 | rsp.bhs[37];
			raw_pdu_free(&rsp);
			return rc;
		}
		parse_mrdsl(c, &rsp);
		/* digests: the answer to our first request decides */
		if (round == 0 && want_hd &&
		    !key_is(&rsp, "HeaderDigest", "CRC32C"))
			want_hd = false;
		if (round == 0 && want_dd &&
		    !key_is(&rsp, "DataDigest", "CRC32C"))
			want_dd = false;
		if ((rsp.bhs[1] & 0x80) && (rsp.bhs[1] & 3) == 3) {
			c->tsih = (uint16_t)(rsp.bhs[14] << 8 | rsp.bhs[15]);
			raw_pdu_free(&rsp);
			c->hdigest = want_hd;
			c->ddigest = want_dd;
			c->itt++;
			return 0;
		}
		/* T=0: keys the target offered (RFC 7143 6.2) get their
		 * answer, the offered value (a valid result of every
		 * function); then ask to transit again */
		off = round == 0
			      ? answer_offers(&rsp, extra, keys, sizeof(keys))
			      : 0;
		raw_pdu_free(&rsp);
	}
	return -EPROTO;
}

static void scsi_bhs(struct raw_conn *c, uint8_t b[48], const uint8_t cdb[16],
		     uint32_t itt, uint32_t edtl, bool rd, bool wr,
		     uint32_t dlen)
{
	memset(b, 0, 48);
	b[0] = 0x01;
	b[1] = 0x80 | (rd ? 0x40 : 0) | (wr ? 0x20 : 0) | 1 /* simple */;
	b[5] = dlen >> 16;
	b[6] = dlen >> 8;
	b[7] = dlen;
	put32(b + 16, itt);
	put32(b + 20, edtl);
	put32(b + 24, c->cmdsn);
	put32(b + 28, c->expstatsn);
	memcpy(b + 32, cdb, 16);
}

static int send_data_out(struct raw_conn *c, const uint8_t *wbuf,
			 const struct raw_pdu *r2t, uint32_t itt)
{
	uint32_t ttt = get32(r2t->bhs + 20), off = get32(r2t->bhs + 40);
	uint32_t len = get32(r2t->bhs + 44), sn = 0, seg;
	uint8_t b[48];
	int rc;

	while (len) {
		seg = len > c->mrdsl ? c->mrdsl : len;
		memset(b, 0, 48);
		b[0] = 0x05;
		b[1] = seg == len ? 0x80 : 0;
		b[5] = seg >> 16;
		b[6] = seg >> 8;
		b[7] = seg;
		put32(b + 16, itt);
		put32(b + 20, ttt);
		put32(b + 28, c->expstatsn);
		put32(b + 36, sn++);
		put32(b + 40, off);
		rc = raw_send_pdu(c, b, wbuf + off, seg);
		if (rc)
			return rc;
		off += seg;
		len -= seg;
	}
	return 0;
}

void raw_scsi_bhs(struct raw_conn *c, uint8_t b[48], const uint8_t cdb[16],
		  uint32_t itt, uint32_t edtl, bool rd, bool wr, uint32_t dlen)
{
	scsi_bhs(c, b, cdb, itt, edtl, rd, wr, dlen);
}

int raw_data_out(struct raw_conn *c, const void *wbuf,
		 const struct raw_pdu *r2t, uint32_t itt)
{
	return send_data_out(c, wbuf, r2t, itt);
}

int raw_scsi(struct raw_conn *c, const uint8_t cdb[16], const void *wbuf,
	     uint32_t wlen, uint32_t imm, void *rbuf, uint32_t rlen)
{
	uint32_t itt = c->itt++, edtl = wbuf ? wlen : rlen;
	long long deadline = now_ms() + 30000;
	uint8_t b[48];
	struct raw_pdu p;
	int rc;

	if (imm > wlen)
		imm = wlen;
	if (imm > c->mrdsl)
		imm = c->mrdsl;
	scsi_bhs(c, b, cdb, itt, edtl, rbuf != NULL, wbuf != NULL,
		 wbuf ? imm : 0);
	c->cmdsn++;
	rc = raw_send_pdu(c, b, wbuf, wbuf ? imm : 0);
	if (rc)
		return rc;
	for (;;) {
		long long left = deadline - now_ms();

		if (left <= 0)
			return -ETIMEDOUT; /* NOP-Ins alone don't extend it */
		rc = raw_recv_pdu(c, &p, (int)left);
		if (rc)
			return rc;
		switch (p.bhs[0] & 0x3f) {
		case 0x31: /* R2T */
			rc = send_data_out(c, wbuf, &p, itt);
			break;
		case 0x25: { /* Data-In */
			uint32_t off = get32(p.bhs + 40);

			if (rbuf && off + p.dlen <= rlen)
				memcpy((uint8_t *)rbuf + off, p.data, p.dlen);
			else
				rc = -EPROTO;
			if (!rc && (p.bhs[1] & 0x01)) {
				c->expstatsn = get32(p.bhs + 24) + 1;
				rc = p.bhs[3];
				raw_pdu_free(&p);
				return rc;
			}
			break;
		}
		case 0x21: /* SCSI Response */
			c->expstatsn = get32(p.bhs + 24) + 1;
			rc = p.bhs[2] ? -EIO : p.bhs[3];
			raw_pdu_free(&p);
			return rc;
		case 0x20: /* NOP-In: answer pings */
			if (get32(p.bhs + 20) != 0xffffffffu) {
				uint8_t n[48] = {0};

				n[0] = 0x40;
				n[1] = 0x80;
				memcpy(n + 8, p.bhs + 8, 8);
				put32(n + 16, 0xffffffffu);
				memcpy(n + 20, p.bhs + 20, 4);
				put32(n + 24, c->cmdsn);
				put32(n + 28, c->expstatsn);
				rc = raw_send_pdu(c, n, NULL, 0);
			}
			break;
		default:
			rc = -EPROTO;
		}
		raw_pdu_free(&p);
		if (rc)
			return rc;
	}
}

void raw_close(struct raw_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int duet_fixture_quick(struct duet_daemon *d, const char *iqn, int nluns,
		       uint64_t lun_size)
{
	if (duet_start_quick(d, iqn, nluns, lun_size)) {
		duet_cleanup(d);
		return -1;
	}
	return 0;
}

int duet_fixture_config(struct duet_daemon *d, const char *conf_text)
{
	if (duet_start_config(d, conf_text)) {
		duet_cleanup(d);
		return -1;
	}
	return 0;
}

int duet_fixture_stop(struct duet_daemon *d)
{
	int rc = duet_stop(d, 10000);

	duet_cleanup(d);
	return rc == 0 ? 0 : -1;
}
