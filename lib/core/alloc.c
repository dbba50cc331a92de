/*
 * The process-wide allocator hook and 64-byte aligned blocks on top of it.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { SD_ALIGN = 64 };

static void *default_malloc(size_t size, void *user)
{
    (void)user;
    return malloc(size);
}

static void default_free(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

static scoresde_malloc_fn alloc_malloc = default_malloc;
static scoresde_free_fn alloc_free = default_free;
static void *alloc_user;
static atomic_size_t alloc_live;

int scoresde_set_allocator(scoresde_malloc_fn malloc_fn, scoresde_free_fn free_fn, void *user)
{
    if ((malloc_fn == NULL) != (free_fn == NULL))
        return sd_fail(SCORESDE_EINVAL, "give both an allocation and a free function, or neither");
    size_t live = atomic_load(&alloc_live);
    if (live != 0)
        return sd_fail(SCORESDE_EBUSY,
                       "%zu blocks from the current allocator are still live; free every object first",
                       live);
    alloc_malloc = malloc_fn ? malloc_fn : default_malloc;
    alloc_free = free_fn ? free_fn : default_free;
    alloc_user = malloc_fn ? user : NULL;
    return SCORESDE_OK;
}

size_t scoresde_live_allocations(void)
{
    return atomic_load(&alloc_live);
}

/* A block is [padding][original pointer][user memory aligned to SD_ALIGN]. */
void *sd_malloc(size_t size)
{
    if (size > SIZE_MAX - SD_ALIGN - sizeof(void *)) {
        sd_fail(SCORESDE_ENOMEM, "cannot allocate %zu bytes", size);
        return NULL;
    }
    unsigned char *raw = alloc_malloc(size + SD_ALIGN + sizeof(void *), alloc_user);
    if (raw == NULL) {
        sd_fail(SCORESDE_ENOMEM, "cannot allocate %zu bytes", size);
        return NULL;
    }
    uintptr_t start = (uintptr_t)(raw + sizeof(void *));
    unsigned char *aligned = raw + sizeof(void *) + ((SD_ALIGN - start % SD_ALIGN) % SD_ALIGN);
    memcpy(aligned - sizeof(void *), &raw, sizeof raw);
    atomic_fetch_add(&alloc_live, 1);
    return aligned;
}

void *sd_calloc(size_t n, size_t size)
{
    size_t total;
    if (size != 0 && n > SIZE_MAX / size) {
        sd_fail(SCORESDE_ENOMEM, "cannot allocate %zu x %zu bytes", n, size);
        return NULL;
    }
    total = n * size;
    void *p = sd_malloc(total);
    if (p != NULL)
        memset(p, 0, total);
    return p;
}

void sd_free(void *ptr)
{
    if (ptr == NULL)
        return;
    void *raw;
    memcpy(&raw, (unsigned char *)ptr - sizeof(void *), sizeof raw);
    alloc_free(raw, alloc_user);
    atomic_fetch_sub(&alloc_live, 1);
}
