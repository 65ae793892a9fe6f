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
	char *host;     /* numeric IPv4 or IPv6 address (no brackets), or "0.0.0.0" / "::" */
	uint16_t port;
	int line;
};

struct cfg_lun {
	uint32_t id;        /* LUN number */
	char *path;         /* file or block device */
	uint64_t size;      /* bytes; 0 = existing size */
	bool readonly;
	bool write_back;    /* default false: write-through */
	char *serial;       /* unit serial (VPD 80); NULL = derived */
	char *vendor;       /* NULL = "DUET" */
	char *product;      /* NULL = "VIRTUAL-DISK" */
	int line;
};

struct cfg_target {
	char *name;          /* IQN / EUI / NAA name */
	char *alias;         /* TargetAlias, may be NULL */
	uint16_t tpgt;       /* target portal group tag (default 1) */
	struct cfg_lun *luns;
	size_t n_luns;
	char **allow_initiators; /* IQNs allowed; empty = all */
	size_t n_allow_initiators;
	char **allow_addresses;  /* "addr" or "addr/prefix"; empty = all */
	size_t n_allow_addresses;
	int line;
};

/* iSCSI session parameters we offer / accept (RFC 7143 key limits). */
struct cfg_iscsi {
	uint32_t queue_depth;          /* CmdSN window per session (MaxCmdSN) */
	uint32_t max_recv_data_segment_length; /* our MaxRecvDataSegmentLength */
	uint32_t max_burst_length;
	uint32_t first_burst_length;
	uint32_t max_outstanding_r2t;
	bool immediate_data;
	bool initial_r2t;
	bool header_digest;            /* offer CRC32C (still accept None) */
	bool data_digest;
	uint32_t nop_interval;         /* seconds idle before a NOP-In ping; 0 = off */
	uint32_t nop_timeout;          /* seconds to wait for the NOP-Out reply */
	uint32_t login_timeout;        /* seconds to complete a login */
	uint32_t default_time2wait;
	uint32_t default_time2retain;
};

struct duet_config {
	char *file;              /* path of the config file, NULL for command line */
	char *node_name;         /* -n NODE (used by the pair; may be NULL) */
	enum log_level log_level;
	unsigned io_workers;     /* backing store worker threads (0 = default) */
	struct cfg_iscsi iscsi;
	struct cfg_portal *portals;
	size_t n_portals;
	struct cfg_target *targets;
	size_t n_targets;
};

/* Defaults for every field (used before parsing). */
void config_defaults(struct duet_config *cfg);
/* Load and validate a file. On error returns -EINVAL (or -errno) and has
 * already printed each problem as "file:line: message" to stderr/log. */
int config_load_file(const char *path, const char *node, struct duet_config *cfg);
/* Quick start: portal "host:port" ("[v6]:port"), target name, LUN specs
 * "PATH:SIZE" (SIZE like 64M, 1G, 1048576). */
int config_from_args(const char *portal, const char *target,
		     char *const *luns, size_t n_luns, struct duet_config *cfg);
void config_free(struct duet_config *cfg);
/* "64M", "1G", "512k", "4096" -> bytes. Returns 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);
/* "1.2.3.4:3260", "[::1]:3260", "1.2.3.4" -> host + port. */
int config_parse_hostport(const char *s, uint16_t default_port, char **host,
			  uint16_t *port);

#endif
