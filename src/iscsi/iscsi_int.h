/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/iscsi/ (connection, session, portal, full feature phase).
 * One event loop thread owns every object here.
 */
#ifndef DUET_ISCSI_INT_H
#define DUET_ISCSI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "duet/config.h"
#include "duet/iscsi.h"
#include "duet/iscsi_login.h"
#include "duet/iscsi_pdu.h"
#include "duet/task.h"

struct event;
struct event_base;

#define ISCSI_RX_BUF 65536u
#define ISCSI_LOGIN_DSL 8192u /* MaxRecvDataSegmentLength during login */
#define ISCSI_MAX_R2T 16u     /* R2Ts in flight per task we issue */
#define ISCSI_ITT_HASH 256u
#define ISCSI_MAX_CONNS 1024u
#define ISCSI_MAX_AHS 1020u  /* TotalAHSLength is 8 bits of words */
#define ISCSI_TX_INLINE 160u /* inline data (sense, small answers) */
#define ISCSI_CLOSE_LINGER 5 /* seconds to flush a final PDU */

/* ---- pdu.c: response builders (fill every field except ExpCmdSN and
 * MaxCmdSN, which the connection fills when it sends). */
void iscsi_bhs_init(uint8_t *bhs, uint8_t opcode, uint8_t flags);
void iscsi_build_scsi_rsp(uint8_t *bhs, uint32_t itt, uint32_t statsn,
			  uint8_t status, uint8_t flags, uint32_t residual,
			  uint32_t dlen);
void iscsi_build_data_in(uint8_t *bhs, uint32_t itt, uint64_t lun,
			 uint32_t datasn, uint32_t offset, uint32_t dlen,
			 uint8_t flags);
void iscsi_build_r2t(uint8_t *bhs, uint32_t itt, uint64_t lun, uint32_t ttt,
		     uint32_t statsn, uint32_t r2tsn, uint32_t offset,
		     uint32_t len);
void iscsi_build_nop_in(uint8_t *bhs, uint32_t itt, uint32_t ttt, uint64_t lun,
			uint32_t statsn, uint32_t dlen);
void iscsi_build_tmf_rsp(uint8_t *bhs, uint32_t itt, uint32_t statsn,
			 uint8_t response);
void iscsi_build_logout_rsp(uint8_t *bhs, uint32_t itt, uint32_t statsn,
			    uint8_t response, uint16_t t2wait,
			    uint16_t t2retain);
void iscsi_build_reject(uint8_t *bhs, uint8_t reason, uint32_t statsn);
void iscsi_build_async(uint8_t *bhs, uint8_t event, uint32_t statsn,
		       uint16_t p1, uint16_t p2, uint16_t p3);
/* Does this target opcode carry StatSN/ExpCmdSN/MaxCmdSN? */
bool iscsi_op_has_sn(uint8_t opcode);
/* Data-In segmentation: number of PDUs to carry len bytes in segments of
 * at most mdsl bytes. */
uint32_t iscsi_data_in_count(uint32_t len, uint32_t mdsl);
/*
 * Residual rule (RFC 7143 11.4.5): from what the command would transfer
 * (xfer) and the expected length (edtl). Returns the flag (0,
 * ISCSI_FLAG_RSP_OVERFLOW or ISCSI_FLAG_RSP_UNDERFLOW; same bit values
 * for Data-In) and sets *residual.
 */
uint8_t iscsi_residual(uint32_t xfer, uint32_t edtl, uint32_t *residual);
/* Static validation of an initiator BHS (opcode known, reserved fields).
 * Returns 0 or a Reject reason. */
