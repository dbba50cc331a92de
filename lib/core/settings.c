/*
 * Table-driven settings (lib/core/settings.h).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "settings.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const sd_setting *sd_setting_find(const sd_settings *t, int id)
{
    if (id <= 0 || id >= t->count || t->rows[id].id != id) {
        sd_fail(SCORESDE_EINVAL, "setting %d is not a %s setting", id, t->object);
        return NULL;
    }
    return &t->rows[id];
}

int sd_setting_int_ok(const sd_setting *row, int64_t value)
{
    return value >= row->ilo && value <= row->ihi;
}

int sd_setting_double_ok(const sd_setting *row, double value)
{
    return (row->nan_ok && isnan(value)) || (value >= row->lo && value <= row->hi);
}

/* The row of `id` for a typed access ("set" or "get"), or NULL after
 * recording SCORESDE_EINVAL: an unknown id, or an id of the other type. */
static const sd_setting *typed_row(const sd_settings *t, int id, int want_int, const char *verb)
{
    const sd_setting *row = sd_setting_find(t, id);
    if (row == NULL)
        return NULL;
    const int is_int = row->store != SD_STORE_DOUBLE;
    if (is_int != want_int) {
        sd_fail(SCORESDE_EINVAL, "%s setting %s (%d) is %s (use %s_%s_%s)", t->object, row->name,
                row->id, is_int ? "an integer" : "a double", t->api, verb,
                is_int ? "int" : "double");
        return NULL;
    }
    return row;
}

void sd_setting_write(const sd_setting *row, void *obj, double v)
{
    char *p = (char *)obj + row->offset;
    switch (row->store) {
    case SD_STORE_INT: {
        int x = (int)v;
        memcpy(p, &x, sizeof x);
        break;
    }
    case SD_STORE_SIZE: {
        size_t x = (size_t)v;
        memcpy(p, &x, sizeof x);
        break;
    }
    case SD_STORE_U64: {
        uint64_t x = (uint64_t)(int64_t)v;
        memcpy(p, &x, sizeof x);
        break;
    }
    default:
        memcpy(p, &v, sizeof v);
        break;
    }
}

int sd_setting_set_int(const sd_settings *t, void *obj, int id, int64_t value)
{
    SD_TRY(sd_check_ptr(obj, t->object));
    const sd_setting *row = typed_row(t, id, 1, "set");
    if (row == NULL)
        return SCORESDE_EINVAL;
    if (!sd_setting_int_ok(row, value))
        return sd_fail(SCORESDE_EINVAL, "%s setting %s = %lld is outside its bounds [%lld, %lld]",
                       t->object, row->name, (long long)value, (long long)row->ilo,
                       (long long)row->ihi);
    char *p = (char *)obj + row->offset;
    if (row->store == SD_STORE_U64) {
        uint64_t x = (uint64_t)value; /* all 64 bits, which a double would round */
        memcpy(p, &x, sizeof x);
    } else {
        sd_setting_write(row, obj, (double)value); /* other rows' bounds are below 2^53 */
    }
    return SCORESDE_OK;
}

int sd_setting_set_double(const sd_settings *t, void *obj, int id, double value)
{
    SD_TRY(sd_check_ptr(obj, t->object));
    const sd_setting *row = typed_row(t, id, 0, "set");
    if (row == NULL)
        return SCORESDE_EINVAL;
    if (isnan(value) && !row->nan_ok)
        return sd_fail(SCORESDE_EINVAL,
                       "%s setting %s = NaN is outside its bounds [%g, %g] (it takes no NaN)",
                       t->object, row->name, row->lo, row->hi);
    if (!sd_setting_double_ok(row, value))
        return sd_fail(SCORESDE_EINVAL, "%s setting %s = %g is outside its bounds [%g, %g]%s",
                       t->object, row->name, value, row->lo, row->hi,
                       row->nan_ok ? " (or NaN)" : "");
    memcpy((char *)obj + row->offset, &value, sizeof value);
    return SCORESDE_OK;
}

