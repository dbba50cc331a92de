/*
 * The scoresde tool: messages, option values, name tables, files, the
 * container's META section, model files and tables.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char *cli_command = NULL;
int cli_quiet = 0;

/* ------------------------------------------------------------ messages */

static void vmessage(const char *fmt, va_list ap)
{
    if (cli_command != NULL)
        fprintf(stderr, "scoresde %s: ", cli_command);
    else
        fprintf(stderr, "scoresde: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

void cli_note(const char *fmt, ...)
{
    if (cli_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_lib_fail(const char *what, int rc)
{
    const char *detail = scoresde_last_error();
    if (detail != NULL && detail[0] != '\0')
        cli_error("%s: %s: %s", what, scoresde_strerror(rc), detail);
    else
        cli_error("%s: %s", what, scoresde_strerror(rc));
    return CLI_FAIL;
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    fprintf(stderr, "(see 'scoresde help %s')\n", cli_command != NULL ? cli_command : "");
    return CLI_USAGE;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------ option values */

int cli_parse_int(const char *opt, const char *value, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi) {
        cli_usage("--%s needs an integer in [%lld, %lld], not '%s'", opt, lo, hi, value);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_u64(const char *opt, const char *value, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || value[0] == '-') {
        cli_usage("--%s needs a non-negative integer below 2^64, not '%s'", opt, value);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_double(const char *opt, const char *value, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        cli_usage("--%s needs a number in [%g, %g], not '%s'", opt, lo, hi, value);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_list(const char *opt, const char *value, double *out, size_t max, size_t count)
{
    size_t k = 0;
    const char *p = value;
    for (;;) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        while (*end == ' ')
            end++;
        if (end == p || !isfinite(v) || (*end != ',' && *end != '\0')) {
            cli_usage("--%s needs comma-separated finite numbers, not '%s'", opt, value);
            return -1;
        }
        if (k < max)
            out[k] = v;
        k++;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    if ((count > 0 && k != count) || k > max) {
        cli_usage("--%s has %zu values; the model's condition has %zu", opt, k,
                  count > 0 ? count : max);
        return -1;
    }
    return (int)k;
}

/* ------------------------------------------------------------ name tables
 * The tool's spellings of the library's enumerators (the values are the
 * library's frozen ones). */

const cli_name cli_sde_names[] = {{"vp", SCORESDE_SDE_VP},         {"subvp", SCORESDE_SDE_SUBVP},
                                  {"ve", SCORESDE_SDE_VE},         {"cosine", SCORESDE_SDE_COSINE},
                                  {"edm", SCORESDE_SDE_EDM},       {"ou", SCORESDE_SDE_OU},
                                  {"schedule", SCORESDE_SDE_SCHEDULE},
                                  {"custom", SCORESDE_SDE_CUSTOM}, {NULL, 0}};
const cli_name cli_model_kind_names[] = {{"gmm", SCORESDE_MODEL_GMM},
                                         {"score-fn", SCORESDE_MODEL_SCORE_FN},
                                         {"denoiser-fn", SCORESDE_MODEL_DENOISER_FN},
                                         {"mlp", SCORESDE_MODEL_MLP},
                                         {"cond-gmm", SCORESDE_MODEL_COND_GMM},
                                         {"linear-gaussian", SCORESDE_MODEL_LINEAR_GAUSSIAN},
                                         {NULL, 0}};
const cli_name cli_activation_names[] = {{"silu", SCORESDE_MLP_SILU},
                                         {"relu", SCORESDE_MLP_RELU},
                                         {"tanh", SCORESDE_MLP_TANH},
                                         {"softplus", SCORESDE_MLP_SOFTPLUS},
                                         {NULL, 0}};
const cli_name cli_output_names[] = {{"score", SCORESDE_MLP_OUTPUT_SCORE},
                                     {"noise", SCORESDE_MLP_OUTPUT_NOISE},
                                     {"data", SCORESDE_MLP_OUTPUT_DATA},
                                     {"edm", SCORESDE_MLP_OUTPUT_EDM},
                                     {NULL, 0}};

int cli_lookup(const char *opt, const char *name, const cli_name *table, int *out)
{
    for (const cli_name *e = table; e->name != NULL; e++)
        if (strcmp(e->name, name) == 0) {
            *out = e->value;
            return 0;
        }
    char list[512] = "";
    for (const cli_name *e = table; e->name != NULL; e++) {
        strncat(list, list[0] ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, e->name, sizeof list - strlen(list) - 1);
    }
    cli_usage("--%s: unknown value '%s' (one of: %s)", opt, name, list);
    return -1;
}

/* The library's names, spelled for the shell: '-' for '_' ("reverse-diffusion",
 * "dpmpp-sde"); either is accepted. `name_of(setting, k)` gives the name of
 * value k (for methods the setting is unused). */
static int lookup_library(const char *opt, const char *given, int setting,
                          const char *(*name_of)(int, int), int lo, int hi, int *out)
{
    char list[512] = "";
    for (int k = lo; k <= hi; k++) {
        const char *name = name_of(setting, k);
        if (name == NULL)
            break;
        size_t i = 0;
        while (name[i] != '\0' && given[i] != '\0' &&
               (given[i] == name[i] || (given[i] == '-' && name[i] == '_')))
            i++;
        if (name[i] == '\0' && given[i] == '\0') {
            *out = k;
            return 0;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", used > 0 ? ", " : "", name);
    }
    for (char *p = list; *p; p++)
        if (*p == '_')
            *p = '-';
    cli_usage("--%s: unknown value '%s' (one of: %s)", opt, given, list);
    return -1;
}

static const char *method_name(int setting, int method)
{
    (void)setting;
    return scoresde_sampler_method_name(method);
}

int cli_lookup_method(const char *opt, const char *name, int *method)
{
    return lookup_library(opt, name, 0, method_name, 1, INT_MAX, method);
}

int cli_lookup_value(const char *opt, int setting, const char *name, int *value)
{
    double lo, hi;
    if (scoresde_sampler_bounds(setting, &lo, &hi, NULL) != SCORESDE_OK)
        return cli_usage("--%s: setting %d has no named values", opt, setting), -1;
    return lookup_library(opt, name, setting, scoresde_sampler_value_name, (int)lo, (int)hi,
                          value);
}

const char *cli_name_of(const cli_name *table, int value)
{
    for (const cli_name *e = table; e->name != NULL; e++)
        if (e->value == value)
            return e->name;
    return "?";
}

/* ------------------------------------------------------------ files */

int cli_read_file(const char *path, size_t limit, unsigned char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cli_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        cli_error("%s: %s", path,
                  S_ISDIR(st.st_mode) ? "is a directory, not a file" : "is not a regular file");
        fclose(f);
        return -1;
    }
    if ((unsigned long long)st.st_size > limit) {
        cli_error("%s: the file is larger than %zu bytes", path, limit);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) {
        cli_error("%s: out of memory", path);
        fclose(f);
        return -1;
    }
    if (fread(buf, 1, n, f) != n || ferror(f)) {
        cli_error("cannot read %s: %s", path, strerror(errno));
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *data = buf;
    *size = n;
    return 0;
}

int cli_output_open(cli_output *o, const char *path)
{
    o->f = NULL;
    o->path = o->tmp = NULL;
    if (strcmp(path, "-") == 0) {
        o->f = stdout;
        return 0;
    }
    size_t n = strlen(path) + 64;
    o->path = strdup(path);
    o->tmp = malloc(n);
    if (o->path == NULL || o->tmp == NULL) {
        cli_error("out of memory");
        cli_output_abort(o);
        return -1;
    }
    static unsigned counter = 0;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(o->tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
        fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        cli_output_abort(o);
        return -1;
    }
    o->f = fdopen(fd, "wb");
    if (o->f == NULL) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        close(fd);
        cli_output_abort(o);
        return -1;
    }
    return 0;
}

int cli_output_commit(cli_output *o)
{
    if (o->tmp == NULL) { /* standard output */
        int bad = fflush(o->f) != 0 || ferror(o->f);
        if (bad)
            cli_error("writing to standard output failed: %s", strerror(errno));
        return bad ? -1 : 0;
    }
    int bad = fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0;
    int err = errno;
    if (fclose(o->f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    o->f = NULL;
    if (!bad && rename(o->tmp, o->path) != 0) {
        bad = 1;
        err = errno;
    }
    if (bad) {
        cli_error("writing %s failed: %s (the file was not changed)", o->path, strerror(err));
        cli_output_abort(o);
        return -1;
    }
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
    return 0;
}

void cli_output_abort(cli_output *o)
{
    if (o->f != NULL && o->f != stdout)
        fclose(o->f);
    if (o->tmp != NULL)
        remove(o->tmp);
    free(o->tmp);
    free(o->path);
    o->f = NULL;
    o->tmp = o->path = NULL;
}

int cli_write_file(const char *path, const void *data, size_t size)
{
    cli_output o;
    if (cli_output_open(&o, path) != 0)
        return -1;
    if (size > 0 && fwrite(data, 1, size, o.f) != size) {
        cli_error("writing %s failed: %s (the file was not changed)", path, strerror(errno));
        cli_output_abort(&o);
        return -1;
    }
    return cli_output_commit(&o);
}

/* ------------------------------------------------------------ containers */

static const unsigned char container_magic[8] = {0x89, 'S', 'D', 'E', '\r', '\n', 0x1a, '\n'};

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static void wr64(unsigned char *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

uint32_t cli_crc32c(uint32_t crc, const void *data, size_t size)
{
    static uint32_t table[256];
    static int ready = 0;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < size; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

int cli_container_check(const unsigned char *buf, size_t size, uint32_t *type, uint32_t *version,
                        char *err, size_t errlen)
{
    if (size < 8 || memcmp(buf, container_magic, 8) != 0) {
        snprintf(err, errlen, "not a libscoresde file (no container magic)");
        return -1;
    }
    if (size < 36) {
        snprintf(err, errlen, "truncated: %zu bytes", size);
        return -1;
    }
    if (rd64(buf + 16) != size) {
        snprintf(err, errlen, "truncated or extended: the header says %llu bytes, the file has %zu",
                 (unsigned long long)rd64(buf + 16), size);
        return -1;
    }
    uint32_t stored = rd32(buf + size - 4), computed = cli_crc32c(0, buf, size - 4);
    if (stored != computed) {
        snprintf(err, errlen, "damaged: checksum 0x%08x, computed 0x%08x", (unsigned)stored,
                 (unsigned)computed);
        return -1;
    }
    uint32_t count = rd32(buf + 24);
    size_t at = 32;
    for (uint32_t k = 0; k < count; k++) {
        if (size - 4 - at < 16 || rd64(buf + at + 8) > size - 4 - at - 16) {
            snprintf(err, errlen, "damaged: section %u runs past the end", (unsigned)k);
            return -1;
        }
        at += 16 + (size_t)rd64(buf + at + 8);
    }
    if (at != size - 4) {
        snprintf(err, errlen, "damaged: the sections do not fill the file");
        return -1;
    }
    *type = rd32(buf + 12);
    *version = rd32(buf + 8);
    return 0;
}

int cli_container_find(const unsigned char *buf, size_t size, const char *tag,
                       const unsigned char **payload, size_t *len)
{
    uint32_t count = rd32(buf + 24);
    size_t at = 32;
    for (uint32_t k = 0; k < count && at + 16 <= size - 4; k++) {
        size_t n = (size_t)rd64(buf + at + 8);
        if (memcmp(buf + at, tag, 4) == 0) {
            *payload = buf + at + 16;
            *len = n;
            return 0;
        }
        at += 16 + n;
    }
    return -1;
}

int cli_container_add_meta(unsigned char **buf, size_t *size, const void *payload, size_t len)
{
    size_t old = *size, total = old + 16 + len;
    unsigned char *b = realloc(*buf, total);
    if (b == NULL)
        return -1;
    /* The new section goes where the checksum was; the checksum follows it. */
    unsigned char *s = b + old - 4;
    memcpy(s, "META", 4);
    wr32(s + 4, 0);
    wr64(s + 8, len);
    memcpy(s + 16, payload, len);
    wr64(b + 16, total);
    wr32(b + 24, rd32(b + 24) + 1);
    wr32(b + total - 4, cli_crc32c(0, b, total - 4));
    *buf = b;
    *size = total;
    return 0;
}

/* ------------------------------------------------------------ tool metadata */

static const char meta_magic[] = "scoresde-tool 1\n";

void cli_meta_set(cli_meta *m, const char *key, const char *fmt, ...)
{
    char value[65536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    for (char *p = value; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t old = m->text != NULL ? strlen(m->text) : 0;
    size_t add = strlen(key) + strlen(value) + 2 + (old == 0 ? strlen(meta_magic) : 0);
    char *t = realloc(m->text, old + add + 1);
    if (t == NULL)
        return; /* metadata is informative; a failure leaves it out */
    if (old == 0)
        strcpy(t, meta_magic);
    strcat(t, key);
    strcat(t, "=");
    strcat(t, value);
    strcat(t, "\n");
    m->text = t;
}

char *cli_meta_get(const cli_meta *m, const char *key)
{
    if (m->text == NULL)
        return NULL;
    size_t kn = strlen(key);
    for (const char *line = m->text; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        if (n > kn && strncmp(line, key, kn) == 0 && line[kn] == '=')
            return strndup(line + kn + 1, n - kn - 1);
        line += n + (end != NULL);
    }
    return NULL;
}

int cli_meta_parse(cli_meta *m, const unsigned char *buf, size_t size)
{
    m->text = NULL;
    m->blob = NULL;
    m->blob_len = 0;
    const unsigned char *p;
    size_t n;
    size_t magic = strlen(meta_magic);
    if (cli_container_find(buf, size, "META", &p, &n) != 0 || n < magic ||
        memcmp(p, meta_magic, magic) != 0)
        return -1;
    const unsigned char *nul = memchr(p, '\0', n);
    size_t tn = nul != NULL ? (size_t)(nul - p) : n;
    m->text = strndup((const char *)p, tn);
    if (m->text == NULL)
        return -1;
    if (nul != NULL) {
        m->blob = nul + 1;
        m->blob_len = n - tn - 1;
    }
    return 0;
}

void cli_meta_free(cli_meta *m)
{
    free(m->text);
    m->text = NULL;
}

size_t cli_split(const char *list, char ***items)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == '\t';
    char **v = calloc(n, sizeof *v);
    size_t k = 0;
    if (v == NULL) {
        *items = NULL;
        return 0;
    }
    for (const char *p = list;; k++) {
        const char *e = strchr(p, '\t');
        v[k] = strndup(p, e != NULL ? (size_t)(e - p) : strlen(p));
        if (e == NULL)
            break;
        p = e + 1;
    }
    *items = v;
    return k + 1;
}

void cli_strv_free(char **items, size_t n)
{
    if (items == NULL)
        return;
    for (size_t k = 0; k < n; k++)
        free(items[k]);
    free(items);
}

/* ------------------------------------------------------------ models */

static char **default_names(const char *prefix, size_t n)
{
    char **v = calloc(n > 0 ? n : 1, sizeof *v);
    for (size_t k = 0; v != NULL && k < n; k++) {
        char b[32];
        snprintf(b, sizeof b, "%s%zu", prefix, k + 1);
        v[k] = strdup(b);
    }
    return v;
}

/* Names stored under key, if there are exactly n of them; else prefix1.. */
static char **meta_names(const cli_meta *m, const char *key, const char *prefix, size_t n)
{
    char *list = cli_meta_get(m, key);
    if (list != NULL) {
        char **v;
        size_t k = cli_split(list, &v);
        free(list);
        if (k == n && v != NULL)
            return v;
        cli_strv_free(v, k);
    }
    return default_names(prefix, n);
}

static double *meta_doubles(const cli_meta *m, const char *key, size_t n)
{
    char *list = cli_meta_get(m, key);
    if (list == NULL)
        return NULL;
    double *v = malloc((n > 0 ? n : 1) * sizeof *v);
    size_t k = 0;
    char *p = list;
    while (v != NULL && k < n) {
        char *end;
        v[k] = strtod(p, &end);
        if (end == p || !isfinite(v[k]))
            break;
        k++;
        p = end + (*end == '\t');
    }
    free(list);
    if (k != n) {
        free(v);
        return NULL;
    }
    return v;
}

int cli_model_load(cli_model *cm, const char *path)
{
    memset(cm, 0, sizeof *cm);
    if (cli_read_file(path, (size_t)1 << 40, &cm->bytes, &cm->size) != 0)
        return CLI_FAIL;
    int rc = scoresde_model_load_buffer(&cm->model, cm->bytes, cm->size);
    if (rc != SCORESDE_OK) {
        char what[4200];
        snprintf(what, sizeof what, "%s is not a model file", path);
        cli_lib_fail(what, rc);
        cli_model_free(cm);
        return CLI_FAIL;
    }
    cm->D = scoresde_model_dim(cm->model);
    cm->C = scoresde_model_cond_dim(cm->model);
    cli_meta_parse(&cm->meta, cm->bytes, cm->size);
    cm->names = meta_names(&cm->meta, "columns", "x", cm->D);
    cm->cond_names = meta_names(&cm->meta, "cond-columns", "c", cm->C);
    if (cm->C > 0) {
        cm->cond_shift = meta_doubles(&cm->meta, "cond-shift", cm->C);
        cm->cond_scale = meta_doubles(&cm->meta, "cond-scale", cm->C);
    }
    return CLI_OK;
}

void cli_model_free(cli_model *cm)
{
    scoresde_model_free(cm->model);
    free(cm->bytes);
    cli_meta_free(&cm->meta);
    cli_strv_free(cm->names, cm->D);
    cli_strv_free(cm->cond_names, cm->C);
    free(cm->cond_shift);
    free(cm->cond_scale);
    memset(cm, 0, sizeof *cm);
}

void cli_model_cond_to_model(const cli_model *cm, double *c, size_t rows)
{
    if (cm->cond_shift != NULL && cm->cond_scale != NULL)
        cli_standardize(c, rows, cm->C, cm->cond_shift, cm->cond_scale);
}

int cli_model_save(const scoresde_model *model, const cli_meta *meta, const char *path)
{
    void *data = NULL;
    size_t size = 0;
    int rc = scoresde_model_save_buffer(model, &data, &size);
    if (rc != SCORESDE_OK)
        return cli_lib_fail("saving the model", rc);
    unsigned char *buf = malloc(size);
    if (buf == NULL) {
        scoresde_buffer_free(data);
        cli_error("out of memory");
        return CLI_FAIL;
    }
    memcpy(buf, data, size);
    scoresde_buffer_free(data);
    if (meta != NULL && meta->text != NULL &&
        cli_container_add_meta(&buf, &size, meta->text, strlen(meta->text)) != 0) {
        free(buf);
        cli_error("out of memory");
        return CLI_FAIL;
    }
    int bad = cli_write_file(path, buf, size);
    free(buf);
    return bad ? CLI_FAIL : CLI_OK;
}

/* ------------------------------------------------------------ tables */

static sd_table_format table_format(const cli_table_opts *o)
{
    sd_table_format f = SD_TABLE_FORMAT_DEFAULT;
    if (o == NULL)
        return f;
    if (o->format != NULL)
        f.format = strcmp(o->format, "csv") == 0   ? TABLE_CSV
                   : strcmp(o->format, "tsv") == 0 ? TABLE_TSV
                   : strcmp(o->format, "npy") == 0 ? TABLE_NPY
                                                   : TABLE_AUTO;
    f.header = o->header;
    f.delimiter = o->delimiter;
    return f;
}

int cli_table_option(int opt, const char *arg, cli_table_opts *o)
{
    switch (opt) {
    case CLI_OPT_FORMAT:
        if (strcmp(arg, "csv") != 0 && strcmp(arg, "tsv") != 0 && strcmp(arg, "npy") != 0) {
            cli_usage("--format: unknown value '%s' (one of: csv, tsv, npy)", arg);
            return -1;
        }
        o->format = arg;
        return 1;
    case CLI_OPT_HEADER: o->header = 1; return 1;
    case CLI_OPT_NO_HEADER: o->header = 0; return 1;
    case CLI_OPT_DELIMITER:
        if (strcmp(arg, "\\t") == 0 || strcmp(arg, "tab") == 0) {
            o->delimiter = '\t';
            return 1;
        }
        if (strlen(arg) != 1 || arg[0] == '"' || arg[0] == '\n' || arg[0] == '#') {
            cli_usage("--delimiter needs one character (or 'tab'), not '%s'", arg);
            return -1;
        }
        o->delimiter = arg[0];
        return 1;
    default: return 0;
    }
}

int cli_next_option(int argc, char **argv, const char *shorts, const struct option *longs,
                    cli_table_opts *topts)
{
    static char *const *started = NULL;
    if (started != argv) { /* a new command line: getopt starts over */
        started = argv;
        opterr = 0;
        optind = 1;
    }
    for (;;) {
        int c = getopt_long(argc, argv, shorts, longs, NULL);
        if (c == ':') {
            cli_usage("option %s needs a value", argv[optind - 1]);
            return CLI_OPT_ERROR;
        }
        if (c == '?') {
            cli_usage("unknown option %s", argv[optind - 1]);
            return CLI_OPT_ERROR;
        }
        int t = c == -1 || topts == NULL ? 0 : cli_table_option(c, optarg, topts);
        if (t < 0)
            return CLI_OPT_ERROR;
        if (t == 0)
            return c;
    }
}

void cli_standardize(double *a, size_t rows, size_t cols, const double *shift,
                     const double *scale)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            a[i * cols + j] = (a[i * cols + j] - shift[j]) / scale[j];
}

int cli_table_read(const char *path, const cli_table_opts *o, sd_table *t)
{
    char err[1024];
    sd_table_format f = table_format(o);
    if (sd_table_read(path, &f, t, err, sizeof err) != 0) {
        cli_error("%s", err);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_table_write(const char *path, const cli_table_opts *o, const double *values,
                    size_t rows, size_t cols, char *const *names)
{
    char err[1024];
    sd_table_format f = table_format(o);
    f.header = -1; /* outputs always name their columns (text formats) */
    /* An output's format comes from its own name, not the input's --format. */
    f.format = TABLE_AUTO;
    f.delimiter = 0;
    char **own = names == NULL ? default_names("x", cols) : NULL;
    sd_table t = {.rows = rows, .cols = cols, .values = (double *)values,
                  .names = names != NULL ? (char **)names : own};
    int bad = sd_table_write(path, &f, &t, err, sizeof err);
    cli_strv_free(own, cols);
    if (bad) {
        cli_error("%s", err);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_table_columns(const sd_table *t, const char *path, const char *spec, size_t **idx,
                      size_t *count)
{
    char err[1024];
    if (sd_table_select(t, spec, idx, count, err, sizeof err) != 0) {
        cli_error("%s: %s", path, err);
        return CLI_FAIL;
    }
    return CLI_OK;
}

double *cli_table_gather(const sd_table *t, const size_t *idx, size_t count)
{
    double *x = malloc((t->rows > 0 ? t->rows : 1) * (count > 0 ? count : 1) * sizeof *x);
    if (x == NULL) {
        cli_error("out of memory for %zu x %zu values", t->rows, count);
        return NULL;
    }
    for (size_t i = 0; i < t->rows; i++)
        for (size_t k = 0; k < count; k++)
            x[i * count + k] = t->values[i * t->cols + idx[k]];
    return x;
}

int cli_table_unnamed(const sd_table *t, size_t j)
{
    char b[32];
    snprintf(b, sizeof b, "%zu", j + 1);
    return t->names == NULL || t->names[j] == NULL || strcmp(t->names[j], b) == 0;
}
