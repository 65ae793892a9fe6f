/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy data path: the two virtual adapters that carry SCSI tasks over
 * the cluster interconnect (ic_link.h).
 *
 *  - proxy_vadapter (the LOCAL virtual adapter, on the proxy node) is a
 *    struct scsi_dispatcher (task.h): the proxy port's sessions submit the
 *    partner's targets' tasks to it; it forwards each as one SCSI_CMD and
 *    completes the task from the SCSI_RSP.
 *  - proxy_remote (the PARTNER virtual adapter, on the owner node) turns
 *    SCSI_CMD / TMF_REQ / NEXUS_END from the link into tasks and TMFs on
 *    the owner's local dispatchers and sends the answers back.
 *
 * One ic_link has one set of callbacks: the orchestrator owns them and
 * hands each message to the adapter it belongs to, and forwards down and
 * writable to both (tests/unit/test_proxy.c has the whole wiring):
 *
 *   get_buf:  if (proxy_msg_for_vadapter(m)) return proxy_vadapter_get_buf(va, m);
 *             if (proxy_msg_for_remote(m))   return proxy_remote_get_buf(rm, m);
 *             return NULL;
 *   recv:     same split to proxy_vadapter_recv / proxy_remote_recv; the
 *             rest (PATH_STATE, TAKEOVER_*, GIVEBACK_*) is the HA layer's
 *   down:     proxy_vadapter_link_down(va); proxy_remote_link_down(rm);
 *   writable: proxy_vadapter_writable(va); proxy_remote_writable(rm);
 *
 * Every function runs on the event loop thread.
 *
 * Interconnect failure policy (proxy_fail_task): a task that cannot reach
 * the owner (link down at submit, or the link dropped while it was in
 * flight) completes with CHECK CONDITION, UNIT ATTENTION, 29/07 I_T NEXUS
 * LOSS OCCURRED. Why: it is never GOOD and never a hang; qemu retries a
 * UNIT ATTENTION at once and without limit (BUSY / TASK SET FULL only five
 * times in ~3 s, then the guest sees EIO); the Linux midlayer retries a UA
 * on a non-removable disk for (retries + 1) x timeout (180 s by default)
 * and dm-multipath fails over on its own. The write may or may not have
 * run on the owner: the initiator resends it, and the owner's ordering rule
 * (proxy_remote: a link drop ends every remote nexus; a later command of
 * the same initiator and target waits until they drained) makes sure the
 * resend lands after the original. Dropping the proxy port's iSCSI
 * connections as well (the orchestrator's choice, in its link-down
 * handler) is complementary: libiscsi and open-iscsi then reconnect and
 * resend without consuming retries.
 */
#ifndef DUET_PROXY_H
#define DUET_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "duet/ic_link.h"
#include "duet/task.h"

struct event_base;

/* The one place that decides how a task that could not reach the owner
 * completes (see above). Sets status/sense; xfer_len = data_len = 0. */
void proxy_fail_task(struct scsi_task *t);

/* Which adapter consumes a message received on the link. IC_ERROR goes to
 * the adapter that sent the refused request (by error.bad_type). */
bool proxy_msg_for_vadapter(const struct ic_msg *m);
bool proxy_msg_for_remote(const struct ic_msg *m);

/* ------------------------------------------------------------------ */
/* Local virtual adapter (proxy node) */

struct proxy_vadapter;

struct proxy_vadapter_cfg {
	struct ic_link *link;
	unsigned max_inflight; /* tasks sent and unanswered; 0: 4096 */
	unsigned max_queued;   /* tasks held while the link says -ENOBUFS;
				* beyond: TASK SET FULL; 0: 1024 */
};

int proxy_vadapter_new(const struct proxy_vadapter_cfg *cfg,
		       struct proxy_vadapter **out);
/* Completes every task and TMF still here (proxy_fail_task), then frees.
 * Call it after ic_link_free() (or at least ic_link_drop()): the link must
 * no longer reference any task buffer. */
void proxy_vadapter_free(struct proxy_vadapter *va);
/* What the proxy port registers as the partner's targets' dispatcher. The
 * target is named by task->itn->target_name. */
struct scsi_dispatcher *proxy_vadapter_dispatcher(struct proxy_vadapter *va);
/* Link events, from the orchestrator's ic_link_ops. */
void proxy_vadapter_link_down(struct proxy_vadapter *va);
void proxy_vadapter_writable(struct proxy_vadapter *va);
uint8_t *proxy_vadapter_get_buf(struct proxy_vadapter *va,
				const struct ic_msg *m);
void proxy_vadapter_recv(struct proxy_vadapter *va, const struct ic_msg *m,
			 uint8_t *data, uint32_t data_len);

