// SPDX-License-Identifier: Apache-2.0
/*
 * iSCSI PDU helpers: CRC32C digests, BHS validation, target PDU builders.
 * Builders fill every field they own; ExpCmdSN/MaxCmdSN are filled by the
 * connection at send time so they carry the freshest window.
 */
#include <string.h>

#include <isa-l/crc.h>

#include "duet/iscsi_pdu.h"
#include "duet/iscsi_proto.h"
#include "iscsi_int.h"

/*
 * ISA-L's crc32_iscsi() neither inverts its seed nor its result (SPDK and
 * ISA-L's own tests seed it with ~0 and invert the result). The finished
 * value goes on the wire least significant byte first: 32 bytes of zero
 * give 0x8a9136aa, i.e. wire bytes aa 36 91 8a as in RFC 3720 B.4.
 */
uint32_t iscsi_crc32c_continue(uint32_t crc, const void *buf, size_t len)
{
	uint32_t c = ~crc;
	const unsigned char *p = buf;

	while (len > 0) {
		int n = len > 0x40000000u ? 0x40000000 : (int)len;

		c = crc32_iscsi((unsigned char *)p, n, c);
		p += n;
		len -= (size_t)n;
	}
	return ~c;
}

uint32_t iscsi_crc32c(const void *buf, size_t len)
{
	return iscsi_crc32c_continue(0, buf, len);
}

void iscsi_bhs_init(uint8_t *bhs, uint8_t opcode, uint8_t flags)
{
	memset(bhs, 0, ISCSI_BHS_LEN);
	bhs[0] = opcode;
	bhs[1] = flags;
}

void iscsi_build_scsi_rsp(uint8_t *bhs, uint32_t itt, uint32_t statsn,
			  uint8_t status, uint8_t flags, uint32_t residual,
			  uint32_t dlen)
{
	iscsi_bhs_init(bhs, ISCSI_OP_SCSI_RSP, ISCSI_FLAG_FINAL | flags);
	bhs[2] = ISCSI_RSP_COMPLETED;
	bhs[3] = status;
	iscsi_bhs_set_dlen(bhs, dlen);
	put_be32(bhs + ISCSI_BHS_ITT, itt);
	put_be32(bhs + ISCSI_BHS_STATSN, statsn);
	/* SNACK tag (20), ExpDataSN (36), BidiResidual (40) stay 0 */
	if (flags & (ISCSI_FLAG_RSP_OVERFLOW | ISCSI_FLAG_RSP_UNDERFLOW))
		put_be32(bhs + ISCSI_BHS_RESIDUAL, residual);
}

void iscsi_build_data_in(uint8_t *bhs, uint32_t itt, uint64_t lun,
			 uint32_t datasn, uint32_t offset, uint32_t dlen,
			 uint8_t flags)
{
	iscsi_bhs_init(bhs, ISCSI_OP_DATA_IN, flags);
	iscsi_bhs_set_dlen(bhs, dlen);
	/* LUN is only meaningful with the A bit; harmless to echo. */
	put_be64(bhs + ISCSI_BHS_LUN, lun);
	put_be32(bhs + ISCSI_BHS_ITT, itt);
	put_be32(bhs + ISCSI_BHS_TTT, ISCSI_RESERVED_TAG);
	put_be32(bhs + ISCSI_BHS_DATASN, datasn);
	put_be32(bhs + ISCSI_BHS_BUFFER_OFFSET, offset);
}

void iscsi_build_r2t(uint8_t *bhs, uint32_t itt, uint64_t lun, uint32_t ttt,
		     uint32_t statsn, uint32_t r2tsn, uint32_t offset,
		     uint32_t len)
{
	iscsi_bhs_init(bhs, ISCSI_OP_R2T, ISCSI_FLAG_FINAL);
	put_be64(bhs + ISCSI_BHS_LUN, lun);
	put_be32(bhs + ISCSI_BHS_ITT, itt);
	put_be32(bhs + ISCSI_BHS_TTT, ttt);
	put_be32(bhs + ISCSI_BHS_STATSN, statsn);
	put_be32(bhs + ISCSI_BHS_DATASN, r2tsn);
	put_be32(bhs + ISCSI_BHS_BUFFER_OFFSET, offset);
	put_be32(bhs + ISCSI_BHS_RESIDUAL, len); /* Desired Data Transfer Len */
}

void iscsi_build_nop_in(uint8_t *bhs, uint32_t itt, uint32_t ttt, uint64_t lun,
			uint32_t statsn, uint32_t dlen)
{
	iscsi_bhs_init(bhs, ISCSI_OP_NOP_IN, ISCSI_FLAG_FINAL);
	iscsi_bhs_set_dlen(bhs, dlen);
	put_be64(bhs + ISCSI_BHS_LUN, lun);
	put_be32(bhs + ISCSI_BHS_ITT, itt);
	put_be32(bhs + ISCSI_BHS_TTT, ttt);
	put_be32(bhs + ISCSI_BHS_STATSN, statsn);
}

