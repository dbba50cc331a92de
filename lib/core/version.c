/*
 * Run-time version of the loaded library.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "internal.h"

unsigned scoresde_version_number(void)
{
    return SCORESDE_VERSION_NUMBER;
}

const char *scoresde_version_string(void)
{
    return SCORESDE_VERSION_STRING;
}
