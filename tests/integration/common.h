/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for integration tests: start a real build/duetd on loopback,
 * connect to it with libiscsi, or talk raw iSCSI PDUs over a socket.
 * No mocks: every test drives a real daemon over real TCP.
 */
#ifndef DUET_TEST_COMMON_H
#define DUET_TEST_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define TEST_IQN "iqn.2026-11.org.example:duet.test"
#define TEST_INITIATOR "iqn.2026-11.org.example:duet.initiator"
#define TEST_BLOCK 512u
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct duet_daemon {
	pid_t pid;
	int port;
	int exit_status; /* after duet_stop: wait status */
	char dir[256];	 /* unique temp dir, removed by duet_cleanup */
	char conf[320];
	char log[320];
	char ctl[320];
	char portal[64]; /* "127.0.0.1:PORT" */
};

/* Path of the daemon under test: $DUET_BUILD/duetd (default build/duetd). */
const char *duet_bin(void);

/* A TCP port that is free on 127.0.0.1 (and on ::1 when that exists). */
int duet_free_port(void);

/* Make d->dir and pick d->port; no process yet. 0 or -errno. */
int duet_prepare(struct duet_daemon *d);

/* Create a sparse file of @size bytes at d->dir/@name; path in @out. */
int duet_make_lun(struct duet_daemon *d, const char *name, uint64_t size,
		  char *out, size_t outlen);

/* Quick-start mode: duetd -f --portal 127.0.0.1:PORT --target IQN
 * --lun DIR/lunN.img:SIZE ... . Prepares d if not yet prepared. */
int duet_start_quick(struct duet_daemon *d, const char *iqn, int nluns,
		     uint64_t lun_size);

/* Config mode: write @conf_text to d->conf and run duetd -f -c d->conf. */
int duet_start_config(struct duet_daemon *d, const char *conf_text);

/* Start with an explicit argv (after argv[0]); used by both modes. */
int duet_start_argv(struct duet_daemon *d, char *const extra[]);

/* Wait until d->port accepts TCP connections (bounded). 0 or -errno. */
int duet_wait_ready(struct duet_daemon *d, int timeout_ms);

/* True while the daemon process is alive. */
bool duet_alive(struct duet_daemon *d);

/* SIGTERM and wait (bounded). Returns the exit code (0..255), or -1 if it
 * died from a signal or had to be killed after @timeout_ms. */
int duet_stop(struct duet_daemon *d, int timeout_ms);

/* SIGKILL if still running, remove the temp dir. Safe to call twice. */
void duet_cleanup(struct duet_daemon *d);

/* cmocka setup/teardown bodies. duet_fixture_quick/_config start duetd
 * like duet_start_quick/_config and clean up if that fails: 0 or -1.
 * duet_fixture_stop stops it (10 s bound) and cleans up: 0 if duetd
 * exited 0, else -1. */
int duet_fixture_quick(struct duet_daemon *d, const char *iqn, int nluns,
		       uint64_t lun_size);
int duet_fixture_config(struct duet_daemon *d, const char *conf_text);
int duet_fixture_stop(struct duet_daemon *d);

/* Print the tail of the daemon log to stderr (for failure diagnosis). */
void duet_dump_log(struct duet_daemon *d);

/* ---- libiscsi ---- */

struct duet_iscsi_opts {
	const char *initiator;		  /* default TEST_INITIATOR */
	enum iscsi_header_digest hdigest; /* default NONE */
	int immediate_data;		  /* -1 leave default, 0 No, 1 Yes */
	int initial_r2t;		  /* -1 leave default, 0 No, 1 Yes */
	uint32_t isid_qual;		  /* 0: random ISID */
	bool fixed_isid;		  /* use isid_qual with EN format */
};

void duet_iscsi_opts_init(struct duet_iscsi_opts *o);

/* Full login to @iqn on d's portal for @lun; NULL on failure (the libiscsi
 * error is printed). Autoreconnect is disabled, sync timeout 10 s. */
struct iscsi_context *duet_iscsi_login(struct duet_daemon *d, const char *iqn,
				       int lun,
				       const struct duet_iscsi_opts *o);
