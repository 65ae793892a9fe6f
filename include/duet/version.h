/* SPDX-License-Identifier: Apache-2.0 */
#ifndef DUET_VERSION_H
#define DUET_VERSION_H

#define DUET_VERSION "0.1.0"

#endif
