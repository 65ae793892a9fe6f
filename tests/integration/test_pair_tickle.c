// SPDX-License-Identifier: Apache-2.0
/*
 * Tickle ACKs after a takeover (docs/failover.md, "Sequences"): a client
 * that is only waiting -- everything it sent was acknowledged by b before
 * the pull -- sends nothing until its own NOP-Out timer (QEMU: 5 s), so
 * nothing of it reaches a to be reset. b reports its client connections
 * to a (CONN_LIST, right before PATH_DOWN); a, once it holds b's portal
 * address, sends each client a bare out-of-window ACK from that address;
 * the client answers with its real numbers, a's stack has no such socket
 * and resets it: the initiator reconnects at once.
 *
 * The clients here are two libiscsi sessions logged in to b's portal
 * address (198.51.100.32) and then left alone: never serviced, so they
 * send no NOP-Out and no command (the most idle client there is). The
 * test watches their TCP state (TCP_INFO) and asserts both are reset
 * within TICKLE_BOUND_S of a claiming the address, then logs in again
 * (through a's proxy port) and runs a command: pull -> first proxied
 * command is reported. Without tickles the sockets stay ESTABLISHED: the
 * bound is the whole test (run it against a build without them:
 * DUET_BUILD=<old build> shows "not reset within 10 s").
 *
 *   DUET_PAIR_TESTS='test_tickle*' build/tests/integration/test_pair_tickle
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "pairenv.h"

#define PORTAL_B "198.51.100.32"
#define N_CLIENTS 2
/* a's tickles go out at once after the claim; the client answers within
 * a round trip. 2 s: margin for a loaded 2-vCPU machine. */
#define TICKLE_BOUND_S 2.0
#define WAIT_RESET_S 10.0

static struct iscsi_context *login(const char *initiator)
{
	struct iscsi_context *c = iscsi_create_context(initiator);

	assert_non_null(c);
	iscsi_set_targetname(c, IQN_B);
	iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(c, ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_full_connect_sync(c, PORTAL_B ":3260", 0) != 0)
		fail_msg("login to %s at %s: %s", IQN_B, PORTAL_B,
			 iscsi_get_error(c));
	return c;
}

/* TCP state of the session's socket (TCP_ESTABLISHED, TCP_CLOSE, ...). */
static int tcp_state(struct iscsi_context *c)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	if (getsockopt(iscsi_get_fd(c), IPPROTO_TCP, TCP_INFO, &ti, &l) != 0)
		return -1;
	return ti.tcpi_state;
}

static int so_error(struct iscsi_context *c)
{
	int err = 0;
	socklen_t l = sizeof(err);

	getsockopt(iscsi_get_fd(c), SOL_SOCKET, SO_ERROR, &err, &l);
	return err;
}

/* Wait until a holds b's address; seconds since t0, or -1. */
static double wait_claim(struct env *e, double t0, double timeout_s)
{
	while (now_s() - t0 < timeout_s) {
		if (addr_on(e, "a", PORTAL_B))
			return now_s() - t0;
		msleep(10);
	}
	return -1;
}

/* Login through a's proxy port and one READ(10): the first proxied
 * command. 0 or -1. */
static int first_command(void)
{
	struct iscsi_context *c;
	struct scsi_task *t = NULL;
	int ok = -1;

	for (int i = 0; i < 50 && ok < 0; i++) {
		c = iscsi_create_context(
			"iqn.2026-11.org.example:tickle-again");
		if (!c)
			return -1;
		iscsi_set_targetname(c, IQN_B);
		iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
		if (iscsi_full_connect_sync(c, PORTAL_B ":3260", 0) == 0)
			t = iscsi_read10_sync(c, 0, 0, 4096, 512, 0, 0, 0, 0,
					      0);
		if (t && t->status == SCSI_STATUS_GOOD)
			ok = 0;
		if (t)
			scsi_free_scsi_task(t);
		t = NULL;
		iscsi_destroy_context(c);
		if (ok < 0)
			msleep(100);
	}
	return ok;
}

