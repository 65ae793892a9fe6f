/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The task contract between a transport (the iSCSI layer, later the
 * partner virtual adapter) and whatever executes SCSI commands (the local
 * SCSI layer, later the local virtual adapter that forwards to the
 * partner). Neither side knows which other side it is talking to: the
 * transport hands tasks to a struct scsi_dispatcher.
 *
 * Rules:
 *  - The transport fills the "in" fields, sets done/priv, and calls
 *    scsi_dispatch_submit(). Every submitted task is completed exactly once
 *    through task->done(), on the event loop thread. done() MAY run before
 *    submit returns (e.g. INQUIRY, or an error found while parsing the CDB).
 *  - Data buffer: task->buf has room for buf_cap bytes, where
 *    buf_cap = min(expected data transfer length, DUET_MAX_IO_BYTES).
 *    For a write (dir WRITE) the transport has received data_out_len bytes
 *    into buf before submitting. For a read the executor writes data-in into
 *    buf and sets data_len. buf is owned by the transport; the executor only
 *    uses it between submit and done. buf is DUET_BUF_ALIGN aligned.
 *  - xfer_len is set by the executor: the number of bytes the command would
 *    transfer (data-in: what the device returns, already limited by the
 *    CDB's allocation length; data-out: what the CDB asks for). The transport
 *    derives iSCSI residual overflow/underflow from xfer_len and the expected
 *    length: bytes actually moved = min(xfer_len, exp_xfer_len).
 *  - A task whose `aborted` flag is set when done() runs was terminated by a
 *    task management function (or a reset from another nexus): the transport
 *    sends no response for it and just frees it.
 *  - The executor never frees a task.
 */
#ifndef DUET_TASK_H
#define DUET_TASK_H

#include <stdbool.h>
#include <stdint.h>

#define DUET_MAX_IO_BYTES (8u * 1024 * 1024) /* largest data buffer per task */
#define DUET_BUF_ALIGN 4096u
#define SCSI_CDB_MAX 32
#define SCSI_SENSE_MAX 96
#define ISCSI_NAME_MAX 224 /* 223 bytes + NUL (RFC 7143 section 4.2.7.1) */

enum scsi_data_dir {
	SCSI_DIR_NONE = 0,
	SCSI_DIR_READ = 1,  /* data-in: device to initiator */
	SCSI_DIR_WRITE = 2, /* data-out: initiator to device */
	SCSI_DIR_BIDI = 3,
};

enum scsi_task_attr {
	SCSI_ATTR_UNTAGGED = 0,
	SCSI_ATTR_SIMPLE = 1,
	SCSI_ATTR_ORDERED = 2,
	SCSI_ATTR_HEAD_OF_QUEUE = 3,
	SCSI_ATTR_ACA = 4,
};

/* SCSI status codes (SAM-5). */
enum scsi_status {
	SCSI_STATUS_GOOD = 0x00,
	SCSI_STATUS_CHECK_CONDITION = 0x02,
	SCSI_STATUS_CONDITION_MET = 0x04,
	SCSI_STATUS_BUSY = 0x08,
	SCSI_STATUS_RESERVATION_CONFLICT = 0x18,
	SCSI_STATUS_TASK_SET_FULL = 0x28,
	SCSI_STATUS_ACA_ACTIVE = 0x30,
	SCSI_STATUS_TASK_ABORTED = 0x40,
};

/*
 * The identity of an I_T nexus, as the SCSI layer sees it. It carries the
 * *real* initiator identity even when the command travelled through a proxy
 * port and the interconnect. Owned by the transport (embedded in its
 * session); it outlives every task that points to it.
 */
struct scsi_itn {
	char initiator_name[ISCSI_NAME_MAX]; /* iSCSI InitiatorName */
	uint8_t isid[6];
	uint16_t tpgt;		  /* target portal group tag of the port used */
	uint16_t rel_tgt_port_id; /* relative target port identifier (>= 1) */
	char target_name[ISCSI_NAME_MAX];
};

struct scsi_task;
typedef void (*scsi_task_done_fn)(struct scsi_task *task);

struct scsi_task {
	/* --- in: set by the transport --- */
	const struct scsi_itn *itn;
	uint64_t lun; /* 8-byte LUN field as on the wire (SAM) */
	uint8_t cdb[SCSI_CDB_MAX];
	uint8_t cdb_len;
	enum scsi_data_dir dir; /* from the transport's R/W flags */
	enum scsi_task_attr attr;
	uint32_t exp_xfer_len; /* expected data transfer length */
	uint8_t *buf;	       /* data buffer, DUET_BUF_ALIGN aligned */
	uint32_t buf_cap;      /* its size: min(exp_xfer_len, MAX_IO) */
	uint32_t data_out_len; /* write data bytes present in buf */
	uint64_t tag;	       /* transport's own tag, opaque here */
	scsi_task_done_fn done;
	void *priv; /* transport's back pointer */

	/* --- out: set by the executor before done() --- */
	uint8_t status; /* enum scsi_status */
	uint8_t sense_len;
	uint8_t sense[SCSI_SENSE_MAX]; /* fixed or descriptor format sense */
	uint32_t xfer_len;	       /* see the rules above */
	uint32_t data_len;	       /* data-in bytes valid in buf */
	bool aborted;		       /* terminated by TMF: send no response */

	/* --- executor private --- */
	void *exec_priv;
	struct scsi_task *exec_next, *exec_prev; /* executor's in-flight list */
	uint32_t exec_flags;
};

/* Task management functions (RFC 7143 10.5.1 function codes). */
enum scsi_tmf_fn {
	SCSI_TMF_ABORT_TASK = 1,
	SCSI_TMF_ABORT_TASK_SET = 2,
	SCSI_TMF_CLEAR_ACA = 3,
	SCSI_TMF_CLEAR_TASK_SET = 4,
	SCSI_TMF_LUN_RESET = 5,
	SCSI_TMF_TARGET_WARM_RESET = 6,
	SCSI_TMF_TARGET_COLD_RESET = 7,
};

/* TMF results, numerically the iSCSI TMF response codes. */
enum scsi_tmf_result {
	SCSI_TMF_COMPLETE = 0,
	SCSI_TMF_NO_TASK = 1,
	SCSI_TMF_NO_LUN = 2,
	SCSI_TMF_NOT_SUPPORTED = 5,
	SCSI_TMF_FAILED = 255,
};

struct scsi_tmf;
typedef void (*scsi_tmf_done_fn)(struct scsi_tmf *tmf);

/*
 * A task management request. For ABORT TASK / ABORT TASK SET /
 * CLEAR TASK SET the transport itself knows its tasks: it passes them in
 * `tasks` (those already submitted to this dispatcher) and the executor
 * aborts them (each completes through its own done() with aborted=true),
 * then completes the TMF. LUN RESET and TARGET RESETs are executed by the
 * executor across all nexuses; tasks of every nexus that it terminates
 * complete with aborted=true. tmf->done runs after every affected task's
 * done() has run. It MAY run before scsi_dispatch_tmf() returns.
 */
struct scsi_tmf {
	enum scsi_tmf_fn fn;
	const struct scsi_itn *itn;
	uint64_t lun;
	struct scsi_task **tasks; /* for the abort family, may be NULL */
	unsigned n_tasks;
	scsi_tmf_done_fn done;
	void *priv;
	enum scsi_tmf_result result; /* out */
	unsigned pending;	     /* executor private */
};

/*
 * A dispatcher: where a transport sends tasks. The local SCSI target is one
 * (scsi_target_dispatcher()); the proxy's virtual adapter will be another.
 */
struct scsi_dispatcher;
struct scsi_dispatch_ops {
	void (*submit)(struct scsi_dispatcher *d, struct scsi_task *task);
	void (*tmf)(struct scsi_dispatcher *d, struct scsi_tmf *tmf);
	/* An I_T nexus ended (session closed or reinstated): forget its
	 * per-nexus state that must not survive (none for the local target
	 * today; the proxy forwards it so the owner can clear the nexus). */
	void (*nexus_end)(struct scsi_dispatcher *d,
			  const struct scsi_itn *itn);
};

struct scsi_dispatcher {
	const struct scsi_dispatch_ops *ops;
};

static inline void scsi_dispatch_submit(struct scsi_dispatcher *d,
					struct scsi_task *t)
{
	d->ops->submit(d, t);
}

static inline void scsi_dispatch_tmf(struct scsi_dispatcher *d,
				     struct scsi_tmf *tmf)
{
	d->ops->tmf(d, tmf);
}

static inline void scsi_dispatch_nexus_end(struct scsi_dispatcher *d,
					   const struct scsi_itn *itn)
{
	if (d->ops->nexus_end)
		d->ops->nexus_end(d, itn);
}

#endif
