/*
 * Configure-time probe (meson.build): print the OpenMP runtimes loaded by a
 * program that links BLIS and the compiler's OpenMP, separated by spaces.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _GNU_SOURCE
#include <blis.h>
#include <link.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

static const char *const runtimes[] = {"libgomp", "libomp", "libiomp5"};

static int seen[3];

static int visit(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size, (void)data;
    const char *slash = strrchr(info->dlpi_name, '/');
    const char *base = slash ? slash + 1 : info->dlpi_name;
    for (int k = 0; k < 3; k++)
        if (strncmp(base, runtimes[k], strlen(runtimes[k])) == 0 && base[strlen(runtimes[k])] == '.')
            seen[k] = 1;
    return 0;
}

int main(void)
{
    /* One call into each, so that neither library is dropped by --as-needed. */
    int threads = omp_get_max_threads();
    const char *version = bli_info_get_version_str();
    dl_iterate_phdr(visit, NULL);
    const char *sep = "";
    for (int k = 0; k < 3; k++)
        if (seen[k]) {
            printf("%s%s", sep, runtimes[k]);
            sep = " ";
        }
    printf("\n");
    return threads > 0 && version != NULL ? 0 : 1;
}
