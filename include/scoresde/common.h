/**
 * @file
 * libscoresde: status codes, error messages, the allocator hook and versions.
 *
 * Conventions kept by every module of the library:
 *  - Every fallible function returns an int: SCORESDE_OK (0) on success, a
 *    negative scoresde_status_t otherwise. Status values never change once
 *    released; new ones are only ever added.
 *  - On failure, scoresde_last_error() holds a message for the calling thread
 *    that says what was wrong ("x has dimension 3, the model expects 2").
 *  - The library never aborts, prints or exits.
 *  - Handles are opaque; created by *_create* functions that write the handle
 *    through an out parameter (and set it to NULL when they fail), released
 *    by *_free, which accepts NULL.
 *  - Arrays are double precision, batches row-major n x D (x[i*D + j]).
 *  - Callbacks take a void *user last and return int: non-zero stops the
 *    computation, which then returns SCORESDE_ECALLBACK. A function that
 *    takes a callback takes its `user` right after it.
 *  - Out parameters of constructors come first: scoresde_X_create*(&out, ...),
 *    scoresde_X_clone(&out, src), scoresde_trainer_export(&out, ...).
 *  - Batch functions take their arguments in one order: the object, the
 *    model, the input batch, n, D, seed, first_sample, the outputs, the
 *    statistics. Sample i of a call is sample first_sample + i of the run and
 *    draws from Philox stream first_sample + i (scoresde/rng.h), so results
 *    never depend on how a run is split into calls.
 *  - Accessors scoresde_X_<property>(obj) return the value itself and a
 *    neutral value for a NULL handle: 0 for counts and kinds (no kind is 0),
 *    NaN for doubles, NULL for pointers. Functions named *_get_* copy into
 *    the caller's memory and return a status.
 *  - Settings are one enum per object with fixed ids, set and read by typed
 *    functions (*_set_int / *_set_double, *_get_int / *_get_double) that
 *    refuse an id of the other type; *_bounds and *_default answer what is
 *    allowed and what a new object starts with. A double setting whose
 *    default the library derives from context (an SDE's eps, an automatic
 *    step size) takes NaN for "let the library choose", and starts at NaN.
 *  - Names (1.1). Methods, settings and the values of enum-valued settings
 *    have one public name each, the library's, so bindings, tools and
 *    configuration files never keep copies: the enumerator's name after the
 *    object's prefix, in lower case ("restart_tmin" for
 *    SCORESDE_SAMPLER_RESTART_TMIN, "dpmpp_sde" for SCORESDE_SAMPLER_DPMPP_SDE,
 *    "reverse_diffusion" for SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION),
 *    letters, digits and '_' only. The *_name(id) functions return the
 *    name (static storage, never freed) or NULL for an unknown id without
 *    recording an error; the *_id(name, &id) functions write the id,
 *    SCORESDE_EINVAL for NULL or a name that is not one (exact,
 *    case-sensitive match). Ids of methods and settings run 1, 2, ... with no
 *    gaps, and the values of an enum-valued setting run from its lower bound
 *    to its upper bound (*_bounds), so a program lists them all by counting
 *    up until the first NULL (values: across the bounds).
 *  - Step counts and sample indices are uint64_t; sizes of arrays are size_t.
 *  - Enumeration types are named scoresde_..._t (libgit2's convention), so
 *    a type never shares its name with the function that returns one of its
 *    values (scoresde_sde_kind() returns a scoresde_sde_kind_t, as int).
 *    Functions take and return these values as int, whose size is fixed.
 *  - Conditions (1.1). A conditional model (scoresde_model_cond_dim(m) =
 *    C > 0) scores p_t(x | c). Every batch call has a `_cond` twin that takes
 *    `const scoresde_cond *cond` right after its input batch arguments (x, t,
 *    n, D; for sampling-like calls t, n, D), for example
 *    scoresde_model_score_cond(model, x, t, n, D, cond, score). One versioned
 *    struct describes the conditions of a batch, so later features reuse one
 *    mechanism instead of new arguments in every call:
 *      c: rows x C doubles, row-major; rows = n (row i for sample i) or 1
 *         (that row for every sample: the common case of one observation);
 *         rows = 0 is refused;
 *      null_mask: n bytes or NULL; null_mask[i] != 0 asks for the null
 *         condition (classifier-free guidance, unconditional use) for
 *         sample i; cond NULL or c NULL asks for it for every sample.
 *    A model accepts the null condition only if scoresde_model_cond_null(m)
 *    (for example an MLP trained with condition dropout); otherwise asking for
 *    it is SCORESDE_EINVAL saying so. Class labels: a model with K =
 *    scoresde_model_cond_classes(m) > 0 has C = 1 and takes the label k as
 *    the double k, an integer in [0, K) (else SCORESDE_EINVAL naming sample
 *    and value). Errors: a non-NULL cond for an unconditional model
 *    (SCORESDE_EINVAL: its 1.0 call is the right one); cond->C != C
 *    (SCORESDE_EDIM); NaN or Inf in c (SCORESDE_EINVAL naming sample and
 *    feature); struct_size outside the known layouts (SCORESDE_EINVAL). The
 *    1.0 functions keep their meaning: they pass no condition, which on a
 *    conditional model means the null condition if the model accepts it and
 *    SCORESDE_EINVAL otherwise.
 *  - Versioned structs (options and statistics) start with size_t
 *    struct_size and only ever grow at the end. An input struct (options)
 *    is accepted with any struct_size from the first released layout up to
 *    this library's sizeof: the fields beyond the caller's size keep their
 *    defaults, so a program built against an older header keeps working.
 *    A larger struct_size (a program built against a newer header, running on
 *    an older library) is refused with SCORESDE_EINVAL. An output struct
 *    (statistics) needs only struct_size >= the first released layout: the
 *    library writes the fields it knows that fit and zeroes the caller's bytes
 *    beyond its own layout.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_COMMON_H
#define SCORESDE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(SCORESDE_BUILDING_LIBRARY) && defined(__GNUC__)
#define SCORESDE_API __attribute__((visibility("default")))
#else
#define SCORESDE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. Values are frozen once released; codes are only added. */
typedef enum scoresde_status_t {
    SCORESDE_OK = 0,            /**< success */
    SCORESDE_EINVAL = -1,       /**< an argument or parameter is invalid */
    SCORESDE_ENOMEM = -2,       /**< memory could not be allocated */
    SCORESDE_EDIM = -3,         /**< array sizes or dimensions disagree */
    SCORESDE_ENUMERIC = -4,     /**< NaN or Inf arose in a computation */
    SCORESDE_ECALLBACK = -5,    /**< a user callback returned non-zero */
    SCORESDE_EIO = -6,          /**< reading or writing a file failed */
    SCORESDE_ECORRUPT = -7,     /**< a file or buffer is damaged or truncated */
    SCORESDE_EVERSION = -8,     /**< a file's format version is newer than this library */
    SCORESDE_EUNSUPPORTED = -9, /**< the operation is not available for this object */
    SCORESDE_EBUSY = -10        /**< the request conflicts with the library's current state */
} scoresde_status_t;

