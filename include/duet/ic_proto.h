/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster interconnect wire format: typed messages between the two
 * duetd nodes of a pair. Pure codec: no sockets, no allocation.
 *
 * Every message is a 40-byte header followed by `payload_len` bytes of
 * payload. The payload is the message's typed *fields* followed by
 * `data_len` bytes of bulk *data* (write data-out of a SCSI_CMD, read
 * data-in of a SCSI_RSP; zero for every other type). Fields are small
 * (<= IC_FIELDS_MAX) and are encoded/decoded here; the data is never
 * copied by the codec: senders pass it as a separate iovec, receivers read
 * it straight into the buffer where it must land.
 *
 * Header (all integers big-endian):
 *   off len
 *     0   4  magic "DUIC" (0x44554943)
 *     4   1  version (HELLO always carries IC_VERSION_MIN; every other
 *            message the version negotiated in the handshake)
 *     5   1  type (enum ic_type)
 *     6   2  flags (none defined in v1; must be 0)
 *     8   4  payload_len = fields length + data_len
 *    12   4  data_len (bulk bytes at the end of the payload)
 *    16   8  tag (allocated by the sender of a request, echoed by the
 *            answer; never a pointer)
 *    24   8  LUN (8-byte SAM LUN field; 0 when not relevant)
 *    32   4  fields_crc: CRC32C of the fields (not of the data)
 *    36   4  hdr_crc: CRC32C of bytes 0..35
 *
 * Strings are a 16-bit length followed by that many bytes (no NUL, no
 * embedded NUL). Every field layout has an exact length: a message whose
 * fields are shorter or longer than its layout is rejected.
 *
 * Return codes of the decoders: -EBADMSG (framing: magic, CRC, a length
 * that does not add up), -EMSGSIZE (a length above the negotiated maximum),
 * -EPROTO (well-formed but invalid: version, flags, an enum out of range,
 * a value that contradicts another), -EOPNOTSUPP (a type this version does
 * not know: the framing is intact, the link answers with an ERROR message).
 * On any error the output structure is left untouched.
 */
#ifndef DUET_IC_PROTO_H
#define DUET_IC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/task.h"

#define IC_MAGIC 0x44554943u /* "DUIC" */
#define IC_HDR_LEN 40u
#define IC_VERSION_MIN 1
#define IC_VERSION_MAX 1
#define IC_FIELDS_MAX 4096u /* typed fields of one message */
/* Largest payload before the handshake has authenticated the peer. */
#define IC_HANDSHAKE_MAX_PAYLOAD 1024u
/* Bounds for the max_payload a node may announce in its HELLO. */
#define IC_MAX_PAYLOAD_MIN (64u * 1024)
#define IC_MAX_PAYLOAD_LIMIT (DUET_MAX_IO_BYTES + IC_FIELDS_MAX)
#define IC_MAX_FRAME (IC_HDR_LEN + IC_FIELDS_MAX) /* header + fields */

#define IC_NAME_MAX 64 /* cluster and node names, incl. NUL */
#define IC_NONCE_LEN 32
#define IC_FP_LEN 32	  /* config fingerprint: SHA-256 of the pair config */
#define IC_MAC_LEN 32	  /* HMAC-SHA256 */
#define IC_REASON_MAX 128 /* ERROR reason text, incl. NUL */
#define IC_SECRET_MIN 16  /* shortest shared secret accepted (bytes) */

enum ic_type {
	/* link management */
	IC_HELLO = 1,
	IC_HELLO_AUTH = 2,
	IC_HEARTBEAT = 3,
	IC_ERROR = 4,
	/* SCSI */
	IC_SCSI_CMD = 16,
	IC_SCSI_RSP = 17,
	IC_TMF_REQ = 18,
	IC_TMF_RSP = 19,
	IC_NEXUS_END = 20,
	IC_NEXUS_END_DONE = 21,
	/* HA */
	IC_PATH_STATE = 32,
	IC_TAKEOVER_REQ = 33,
	IC_TAKEOVER_ACK = 34,
	IC_GIVEBACK_REQ = 35,
	IC_GIVEBACK_ACK = 36,
	/* One message of the failover state machine (ha_fsm.h: enum ha_msg
	 * + its argument bits), the set the pair actually uses. */
	IC_HA = 37,
	/* The sender's client connections on its own portal addresses, for
	 * the tickles of a takeover (one list in one or more chunks). */
	IC_CONN_LIST = 38,
};