void iscsi_build_tmf_rsp(uint8_t *bhs, uint32_t itt, uint32_t statsn,
			 uint8_t response)
{
	iscsi_bhs_init(bhs, ISCSI_OP_TMF_RSP, ISCSI_FLAG_FINAL);
	bhs[2] = response;
	put_be32(bhs + ISCSI_BHS_ITT, itt);
	put_be32(bhs + ISCSI_BHS_STATSN, statsn);
}

void iscsi_build_logout_rsp(uint8_t *bhs, uint32_t itt, uint32_t statsn,
			    uint8_t response, uint16_t t2wait,
			    uint16_t t2retain)
{
	iscsi_bhs_init(bhs, ISCSI_OP_LOGOUT_RSP, ISCSI_FLAG_FINAL);
	bhs[2] = response;
	put_be32(bhs + ISCSI_BHS_ITT, itt);
	put_be32(bhs + ISCSI_BHS_STATSN, statsn);
	put_be16(bhs + 40, t2wait);
	put_be16(bhs + 42, t2retain);
}

/* The data segment is the rejected PDU's header (the caller attaches it). */
void iscsi_build_reject(uint8_t *bhs, uint8_t reason, uint32_t statsn)
{
	iscsi_bhs_init(bhs, ISCSI_OP_REJECT, ISCSI_FLAG_FINAL);
	bhs[2] = reason;
	iscsi_bhs_set_dlen(bhs, ISCSI_BHS_LEN);
	put_be32(bhs + ISCSI_BHS_ITT, ISCSI_RESERVED_TAG);
	put_be32(bhs + ISCSI_BHS_STATSN, statsn);
}

void iscsi_build_async(uint8_t *bhs, uint8_t event, uint32_t statsn,
		       uint16_t p1, uint16_t p2, uint16_t p3)
{
	iscsi_bhs_init(bhs, ISCSI_OP_ASYNC_MSG, ISCSI_FLAG_FINAL);
	put_be32(bhs + ISCSI_BHS_ITT, ISCSI_RESERVED_TAG);
	put_be32(bhs + ISCSI_BHS_STATSN, statsn);
	bhs[36] = event;
	put_be16(bhs + 38, p1);
	put_be16(bhs + 40, p2);
	put_be16(bhs + 42, p3);
}

bool iscsi_op_has_sn(uint8_t opcode)
{
	switch (opcode) {
	case ISCSI_OP_NOP_IN:
	case ISCSI_OP_SCSI_RSP:
	case ISCSI_OP_TMF_RSP:
	case ISCSI_OP_TEXT_RSP:
	case ISCSI_OP_DATA_IN:
	case ISCSI_OP_LOGOUT_RSP:
	case ISCSI_OP_R2T:
	case ISCSI_OP_ASYNC_MSG:
	case ISCSI_OP_REJECT:
		return true;
	default:
		return false;
	}
}

uint32_t iscsi_data_in_count(uint32_t len, uint32_t mdsl)
{
	if (len == 0 || mdsl == 0)
		return 0;
	return len / mdsl + (len % mdsl != 0);
}

uint8_t iscsi_residual(uint32_t xfer, uint32_t edtl, uint32_t *residual)
{
	if (xfer > edtl) {
		*residual = xfer - edtl;
		return ISCSI_FLAG_RSP_OVERFLOW;
	}
	if (xfer < edtl) {
		*residual = edtl - xfer;
		return ISCSI_FLAG_RSP_UNDERFLOW;
	}
	*residual = 0;
	return 0;
}

/*
 * Checks that need nothing but the header. Reserved fields that a sloppy
 * initiator may leave dirty are not worth a Reject; we check those that
 * change the meaning of the PDU.
 */
int iscsi_bhs_check(const uint8_t *bhs)
{
	uint8_t op = iscsi_bhs_opcode(bhs);

	if (bhs[0] & 0x80)
		return ISCSI_REJECT_PROTOCOL_ERROR; /* reserved bit 0 */
	switch (op) {
	case ISCSI_OP_NOP_OUT:
	case ISCSI_OP_TMF_REQ:
	case ISCSI_OP_LOGOUT_REQ:
	case ISCSI_OP_SCSI_CMD:
	case ISCSI_OP_LOGIN_REQ:
	case ISCSI_OP_TEXT_REQ:
	case ISCSI_OP_DATA_OUT:
		return 0;
	case ISCSI_OP_SNACK_REQ:
		return ISCSI_REJECT_SNACK;
	default:
		return ISCSI_REJECT_CMD_NOT_SUPPORTED;
	}
}
