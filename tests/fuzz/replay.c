/*
 * Standalone driver for a fuzz target (libgit2's approach): runs
 * LLVMFuzzerTestOneInput once on every file named on the command line, or on
 * every regular file of a directory named there, so the committed corpus
 * runs as an ordinary test on any compiler, under the sanitizers in CI.
 * Exits 1 if an argument cannot be read (a target's broken invariant aborts).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Read a whole file into malloc'd memory of exactly its size (so ASan sees
 * reads past the input's end). */
static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc(len > 0 ? (size_t)len : 1);
        if (buf != NULL && fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    *size = (size_t)len;
    return buf;
}

static int run_file(const char *path)
{
    size_t size = 0;
    uint8_t *data = read_all(path, &size);
    if (data == NULL) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

/* Run every regular file of `dir`; returns the number of unreadable ones and
 * adds the files run to *count. */
static int run_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        return 1;
    }
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (path == NULL)
            abort();
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            bad += run_file(path);
            (*count)++;
        }
        free(path);
    }
    closedir(d);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0;
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            bad += run_dir(argv[i], &count);
        } else {
            bad += run_file(argv[i]);
            count++;
        }
    }
    printf("replay: %zu inputs, %d unreadable\n", count, bad);
    return bad == 0 && count > 0 ? 0 : 1;
}