/* ERROR codes. */
enum ic_err_code {
	IC_ERR_UNKNOWN_TYPE = 1, /* type not known to this version */
	IC_ERR_BAD_MESSAGE = 2,	 /* fields failed to decode */
	IC_ERR_NOT_SUPPORTED = 3,
	IC_ERR_HANDSHAKE = 4, /* version/cluster/node/fingerprint refused */
	IC_ERR_AUTH = 5,      /* HMAC proof refused */
	IC_ERR_INTERNAL = 6,
	IC_ERR_UNEXPECTED = 7, /* a message not valid in this state */
};

struct ic_hdr {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t payload_len;
	uint32_t data_len;
	uint64_t tag;
	uint64_t lun;
	uint32_t fields_crc; /* filled by the encoder / checked by decode */
};

static inline uint32_t ic_hdr_fields_len(const struct ic_hdr *h)
{
	return h->payload_len - h->data_len;
}

/* The real I_T nexus identity of a command that came through a proxy port. */
struct ic_nexus {
	char initiator_name[ISCSI_NAME_MAX];
	uint8_t isid[6];
	uint16_t tpgt;
	uint16_t rel_tgt_port_id; /* >= 1 */
	char target_name[ISCSI_NAME_MAX];
};

struct ic_hello {
	uint8_t min_version, max_version;
	uint32_t max_payload; /* largest payload this node accepts */
	uint32_t features;    /* none defined in v1: 0 */
	uint8_t nonce[IC_NONCE_LEN];
	uint8_t fingerprint[IC_FP_LEN];
	char cluster[IC_NAME_MAX];
	char node[IC_NAME_MAX];
};

struct ic_hello_auth {
	uint8_t mac[IC_MAC_LEN];
};

struct ic_heartbeat {
	uint64_t seq;
	uint64_t time_ms; /* sender's monotonic clock, informative */
};

struct ic_error {
	uint16_t code;	  /* enum ic_err_code */
	uint8_t bad_type; /* type of the message that caused it (0: none) */
	char reason[IC_REASON_MAX];
};

#define IC_RSP_ABORTED 0x01 /* the owner terminated the task (TMF/reset) */
#define IC_RSP_FLAGS_ALL IC_RSP_ABORTED

struct ic_scsi_cmd {
	uint8_t attr;	 /* enum scsi_task_attr */
	uint8_t dir;	 /* enum scsi_data_dir */
	uint8_t cdb_len; /* 1..SCSI_CDB_MAX */
	uint32_t exp_xfer_len;
	uint8_t cdb[SCSI_CDB_MAX];
	struct ic_nexus nexus;
	/* data-out: hdr.data_len bytes (only for WRITE/BIDI, <= exp_xfer_len) */
};

struct ic_scsi_rsp {
	uint8_t status;
	uint8_t sense_len; /* <= SCSI_SENSE_MAX */
	uint8_t flags;	   /* IC_RSP_* */
	uint32_t xfer_len; /* see task.h */
	uint8_t sense[SCSI_SENSE_MAX];
	/* data-in: hdr.data_len bytes (<= xfer_len) */
};

struct ic_tmf_req {
	uint8_t fn;	  /* enum scsi_tmf_fn */
	uint64_t ref_tag; /* ABORT TASK: tag of the SCSI_CMD to abort */
	struct ic_nexus nexus;
};

struct ic_tmf_rsp {
	uint8_t result; /* enum scsi_tmf_result */
};

enum ic_nexus_end_reason {
	IC_NEXUS_CLOSED = 0,	 /* session logged out / closed */
	IC_NEXUS_REINSTATED = 1, /* replaced by a new session (same ISID) */
	IC_NEXUS_LOST = 2,	 /* connection dropped */
	IC_NEXUS_GIVEBACK = 3,	 /* proxy port closing for giveback */
};

