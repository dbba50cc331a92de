/**
 * @file
 * libscoresde: model files.
 *
 * A model is saved as a libscoresde container (docs/file-format.md): the
 * model's description (kind, dimension), its SDE's description, the kind's
 * state and, for trainable kinds, the parameters, protected by a CRC-32C.
 * Files are little-endian whatever the machine, and a model loaded back is
 * bit-identical to the one saved: it gives the same bits from every
 * evaluation function.
 *
 * What can be saved: models whose kind stores its own state (the Gaussian
 * mixture; the MLP, with its options, embedding and parameters) built on a built-in SDE (VE, VP, sub-VP, cosine,
 * EDM, OU). Hook models (SCORESDE_MODEL_SCORE_FN, SCORESDE_MODEL_DENOISER_FN)
 * and models on an SDE defined by callbacks (SCHEDULE, CUSTOM) cannot be
 * saved: SCORESDE_EUNSUPPORTED, since a file cannot hold the caller's code.
 *
 * Loading checks everything before trusting it: the magic number, the format
 * version, the size, the checksum, every length and count against the bytes
 * present (before allocating), and every value as the creation functions do.
 * A damaged, truncated or forged file gives SCORESDE_ECORRUPT with what and
 * where, never a crash or a huge allocation. A file written by a newer
 * libscoresde whose format this one cannot read gives SCORESDE_EVERSION.
 *
 * Thread safety: saving reads the model only, so it may run while other
 * threads evaluate the same model. Loading creates a new model. Different
 * calls may run concurrently; two saves to the same path race like any two
 * writers of a file, but each leaves a complete file.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_MODEL_IO_H
#define SCORESDE_MODEL_IO_H

#include "common.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Save `model` to the file `path`, atomically: the bytes are written to a
 * temporary file in the same directory ("<path>.tmp.<pid>.<n>"), flushed to
 * disk, and renamed over `path`. Readers of `path` see the old file or the new
 * one, never a partial file; on failure the temporary is removed and any
 * previous file at `path` is left as it was.
 *
 * Returns SCORESDE_OK, SCORESDE_EINVAL (model or path NULL or path empty),
 * SCORESDE_EUNSUPPORTED (hook model or callback SDE, see above),
 * SCORESDE_EIO (the file could not be written; the message names the path,
 * the failed step and the system's reason) or SCORESDE_ENOMEM.
 */
SCORESDE_API int scoresde_model_save(const scoresde_model *model, const char *path);

/**
 * Load a model saved by scoresde_model_save (or scoresde_model_save_buffer
 * and written to a file) into a new model *out, which the caller frees with
 * scoresde_model_free. Files larger than 2^40 bytes are refused.
 *
 * Returns SCORESDE_OK, SCORESDE_EINVAL (out or path NULL; or the file is a
 * training checkpoint, which the message says to load with
 * scoresde_trainer_load), SCORESDE_EIO (cannot open or read the file, or it
 * is not a regular file: a pipe or device is refused without waiting on it),
 * SCORESDE_ECORRUPT (not a libscoresde file, truncated, damaged or
 * inconsistent), SCORESDE_EVERSION (written by a newer libscoresde in a form
 * this one cannot read) or SCORESDE_ENOMEM. On failure *out is NULL.
 */
SCORESDE_API int scoresde_model_load(scoresde_model **out, const char *path);

/**
 * Save `model` into a new memory buffer holding exactly the bytes
 * scoresde_model_save would write. *data receives the buffer, which the
 * caller owns and releases with scoresde_buffer_free; *size its length.
 *
 * Returns SCORESDE_OK, SCORESDE_EINVAL (NULL argument), SCORESDE_EUNSUPPORTED
 * or SCORESDE_ENOMEM. On failure *data is NULL and *size 0.
 */
SCORESDE_API int scoresde_model_save_buffer(const scoresde_model *model, void **data,
                                            size_t *size);

/**
 * Load a model from the `size` bytes at `data` (a saved model file's
 * contents). The buffer is only read, and not kept: the caller may free it
 * once the call returns. Errors as scoresde_model_load, without SCORESDE_EIO;
 * data may be NULL only if size is 0 (which is SCORESDE_ECORRUPT: an empty
 * buffer is a truncated file).
 */
SCORESDE_API int scoresde_model_load_buffer(scoresde_model **out, const void *data, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* SCORESDE_MODEL_IO_H */