static bool log_has(struct env *e, const char *node, const char *text)
{
	return run("grep -qF '%s' %s/%s.log", text, e->dir, node) == 0;
}

static void test_tickle_idle_clients(void **state)
{
	struct env *e = *state;
	struct iscsi_context *c[N_CLIENTS];
	double t0, t_claim, t_reset[N_CLIENTS], t_cmd;
	char ini[64], line[128];

	SKIP_IF_CANNOT(e);
	start_pair(e, FORM_TAKEOVER);
	for (int i = 0; i < N_CLIENTS; i++) {
		snprintf(ini, sizeof(ini), "iqn.2026-11.org.example:idle%d", i);
		c[i] = login(ini);
		t_reset[i] = -1;
	}
	msleep(300); /* every PDU of the logins acknowledged: idle */
	for (int i = 0; i < N_CLIENTS; i++)
		assert_int_equal(tcp_state(c[i]), TCP_ESTABLISHED);

	t0 = now_s();
	assert_int_equal(netns(e, "pull", "b"), 0);
	t_claim = wait_claim(e, t0, 15);
	if (t_claim < 0) {
		dump_logs(e);
		fail_msg("a did not claim %s within 15 s of the pull",
			 PORTAL_B);
	}
	for (int left = N_CLIENTS;
	     left && now_s() - t0 < t_claim + WAIT_RESET_S;) {
		for (int i = 0; i < N_CLIENTS; i++) {
			if (t_reset[i] >= 0 ||
			    tcp_state(c[i]) == TCP_ESTABLISHED)
				continue;
			t_reset[i] = now_s() - t0;
			left--;
			fprintf(stderr,
				"# client %d: TCP state %d, SO_ERROR %s, %.3f "
				"s "
				"after the pull, %.3f s after the claim\n",
				i, tcp_state(c[i]), strerror(so_error(c[i])),
				t_reset[i], t_reset[i] - t_claim);
		}
		msleep(5);
	}
	t_cmd = first_command() == 0 ? now_s() - t0 : -1;
	fprintf(stderr,
		"# TIMING %s: pull -> a holds %s %.3f s; -> reset %.3f / "
		"%.3f s; -> first proxied command %.3f s\n",
		e->prefix, PORTAL_B, t_claim, t_reset[0], t_reset[1], t_cmd);
	for (int i = 0; i < N_CLIENTS; i++) {
		if (t_reset[i] < 0) {
			dump_logs(e);
			fail_msg("idle client %d not reset within %.0f s of a "
				 "claiming %s (no tickle?)",
				 i, WAIT_RESET_S, PORTAL_B);
		}
		assert_true(t_reset[i] - t_claim <= TICKLE_BOUND_S);
		iscsi_destroy_context(c[i]);
	}
	assert_true(t_cmd > 0);
	snprintf(line, sizeof(line),
		 "tickled %d client connection(s) on %s:3260", N_CLIENTS,
		 PORTAL_B);
	if (!log_has(e, "a", line) ||
	    !log_has(e, "b", "client connection(s) reported to a")) {
		dump_logs(e);
		fail_msg("a's log lacks \"%s\" or b's its report", line);
	}
	/* Back home (no writer here: given_back(), not wait_giveback()). */
	assert_int_equal(netns(e, "restore", "b"), 0);
	t0 = now_s();
	while (!given_back(e) && now_s() - t0 < DAMP_MS / 1000.0 + 30)
		msleep(100);
	if (!given_back(e)) {
		dump_logs(e);
		fail_msg("no giveback after restoring b's link");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tickle_idle_clients,
						setup_or_clean, teardown),
	};

	if (getenv("DUET_PAIR_TESTS"))
		cmocka_set_test_filter(getenv("DUET_PAIR_TESTS"));
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
