/*
 * Model files, private side: loading with an explicit list of kinds, so the
 * tests can exercise the paths of kinds the library does not ship yet (the
 * PARM section of trainable kinds). Never installed.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_MODEL_FILE_H
#define SD_MODEL_FILE_H

#include <stddef.h>

#include "model_internal.h"

/* scoresde_model_load_buffer, but looking kinds up in kinds[0..n_kinds)
 * instead of the library's own table. */
int sd_model_load_buffer_kinds(scoresde_model **out, const void *data, size_t size,
                               const sd_model_ops *const *kinds, size_t n_kinds);

#endif /* SD_MODEL_FILE_H */