void duet_iscsi_logout(struct iscsi_context *ctx);

/* Synchronous WRITE16/READ16; 0 on GOOD status, else -EIO (message
 * printed). */
int duet_write(struct iscsi_context *ctx, int lun, uint64_t lba,
	       const void *buf, uint32_t len);
int duet_read(struct iscsi_context *ctx, int lun, uint64_t lba, void *buf,
	      uint32_t len);

/* Run the libiscsi event loop once (poll up to @timeout_ms). -1 on error. */
int duet_iscsi_poll(struct iscsi_context *ctx, int timeout_ms);

/* Deterministic test pattern: byte i of block lba, seeded. */
void duet_fill(void *buf, size_t len, uint64_t lba, uint32_t seed);

/* ---- raw PDUs ---- */

struct raw_conn {
	int fd;
	bool hdigest, ddigest;
	uint32_t cmdsn, expstatsn, itt;
	uint16_t tsih;
	uint8_t isid[6];
	uint32_t mrdsl; /* target's MaxRecvDataSegmentLength */
};

struct raw_pdu {
	uint8_t bhs[48];
	uint8_t *data; /* malloc'd, dlen bytes (padding stripped) */
	uint32_t dlen;
};

uint32_t duet_crc32c(const void *buf, size_t len);

/* Blocking TCP connect to 127.0.0.1:port; -1 on error. */
int raw_connect(int port);
int raw_send_all(int fd, const void *buf, size_t len);

/* Send BHS (+header digest) + data (+padding, +data digest). */
int raw_send_pdu(struct raw_conn *c, const uint8_t bhs[48], const void *data,
		 uint32_t dlen);

/* Receive one PDU within @timeout_ms. 0, -ETIMEDOUT, -ECONNRESET (peer
 * closed), -EBADMSG (bad digest from the target). */
int raw_recv_pdu(struct raw_conn *c, struct raw_pdu *p, int timeout_ms);
void raw_pdu_free(struct raw_pdu *p);

/* True if the peer closes the connection within @timeout_ms (any PDUs
 * received in between are discarded). */
bool raw_wait_closed(int fd, int timeout_ms);

/* Login request PDU with @keys ("K=V\0K=V\0..." of @klen bytes) at stage
 * csg->nsg with transit bit @transit. */
void raw_login_bhs(struct raw_conn *c, uint8_t bhs[48], int csg, int nsg,
		   bool transit, uint32_t dlen);

/* Full normal-session login going straight to operational stage with
 * InitiatorName/TargetName/SessionType plus @extra ("K=V" strings, NULL
 * terminated). Digests on the wire follow c->hdigest/ddigest after
 * login if the keys negotiated them. Returns the login status
 * (class<<8|detail), or -errno. */
int raw_login(struct raw_conn *c, const char *iqn, const char *const extra[]);

/* SCSI command over a raw connection: sends the CDB with @wlen bytes of
 * write data (immediate data up to @imm bytes, then answers R2Ts) or reads
 * @rlen bytes into @rbuf. Returns SCSI status (0 GOOD) or -errno. */
int raw_scsi(struct raw_conn *c, const uint8_t cdb[16], const void *wbuf,
	     uint32_t wlen, uint32_t imm, void *rbuf, uint32_t rlen);

/* The pieces of raw_scsi(): a SCSI Command BHS (CmdSN c->cmdsn, not
 * advanced; @dlen bytes of immediate data follow) and the Data-Out PDUs
 * answering one R2T from @wbuf. */
void raw_scsi_bhs(struct raw_conn *c, uint8_t b[48], const uint8_t cdb[16],
		  uint32_t itt, uint32_t edtl, bool rd, bool wr, uint32_t dlen);
int raw_data_out(struct raw_conn *c, const void *wbuf,
		 const struct raw_pdu *r2t, uint32_t itt);

void raw_close(struct raw_conn *c);

/* Assert helper: the daemon still serves a normal libiscsi session
 * (login, TEST UNIT READY-like read of LBA 0, logout). 0 if fine. */
int duet_check_serving(struct duet_daemon *d, const char *iqn);

#endif
