// SPDX-License-Identifier: Apache-2.0
/*
 * pairio: the verifying writer/reader of tests/integration/pairtest.c as a
 * command-line tool (make build/tests/tools/pairio).
 *
 *   pairio --url iscsi://198.51.100.12/iqn.2026-11.org.example:b.disk0/0 \
 *          [--url iscsi://198.51.100.21/...  (more paths: multipath mode)]
 *          --seconds 30 --qd 8 [--rate 50] [--blocks 2048] [--verify]
 *
 * Output: JSON lines on stdout (events, then one "result" line). While it
 * runs, SIGUSR1 marks a moment ("usr1"), SIGUSR2 another ("usr2"): the
 * result reports, per mark, the first completion after it and the end of
 * the longest stall that ends after it. SIGINT/SIGTERM stop writing (then
 * drain and verify). Exit status: 0 all good, 1 verification failed or
 * hard write errors, 2 usage or no path.
 *
 *   pairio --url URL --bench 4 --qd 32 --seconds 5 [--read]
 * measures random I/O throughput of that size (KiB) instead, from 16 MiB
 * into the LUN on, and prints one "bench" line.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../integration/pairtest.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: pairio --url iscsi://HOST[:PORT]/IQN/LUN [--url ...]\n"
		"  [--seconds N] [--qd N] [--rate IOPS] [--blocks N]\n"
		"  [--first-block N] [--nop-interval MS] [--initiator IQN]\n"
		"  [--generation N] [--log-each] [--progress SECONDS] "
		"[--verify]\n"
		"SIGUSR1/SIGUSR2 mark a moment; SIGINT/SIGTERM stop.\n");
	exit(2);
}

struct run {
	struct pt_writer *w;
	int rc;
	volatile int done;
};

static void *writer_thread(void *arg)
{
	struct run *r = arg;
	r->rc = pt_writer_run(r->w);
	r->done = 1;
	kill(getpid(), SIGCONT); /* wake the signal loop */
	return NULL;
}

static uint32_t bench_size; /* --bench KIB: throughput mode */
static bool bench_read;

/* pairio --url U --bench 4 --qd 32 --seconds 5 [--read]: random I/O of
 * that size from 16 MiB on (clear of the verified region), one line. */
static int bench_main(const struct pt_config *c)
{
	struct pt_bench_result r;
	int rc =
		pt_bench(c->urls[0], c->initiator, 16u << 20, bench_size, c->qd,
			 c->seconds > 0 ? c->seconds : 5, !bench_read, &r);

	printf("{\"event\":\"bench\",\"url\":\"%s\",\"op\":\"%s\","
	       "\"size\":%u,\"qd\":%d,\"seconds\":%.3f,\"iops\":%.0f,"
	       "\"mbps\":%.1f,\"errors\":%llu,\"rc\":%d}\n",
	       c->urls[0], bench_read ? "read" : "write", bench_size, c->qd,
	       r.seconds, r.iops, r.mbps, (unsigned long long)r.errors, rc);
	return rc ? 1 : 0;
}

static int parse_args(int argc, char **argv, struct pt_config *c, bool *verify)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"seconds", required_argument, NULL, 's'},
		{"qd", required_argument, NULL, 'q'},
		{"rate", required_argument, NULL, 'r'},
		{"blocks", required_argument, NULL, 'b'},
		{"first-block", required_argument, NULL, 'F'},
		{"nop-interval", required_argument, NULL, 'n'},
		{"initiator", required_argument, NULL, 'i'},
		{"generation", required_argument, NULL, 'g'},
		{"log-each", no_argument, NULL, 'e'},
		{"progress", required_argument, NULL, 'p'},
		{"bench", required_argument, NULL, 'B'},
		{"read", no_argument, NULL, 'R'},
		{"verify", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int o;

	while ((o = getopt_long(argc, argv, "u:s:q:r:b:vh", opts, NULL)) !=
	       -1) {
		switch (o) {
		case 'u':
			if (c->n_urls >= PT_MAX_PATHS)
				usage();
			c->urls[c->n_urls++] = optarg;
			break;
		case 's':
			c->seconds = atof(optarg);
			break;
		case 'q':
			c->qd = atoi(optarg);
			break;
		case 'r':
			c->rate = atof(optarg);
			break;
		case 'b':
			c->n_blocks = strtoull(optarg, NULL, 0);
			break;
		case 'F':
			c->first_block = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			c->nop_interval_ms = atoi(optarg);
			break;
		case 'i':
			c->initiator = optarg;
			break;
		case 'g':
			c->generation = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'B':
			bench_size = (uint32_t)strtoul(optarg, NULL, 0) * 1024;
			break;
		case 'R':
			bench_read = true;
			break;
		case 'p':
			c->progress_s = atof(optarg);
			break;
		case 'e':
			c->log_each = true;
			break;
		case 'v':
			*verify = true;
			break;
		default:
			usage();
		}
	}
	if (c->n_urls == 0 || optind != argc)
		usage();
	return 0;
}

int main(int argc, char **argv)
{
	struct pt_config cfg = {.log = stdout};
	struct run run = {0};
	bool verify = false;
	pthread_t th;
	sigset_t set;
	int rc, vrc = 0;

	parse_args(argc, argv, &cfg, &verify);
	if (bench_size)
		return bench_main(&cfg);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCONT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	run.w = pt_writer_new(&cfg);
	if (!run.w)
		return 2;
	if ((rc = pt_writer_connect(run.w)) != 0) {
		fprintf(stderr, "pairio: no path could log in (%s)\n",
			strerror(-rc));
		pt_writer_free(run.w);
		return 2;
	}
	if (pthread_create(&th, NULL, writer_thread, &run) != 0)
		return 2;
	while (!run.done) {
		struct timespec ts = {0, 200 * 1000 * 1000};
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGUSR1)
			pt_writer_mark(run.w, "usr1");
		else if (sig == SIGUSR2)
			pt_writer_mark(run.w, "usr2");
		else if (sig == SIGINT || sig == SIGTERM)
			pt_writer_stop(run.w);
	}
	pthread_join(th, NULL);
	if (verify)
		vrc = pt_verify(run.w);
	pt_print_result(run.w, stdout);
	rc = run.rc || vrc || pt_writer_result(run.w)->hard_errors ? 1 : 0;
	pt_writer_free(run.w);
	return rc;
}
