// SPDX-License-Identifier: Apache-2.0
/*
 * QEMU's iSCSI driver (block/iscsi.c on libiscsi; Debian 12: QEMU 7.2,
 * libiscsi 1.19) through a failover of the pair, takeover form, and
 * through a restart of the node that serves it.
 *
 * How QEMU is driven: one qemu-io process per test, interactive, its
 * stdin and stdout/stderr on pipes (stdbuf -i0 -oL: stdin unbuffered so
 * that several commands written at once are all seen, stdout line
 * buffered so that each completion reaches us when it happens), with
 * LIBISCSI_DEBUG=2 so that libiscsi's reconnects show in the transcript.
 * A driver thread keeps QD (8) `aio_write`/`aio_read` commands of 32 KiB
 * outstanding at all times (a new one as soon as one completes) and reads
 * the "wrote/read N/N bytes at offset OFF" completions, timestamped as
 * they arrive: the stall figures (TIMING lines) are measured on QEMU's
 * side, from the longest gap between two completions. Every 32 KiB slot
 * of the 64 MiB LUN is written twice, LAG slots apart -- first with the
 * phase's pattern, then with pattern|0x80 once the first is acknowledged
 * -- and once the second write is acknowledged the slot is read back
 * with `aio_read -P` (QEMU's own pattern check) while the stream goes on.
 * The phases are 0x11 (before the event), 0x22 (from the pull/cut/
 * SIGTERM), 0x33 (after the restore). A lost second write or a first
 * write landing late (a stale replay) fails that read. At the end every
 * pair is completed, aio_flush, quit: exit status 0, no failed command in
 * QEMU's output, every op completed; then a second qemu-io reads the
 * whole LUN back with `read -P` (runs of equal expected patterns).
 * Each test also asserts that libiscsi really reconnected with our
 * commands outstanding (8 of them, every run so far): the event caught
 * QEMU in flight.
 *
 * How QEMU 7.2 rides through a pulled link (block/iscsi.c, libiscsi
 * 1.19 lib/connect.c, lib/socket.c):
 * - There is no multipath in QEMU: it only ever reconnects to the portal
 *   it opened (iscsi->portal), which is why the takeover form serves it
 *   (b's portal address moves to a).
 * - The reconnect is libiscsi's: any socket error or EOF on a logged-in
 *   session (iscsi_service_reconnect_if_loggedin) calls iscsi_reconnect(),
 *   which logs in again on a fresh context (same initiator/target names,
 *   new TCP connection) and then re-queues every SCSI command PDU that
 *   was still unanswered on the old one (waitpdu + outqueue, in order,
 *   with new ITTs/CmdSNs; Data-Out/NOP/TMF PDUs are dropped, not the
 *   commands). Commands QEMU issues meanwhile wait on the old context
 *   and go out after the login. A failed login is retried after
 *   1, 2, 3, ... s (retry_cnt seconds, at most 30; QEMU sets no
 *   reconnect_max_retries: it retries forever). After a successful
 *   reconnect the next one is held back 3 s ("avoid a reconnect faster
 *   than 3 seconds"), so a giveback within 3 s of the takeover waits.
 *   On reconnect the UAs of the new nexus are NOT eaten by libiscsi
 *   (no_ua_on_reconnect = 0): the replayed commands see them.
 * - A silent dead path: QEMU sends a NOP-Out every 5 s (NOP_INTERVAL) and
 *   reconnects when 3 are unanswered (MAX_NOP_FAILURES), i.e. 15-20 s.
 *   With commands in flight the kernel's TCP retransmissions find the
 *   moved address first: a's stack answers them with RST, and libiscsi
 *   reconnects at once. QEMU sets no per-command timeout unless the
 *   `timeout` option is given (then SCSI_STATUS_TIMEOUT: retried after
 *   2 s, with a reconnect).
 * - Per command (iscsi_co_generic_cb): BUSY, TASK SET FULL and TIMEOUT are
 *   retried after exp-random(8, 32, 128, 512, 2048, 8192, 32768 ms),
 *   CHECK CONDITION whose sense maps to EAGAIN (NO SENSE, RECOVERED
 *   ERROR, UNIT ATTENTION: scsi_sense_to_errno) is retried at once; both
 *   share one budget of 7 retries per command, after which the request
 *   fails with EIO. Every other CHECK CONDITION fails the request at once
 *   and the guest sees an I/O error: ABORTED COMMAND -> ECANCELED,
 *   NOT READY/becoming ready (04/01) -> EINPROGRESS, any other NOT READY,
 *   MEDIUM ERROR, HARDWARE ERROR -> EIO. So during a failover a target
 *   may answer BUSY (~45 s of patience on average over 7 retries) or
 *   UNIT ATTENTION, or just be silent/reset the connection, but must
 *   never answer ABORTED COMMAND or NOT READY to a command QEMU sent.
 *   A bare TASK ABORTED status (0x40) is not retried either (EIO), nor is
 *   the proxy's HARDWARE ERROR/44 00 for an owner's nonsense answer.
 *
 * What happens with duet (logs of these tests, 2 vCPUs, QEMU-side):
 * - Pull: b sees its carrier go, drops the address and its sessions; a
 *   adds the address and announces it 10-100 ms after the pull; QEMU's
 *   next segment draws a RST from a's stack, libiscsi reconnects at once,
 *   logs in on a's proxy port and replays its 8 commands; the new nexus's
 *   UNIT ATTENTION 29/00 costs one QEMU retry. Stall 0.02-0.22 s when
 *   QEMU still had unacknowledged TCP data at the pull (its retransmission
 *   is that next segment). When b's TCP had acknowledged everything and
 *   QEMU only waits for responses, nothing of QEMU's goes out until its
 *   next NOP-Out (every 5 s from the login): stalls of 2.9-5.0 s (2 of
 *   12 runs of the pull test, 2 of 4 of the ten flaps; in one, the
 *   reconnect came 5.002 s after the login: the first NOP tick). The
 *   gratuitous ARP cannot help there; only a segment from a to the
 *   client would (a "tickle" ACK per connection b had, as CTDB sends on
 *   IP takeover: the client answers it, a's stack resets it).
 * - Giveback (damp_ms after the restore): a drains its proxy port, drops
 *   the address, b adds it, a closes the proxied connection; QEMU
 *   reconnects to b. Stall 0.01-0.10 s. libiscsi holds any reconnect
 *   back for 3 s after a successful one (and spins on EPIPE, "Error when
 *   writing to socket :32", meanwhile): a giveback less than 3 s after
 *   QEMU's previous reconnect costs it up to 3 s.
 * - Interconnect cut for 5 s while proxying: a drops the proxied session
 *   (its commands are completed with UNIT ATTENTION 29/07, which never
 *   reaches QEMU: the connection is closed first) and refuses logins with
 *   0x0301 until the interconnect is back; libiscsi retries after 1, 2,
 *   3 ... s, so the stall is the cut plus up to one backoff step
 *   (8.6-9.5 s).
 * - Ten flaps of b's link (1 s down, 1 s up): damping keeps the address
 *   on a until the link stays up; two reconnects; the stall is the one at
 *   the first pull (see above).
 * - b's duetd stopped (SIGTERM) and started again: stall 0.2-0.66 s.
 * No run ended with an I/O error in QEMU.
 *
 * Needs root, `ip netns`, qemu-io and stdbuf; otherwise skipped with the
 * reason. DUET_KEEP_LOGS=1 keeps the daemons' and qemu-io's transcripts
 * (qemu-io.log: every command and answer, with libiscsi's log at level 2).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "pairenv.h"

#define SLOT (32u * 1024)
#define NSLOTS ((64u << 20) / SLOT)
#define QD 8
#define LAG 16
#define MAX_DONE 1000000
#define QEMU_INITIATOR "iqn.2026-11.org.example:duet.qemu-pair"
#define URL_B_HOST "198.51.100.32"

enum { PH_NONE, PH_1, PH_2, PH_3, PH_N };
static const uint8_t phase_pat[PH_N] = {0, 0x11, 0x22, 0x33};

/* One qemu-io process and the write stream it carries. */
struct stream {
	struct env *e;
	pid_t pid;
	int in, out;
	FILE *log;
	char buf[8192];
	size_t len;
	pthread_t th;
	pthread_mutex_t mu;
	/* under mu */
	bool stop, eof;
	int phase;
	uint64_t j1, j2;		     /* first / second writes issued */
	uint8_t acked[NSLOTS], pend[NSLOTS]; /* pattern; 1 = a read */
	unsigned rq[NSLOTS], rq_head, rq_n;  /* slots to read back */
	int inflight, inflight_max;
	uint64_t done, reads, retries, errors;
	int n_conn;		 /* libiscsi reconnects begun */
	int inflight_at_conn[8]; /* ops of ours outstanding then */
	char first_error[256];
	double *t_done; /* completion times */
	size_t n_done;
};

