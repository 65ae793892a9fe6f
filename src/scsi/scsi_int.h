/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/scsi/: the target, logical units, per-I_T-nexus state,
 * the per-task executor state and the opcode table. */
#ifndef DUET_SCSI_INT_H
#define DUET_SCSI_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "duet/bs.h"
#include "duet/scsi.h"
#include "duet/scsi_proto.h"
#include "duet/scsi_sense.h"
#include "duet/task.h"

#define SCSI_NEXUS_MAX 1024 /* per-LUN I_T nexus table bound (LRU) */
#define SCSI_NEXUS_BUCKETS 256
#define SCSI_UA_MAX 8
#define SCSI_LUN_ID_MAX 16383
/* Bounce buffers (VERIFY BYTCHK, WRITE SAME) in use per target: beyond
 * this, such commands get TASK SET FULL instead of exhausting memory. */
#define SCSI_BOUNCE_MAX (64ull << 20)

/* Pending unit attentions and accounting for one I_T nexus on one LU. */
struct scsi_nexus {
	char initiator[ISCSI_NAME_MAX];
	uint8_t isid[6];
	uint16_t rtpi;
	uint32_t hash;
	struct scsi_nexus *hnext;
	struct scsi_nexus *lru_prev, *lru_next;
	uint16_t ua[SCSI_UA_MAX]; /* ASC << 8 | ASCQ, oldest first */
	unsigned n_ua;
	unsigned inflight;
};

struct scsi_lu {
	struct scsi_target *tgt;
	uint32_t id;
	struct bs_dev *bs;
	uint32_t block_size;
	unsigned block_shift;
	uint64_t nblocks;
	bool readonly;
	char serial[33];
	char vendor[9]; /* space padded, NUL terminated */
	char product[17];
	uint8_t naa[16]; /* NAA type 6 designator */
	/* mode parameters (shared by all nexuses) */
	bool d_sense;
	bool swp;
	bool dexcpt;
	uint8_t mrie;
	bool wce_default; /* WCE after a reset: the configured write_back */
	bool stopped;
	/* tasks in arrival order (task->exec_next/exec_prev) */
	struct scsi_task *head, *tail;
	unsigned n_tasks, n_ordered, n_waiting;
	bool kicking, kick_again;
	/* I_T nexus table */
	struct scsi_nexus *buckets[SCSI_NEXUS_BUCKETS];
	struct scsi_nexus *lru_head, *lru_tail; /* head = most recent */
	unsigned n_nexus;
};

enum scsi_cmd_state {
	SCSI_CMD_WAITING = 1, /* held back by task ordering */
	SCSI_CMD_RUNNING = 2, /* executing; may wait for backing I/O */
};

struct scsi_tmf_wait {
	struct scsi_tmf *tmf;
	struct scsi_tmf_wait *next;
};

struct scsi_opdesc;

/* Per-task executor state (task->exec_priv), from a free list. */
struct scsi_cmd {
	struct scsi_task *task;
	struct scsi_target *tgt;
	struct scsi_lu *lu;    /* NULL: the LUN does not exist */
	struct scsi_nexus *nx; /* NULL when lu is NULL */
	const struct scsi_opdesc *op;
	enum scsi_cmd_state state;
	bool aborted;
	bool ordered; /* counted in lu->n_ordered */
	struct scsi_tmf_wait *waiters;
	struct bs_io io;
	uint64_t lba;
	uint32_t nblocks;
	uint8_t *cmp_buf; /* bounce buffer: VERIFY read-back, WRITE SAME */
	uint64_t cmp_len;
	uint8_t bytchk;
	struct scsi_cmd *free_next;
};

struct scsi_target {
	struct scsi_dispatcher disp;
	char *name;
	struct scsi_lu **lus;
	size_t n_lus, cap_lus;
	unsigned inflight;
	struct scsi_cmd *free_cmds;
	unsigned n_free;
	uint64_t bounce_bytes; /* bounce buffers in use (bounded) */
};

/* Handlers return SCSI_CMD_DONE (status set, complete now) or
 * SCSI_CMD_ASYNC (scsi_cmd_complete() is called later). */
#define SCSI_CMD_DONE 0
#define SCSI_CMD_ASYNC 1
typedef int (*scsi_handler_fn)(struct scsi_cmd *c);

enum {
	SCSI_OPF_UA_OK = 1u << 0,     /* runs with a pending UA, keeps it */
	SCSI_OPF_NO_LUN_OK = 1u << 1, /* served for a LUN that does not exist */
	SCSI_OPF_DATA_IN = 1u << 2,
	SCSI_OPF_DATA_OUT = 1u << 3,
	SCSI_OPF_WRITE = 1u << 4, /* modifies the medium */
	SCSI_OPF_SA = 1u << 5,	  /* service action in byte 1 bits 4..0 */
};