int sd_setting_get_int(const sd_settings *t, const void *obj, int id, int64_t *value)
{
    SD_TRY(sd_check_ptr(obj, t->object));
    SD_TRY(sd_check_ptr(value, "value"));
    const sd_setting *row = typed_row(t, id, 1, "get");
    if (row == NULL)
        return SCORESDE_EINVAL;
    const char *p = (const char *)obj + row->offset;
    if (row->store == SD_STORE_INT) {
        int x;
        memcpy(&x, p, sizeof x);
        *value = x;
    } else if (row->store == SD_STORE_SIZE) {
        size_t x;
        memcpy(&x, p, sizeof x);
        *value = (int64_t)x;
    } else if (row->store == SD_STORE_U64) {
        uint64_t x;
        memcpy(&x, p, sizeof x);
        /* the int64 with the same bits (gcc and clang convert modulo 2^64) */
        *value = (int64_t)x;
    } else {
        double x;
        memcpy(&x, p, sizeof x);
        *value = (int64_t)x;
    }
    return SCORESDE_OK;
}

int sd_setting_get_double(const sd_settings *t, const void *obj, int id, double *value)
{
    SD_TRY(sd_check_ptr(obj, t->object));
    SD_TRY(sd_check_ptr(value, "value"));
    const sd_setting *row = typed_row(t, id, 0, "get");
    if (row == NULL)
        return SCORESDE_EINVAL;
    memcpy(value, (const char *)obj + row->offset, sizeof *value);
    return SCORESDE_OK;
}

int sd_setting_bounds(const sd_settings *t, int id, double *lower, double *upper, int *is_int)
{
    const sd_setting *row = sd_setting_find(t, id);
    if (row == NULL)
        return SCORESDE_EINVAL;
    const int integer = row->store != SD_STORE_DOUBLE;
    if (lower != NULL)
        *lower = integer ? (double)row->ilo : row->lo;
    if (upper != NULL)
        *upper = integer ? (double)row->ihi : row->hi;
    if (is_int != NULL)
        *is_int = integer;
    return SCORESDE_OK;
}

const char *sd_setting_key(const sd_settings *t, int id)
{
    if (id <= 0 || id >= t->count || t->rows[id].id != id)
        return NULL;
    return t->rows[id].key;
}

int sd_setting_id(const sd_settings *t, const char *name, int *id)
{
    SD_TRY(sd_check_ptr(name, "name"));
    SD_TRY(sd_check_ptr(id, "id"));
    for (int i = 1; i < t->count; i++)
        if (t->rows[i].id == i && strcmp(t->rows[i].key, name) == 0) {
            *id = i;
            return SCORESDE_OK;
        }
    return sd_fail(SCORESDE_EINVAL, "'%.64s' is not the name of a %s setting (%s_setting_name "
                                    "lists them)",
                   name, t->object, t->api);
}

const char *sd_setting_value_key(const sd_settings *t, int id, int value)
{
    if (sd_setting_key(t, id) == NULL)
        return NULL;
    const sd_setting *row = &t->rows[id];
    if (row->values == NULL || value < row->ilo || value > row->ihi)
        return NULL;
    return row->values[value - row->ilo];
}

int sd_setting_value_id(const sd_settings *t, int id, const char *name, int *value)
{
    SD_TRY(sd_check_ptr(name, "name"));
    SD_TRY(sd_check_ptr(value, "value"));
    const sd_setting *row = sd_setting_find(t, id);
    if (row == NULL)
        return SCORESDE_EINVAL;
    if (row->values == NULL)
        return sd_fail(SCORESDE_EINVAL, "%s setting %s (%d) has no named values", t->object,
                       row->name, id);
    char list[256] = "";
    for (int64_t v = row->ilo; v <= row->ihi; v++) {
        const char *key = row->values[v - row->ilo];
        if (strcmp(key, name) == 0) {
            *value = (int)v;
            return SCORESDE_OK;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", v > row->ilo ? ", " : "", key);
    }
    return sd_fail(SCORESDE_EINVAL, "'%.64s' is not a value of %s setting %s (one of: %s)", name,
                   t->object, row->name, list);
}
