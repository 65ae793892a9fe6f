/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration: a libconfig file (or the quick-start command line) parsed
 * and validated into plain structs. Nothing else reads libconfig.
 * Every error is reported as "file:line: what is wrong".
 */
#ifndef DUET_CONFIG_H
#define DUET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/log.h"

#define DUET_DEFAULT_PORT 3260

struct cfg_portal {
	char *host; /* numeric IPv4 or IPv6 address (no brackets), or "0.0.0.0" / "::" */
	uint16_t port;
	int line;
};

struct cfg_lun {
	uint32_t id;   /* LUN number */
	char *path;    /* file or block device */
	uint64_t size; /* bytes; 0 = existing size */
	bool readonly;
	bool write_back;     /* default false: write-through */
	uint32_t block_size; /* logical block: 512 or 4096; 0 = 512 */
	char *serial;	     /* unit serial (VPD 80); NULL = derived */
	char *vendor;	     /* NULL = "DUET" */
	char *product;	     /* NULL = "VIRTUAL-DISK" */
	int line;
};

struct cfg_target {
	char *name;    /* IQN / EUI / NAA name */
	char *alias;   /* TargetAlias, may be NULL */
	uint16_t tpgt; /* target portal group tag (default 1) */
	struct cfg_lun *luns;
	size_t n_luns;
	char **allow_initiators; /* IQNs allowed; empty = all */
	size_t n_allow_initiators;
	char **allow_addresses; /* "addr" or "addr/prefix"; empty = all */
	size_t n_allow_addresses;
	int line;
};

/* iSCSI session parameters we offer / accept (RFC 7143 key limits). */
struct cfg_iscsi {
	uint32_t queue_depth; /* CmdSN window per session (MaxCmdSN) */
	uint32_t
		max_recv_data_segment_length; /* our MaxRecvDataSegmentLength */
	uint32_t max_burst_length;
	uint32_t first_burst_length;
	uint32_t max_outstanding_r2t;
	bool immediate_data;
	bool initial_r2t;
	bool header_digest; /* offer CRC32C (still accept None) */
	bool data_digest;
	uint32_t nop_interval;	/* seconds idle before a NOP-In ping; 0 = off */
	uint32_t nop_timeout;	/* seconds to wait for the NOP-Out reply */
	uint32_t login_timeout; /* seconds to complete a login */
	uint32_t default_time2wait;
	uint32_t default_time2retain;
};

/* ---- The HA pair (a file with a `cluster` section) ---- */

#define DUET_DEFAULT_IC_PORT 3270
#define CFG_NAME_MAX 63	  /* cluster and node names (IC_NAME_MAX - 1) */
#define CFG_SECRET_MIN 16 /* bytes after trimming (IC_SECRET_MIN) */
#define CFG_SECRET_MAX 4096
#define CFG_FINGERPRINT_LEN 32 /* SHA-256 (IC_FP_LEN) */

enum cfg_proxy_form {
	CFG_PROXY_PORTAL = 0, /* partner's targets on our own proxy portals */
	CFG_PROXY_TAKEOVER,   /* partner's portal addresses move to us */
};

struct cfg_cluster {
	char *name;
	char *secret_file; /* absolute path */
	uint8_t *secret;   /* file contents, whitespace-trimmed */
	size_t secret_len;
	enum cfg_proxy_form proxy;
	uint32_t heartbeat_interval_ms;
	uint32_t heartbeat_timeout_ms;
	uint32_t damp_ms;	    /* a path must be stable this long */
	uint32_t probe_interval_ms; /* witness probes */
	uint32_t probe_timeout_ms;
	/* takeover form: a proxying node releases the partner's addresses
	 * after the interconnect has been down this long */
	uint32_t ic_hold_ms;
	/* SHA-256 over the canonical rendering of the pair-wide content
	 * (README.md, "Config fingerprint"). */
	uint8_t fingerprint[CFG_FINGERPRINT_LEN];
	int line;
};

struct cfg_node {
	char *name;
	struct cfg_portal interconnect; /* port default 3270 */
	char *client_interface;		/* NULL if not given */
	struct cfg_portal *portals;	/* its own targets' portals */
	size_t n_portals;
	struct cfg_portal *proxy_portals; /* portal form: partner's targets */
	size_t n_proxy_portals;
	struct cfg_portal *witnesses; /* TCP probe targets */
	size_t n_witnesses;
	/* Fixed (non-moving) client-network address the PARTNER probes to
	 * tell whether this node is reachable; host NULL if not given. */
	struct cfg_portal client_address;
	struct cfg_target *targets; /* targets this node owns */
	size_t n_targets;
	int line;
};

enum cfg_io_engine {
	CFG_IO_ENGINE_AUTO, /* io_uring if the kernel allows it, else threads */
	CFG_IO_ENGINE_URING,
	CFG_IO_ENGINE_THREADS,
};

struct duet_config {
	char *file;	 /* path of the config file, NULL for command line */
	char *node_name; /* -n NODE (used by the pair; may be NULL) */
	enum log_level log_level;
	unsigned io_workers; /* backing store worker threads (0 = default) */
	enum cfg_io_engine io_engine;
	struct cfg_iscsi iscsi;
	struct cfg_portal *portals;
	size_t n_portals;
	struct cfg_target *targets;
	size_t n_targets;
	/* Pair: portals/targets above alias nodes[self]'s (owned by the
	 * node); the partner is nodes[1 - self]. */
	bool has_cluster;
	struct cfg_cluster cluster;
	struct cfg_node nodes[2];
	unsigned self;
};

/* Defaults for every field (used before parsing). */
void config_defaults(struct duet_config *cfg);
/* Load and validate a file. On error returns -EINVAL (or -errno) and has
 * already printed each problem as "file:line: message" to stderr/log. */
int config_load_file(const char *path, const char *node,
		     struct duet_config *cfg);
/* Quick start: portal "host:port" ("[v6]:port"), target name, LUN specs
 * "PATH:SIZE" (SIZE like 64M, 1G, 1048576). */
int config_from_args(const char *portal, const char *target, char *const *luns,
		     size_t n_luns, struct duet_config *cfg);
void config_free(struct duet_config *cfg);
/* Pair: this node and the partner; NULL for a single-node config. */
const struct cfg_node *config_self(const struct duet_config *cfg);
const struct cfg_node *config_partner(const struct duet_config *cfg);
/* The fingerprint as 64 lower-case hex digits + NUL. */
void config_fingerprint_hex(const struct duet_config *cfg, char out[65]);
/* "64M", "1G", "512k", "4096" -> bytes. Returns 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);
/* "1.2.3.4:3260", "[::1]:3260", "1.2.3.4" -> host + port. */
int config_parse_hostport(const char *s, uint16_t default_port, char **host,
			  uint16_t *port);

#endif