static struct stream *live; /* for teardown after a failed assertion */

/* qemu-io, qemu-img and stdbuf installed, and qemu-io has the iscsi
 * driver (qemu-block-extra): it fails to connect to a closed port rather
 * than not knowing the driver. */
static bool have_qemu(void)
{
	return system("command -v qemu-io >/dev/null 2>&1 && "
		      "command -v qemu-img >/dev/null 2>&1 && "
		      "command -v stdbuf >/dev/null 2>&1 && "
		      "! timeout 20 qemu-io --image-opts 'driver=iscsi,"
		      "portal=127.0.0.1:1,target=iqn.2026-11.org.example:x,"
		      "lun=0' -c quit 2>&1 | grep -q 'Unknown driver'") == 0;
}

#define NEED_QEMU(e)                                                         \
	do {                                                                 \
		SKIP_IF_CANNOT(e);                                           \
		if (!have_qemu()) {                                          \
			fprintf(stderr, "# SKIP: qemu-io/qemu-img with the " \
					"iscsi driver (qemu-utils, "         \
					"qemu-block-extra) or stdbuf "       \
					"not installed\n");                  \
			skip();                                              \
		}                                                            \
	} while (0)

static void image_opts(char *b, size_t n, const char *host)
{
	snprintf(b, n,
		 "driver=iscsi,transport=tcp,portal=%s,target=%s,lun=0,"
		 "initiator-name=%s",
		 host, IQN_B, QEMU_INITIATOR);
}

