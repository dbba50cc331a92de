/*
 * Table-driven settings (the loss's, the trainer's and the sampler's): one
 * row per setting with its id, name, type, bounds, default and where the
 * object keeps it, so that setters, getters, bounds and defaults all read the
 * same table. Object-specific rules (a value refused in some state, a change
 * that resets another field) stay in the object's own setter around these.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_SETTINGS_H
#define SD_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

/* How the object stores a setting's value. */
enum {
    SD_STORE_INT = 1,       /* int */
    SD_STORE_SIZE = 2,      /* size_t */
    SD_STORE_U64 = 3,       /* uint64_t (int64 values taken mod 2^64) */
    SD_STORE_DOUBLE = 4,    /* double */
    SD_STORE_INT_DOUBLE = 5 /* an integer kept in a double (the sampler's; exact below 2^53) */
};

typedef struct sd_setting {
    int id;            /* 0: no setting has this id */
    const char *name;  /* "NUM_PROBES" */
    int store;         /* SD_STORE_*; every store but DOUBLE is an integer setting */
    size_t offset;     /* offsetof the field in the object */
    int64_t ilo, ihi;  /* inclusive bounds of an integer setting */
    double lo, hi;     /* inclusive bounds of a double setting */
    int nan_ok;        /* a double setting that also takes NaN ("let the library choose") */
    double def;        /* the default */
    const char *key;   /* the public name, lower-case ("num_probes"): the _setting_name calls */
    const char *const *values; /* an enum-valued integer setting: the public names of its
                                  values ilo..ihi, in order; NULL for other settings */
} sd_setting;

typedef struct sd_settings {
    const char *object;     /* "loss", for messages */
    const char *api;        /* "scoresde_loss", for messages */
    const sd_setting *rows; /* indexed by id; rows[0] unused */
    int count;              /* ids are 1 .. count - 1 */
} sd_settings;

/* The row of `id`, or NULL after recording SCORESDE_EINVAL naming the id. */
const sd_setting *sd_setting_find(const sd_settings *t, int id);

/* Whether a value is allowed (bounds, and NaN where the row takes it). */
int sd_setting_int_ok(const sd_setting *row, int64_t value);
int sd_setting_double_ok(const sd_setting *row, double value);

/* Typed access, refusing an id of the other type (the message names the
 * function to use) and values outside the bounds or NaN where the row takes
 * none (SCORESDE_EINVAL with a message naming the setting and value).
 * (obj or value NULL: SCORESDE_EINVAL too). */
int sd_setting_set_int(const sd_settings *t, void *obj, int id, int64_t value);
int sd_setting_set_double(const sd_settings *t, void *obj, int id, double value);
int sd_setting_get_int(const sd_settings *t, const void *obj, int id, int64_t *value);
int sd_setting_get_double(const sd_settings *t, const void *obj, int id, double *value);

/* Bounds as doubles (integer bounds converted) and the type; outputs may be NULL. */
int sd_setting_bounds(const sd_settings *t, int id, double *lower, double *upper, int *is_int);

/* Names (the public _name/_id calls of every settings table; the form is
 * documented in scoresde/common.h): the key of setting `id`, or NULL for an
 * id without a row (no error recorded, so callers can iterate); the id of a
 * key (SCORESDE_EINVAL naming an unknown or NULL name); the name of value
 * `value` of an enum-valued setting, or NULL; and the value of a name. */
const char *sd_setting_key(const sd_settings *t, int id);
int sd_setting_id(const sd_settings *t, const char *name, int *id);
const char *sd_setting_value_key(const sd_settings *t, int id, int value);
int sd_setting_value_id(const sd_settings *t, int id, const char *name, int *value);

/* Store v (already validated, or a default) into obj's field of row. */
void sd_setting_write(const sd_setting *row, void *obj, double v);

#endif /* SD_SETTINGS_H */