int iscsi_bhs_check(const uint8_t *bhs);
static inline void put_le32_digest(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t get_le32_digest(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint32_t iscsi_pad4(uint32_t n)
{
	return (4 - (n & 3)) & 3;
}

/* ---- connection ---- */
enum conn_state {
	CONN_LOGIN = 0,
	CONN_LOGIN_WAIT, /* final login response parked (reinstatement) */
	CONN_FFP,
	CONN_CLOSED, /* socket closed; zombie until tasks complete */
};

enum rx_state {
	RX_BHS = 0,
	RX_AHS,
	RX_HDIG,
	RX_DATA,
	RX_PAD,
	RX_DDIG,
};

struct iscsi_conn;
struct iscsi_session;
struct iscsi_task;

struct tx_pdu {
	struct tx_pdu *next;
	uint8_t bhs[ISCSI_BHS_LEN];
	uint8_t hdig[4];
	uint8_t ddig[4];
	bool prepared;	  /* SNs and digests filled */
	bool hd, dd;	  /* header / data digest on this PDU */
	bool close_after; /* close the connection once sent */
	const uint8_t *data;
	uint32_t dlen;
	void *owned;		      /* freed after send */
	struct iscsi_task *task_free; /* freed after send */
	uint8_t inl[ISCSI_TX_INLINE];
};

enum itask_state {
	T_DATA = 0, /* collecting data-out / waiting its CmdSN turn */
	T_SCSI,	    /* at the dispatcher */
	T_TX,	    /* response queued */
};

struct r2t_slot {
	bool active;
	uint32_t ttt, off, len, got, datasn;
};

struct iscsi_task {
	struct scsi_task st;
	struct iscsi_conn *conn;
	struct iscsi_task *next, *prev; /* conn->tasks */
	struct iscsi_task *hnext;	/* ITT hash */
	struct iscsi_task *held_next;	/* session held queue (CmdSN order) */
	uint32_t itt, cmdsn, edtl;
	enum itask_state state;
	bool immediate, counted, ordered, dropped, held, abort_sent;
	uint8_t local_asc;  /* != 0: answer CHECK CONDITION ourselves */
	uint8_t local_key;  /* its sense key (0: ILLEGAL REQUEST) */
	uint32_t want, got; /* data-out bytes expected / received */
	uint32_t unsol_limit, unsol_got, unsol_datasn;
	bool unsol_final;
	uint32_t r2t_next_off, r2tsn, datasn;
	unsigned n_r2t;
	struct r2t_slot r2t[ISCSI_MAX_R2T];
};

struct iscsi_conn {
	int fd;
	unsigned id;
	struct event *ev_read, *ev_write, *ev_timer;
	enum conn_state state;
	struct iscsi_session *sess;
	struct iscsi_conn *next, *prev; /* global list */
	struct iscsi_port *port;	/* NULL: the default home port */
	char peer[64], local[64];
	char peer_name[80]; /* "addr:port" for logs */
	uint16_t local_port;
	uint16_t cid;
	struct iscsi_login *login;
	struct iscsi_text *text;
	struct iscsi_params params;
	bool write_pending, want_close, closing_after_tx, rx_stopped;
	bool logout_pending;
	bool rx_seen; /* any byte received (else: a probe, logged quietly) */
	uint8_t logout_reason;
	uint32_t logout_itt;
	time_t t_start, t_last_rx, t_ping, t_close;
	uint32_t nop_ttt;
	bool ping_outstanding;
	uint32_t statsn; /* next StatSN */
	uint32_t exp_statsn;
	/* rx */
	enum rx_state rx;
	uint8_t *rbuf;
	uint32_t rb_off, rb_len;
	uint8_t bhs[ISCSI_BHS_LEN];
	uint8_t ahs[ISCSI_MAX_AHS];
	uint8_t hdig[4], ddig[4], pad[4];
	uint32_t need, got; /* bytes of the current state */
	uint32_t ahs_len, dlen;
	uint8_t *dst;		    /* data destination; NULL = discard */
	uint32_t dcrc;		    /* running data digest */
	struct iscsi_task *rx_task; /* task the data segment belongs to */
	uint8_t rx_reject; /* Reject this PDU once its data is skipped */
	int rx_slot;	   /* Data-Out: R2T slot, -1 = unsolicited */
	uint32_t next_ttt;
	uint8_t *scratch; /* non-task data segments */
	uint32_t scratch_cap;
	/* tx */
	struct tx_pdu *txq, **txq_tail;
	uint32_t tx_off; /* bytes of the head PDU already written */
	/* tasks */
	struct iscsi_task *tasks;
	struct iscsi_task *itt_hash[ISCSI_ITT_HASH];
	unsigned n_tasks, n_scsi; /* all / at the dispatcher */
	unsigned tmf_pending;
	bool free_scheduled;
	struct iscsi_conn *waiter; /* login parked until this conn is gone */
	struct iscsi_conn *wait_for;
	struct tx_pdu *parked_rsp; /* final login response (LOGIN_WAIT) */
	struct iscsi_login_ctx login_ctx;
	struct iscsi_text_ctx text_ctx;
	char name[ISCSI_NAME_MAX + 128];
};

/* Global state of the layer (iscsi.c). */
struct iscsi_global {
	struct event_base *base;
	const struct cfg_iscsi *cfg;
	struct iscsi_conn *conns;
	unsigned n_conns;
	unsigned next_conn_id;
	bool shutting_down;
	void (*shutdown_done)(void *);
	void *shutdown_arg;
	struct event *ev_shutdown;
	time_t shutdown_deadline;
	struct tx_pdu *tx_free;
	unsigned n_tx_free;
	struct iscsi_task *task_free;
	unsigned n_task_free;
};
extern struct iscsi_global iscsi_g;

/* conn.c */
/* peer: numeric address only (ACLs); peer_port for logs. */
struct iscsi_conn *iscsi_conn_new(int fd, const char *peer, uint16_t peer_port,
				  const char *local, uint16_t local_port);
void iscsi_conn_close(struct iscsi_conn *c, const char *why);
void iscsi_conn_maybe_free(struct iscsi_conn *c);
/* Free closed connections now (only without an event loop: tests). */
void iscsi_conn_reap(void);
void iscsi_conn_enter_ffp(struct iscsi_conn *c);
void iscsi_conn_login_resume(struct iscsi_conn *c);
void iscsi_conn_check_logout(struct iscsi_conn *c);
void iscsi_conn_drop_data_tasks(struct iscsi_conn *c);
const char *iscsi_conn_name(const struct iscsi_conn *c);
/* conn.c: a complete Login Request arrived (login phase). */
void iscsi_conn_login_rx(struct iscsi_conn *c, const uint8_t *data);
/* conn_rx.c */
int iscsi_conn_rx_feed(struct iscsi_conn *c, const uint8_t *p, size_t n);
void iscsi_conn_read_cb(int fd, short what, void *arg);
void iscsi_conn_rx_reset(struct iscsi_conn *c);
void iscsi_conn_rx_drain(struct iscsi_conn *c);
/* conn_tx.c */
struct tx_pdu *iscsi_tx_alloc(void);
void iscsi_tx_release(struct tx_pdu *p);
void iscsi_tx_queue(struct iscsi_conn *c, struct tx_pdu *p);
/* Queue a PDU whose response StatSN is taken now. */
void iscsi_tx_queue_status(struct iscsi_conn *c, struct tx_pdu *p);
void iscsi_conn_write_cb(int fd, short what, void *arg);
int iscsi_conn_flush(struct iscsi_conn *c);
void iscsi_tx_drop_all(struct iscsi_conn *c);
void iscsi_send_reject(struct iscsi_conn *c, uint8_t reason, const uint8_t *bhs,
		       bool close_after);
/* The protocol-error path: log, Reject, close once flushed. */
void iscsi_conn_proto_error(struct iscsi_conn *c, uint8_t reason,
			    const char *what);
void iscsi_tx_pool_free(void);
/* scsi_cmd.c */
int iscsi_cmd_rx_header(struct iscsi_conn *c);
int iscsi_dataout_rx_header(struct iscsi_conn *c);
void iscsi_cmd_rx_done(struct iscsi_conn *c);
void iscsi_dataout_rx_done(struct iscsi_conn *c);
void iscsi_task_start(struct iscsi_task *t);
void iscsi_task_free(struct iscsi_task *t);
struct iscsi_task *iscsi_task_find(struct iscsi_conn *c, uint32_t itt);
void iscsi_task_unlink(struct iscsi_task *t);
void iscsi_task_pool_free(void);
/* Ordered (CmdSN turn reached) or more data arrived: move it on. */
void iscsi_task_progress(struct iscsi_task *t);
/* Terminate a task we still own (collecting data / held): no response. */
void iscsi_task_terminate(struct iscsi_task *t);
/* ffp.c */
void iscsi_ffp_rx_pdu(struct iscsi_conn *c, const uint8_t *data);
void iscsi_conn_nop_ping(struct iscsi_conn *c);
/* Abort every task of the connection at the dispatcher (connection gone). */
void iscsi_conn_abort_all(struct iscsi_conn *c);

/* ---- session.c ---- */
struct iscsi_session {
	struct iscsi_session *next, *prev;
	struct scsi_itn itn;
	enum iscsi_session_type type;
	struct iscsi_target *target;
	uint16_t tsih;
	struct iscsi_conn *conn;	/* MaxConnections=1 */
	struct iscsi_session *replaces; /* old session we wait for */
	struct iscsi_session *replaced_by;
	bool ending, nexus_ended;
	uint32_t exp_cmdsn, max_cmdsn;
	uint32_t queue_depth;
	unsigned inflight;	 /* non-immediate tasks in the window */
	struct iscsi_task *held; /* tasks ahead of ExpCmdSN, sorted */
	unsigned refs;		 /* conns (live + zombie) */
};

int iscsi_session_bind(void *arg, const struct iscsi_login_result *res);
void iscsi_session_conn_gone(struct iscsi_session *s, struct iscsi_conn *c);
void iscsi_session_put(struct iscsi_session *s);
/* CmdSN: accept a non-immediate CmdSN. Returns 0 = in order now,
 * 1 = ahead within the window (hold), -1 = outside the window (drop). */
int iscsi_session_cmdsn_check(struct iscsi_session *s, uint32_t cmdsn);
void iscsi_session_advance(struct iscsi_session *s);
void iscsi_session_hold(struct iscsi_session *s, struct iscsi_task *t);
void iscsi_session_unhold(struct iscsi_session *s, struct iscsi_task *t);
void iscsi_session_task_done(struct iscsi_session *s);
uint32_t iscsi_session_max_cmdsn(struct iscsi_session *s);
/* Close every session's connection but `except` (may be NULL). */
void iscsi_session_end_all(const char *why, struct iscsi_conn *except);
/* A LOGICAL UNIT RESET / TARGET RESET / CLEAR TASK SET from @except's
 * session: the tasks of the other sessions of @target that are still
 * collecting Data-Out (not yet at the dispatcher) for that LUN (or any
 * LUN) are terminated too. Returns how many. */
unsigned iscsi_session_terminate_data_tasks(struct iscsi_target *target,
					    bool all_luns, uint64_t lun,
					    struct iscsi_conn *except);
unsigned iscsi_session_count(void);

/* iscsi.c */
void iscsi_shutdown_check(void);
/* portal.c */
void iscsi_portal_close_all(void);
/* A listening socket for p (name gets "addr:port"); fd or -errno. */
int iscsi_portal_bind(const struct cfg_portal *p, bool freebind, char *name,
		      size_t namelen, char *err, size_t errlen);
/* Accept what is pending on a listener; port NULL = default. */
void iscsi_portal_accept(int lfd, const char *lname, struct iscsi_port *port);
/* port.c */
int iscsi_conn_set_port(struct iscsi_conn *c, struct iscsi_port *port);
/* A command of a DRAINING port is held back (not executed). */
bool iscsi_port_holds(const struct iscsi_port *port);
/* Logins to a normal session are refused (REFUSING, DRAINING, CLOSED). */
bool iscsi_port_refuses(const struct iscsi_port *port);
/* Something finished on a connection of the port: maybe drained. */
void iscsi_port_check_drained(struct iscsi_port *port);
void iscsi_port_unlisten_all(void);
/* A connection of the port was freed (a freed port may now go). */
void iscsi_port_conn_gone(struct iscsi_port *port);
/* A command of a connection of the port completed at its dispatcher. */
void iscsi_port_task_done(struct iscsi_port *port);
/* The tag a target has on this port (the port's, or the target's own
 * when the port's is 0 or port is NULL). */
uint16_t iscsi_port_target_tpgt(const struct iscsi_port *port,
				const struct iscsi_target *t);

#endif