/**
 * The conditions of a batch (1.1; the rules are in the conventions list at
 * the top). Versioned: struct_size = sizeof(scoresde_cond), fields only ever
 * appended. The library only reads it during the call it is passed to.
 */
typedef struct scoresde_cond {
    size_t struct_size;              /**< sizeof(scoresde_cond) */
    size_t C;                        /**< features per row; must equal the model's */
    const double *c;                 /**< rows x C row-major, or NULL: all null */
    size_t rows;                     /**< n (one row per sample) or 1 (broadcast) */
    const unsigned char *null_mask;  /**< n bytes (non-zero: sample i null), or NULL */
} scoresde_cond;

/**
 * A fixed, static English text for a status code ("invalid argument").
 * Unknown codes give "unknown status". Thread-safe; never returns NULL.
 */
SCORESDE_API const char *scoresde_strerror(int status);

/**
 * The detailed message of the calling thread's most recent failure, or ""
 * if no call on this thread has failed. The text stays valid until the next
 * failing call on the same thread. Successful calls do not clear it.
 * Thread-safe (the message is thread-local); never returns NULL.
 */
SCORESDE_API const char *scoresde_last_error(void);

/**
 * Allocation hooks: malloc-like and free-like, with the user pointer last.
 * Should a later version need more hooks (realloc, aligned allocation), it
 * adds a new function beside scoresde_set_allocator; this one stays.
 */
typedef void *(*scoresde_malloc_fn)(size_t size, void *user);
typedef void (*scoresde_free_fn)(void *ptr, void *user);

/**
 * Replace the process-wide allocator every library allocation goes through
 * (BLIS's internal memory pools are BLIS's own and do not use it).
 * Pass NULL for both functions to restore the C library's malloc and free.
 *
 * Call it before creating any object: while memory obtained through the current
 * allocator is still live, the call changes nothing and returns SCORESDE_EBUSY.
 * Not thread-safe with respect to any other library call.
 *
 * The two functions must be thread-safe: the library allocates and frees from
 * the calling threads and from its own worker threads. malloc_fn returns NULL
 * when it cannot allocate (the library then fails with SCORESDE_ENOMEM); the
 * library aligns blocks itself, so any alignment suitable for malloc will do.
 * `user` is passed back unchanged and must stay valid until the allocator is
 * replaced and every block obtained through it has been freed.
 *
 * Returns SCORESDE_OK, SCORESDE_EINVAL (only one of the two functions given)
 * or SCORESDE_EBUSY.
 */
SCORESDE_API int scoresde_set_allocator(scoresde_malloc_fn malloc_fn,
                                        scoresde_free_fn free_fn, void *user);

/**
 * The number of blocks currently allocated through the library's allocator
 * and not yet freed. Every object, once freed, returns to zero: tests and
 * bindings use this to find leaks. Thread-safe.
 */
SCORESDE_API size_t scoresde_live_allocations(void);

/**
 * Release a memory buffer that the library returned to the caller (for
 * example scoresde_model_save_buffer's bytes). It goes back to the allocator
 * it came from. NULL is accepted. Thread-safe for distinct buffers.
 */
SCORESDE_API void scoresde_buffer_free(void *data);

/**
 * The version of the library that is loaded, as
 * MAJOR * 10000 + MINOR * 100 + PATCH (compare with SCORESDE_VERSION_NUMBER
 * from scoresde/version.h to detect a mismatch between header and library).
 */
SCORESDE_API unsigned scoresde_version_number(void);

/** The loaded library's version as "MAJOR.MINOR.PATCH". Static storage. */
SCORESDE_API const char *scoresde_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* SCORESDE_COMMON_H */