struct scsi_opdesc {
	uint8_t opcode;
	uint8_t sa;
	uint8_t cdb_len;
	uint32_t flags;
	const char *name;
	scsi_handler_fn handler;
	uint8_t usage[16]; /* CDB usage data (SPC-4 6.35.3): bits allowed */
	uint16_t timeout;  /* nominal command timeout, seconds (RCTD) */
};

/* opcodes.c: the direct-access device opcode table. */
extern const struct scsi_opdesc scsi_sbc_ops[];
extern const unsigned scsi_sbc_n_ops;
/* Returns the entry, or NULL; *sa_unknown when the opcode exists but
 * with other service actions only. */
const struct scsi_opdesc *scsi_op_lookup(uint8_t opcode, uint8_t sa,
					 bool *sa_unknown);
/* Check a CDB against the usage mask; 0 or sets INVALID FIELD IN CDB. */
int scsi_op_check_cdb(struct scsi_cmd *c);
int scsi_spc_rsoc(struct scsi_cmd *c);

/* target.c */
void scsi_cmd_complete(struct scsi_cmd *c);
/* Allocate c->cmp_buf (aligned, len bytes) within SCSI_BOUNCE_MAX;
 * 0 or -ENOMEM. Freed when the command completes. */
int scsi_cmd_bounce_alloc(struct scsi_cmd *c, uint64_t len);
bool scsi_cmd_desc_sense(const struct scsi_cmd *c);
void scsi_cmd_sense(struct scsi_cmd *c, uint8_t key, uint16_t asc);
void scsi_cmd_invalid_cdb(struct scsi_cmd *c, uint16_t byte, int bit);
void scsi_cmd_invalid_param(struct scsi_cmd *c, uint16_t byte, int bit);
/* Copy response data into the task buffer, honouring the allocation
 * length; sets xfer_len and data_len. */
void scsi_cmd_data_in(struct scsi_cmd *c, const uint8_t *d, uint32_t len,
		      uint32_t alloc_len);
const struct scsi_lu *scsi_target_lu_at(const struct scsi_target *t, size_t i);

/* lu.c */
struct scsi_lu *scsi_lu_new(struct scsi_target *t, const struct cfg_lun *cfg,
			    struct bs_dev *bs);
void scsi_lu_free(struct scsi_lu *lu);
void scsi_lu_mode_defaults(struct scsi_lu *lu);
struct scsi_nexus *scsi_lu_nexus_get(struct scsi_lu *lu,
				     const struct scsi_itn *itn);
void scsi_lu_nexus_put(struct scsi_lu *lu, struct scsi_nexus *nx);
void scsi_lu_nexus_forget(struct scsi_lu *lu, const struct scsi_itn *itn);
bool scsi_nexus_match(const struct scsi_nexus *nx, const struct scsi_itn *itn);
void scsi_nexus_ua_add(struct scsi_nexus *nx, uint16_t asc);
/* Pop the oldest UA; returns 0 if none. */
uint16_t scsi_nexus_ua_pop(struct scsi_nexus *nx);
/* Establish a UA for every nexus of the LU except `except` (may be NULL). */
void scsi_lu_ua_others(struct scsi_lu *lu, const struct scsi_itn *except,
		       uint16_t asc);
uint64_t scsi_hash64(const void *p, size_t n, uint64_t h);

/* spc.c / mode.c / sbc.c handlers */
int scsi_spc_inquiry(struct scsi_cmd *c);
int scsi_spc_tur(struct scsi_cmd *c);
int scsi_spc_request_sense(struct scsi_cmd *c);
int scsi_spc_report_luns(struct scsi_cmd *c);
int scsi_spc_start_stop(struct scsi_cmd *c);
int scsi_spc_mode_sense(struct scsi_cmd *c);
int scsi_spc_mode_select(struct scsi_cmd *c);
int scsi_sbc_rw(struct scsi_cmd *c);
int scsi_sbc_read_capacity10(struct scsi_cmd *c);
int scsi_sbc_read_capacity16(struct scsi_cmd *c);
int scsi_sbc_verify(struct scsi_cmd *c);
int scsi_sbc_sync_cache(struct scsi_cmd *c);
int scsi_sbc_prefetch(struct scsi_cmd *c);
int scsi_sbc_write_same(struct scsi_cmd *c);

#endif
