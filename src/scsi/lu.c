// SPDX-License-Identifier: Apache-2.0
/*
 * A logical unit: its backing store, geometry, identity, and the
 * per-I_T-nexus state (pending unit attentions) in a bounded table with
 * least-recently-used eviction, so hostile logins cannot exhaust memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/log.h"
#include "duet/util.h"
#include "scsi_int.h"

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

uint64_t scsi_hash64(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV_PRIME;
	}
	return h;
}

static void pad_copy(char *dst, size_t width, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	memset(dst, ' ', width);
	memcpy(dst, src, MIN(n, width));
	dst[width] = 0;
}

/* Identity that stays the same across restarts: a hash of the target
 * name and LUN id (never of a path or time). */
static void lu_identity(struct scsi_lu *lu, const struct scsi_target *t,
			const struct cfg_lun *cfg)
{
	uint64_t h = scsi_hash64(t->name, strlen(t->name), FNV_OFFSET);
	uint8_t id[4];
	uint64_t h2;

	put_be32(id, lu->id);
	h = scsi_hash64(id, sizeof(id), h);
	h2 = scsi_hash64("duet-naa", 8, h);
	/* NAA 6 (IEEE registered extended): 4-bit NAA, 24-bit OUI, then
	 * 36 bits of vendor specific identifier and 64-bit extension. The
	 * OUI is a locally administered value chosen for duet. */
	lu->naa[0] = 0x60 | 0x0d;
	lu->naa[1] = 0x0e;
	lu->naa[2] = 0x75;
	lu->naa[3] = (uint8_t)(0xe0 | ((h >> 32) & 0x0f));
	put_be32(&lu->naa[4], (uint32_t)h);
	put_be64(&lu->naa[8], h2);
	if (cfg->serial && cfg->serial[0])
		snprintf(lu->serial, sizeof(lu->serial), "%s", cfg->serial);
	else
		snprintf(lu->serial, sizeof(lu->serial), "%016llx",
			 (unsigned long long)h);
	pad_copy(lu->vendor, 8, cfg->vendor ? cfg->vendor : "DUET");
	pad_copy(lu->product, 16, cfg->product ? cfg->product : "VIRTUAL-DISK");
}

struct scsi_lu *scsi_lu_new(struct scsi_target *t, const struct cfg_lun *cfg,
			    struct bs_dev *bs)
{
	struct scsi_lu *lu = calloc(1, sizeof(*lu));

	if (!lu)
		return NULL;
	lu->tgt = t;
	lu->id = cfg->id;
	lu->bs = bs;
	lu->block_size = cfg->block_size == 4096 ? 4096 : 512;
	lu->block_shift = lu->block_size == 4096 ? 12 : 9;
	lu->nblocks = bs_size(bs) >> lu->block_shift;
	lu->readonly = cfg->readonly || bs_readonly(bs);
	lu->wce_default = bs_write_back(bs);
	scsi_lu_mode_defaults(lu);
	lu_identity(lu, t, cfg);
	return lu;
}

/* Current mode parameters back to their defaults (there are no saved
 * pages): at creation and, per SPC-4 (mode parameters: current values
 * are set to the saved or default values after a power on, hard reset or
 * logical unit reset), on LOGICAL UNIT RESET and TARGET RESET. */
void scsi_lu_mode_defaults(struct scsi_lu *lu)
{
	lu->d_sense = false;
	lu->swp = false;
	lu->dexcpt = true;
	lu->mrie = 0;
	if (lu->bs && bs_write_back(lu->bs) != lu->wce_default)
		bs_set_write_back(lu->bs, lu->wce_default);
}

void scsi_lu_free(struct scsi_lu *lu)
{
	if (!lu)
		return;
	for (unsigned i = 0; i < SCSI_NEXUS_BUCKETS; i++) {
		while (lu->buckets[i]) {
			struct scsi_nexus *nx = lu->buckets[i];

			lu->buckets[i] = nx->hnext;
			free(nx);
		}
	}
	if (lu->bs)
		bs_close(lu->bs);
	free(lu);
}

/* ---- I_T nexus table ---- */

static uint32_t itn_hash(const struct scsi_itn *itn)
{
	uint64_t h = FNV_OFFSET;
	uint8_t port[2];

	h = scsi_hash64(itn->initiator_name,
			strnlen(itn->initiator_name, ISCSI_NAME_MAX), h);
	h = scsi_hash64(itn->isid, sizeof(itn->isid), h);
	put_be16(port, itn->rel_tgt_port_id);
	h = scsi_hash64(port, sizeof(port), h);
	return (uint32_t)(h ^ (h >> 32));
}

bool scsi_nexus_match(const struct scsi_nexus *nx, const struct scsi_itn *itn)
{
	return nx->rtpi == itn->rel_tgt_port_id &&
	       !memcmp(nx->isid, itn->isid, sizeof(nx->isid)) &&
	       !strncmp(nx->initiator, itn->initiator_name, ISCSI_NAME_MAX);
}