static int qio_start(struct stream *s, const char *host)
{
	char opts[512], logp[256];
	int pin[2], pout[2];

	image_opts(opts, sizeof(opts), host);
	snprintf(logp, sizeof(logp), "%s/qemu-io.log", s->e->dir);
	s->log = fopen(logp, "w");
	if (!s->log || pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC))
		return -errno;
	s->pid = fork();
	if (s->pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(pout[1], 2);
		setenv("LIBISCSI_DEBUG", "2", 1);
		execlp("stdbuf", "stdbuf", "-i0", "-oL", "qemu-io",
		       "--image-opts", opts, (char *)NULL);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	s->in = pin[1];
	s->out = pout[0];
	return s->pid > 0 ? 0 : -1;
}

/* A completion (write or read) for the op on @off (mu held). */
static void op_done(struct stream *s, unsigned long long off, bool read,
		    double t)
{
	unsigned slot = (unsigned)(off / SLOT);

	if (slot >= NSLOTS || !s->pend[slot])
		return;
	if (!read) {
		s->acked[slot] = s->pend[slot];
		if (s->pend[slot] & 0x80) /* second write: read it back */
			s->rq[(s->rq_head + s->rq_n++) % NSLOTS] = slot;
	}
	s->pend[slot] = 0;
	s->inflight--;
	s->done++;
	if (s->n_done < MAX_DONE)
		s->t_done[s->n_done++] = t;
}

static void note_error(struct stream *s, const char *l)
{
	if (!s->errors++)
		snprintf(s->first_error, sizeof(s->first_error), "%.200s", l);
}

/* One line of qemu-io's output (mu held). */
static void qio_line(struct stream *s, const char *l, double t)
{
	unsigned long long off;

	if (sscanf(l, "wrote %*u/%*u bytes at offset %llu", &off) == 1)
		return op_done(s, off, false, t);
	if (sscanf(l, "read %*u/%*u bytes at offset %llu", &off) == 1) {
		s->reads++;
		return op_done(s, off, true, t);
	}
	if (sscanf(l, "Pattern verification failed at offset %llu", &off) ==
	    1) {
		note_error(s, l);
		return op_done(s, off - off % SLOT, true, t);
	}
	if (strstr(l, "reconnect initiated") && s->n_conn < 8) {
		s->inflight_at_conn[s->n_conn++] = s->inflight;
		return;
	}
	if (strstr(l, "iSCSI CheckCondition") || strstr(l, "iSCSI Busy")) {
		s->retries++; /* QEMU's own retry, not a failure */
		return;
	}
	if (!strncmp(l, "libiscsi:", 9) || !*l || strstr(l, " ops; "))
		return;
	if (strstr(l, "failed") || strstr(l, "rror") || strstr(l, "abort"))
		note_error(s, l);
}