/* The owner answers NEXUS_END (same tag) with NEXUS_END_DONE once every
 * command of that nexus has completed or been aborted. */
struct ic_nexus_end {
	uint8_t reason; /* enum ic_nexus_end_reason */
	struct ic_nexus nexus;
};

struct ic_nexus_end_done {
	uint32_t n_aborted;   /* commands terminated */
	uint32_t n_completed; /* commands that were let finish */
};

enum ic_path {
	IC_PATH_UNKNOWN = 0,
	IC_PATH_DOWN = 1,
	IC_PATH_UP = 2,
};

struct ic_path_state {
	uint8_t state;	     /* enum ic_path */
	uint32_t generation; /* increments on each change, for ordering */
	uint64_t for_ms;     /* how long the state has held (not a date:
				the two clocks are not compared) */
};

/* TAKEOVER_REQ / GIVEBACK_REQ */
struct ic_ha_req {
	uint32_t epoch; /* failover epoch the request belongs to */
};

enum ic_ha_result {
	IC_HA_OK = 0,
	IC_HA_REFUSED = 1,
	IC_HA_BUSY = 2,
};

/* TAKEOVER_ACK / GIVEBACK_ACK */
struct ic_ha_ack {
	uint8_t result; /* enum ic_ha_result */
	uint32_t epoch;
};

/* IC_HA: 8 bytes: code (u8, < IC_HA_CODE_LIMIT), 3 zero bytes, arg (u32).
 * The codec checks only the bound; the receiver checks the code against
 * the messages it knows and the arg's bits. */
#define IC_HA_CODE_LIMIT 32
struct ic_ha {
	uint8_t code; /* enum ha_msg */
	uint32_t arg; /* HA_SYNC_* bits for SYNC, else 0 */
};

/*
 * CONN_LIST: 4 bytes: flags (u8, IC_CONN_LIST_FIRST/LAST), 1 zero byte,
 * count (u16, <= IC_CONN_LIST_CHUNK), then count entries of 40 bytes:
 *   family (u8: 4 or 6), 1 zero byte, local port (u16), peer port (u16),
 *   2 zero bytes, local address (16 bytes), peer address (16 bytes)
 * An IPv4 address is its 4 bytes followed by 12 zero bytes. Ports are
 * non-zero. A list spans IC_CONN_LIST_MAX entries at most: the first chunk
 * has FIRST, the last LAST (one chunk: both; an empty list: both, count 0).
 */
#define IC_CONN_LIST_FIRST 0x01
#define IC_CONN_LIST_LAST 0x02
/* Entries per message: small enough that struct ic_conn_list is no bigger
 * than the SCSI_CMD fields, so that it does not grow struct ic_msg, which
 * every command and response on the interconnect initialises and decodes
 * (a list is sent once per failover: more chunks cost nothing). */
#define IC_CONN_LIST_CHUNK 12
#define IC_CONN_LIST_MAX 1024 /* entries per list */
#define IC_CONN_ENT_LEN 40

struct ic_conn_ent {
	uint8_t family; /* 4 or 6 */
	uint16_t local_port, peer_port;
	uint8_t local[16], peer[16];
};

struct ic_conn_list {
	uint8_t flags;
	uint16_t count;
	struct ic_conn_ent ent[IC_CONN_LIST_CHUNK];
};

struct ic_msg {
	struct ic_hdr hdr;
	union {
		struct ic_hello hello;
		struct ic_hello_auth auth;
		struct ic_heartbeat hb;
		struct ic_error error;
		struct ic_scsi_cmd cmd;
		struct ic_scsi_rsp rsp;
		struct ic_tmf_req tmf_req;
		struct ic_tmf_rsp tmf_rsp;
		struct ic_nexus_end nexus_end;
		struct ic_nexus_end_done nexus_done;
		struct ic_path_state path;
		struct ic_ha_req ha_req;
		struct ic_ha_ack ha_ack;
		struct ic_ha ha;
		struct ic_conn_list conns;
	} u;
};

/* Zero m and set its type, tag and LUN (version IC_VERSION_MAX). */
void ic_msg_init(struct ic_msg *m, enum ic_type type, uint64_t tag,
		 uint64_t lun);