static void lru_unlink(struct scsi_lu *lu, struct scsi_nexus *nx)
{
	if (nx->lru_prev)
		nx->lru_prev->lru_next = nx->lru_next;
	else
		lu->lru_head = nx->lru_next;
	if (nx->lru_next)
		nx->lru_next->lru_prev = nx->lru_prev;
	else
		lu->lru_tail = nx->lru_prev;
	nx->lru_prev = nx->lru_next = NULL;
}

static void lru_push(struct scsi_lu *lu, struct scsi_nexus *nx)
{
	nx->lru_prev = NULL;
	nx->lru_next = lu->lru_head;
	if (lu->lru_head)
		lu->lru_head->lru_prev = nx;
	else
		lu->lru_tail = nx;
	lu->lru_head = nx;
}

static void nexus_remove(struct scsi_lu *lu, struct scsi_nexus *nx)
{
	struct scsi_nexus **pp = &lu->buckets[nx->hash % SCSI_NEXUS_BUCKETS];

	while (*pp && *pp != nx)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = nx->hnext;
	lru_unlink(lu, nx);
	lu->n_nexus--;
	free(nx);
}

/* Evict the least recently used nexus with no task in flight. */
static void nexus_evict(struct scsi_lu *lu)
{
	for (struct scsi_nexus *nx = lu->lru_tail; nx; nx = nx->lru_prev) {
		if (nx->inflight == 0) {
			nexus_remove(lu, nx);
			return;
		}
	}
}

static struct scsi_nexus *nexus_find(struct scsi_lu *lu,
				     const struct scsi_itn *itn, uint32_t h)
{
	for (struct scsi_nexus *nx = lu->buckets[h % SCSI_NEXUS_BUCKETS]; nx;
	     nx = nx->hnext)
		if (nx->hash == h && scsi_nexus_match(nx, itn))
			return nx;
	return NULL;
}

/* Returns the nexus (created with UA 29/00 on first access), holding a
 * reference for the task; NULL only when out of memory. */
struct scsi_nexus *scsi_lu_nexus_get(struct scsi_lu *lu,
				     const struct scsi_itn *itn)
{
	uint32_t h;
	struct scsi_nexus *nx;

	if (!itn)
		return NULL;
	h = itn_hash(itn);
	nx = nexus_find(lu, itn, h);
	if (nx) {
		if (lu->lru_head != nx) {
			lru_unlink(lu, nx);
			lru_push(lu, nx);
		}
		nx->inflight++;
		return nx;
	}
	if (lu->n_nexus >= SCSI_NEXUS_MAX)
		nexus_evict(lu);
	nx = calloc(1, sizeof(*nx));
	if (!nx)
		return NULL;
	snprintf(nx->initiator, sizeof(nx->initiator), "%s",
		 itn->initiator_name);
	memcpy(nx->isid, itn->isid, sizeof(nx->isid));
	nx->rtpi = itn->rel_tgt_port_id;
	nx->hash = h;
	nx->hnext = lu->buckets[h % SCSI_NEXUS_BUCKETS];
	lu->buckets[h % SCSI_NEXUS_BUCKETS] = nx;
	lru_push(lu, nx);
	lu->n_nexus++;
	scsi_nexus_ua_add(nx, SCSI_ASC_POWER_ON_OR_RESET);
	nx->inflight = 1;
	return nx;
}

void scsi_lu_nexus_put(struct scsi_lu *lu, struct scsi_nexus *nx)
{
	if (nx && nx->inflight)
		nx->inflight--;
}

void scsi_lu_nexus_forget(struct scsi_lu *lu, const struct scsi_itn *itn)
{
	struct scsi_nexus *nx = nexus_find(lu, itn, itn_hash(itn));

	if (nx && nx->inflight == 0)
		nexus_remove(lu, nx);
}

/* ---- unit attentions ---- */

static bool is_reset_ua(uint16_t asc)
{
	return (asc >> 8) == 0x29;
}

void scsi_nexus_ua_add(struct scsi_nexus *nx, uint16_t asc)
{
	for (unsigned i = 0; i < nx->n_ua; i++) {
		if (nx->ua[i] == asc)
			return;
		/* A pending power-on/reset UA already tells the initiator
		 * everything a later reset would. */
		if (is_reset_ua(asc) && is_reset_ua(nx->ua[i]))
			return;
	}
	if (nx->n_ua == SCSI_UA_MAX)
		return;
	nx->ua[nx->n_ua++] = asc;
}

uint16_t scsi_nexus_ua_pop(struct scsi_nexus *nx)
{
	uint16_t asc;

	if (!nx->n_ua)
		return 0;
	asc = nx->ua[0];
	memmove(&nx->ua[0], &nx->ua[1], (nx->n_ua - 1) * sizeof(nx->ua[0]));
	nx->n_ua--;
	return asc;
}

void scsi_lu_ua_others(struct scsi_lu *lu, const struct scsi_itn *except,
		       uint16_t asc)
{
	for (struct scsi_nexus *nx = lu->lru_head; nx; nx = nx->lru_next)
		if (!except || !scsi_nexus_match(nx, except))
			scsi_nexus_ua_add(nx, asc);
}
