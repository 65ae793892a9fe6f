/* SPDX-License-Identifier: Apache-2.0 */
/* iSCSI PDU representation and encode/decode helpers (src/iscsi/pdu.c). */
#ifndef DUET_ISCSI_PDU_H
#define DUET_ISCSI_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/iscsi_proto.h"
#include "duet/util.h"

/* A PDU to send: the BHS plus a data segment (not padded, no digests:
 * the connection adds padding and digests when it writes). */
struct iscsi_pdu_out {
	uint8_t bhs[ISCSI_BHS_LEN];
	const uint8_t *data;
	uint32_t dlen;
};

static inline uint8_t iscsi_bhs_opcode(const uint8_t *bhs)
{
	return bhs[0] & ISCSI_OPCODE_MASK;
}

static inline bool iscsi_bhs_immediate(const uint8_t *bhs)
{
	return (bhs[0] & ISCSI_OP_IMMEDIATE) != 0;
}

static inline uint32_t iscsi_bhs_dlen(const uint8_t *bhs)
{
	return get_be24(bhs + ISCSI_BHS_DATA_SEG_LEN);
}

static inline uint32_t iscsi_bhs_ahs_len(const uint8_t *bhs)
{
	return (uint32_t)bhs[ISCSI_BHS_TOTAL_AHS_LEN] * 4;
}

static inline void iscsi_bhs_set_dlen(uint8_t *bhs, uint32_t dlen)
{
	put_be24(bhs + ISCSI_BHS_DATA_SEG_LEN, dlen);
}

/* CRC32C as iSCSI uses it (RFC 7143 / RFC 3720 B.4): the value to put on
 * the wire, little-endian byte order as get_le32 of the 4 digest bytes. */
uint32_t iscsi_crc32c(const void *buf, size_t len);
uint32_t iscsi_crc32c_continue(uint32_t crc, const void *buf, size_t len);

#endif