/* Read what qemu-io has written, at most @ms; false at EOF. */
static bool qio_read(struct stream *s, int ms)
{
	struct pollfd p = {.fd = s->out, .events = POLLIN};
	ssize_t n;
	char *nl, *start;
	double t;

	if (poll(&p, 1, ms) <= 0)
		return true;
	n = read(s->out, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
	if (n <= 0)
		return false;
	t = now_s();
	fwrite(s->buf + s->len, 1, (size_t)n, s->log);
	s->len += (size_t)n;
	s->buf[s->len] = '\0';
	pthread_mutex_lock(&s->mu);
	start = s->buf;
	while ((nl = strchr(start, '\n'))) {
		*nl = '\0';
		while (!strncmp(start, "qemu-io> ", 9))
			start += 9;
		qio_line(s, start, t);
		start = nl + 1;
	}
	pthread_mutex_unlock(&s->mu);
	s->len -= (size_t)(start - s->buf);
	memmove(s->buf, start, s->len);
	if (s->len == sizeof(s->buf) - 1)
		s->len = 0; /* a line that long is not ours */
	return true;
}

static void op_issue(struct stream *s, unsigned slot, uint8_t pat, bool read,
		     char *cmd, size_t n)
{
	s->pend[slot] = read ? 1 : pat;
	if (++s->inflight > s->inflight_max)
		s->inflight_max = s->inflight;
	snprintf(cmd, n, "aio_%s -P 0x%02x %llu %u\n", read ? "read" : "write",
		 pat, (unsigned long long)slot * SLOT, SLOT);
}

/* The next op of the stream into @cmd, or false if its slot is still
 * busy or nothing is left (mu held): the read-back of a slot whose second
 * write is acknowledged, else a second write LAG slots behind, else a
 * first write (not when draining). */
static bool next_op(struct stream *s, char *cmd, size_t n, bool drain)
{
	bool second = s->j2 < s->j1 && (s->j1 - s->j2 >= LAG || drain);
	uint64_t j = second ? s->j2 : s->j1;
	unsigned slot = (unsigned)(j % NSLOTS);
	uint8_t pat = phase_pat[s->phase] | (second ? 0x80 : 0);

	if (s->rq_n && !s->pend[s->rq[s->rq_head]]) {
		slot = s->rq[s->rq_head];
		s->rq_head = (s->rq_head + 1) % NSLOTS;
		s->rq_n--;
		op_issue(s, slot, s->acked[slot], true, cmd, n);
		return true;
	}
	if ((drain && !second) || s->pend[slot])
		return false;
	if (second)
		s->j2++;
	else
		s->j1++;
	op_issue(s, slot, pat, false, cmd, n);
	return true;
}

static void qio_send(struct stream *s, const char *cmd)
{
	size_t len = strlen(cmd);

	if (write(s->in, cmd, len) != (ssize_t)len && !s->errors++)
		snprintf(s->first_error, sizeof(s->first_error),
			 "cannot write to qemu-io: %s", strerror(errno));
	fputs(cmd, s->log);
}

static void *stream_main(void *arg)
{
	struct stream *s = arg;
	char cmd[QD][64];
	bool stop = false;
	int k;

	while (!stop) {
		pthread_mutex_lock(&s->mu);
		for (k = 0; k < QD && s->inflight < QD &&
			    next_op(s, cmd[k], sizeof(cmd[0]), false);
		     k++)
			;
		stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		for (int i = 0; i < k; i++)
			qio_send(s, cmd[i]);
		if (!qio_read(s, 10))
			break;
	}
	return NULL;
}

static void stream_start(struct stream *s, struct env *e, const char *host)
{
	memset(s, 0, sizeof(*s));
	s->e = e;
	s->in = s->out = -1;
	s->phase = PH_1;
	pthread_mutex_init(&s->mu, NULL);
	s->t_done = calloc(MAX_DONE, sizeof(double));
	assert_non_null(s->t_done);
	assert_int_equal(qio_start(s, host), 0);
	live = s;
	assert_int_equal(pthread_create(&s->th, NULL, stream_main, s), 0);
}

static uint64_t stream_done(struct stream *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->mu);
	n = s->done;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Wait (bounded) for @n more completions; seconds or -1. */
static double stream_progress(struct stream *s, uint64_t n, double tmo)
{
	double t0 = now_s();
	uint64_t base = stream_done(s);

	while (now_s() - t0 < tmo) {
		if (stream_done(s) >= base + n)
			return now_s() - t0;
		msleep(20);
	}
	return -1;
}

static void stream_phase(struct stream *s, int phase)
{
	pthread_mutex_lock(&s->mu);
	s->phase = phase;
	pthread_mutex_unlock(&s->mu);
}

/* Stop the stream, complete every pair, aio_flush, quit; qemu-io's exit
 * status (-1 if it had to be killed). */
static int stream_finish(struct stream *s)
{
	char cmd[64];
	double end = now_s() + 90;
	int st = -1;

	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	while (now_s() < end) {
		bool more, issued;

		pthread_mutex_lock(&s->mu);
		more = !s->errors && (s->j2 < s->j1 || s->rq_n || s->inflight);
		issued = more && s->inflight < QD &&
			 next_op(s, cmd, sizeof(cmd), true);
		pthread_mutex_unlock(&s->mu);
		if (issued)
			qio_send(s, cmd);
		else if (!more || !qio_read(s, 10))
			break;
	}
	qio_send(s, "aio_flush\nquit\n");
	close(s->in);
	while (now_s() < end && qio_read(s, 100))
		;
	if (now_s() >= end) {
		fprintf(stderr, "# qemu-io did not finish in time: killed\n");
		kill(s->pid, SIGKILL);
	}
	if (waitpid(s->pid, &st, 0) == s->pid && WIFEXITED(st))
		st = WEXITSTATUS(st);
	else
		st = -1;
	close(s->out);
	fclose(s->log);
	s->in = s->out = -1;
	s->log = NULL;
	return st;
}

/* The longest gap between two QEMU completions that ends in (t0, t1]:
 * its length, and its end in seconds after t0. */
static double longest_gap(struct stream *s, double t0, double t1, double *end)
{
	double best = -1;

	*end = -1;
	for (size_t i = 1; i < s->n_done; i++) {
		double g = s->t_done[i] - s->t_done[i - 1];

		if (s->t_done[i] > t0 && s->t_done[i] <= t1 && g > best) {
			best = g;
			*end = s->t_done[i] - t0;
		}
	}
	return best;
}

/* Read every slot back with qemu-io `read -P`, runs of equal expected
 * patterns (never written: zeros). */
static bool pattern_failed; /* the last read-back failed QEMU's check */

static bool readback_ok(struct stream *s, const char *host, bool expect)
{
	static char cmd[65536], out[65536];
	char opts[512];
	unsigned runs = 0, reads = 0;
	size_t n, len;
	FILE *p;
	int st;

	image_opts(opts, sizeof(opts), host);
	len = (size_t)snprintf(cmd, sizeof(cmd),
			       "timeout 120 qemu-io --image-opts '%s'", opts);
	for (unsigned a = 0, b; a < NSLOTS; a = b) {
		for (b = a + 1; b < NSLOTS && s->acked[b] == s->acked[a]; b++)
			;
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
					" -c 'read -P 0x%02x %llu %llu'",
					s->acked[a],
					(unsigned long long)a * SLOT,
					(unsigned long long)(b - a) * SLOT);
		runs++;
	}
	assert_true(len < sizeof(cmd) - 16);
	strcat(cmd, " 2>&1");
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	pattern_failed = strstr(out, "Pattern verification failed");
	for (const char *q = out; (q = strstr(q, "\nread ")); q++)
		reads++;
	reads += !strncmp(out, "read ", 5);
	if (st != 0 || reads != runs || strstr(out, "failed")) {
		if (expect)
			fprintf(stderr,
				"# read-back (%u runs) status %d:\n%s\n", runs,
				st, out);
		else
			fprintf(stderr,
				"# read-back of the tampered LUN: status %d, "
				"%s\n",
				st,
				pattern_failed ? "QEMU's pattern check failed"
					       : "failed otherwise");
		return false;
	}
	fprintf(stderr,
		"# read-back: %u slots of %u KiB in %u runs, every byte as "
		"last written\n",
		NSLOTS, SLOT / 1024, runs);
	return true;
}

