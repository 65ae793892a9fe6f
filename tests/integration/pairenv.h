/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The namespace test harness for the pair (test_pair*.c): topology up and
 * down per test (scripts/netns.sh, a unique prefix), the pair's
 * configuration, the daemons, and the verifying writer (pairtest.h) in a
 * thread. Every test binary built from it runs from the repository root,
 * as root; without namespaces each test is skipped with the reason.
 */
#ifndef DUET_TEST_PAIRENV_H
#define DUET_TEST_PAIRENV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pairtest.h"

#define IQN_A "iqn.2026-11.org.example:a.disk0"
#define IQN_B "iqn.2026-11.org.example:b.disk0"
#define LUN_SIZE "64M"
#define DAMP_MS 2000
#define IC_HOLD_MS 3000 /* cluster.ic_hold_ms */
#define HB_TIMEOUT_MS 1500

enum form { FORM_PORTAL, FORM_TAKEOVER };

struct env {
	char prefix[32];
	char dir[128];
	char conf[192];
	char conf_bad[192]; /* same pair, other secret */
	pid_t node[2];	    /* a, b */
	int orig_ns;	    /* our namespace before entering the client's */
	bool topo_up;
	enum form form;
	bool b_no_witness; /* b's own path = its carrier only */
	bool ipv6;	   /* portals, witnesses, interconnect: IPv6 */
	char urls[PT_MAX_PATHS][160]; /* writer_on()'s, kept for the writer */
	/* writer thread */
	struct pt_writer *w;
	pthread_t th;
	bool th_running;
	int wrc;
};

extern char pe_skip_reason[160];

#define SKIP_IF_CANNOT(e)                                                \
	do {                                                             \
		if (!(e)) {                                              \
			fprintf(stderr, "# SKIP: %s\n", pe_skip_reason); \
			skip();                                          \
		}                                                        \
	} while (0)

double now_s(void);
void msleep(int ms);
__attribute__((format(printf, 1, 2))) int run(const char *fmt, ...);
const char *build_dir(void);
int netns(struct env *e, const char *verb, const char *arg);
int setup_or_clean(void **state);
void node_kill(struct env *e, int n);
void dump_logs(struct env *e);
int teardown(void **state);
pid_t spawn_in(struct env *e, const char *node, const char *log,
	       char *const args[]);
bool reachable(const char *addr, int port, int timeout_ms);
bool wait_reachable(const char *addr, int port, int timeout_ms);
int start_single(struct env *e);
int write_pair_conf(struct env *e, enum form form, const char *path,
		    const char *secret_name, const char *secret);
const char *home_addr(enum form form, int n);
const char *env_home_addr(const struct env *e, int n);
const char *env_proxy_addr(const struct env *e, int n);
bool node_alive(struct env *e, int n);
pid_t start_node(struct env *e, int n, const char *conf);
void start_pair(struct env *e, enum form form);
void writer_start(struct env *e, const char *const urls[], int n, int qd);
double wait_progress(struct env *e, uint64_t n, double timeout_s);
const struct pt_result *writer_finish_and_verify(struct env *e);
void report_mark(struct env *e, int idx, const char *what);
bool carrier(struct env *e, const char *node, const char *ifname);
bool path_up(const char *addr);
void writer_on_b(struct env *e);
int writer_urls(const struct env *e, int n, char urls[][160]);
void writer_on(struct env *e, int n);
bool addr_on(struct env *e, const char *node, const char *addr);
bool given_back(struct env *e);
bool given_back_to(struct env *e, int n);
double wait_giveback(struct env *e, double timeout_s);
double wait_giveback_to(struct env *e, int n, double timeout_s);
double pull_b_and_proxy(struct env *e, const char *label);
double pull_and_proxy(struct env *e, int n, const char *label);
void restore_b_and_giveback(struct env *e, const char *label);
void restore_and_giveback(struct env *e, int n, const char *label);

#endif
