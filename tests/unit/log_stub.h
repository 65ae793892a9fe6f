/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Weak logger stand-ins so that a unit test links even when src/core/log.c
 * is not in the tree; when libduet.a has the real logger it wins.
 */
#ifndef DUET_TEST_LOG_STUB_H
#define DUET_TEST_LOG_STUB_H

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
