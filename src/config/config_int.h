/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/config: validation helpers shared by the file parser and
 * the command-line quick start, and test hooks. */
#ifndef DUET_CONFIG_INT_H
#define DUET_CONFIG_INT_H

#include <stdio.h>

#include "duet/config.h"

/* Limits (RFC 7143 section 13 and our own sanity bounds). */
#define CFG_MRDSL_MIN 512u
#define CFG_MRDSL_MAX 16777215u
#define CFG_QUEUE_DEPTH_MAX 4096u
#define CFG_LUN_ID_MAX 16383u /* flat space addressing */
#define CFG_TIME_MAX 3600u
#define CFG_IO_WORKERS_MAX 1024u
#define CFG_SERIAL_MAX 64u
#define CFG_ALIAS_MAX 255u
#define CFG_HB_INTERVAL_MIN 10u
#define CFG_HB_INTERVAL_MAX 60000u
#define CFG_HB_TIMEOUT_MIN 50u
#define CFG_HB_TIMEOUT_MAX 600000u
#define CFG_DAMP_MAX 3600000u
#define CFG_IC_HOLD_MIN 1000u
#define CFG_IC_HOLD_MAX 3600000u
#define CFG_PROBE_MIN 10u
#define CFG_PROBE_MAX 600000u

struct cfg_err_msg {
	int line;
	unsigned seq;
	char *text; /* the whole "file:line: message" */
};

/* Error sink: collected, then printed sorted by line (cfg_errs_flush). */
struct cfg_errs {
	const char *file; /* NULL: command line */
	FILE *out;
	unsigned count;
	bool portals_given; /* present and non-empty, even if invalid */
	bool targets_given;
	bool node_parsed[2]; /* pair: the node was a group */
	bool node_targets_given[2];
	int secret_line; /* line of cluster.secret_file */
	struct cfg_err_msg *msgs;
	size_t n_msgs, cap;
};

void cfg_error(struct cfg_errs *e, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Print every collected error in line order (file-wide ones last). */
void cfg_errs_flush(struct cfg_errs *e);

/* "host:port" into p->host/p->port; NULL or the reason it is wrong. */
const char *cfg_parse_portal(const char *s, struct cfg_portal *p);
const char *cfg_parse_hostport(const char *s, uint16_t defport,
			       struct cfg_portal *p);
/* Each returns NULL when valid, or a static/explaining string in buf. */
const char *cfg_check_iscsi_name(const char *name, char *buf, size_t len);
const char *cfg_check_netmask(const char *s, char *buf, size_t len);
/* Compare two normalised portals: same address family/bytes and port. */
bool cfg_portal_equal(const struct cfg_portal *a, const struct cfg_portal *b);
bool cfg_portal_is_wildcard(const struct cfg_portal *p);
int cfg_portal_family(const struct cfg_portal *p);

/* path made absolute against base_dir (a directory, or NULL = the
 * current directory); malloc'd, NULL on allocation failure. */
char *cfg_abs_path(const char *base_dir, const char *path, size_t len);

/* Cross-checks over a whole config (missing sections, duplicates). */
void cfg_validate_all(struct duet_config *cfg, struct cfg_errs *e);

/* Pair: validate both nodes and the cluster, load the secret, select
 * this node (-n, else the host name), compute the fingerprint. */
void cfg_pair_finish(struct duet_config *cfg, const char *node,
		     struct cfg_errs *e);
/* Canonical text of the pair-wide content (what the fingerprint hashes);
 * malloc'd into *out. Returns 0 or -ENOMEM. */
int cfg_pair_render(const struct duet_config *cfg, char **out, size_t *len);
/* Free a node's contents. */
void cfg_node_free(struct cfg_node *n);
void cfg_free_targets(struct cfg_target *t, size_t n);
void cfg_free_portals(struct cfg_portal *p, size_t n);

/* Same as the public calls, with problems printed to `errs`. */
int config_load_file_to(const char *path, const char *node,
			struct duet_config *cfg, FILE *errs);
int config_from_args_to(const char *portal, const char *target,
			char *const *luns, size_t n_luns,
			struct duet_config *cfg, FILE *errs);

#endif