/* "SCSI_CMD", ... or "UNKNOWN". */
const char *ic_type_name(unsigned type);
bool ic_type_known(unsigned type);
/* Types that may carry bulk data (SCSI_CMD, SCSI_RSP). */
bool ic_type_has_data(unsigned type);

/*
 * Encode the header and fields of m into buf (cap bytes; IC_MAX_FRAME is
 * always enough). data_len bulk bytes will be sent right after by the
 * caller, from its own buffer. Sets m->hdr.payload_len, data_len and
 * fields_crc. Returns the number of bytes written (header + fields), or
 * -EINVAL (a field out of range or a string too long), -ENOSPC.
 */
int ic_msg_encode(struct ic_msg *m, uint32_t data_len, uint8_t *buf,
		  size_t cap);

/* Decode and check a header. max_payload: the negotiated bound (or
 * IC_HANDSHAKE_MAX_PAYLOAD before authentication). */
int ic_hdr_decode(const uint8_t *buf, uint32_t max_payload, struct ic_hdr *h);

/* Decode the fields of a message whose header h was accepted by
 * ic_hdr_decode(); fields_len must be ic_hdr_fields_len(h). On success
 * *out (including out->hdr) is filled. */
int ic_msg_decode(const struct ic_hdr *h, const uint8_t *fields,
		  size_t fields_len, struct ic_msg *out);

/* A whole frame in one contiguous buffer (tests, fuzzing): len must be
 * exactly header + payload. *data points into buf. */
int ic_frame_decode(const uint8_t *buf, size_t len, uint32_t max_payload,
		    struct ic_msg *out, const uint8_t **data,
		    uint32_t *data_len);

/*
 * Helpers between the task contract (task.h) and the messages, for the
 * virtual adapters. The data is never copied: the caller sends task->buf
 * next to the message.
 */
void ic_nexus_from_itn(struct ic_nexus *n, const struct scsi_itn *itn);
void ic_nexus_to_itn(struct scsi_itn *itn, const struct ic_nexus *n);
/* A SCSI_CMD for task t under the sender's tag; the data to send with it
 * is t->buf, *data_len bytes (t->data_out_len for WRITE/BIDI, else 0).
 * Returns 0 or -EINVAL (CDB length, direction, or data above the
 * expected length). */
int ic_cmd_from_task(struct ic_msg *m, const struct scsi_task *t, uint64_t tag,
		     uint32_t *data_len);
/* The owner's side: fill a task (not its buffer) from a decoded SCSI_CMD.
 * itn must be filled by the caller with ic_nexus_to_itn (it outlives the
 * task); t->buf / buf_cap are the caller's, data_out_len = hdr.data_len. */
void ic_cmd_to_task(struct scsi_task *t, const struct ic_msg *m);
/* A SCSI_RSP for a completed task, echoing the request's tag and LUN; the
 * data-in to send is t->buf, *data_len bytes. */
void ic_rsp_from_task(struct ic_msg *m, const struct scsi_task *t, uint64_t tag,
		      uint32_t *data_len);
/* The proxy's side: copy status, sense, xfer_len, data_len and the
 * aborted flag into the task (the data already landed in t->buf). */
void ic_rsp_to_task(struct scsi_task *t, const struct ic_msg *m);

/*
 * Handshake proof: HMAC-SHA256 keyed by the shared secret over a label,
 * the sender's own HELLO fields and then the receiver's HELLO fields (each
 * prefixed by its 32-bit length). Both HELLOs carry a fresh nonce, so a
 * proof is valid for one connection only, and the order makes a proof
 * useless when reflected back to its sender.
 */
int ic_auth_mac(const uint8_t *secret, size_t secret_len,
		const uint8_t *sender_hello, size_t sender_len,
		const uint8_t *receiver_hello, size_t receiver_len,
		uint8_t mac[IC_MAC_LEN]);
/* Constant-time check of a received proof: 0, -EACCES, or -errno. */
int ic_auth_verify(const uint8_t *secret, size_t secret_len,
		   const uint8_t *sender_hello, size_t sender_len,
		   const uint8_t *receiver_hello, size_t receiver_len,
		   const uint8_t mac[IC_MAC_LEN]);

#endif