static void verify_readback(struct stream *s, const char *host)
{
	if (!readback_ok(s, host, true))
		fail_msg("the LUN does not hold what QEMU wrote");
}

/* The read-back must see a change made behind QEMU's back: one byte of
 * slot @slot flipped in b's LUN file. */
static void readback_sees_tamper(struct stream *s, unsigned slot)
{
	char path[256];
	unsigned char c;
	int fd;

	snprintf(path, sizeof(path), "%s/b-disk0.img", s->e->dir);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)slot * SLOT + 100), 1);
	c ^= 0x01;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)slot * SLOT + 100), 1);
	close(fd);
	assert_false(readback_ok(s, URL_B_HOST, false));
	assert_true(pattern_failed);
}

/* Everything QEMU said about the run, then the assertions common to
 * every test: exit 0, no failed request, every write acknowledged. */
static void stream_check(struct stream *s, int st)
{
	fprintf(stderr,
		"# qemu-io: exit %d, %llu ops completed (%llu first + %llu "
		"second writes, %llu verifying reads), QEMU retries %llu, "
		"errors %llu, max in flight %d\n",
		st, (unsigned long long)s->done, (unsigned long long)s->j1,
		(unsigned long long)s->j2, (unsigned long long)s->reads,
		(unsigned long long)s->retries, (unsigned long long)s->errors,
		s->inflight_max);
	for (int i = 0; i < s->n_conn; i++)
		fprintf(stderr,
			"# qemu-io: libiscsi reconnect %d with %d ops of ours "
			"in "
			"flight\n",
			i + 1, s->inflight_at_conn[i]);
	if (s->errors)
		fprintf(stderr, "# first error: %s\n", s->first_error);
	if (st != 0 || s->errors || s->inflight != 0) {
		dump_logs(s->e);
		run("grep -v '^libiscsi:' %s/qemu-io.log | grep -iv "
		    "'^wrote\\|ops;\\|^aio_write\\|^qemu-io> $' | tail -n 30 "
		    "| sed 's/^/# qemu-io: /' >&2",
		    s->e->dir);
	}
	assert_int_equal(st, 0);
	assert_int_equal(s->errors, 0);
	assert_int_equal(s->inflight, 0);
	assert_int_equal(s->done, s->j1 + s->j2 + s->reads);
	assert_int_equal(s->reads, s->j2);
	assert_int_equal(s->inflight_max, QD);
}