struct proxy_vadapter_stats {
	unsigned inflight; /* sent, waiting for SCSI_RSP */
	unsigned queued;   /* held for backpressure */
	unsigned tmfs;	   /* TMFs not yet completed */
	uint64_t sent, completed, failed_link, rejected_full;
	uint64_t bad_rsp; /* unknown/stale tag, or data above buf_cap */
};
void proxy_vadapter_get_stats(const struct proxy_vadapter *va,
			      struct proxy_vadapter_stats *st);

/* ------------------------------------------------------------------ */
/* Partner virtual adapter (owner node) */

struct proxy_remote;

/* The owner's local dispatcher for a target name, or NULL (unknown target:
 * the command gets CHECK CONDITION ILLEGAL REQUEST, LUN NOT SUPPORTED). */
typedef struct scsi_dispatcher *(*proxy_lookup_fn)(void *arg,
						   const char *target_name);

/* Optional: does the owner's OWN iSCSI layer still have commands of an
 * older session of (initiator, target) submitted or collecting data (e.g.
 * the home session whose path just died)? While it says yes, the first
 * commands of a new remote nexus of that pair are held; the orchestrator
 * calls proxy_remote_kick() when that may have changed (a local session
 * ended or drained). Once a nexus has passed, it is never held again, so
 * two live sessions of one initiator (dm-multipath) do not stall. */
typedef bool (*proxy_local_busy_fn)(void *arg, const char *initiator,
				    const char *target);

struct proxy_remote_cfg {
	struct ic_link *link;
	proxy_lookup_fn lookup;
	void *lookup_arg;
	proxy_local_busy_fn local_busy; /* may be NULL */
	void *local_busy_arg;
	unsigned max_nexus; /* remote I_T nexuses known at once; 0: 256 */
	unsigned max_tasks; /* tasks received and not answered; 0: 4096 */
	uint64_t max_bytes; /* data buffers of those tasks; 0: 512 MiB */
};

int proxy_remote_new(const struct proxy_remote_cfg *cfg,
		     struct proxy_remote **out);
/* Aborts what is still running (as on link down); the memory goes when
 * the last of those tasks completed (at once if none), so the dispatchers
 * and the loop must keep running until then; r must not be used after
 * this call. Call it after ic_link_free(); nothing touches the link after
 * link_down. Wait for proxy_remote_idle() first for a clean shutdown. */
void proxy_remote_free(struct proxy_remote *r);
bool proxy_remote_idle(const struct proxy_remote *r);
void proxy_remote_link_down(struct proxy_remote *r);
void proxy_remote_writable(struct proxy_remote *r);
/* Re-check held commands (after local_busy may have changed). */
void proxy_remote_kick(struct proxy_remote *r);
uint8_t *proxy_remote_get_buf(struct proxy_remote *r, const struct ic_msg *m);
void proxy_remote_recv(struct proxy_remote *r, const struct ic_msg *m,
		       uint8_t *data, uint32_t data_len);

/*
 * Ordering hook for the owner's OWN iSCSI layer (giveback: the initiator
 * comes home). proxy_remote_busy() says whether any command received from
 * the link for (initiator, target) has not completed yet (of any nexus,
 * ended or not). proxy_remote_wait() arms w so that cb(arg) runs once every
 * such command outstanding NOW has completed; it returns 0 when there is
 * none (cb will not run), 1 when armed. proxy_remote_wait_cancel() disarms
 * (harmless if cb already ran). The iSCSI layer holds the new session's
 * commands (or parks its final login response, as reinstatement does)
 * until cb. The waiter is the caller's memory, left alone after cb/cancel.
 */
struct proxy_remote_waiter {
	struct proxy_remote_waiter *next; /* private */
	uint64_t barrier;		  /* private */
	char initiator[ISCSI_NAME_MAX];	  /* private */
	char target[ISCSI_NAME_MAX];	  /* private */
	void (*cb)(void *arg);
	void *arg;
};
bool proxy_remote_busy(const struct proxy_remote *r, const char *initiator,
		       const char *target);
int proxy_remote_wait(struct proxy_remote *r, const char *initiator,
		      const char *target, struct proxy_remote_waiter *w,
		      void (*cb)(void *arg), void *arg);
void proxy_remote_wait_cancel(struct proxy_remote *r,
			      struct proxy_remote_waiter *w);

struct proxy_remote_stats {
	unsigned tasks;	  /* received, not yet answered */
	unsigned held;	  /* waiting for an older nexus to drain */
	unsigned nexuses; /* known nexus entries (active or draining) */
	uint64_t received, answered, aborted_link, refused;
	uint64_t rsp_held; /* answers held because the link said -ENOBUFS */
};
void proxy_remote_get_stats(const struct proxy_remote *r,
			    struct proxy_remote_stats *st);

#endif
