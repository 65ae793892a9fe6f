/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Login phase and text negotiation (src/iscsi/param.c, login.c,
 * discovery.c). Transport-independent: the connection feeds request PDUs
 * in and sends the response PDUs these functions build; it never parses
 * keys itself.
 */
#ifndef DUET_ISCSI_LOGIN_H
#define DUET_ISCSI_LOGIN_H

#include <stdbool.h>
#include <stdint.h>

#include "duet/config.h"
#include "duet/iscsi.h"
#include "duet/iscsi_pdu.h"
#include "duet/task.h"

enum iscsi_session_type {
	ISCSI_SESSION_NORMAL = 0,
	ISCSI_SESSION_DISCOVERY = 1,
};

/* Negotiated operational parameters of a session/connection. */
struct iscsi_params {
	uint32_t max_recv_dsl; /* ours: largest data segment we accept */
	uint32_t max_xmit_dsl; /* the initiator's MaxRecvDataSegmentLength:
				 * largest data segment we may send */
	uint32_t max_burst_length;
	uint32_t first_burst_length;
	uint32_t max_outstanding_r2t;
	uint32_t max_connections;
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t error_recovery_level;
	bool header_digest; /* CRC32C */
	bool data_digest;   /* CRC32C */
	bool immediate_data;
	bool initial_r2t;
	bool data_pdu_in_order;
	bool data_sequence_in_order;
};

/* What a successful login established. */
struct iscsi_login_result {
	enum iscsi_session_type type;
	char initiator_name[ISCSI_NAME_MAX];
	char initiator_alias[256];
	char target_name[ISCSI_NAME_MAX]; /* empty for discovery */
	struct iscsi_target *target;	  /* NULL for discovery */
	uint8_t isid[6];
	uint16_t tsih; /* as requested by the initiator (0 = new session) */
	uint16_t cid;
	uint32_t cmdsn; /* CmdSN of the login request: the session's ExpCmdSN */
	uint32_t next_statsn; /* StatSN for the connection's next response */
	struct iscsi_params params;
};

/* What the connection tells the login engine. */
struct iscsi_login_ctx {
	const struct cfg_iscsi *cfg; /* what we offer / accept */
	const char *peer_addr;	     /* numeric address, for ACLs and logs */
	const char *local_addr;	     /* numeric address the login arrived on */
	uint16_t local_port;
	/* The port the connection arrived on: its targets only. NULL: the
	 * default registry (iscsi_target_find). */
	const struct iscsi_port *port;
	/*
	 * Called once, just before the final login response is built: the
	 * session layer binds the connection to a new session (tsih 0, or
	 * reinstating an old one with the same ISID) or to an existing one.
	 * Returns the TSIH to report (1..65535), or a negative login status
	 * -(class << 8 | detail) to refuse (e.g. -ISCSI_LOGIN_STATUS_NO_SESSION).
	 */
	int (*bind)(void *arg, const struct iscsi_login_result *res);
	void *arg;
};

enum iscsi_login_state {
	ISCSI_LOGIN_CONTINUE = 0, /* send rsp, wait for the next request */
	ISCSI_LOGIN_DONE = 1,	  /* send rsp; the connection is now in FFP */
	ISCSI_LOGIN_FAILED = 2,	  /* send rsp (a login reject), then close */
};

struct iscsi_login;
struct iscsi_login *iscsi_login_new(const struct iscsi_login_ctx *ctx);
void iscsi_login_free(struct iscsi_login *l);
/*
 * Feed one Login Request PDU (bhs: 48 bytes; data: its data segment, dlen
 * bytes, no padding). Builds the Login Response into *rsp, whose data stays
 * valid until the next call or iscsi_login_free(). Returns an
 * enum iscsi_login_state. Never trusts the input: anything malformed gives
 * ISCSI_LOGIN_FAILED with an initiator-error status and a log line.
 */
int iscsi_login_rx(struct iscsi_login *l, const uint8_t *bhs,
		   const uint8_t *data, uint32_t dlen,
		   struct iscsi_pdu_out *rsp);
/* Valid after ISCSI_LOGIN_DONE. */
const struct iscsi_login_result *
iscsi_login_result(const struct iscsi_login *l);

/*
 * Text Request handling in Full Feature Phase (SendTargets in discovery
 * and normal sessions; other keys negotiated per RFC 7143 with Reject /
 * Irrelevant / NotUnderstood). One per connection. Long responses are split
 * over several Text Responses with the C bit and a Target Transfer Tag, as
 * RFC 7143 11.11 says.
 */
struct iscsi_text_ctx {
	enum iscsi_session_type type;
	const char *initiator_name;
	const char *peer_addr;
	const char *local_addr; /* for portals bound to a wildcard address */
	uint16_t local_port;
	struct iscsi_target *target;   /* normal session: its target */
	const struct iscsi_port *port; /* its targets/portals; NULL: default */
	const struct iscsi_params *params; /* max_xmit_dsl bounds responses */
};
struct iscsi_text;
struct iscsi_text *iscsi_text_new(const struct iscsi_text_ctx *ctx);
void iscsi_text_free(struct iscsi_text *t);
/*
 * Feed one Text Request. Fills *rsp with the Text Response BHS fields that
 * belong to text (flags, TTT, data) and leaves StatSN/ExpCmdSN/MaxCmdSN for
 * the connection to fill. Returns 0 (send rsp), or a negative value when the
 * request is malformed: the connection then sends a Reject (protocol error).
 */
int iscsi_text_rx(struct iscsi_text *t, const uint8_t *bhs, const uint8_t *data,
		  uint32_t dlen, struct iscsi_pdu_out *rsp);
/* The initiator's MaxRecvDataSegmentLength as (re)declared in FFP Text
 * Requests: the connection should use it as its max_xmit_dsl. */
uint32_t iscsi_text_max_xmit_dsl(const struct iscsi_text *t);

#endif