/* QEMU's longest I/O stall in (t0, t1], from its completions; printed
 * and returned. */
static double report_stall(struct stream *s, struct env *e, double t0,
			   double t1, const char *what)
{
	double end, gap = longest_gap(s, t0, t1, &end);

	fprintf(stderr,
		"# TIMING %s qemu-io: %s: QEMU's longest I/O stall %.3f s, "
		"over %.3f s after the %s (QEMU-side)\n",
		e->prefix, what, gap, end, what);
	return gap;
}

/* addr_on() without its complaint when the address is not there */
static bool has_addr(struct env *e, const char *node, const char *addr)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd),
		 "ip netns exec %s-%s ip -o addr show dev cl0 2>/dev/null | "
		 "grep -q ' %s/'",
		 e->prefix, node, addr);
	return system(cmd) == 0;
}

static bool b_home(struct env *e)
{
	return has_addr(e, "b", URL_B_HOST) && !has_addr(e, "a", URL_B_HOST);
}

/* QEMU reconnected at least @n times, each time with ops outstanding:
 * the event really caught it in flight. */
static void assert_reconnects(struct stream *s, int n)
{
	assert_true(s->n_conn >= n);
	for (int i = 0; i < s->n_conn; i++)
		assert_true(s->inflight_at_conn[i] > 0);
}

static int teardown_qemu(void **state)
{
	if (live && live->pid > 0 && waitpid(live->pid, NULL, WNOHANG) == 0) {
		kill(live->pid, SIGKILL);
		pthread_mutex_lock(&live->mu);
		live->stop = true;
		pthread_mutex_unlock(&live->mu);
		pthread_join(live->th, NULL);
		waitpid(live->pid, NULL, 0);
	}
	if (live) {
		if (live->log) {
			close(live->in);
			close(live->out);
			fclose(live->log);
		}
		free(live->t_done);
	}
	live = NULL;
	return teardown(state);
}

static void stream_free(struct stream *s)
{
	live = NULL;
	free(s->t_done);
	pthread_mutex_destroy(&s->mu);
}

/* Pull b's link while qemu-io streams writes to b's portal address; a
 * takes the address over and proxies; b's link back, giveback; QEMU must
 * ride through both with no error and every byte must be right. */
