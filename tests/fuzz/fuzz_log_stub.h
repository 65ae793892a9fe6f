// SPDX-License-Identifier: Apache-2.0
/*
 * Quiet logging for a fuzzer: weak definitions, so the real logger wins
 * where it is linked in. Include from exactly one file per fuzzer binary.
 */
#ifndef DUET_TESTS_FUZZ_LOG_STUB_H
#define DUET_TESTS_FUZZ_LOG_STUB_H

#include "duet/log.h"

__attribute__((weak)) void log_msg(enum log_level level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

__attribute__((weak)) enum log_level log_get_level(void)
{
	return LOG_LVL_ERR;
}

#endif