static void test_qemu_takeover_pull_giveback(void **state)
{
	struct env *e = *state;
	static struct stream s;
	double t_pull, t_moved, t_restore, t_home, t0, stall[2];
	int st;

	NEED_QEMU(e);
	start_pair(e, FORM_TAKEOVER);
	stream_start(&s, e, URL_B_HOST);
	if (stream_progress(&s, 200, 20) < 0) {
		dump_logs(e);
		fail_msg("qemu-io makes no progress against b");
	}
	msleep(2000);

	t_pull = now_s();
	stream_phase(&s, PH_2);
	assert_int_equal(netns(e, "pull", "b"), 0);
	for (t0 = now_s(); !has_addr(e, "a", URL_B_HOST); msleep(20))
		if (now_s() - t0 > 30) {
			dump_logs(e);
			fail_msg("a did not take over " URL_B_HOST);
		}
	t_moved = now_s();
	if (stream_progress(&s, 100, 40) < 0) {
		dump_logs(e);
		fail_msg("QEMU made no progress through a's proxy 40 s after "
			 "the takeover");
	}
	msleep(4000); /* QEMU writes through the proxy */

	t_restore = now_s();
	stream_phase(&s, PH_3);
	assert_int_equal(netns(e, "restore", "b"), 0);
	for (t0 = now_s(); !b_home(e); msleep(20))
		if (now_s() - t0 > DAMP_MS / 1000.0 + 30) {
			dump_logs(e);
			fail_msg("no giveback of " URL_B_HOST);
		}
	t_home = now_s();
	if (stream_progress(&s, 100, 40) < 0) {
		dump_logs(e);
		fail_msg("QEMU made no progress 40 s after the giveback");
	}
	msleep(3000);

	st = stream_finish(&s);
	fprintf(stderr,
		"# TIMING %s: pull -> address on a %.3f s; restore -> "
		"address home on b %.3f s (damp_ms %d)\n",
		e->prefix, t_moved - t_pull, t_home - t_restore, DAMP_MS);
	stall[0] = report_stall(&s, e, t_pull, t_restore, "pull");
	stall[1] = report_stall(&s, e, t_restore, now_s(), "restore");
	stream_check(&s, st);
	/* bounded by QEMU's 5 s NOP interval (pull) and libiscsi's 3 s
	 * reconnect hold (giveback), with a margin for a loaded machine;
	 * without the address move's RST it would be 15-20 s (three NOPs) */
	assert_true(stall[0] < 10.0 && stall[1] < 10.0);
	assert_reconnects(&s, 2);
	verify_readback(&s, URL_B_HOST);
	stream_free(&s);
}

/* The interconnect is cut for 5 s while a proxies b's target for QEMU,
 * then restored; then b's link, giveback. QEMU must ride through. */
static void test_qemu_ic_cut_while_proxying(void **state)
{
	struct env *e = *state;
	static struct stream s;
	double t_cut, t_back, t0;
	int st;

	NEED_QEMU(e);
	start_pair(e, FORM_TAKEOVER);
	stream_start(&s, e, URL_B_HOST);
	if (stream_progress(&s, 200, 20) < 0) {
		dump_logs(e);
		fail_msg("qemu-io makes no progress against b");
	}
	stream_phase(&s, PH_2);
	assert_int_equal(netns(e, "pull", "b"), 0);
	for (t0 = now_s(); !has_addr(e, "a", URL_B_HOST); msleep(20))
		if (now_s() - t0 > 30) {
			dump_logs(e);
			fail_msg("a did not take over " URL_B_HOST);
		}
	if (stream_progress(&s, 200, 40) < 0) {
		dump_logs(e);
		fail_msg("QEMU made no progress through a's proxy");
	}
	t_cut = now_s();
	assert_int_equal(netns(e, "cut-ic", NULL), 0);
	msleep(5000);
	t_back = now_s();
	assert_int_equal(netns(e, "restore-ic", NULL), 0);
	if (stream_progress(&s, 200, 40) < 0) {
		dump_logs(e);
		fail_msg("QEMU made no progress 40 s after the interconnect "
			 "returned");
	}
	stream_phase(&s, PH_3);
	assert_int_equal(netns(e, "restore", "b"), 0);
	for (t0 = now_s(); !b_home(e); msleep(20))
		if (now_s() - t0 > DAMP_MS / 1000.0 + 30) {
			dump_logs(e);
			fail_msg("no giveback of " URL_B_HOST);
		}
	if (stream_progress(&s, 200, 40) < 0) {
		dump_logs(e);
		fail_msg("QEMU made no progress 40 s after the giveback");
	}
	st = stream_finish(&s);
	report_stall(&s, e, t_cut, t_back + 30, "interconnect cut (5 s)");
	stream_check(&s, st);
	assert_reconnects(&s, 3); /* takeover, cut, giveback */
	verify_readback(&s, URL_B_HOST);
	stream_free(&s);
}

/* Ten flaps of b's link, 1 s down / 1 s up, under QEMU: every flap can
 * move the address and reconnect QEMU, within libiscsi's 3 s hold. */
static void test_qemu_ten_flaps(void **state)
{
	struct env *e = *state;
	static struct stream s;
	double t0, t_first;
	int st;

	NEED_QEMU(e);
	start_pair(e, FORM_TAKEOVER);
	stream_start(&s, e, URL_B_HOST);
	if (stream_progress(&s, 200, 20) < 0) {
		dump_logs(e);
		fail_msg("qemu-io makes no progress against b");
	}
	stream_phase(&s, PH_2);
	t_first = now_s();
	for (int i = 0; i < 10; i++) {
		assert_int_equal(netns(e, "pull", "b"), 0);
		msleep(1000);
		assert_int_equal(netns(e, "restore", "b"), 0);
		msleep(1000);
	}
	stream_phase(&s, PH_3);
	for (t0 = now_s(); !b_home(e); msleep(20))
		if (now_s() - t0 > DAMP_MS / 1000.0 + 40) {
			dump_logs(e);
			fail_msg("not settled home after ten flaps");
		}
	if (stream_progress(&s, 200, 40) < 0) {
		dump_logs(e);
		fail_msg("QEMU made no progress 40 s after the flaps");
	}
	st = stream_finish(&s);
	report_stall(&s, e, t_first, now_s(), "first flap");
	stream_check(&s, st);
	assert_reconnects(&s, 2);
	verify_readback(&s, URL_B_HOST);
	stream_free(&s);
}

/* qemu-io streams writes to b's own portal while b's duetd is stopped
 * (SIGTERM) and started again: QEMU must ride through with no error. */
static void test_qemu_portal_restart(void **state)
{
	struct env *e = *state;
	static struct stream s;
	double t_term, t_up, t0;
	int st = -1;

	NEED_QEMU(e);
	start_pair(e, FORM_TAKEOVER);
	stream_start(&s, e, URL_B_HOST);
	if (stream_progress(&s, 200, 20) < 0) {
		dump_logs(e);
		fail_msg("qemu-io makes no progress against b");
	}
	msleep(2000);

	t_term = now_s();
	stream_phase(&s, PH_2);
	kill(e->node[1], SIGTERM);
	for (t0 = now_s(); waitpid(e->node[1], &st, WNOHANG) == 0; msleep(50))
		if (now_s() - t0 > 20) {
			dump_logs(e);
			fail_msg("b's duetd did not exit 20 s after SIGTERM");
		}
	e->node[1] = start_node(e, 1, e->conf);
	assert_true(node_alive(e, 1));
	t_up = now_s();
	stream_phase(&s, PH_3);
	if (stream_progress(&s, 200, 40) < 0) {
		dump_logs(e);
		fail_msg("QEMU made no progress 40 s after b's restart");
	}
	msleep(3000);
	st = stream_finish(&s);
	fprintf(stderr,
		"# TIMING %s: SIGTERM -> b's duetd running again %.3f s\n",
		e->prefix, t_up - t_term);
	report_stall(&s, e, t_term, now_s(), "SIGTERM");
	stream_check(&s, st);
	assert_reconnects(&s, 1);
	verify_readback(&s, URL_B_HOST);
	readback_sees_tamper(&s, 7);
	stream_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_qemu_takeover_pull_giveback, setup_or_clean,
			teardown_qemu),
		cmocka_unit_test_setup_teardown(test_qemu_ic_cut_while_proxying,
						setup_or_clean, teardown_qemu),
		cmocka_unit_test_setup_teardown(test_qemu_ten_flaps,
						setup_or_clean, teardown_qemu),
		cmocka_unit_test_setup_teardown(test_qemu_portal_restart,
						setup_or_clean, teardown_qemu),
	};

	if (getenv("DUET_PAIR_TESTS"))
		cmocka_set_test_filter(getenv("DUET_PAIR_TESTS"));
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
