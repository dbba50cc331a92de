/*
 * Files: atomic saves (temporary file, fsync, rename, directory fsync) and
 * bounded whole-file reads. POSIX.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"
#include "io.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* How many temporary names to try before giving up: another process or thread
 * saving to the same path holds a name only for the length of one save. */
enum { SAVE_NAME_ATTEMPTS = 1000 };

/* Write everything, retrying short writes and interruptions. 0 or -1 (errno). */
static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        /* Bounded chunks: some kernels cap a single write below SSIZE_MAX. */
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t k = write(fd, p, chunk);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0) {
            errno = EIO;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* fsync the directory holding `path` so that a completed rename is durable.
 * Failure here is reported: the file is in place, but a crash could lose it. */
static int sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 1 : (slash == path ? 1 : (size_t)(slash - path));
    char *dir = sd_malloc(len + 1);
    if (dir == NULL)
        return SCORESDE_ENOMEM;
    if (slash == NULL)
        dir[0] = '.';
    else
        memcpy(dir, path, len);
    dir[len] = '\0';
    int rc = SCORESDE_OK;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = sd_fail(SCORESDE_EIO, "cannot open directory %s to sync %s: %s", dir, path,
                     strerror(errno));
    } else {
        /* Some file systems cannot sync a directory (EINVAL); nothing more can
         * be done there and the data itself is already on disk. */
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
            rc = sd_fail(SCORESDE_EIO, "cannot sync directory %s after saving %s: %s", dir, path,
                         strerror(errno));
        close(fd);
    }
    sd_free(dir);
    return rc;
}

/* Pretend a step failed with EIO when the test hook asks for it. */
static bool injected(int fail_at, int step)
{
    if (fail_at == step) {
        errno = EIO;
        return true;
    }
    return false;
}

int sd_file_save_atomic_test(const char *path, const void *data, size_t size, int fail_at)
{
    if (path == NULL || path[0] == '\0')
        return sd_fail(SCORESDE_EINVAL, "path is %s", path == NULL ? "NULL" : "empty");
    if (data == NULL && size > 0)
        return sd_fail(SCORESDE_EINVAL, "data is NULL but size is %zu", size);

    /* "<path>.tmp.<pid>.<n>": same directory, so the rename cannot cross file
     * systems; O_EXCL so that two concurrent saves never share a temporary. */
    size_t plen = strlen(path);
    size_t cap = plen + 64;
    char *tmp = sd_malloc(cap);
    if (tmp == NULL)
        return SCORESDE_ENOMEM;
    int fd = -1;
    int err = 0;
    for (int n = 0; n < SAVE_NAME_ATTEMPTS; n++) {
        snprintf(tmp, cap, "%s.tmp.%ld.%d", path, (long)getpid(), n);
        if (injected(fail_at, SD_SAVE_FAIL_CREATE)) {
            err = errno;
            break;
        }
        /* 0666 & ~umask, like any new file, not mkstemp's 0600. */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) {
            err = errno;
            break;
        }
        err = errno;
    }
    if (fd < 0) {
        int rc = sd_fail(SCORESDE_EIO, "cannot create a temporary file to save %s (%s): %s", path,
                         tmp, strerror(err));
        sd_free(tmp);
        return rc;
    }

    const char *step = NULL;
    if (injected(fail_at, SD_SAVE_FAIL_WRITE) || write_all(fd, data, size) != 0)
        step = "write";
    else if (injected(fail_at, SD_SAVE_FAIL_FSYNC) || fsync(fd) != 0)
        step = "flush (fsync)";
    err = errno;
    /* close() can report a delayed write error (NFS): it counts as a failure. */
    if (close(fd) != 0 && step == NULL) {
        step = "close";
        err = errno;
    }
    if (step == NULL && injected(fail_at, SD_SAVE_FAIL_CLOSE)) {
        step = "close";
        err = errno;
    }
    if (step == NULL && (injected(fail_at, SD_SAVE_FAIL_RENAME) || rename(tmp, path) != 0)) {
        step = "rename";
        err = errno;
    }
    if (step != NULL) {
        unlink(tmp);
        int rc = sd_fail(SCORESDE_EIO, "cannot save %s: %s of the temporary file %s failed: %s",
                         path, step, tmp, strerror(err));
        sd_free(tmp);
        return rc;
    }
    sd_free(tmp);
    return sync_parent_dir(path);
}

int sd_file_save_atomic(const char *path, const void *data, size_t size)
{
    return sd_file_save_atomic_test(path, data, size, SD_SAVE_FAIL_NONE);
}

int sd_file_read_all(const char *path, size_t max_size, uint8_t **out, size_t *size)
{
    if (path == NULL)
        return sd_fail(SCORESDE_EINVAL, "path is NULL");
    if (out == NULL || size == NULL)
        return sd_fail(SCORESDE_EINVAL, "%s is NULL", out == NULL ? "out" : "size");
    *out = NULL;
    *size = 0;

    /* O_NONBLOCK: opening a FIFO without a writer must not wait for one; it
     * is refused below with every other file that is not regular. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return sd_fail(SCORESDE_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = sd_fail(SCORESDE_EIO, "cannot stat %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    /* Only a regular file has a size known before reading: a device such as
     * /dev/zero would otherwise be read up to the limit. */
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sd_fail(SCORESDE_EIO, "cannot read %s: it is %s, not a regular file", path,
                       S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a pipe"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                     : "a special file");
    }
    if ((uint64_t)st.st_size > (uint64_t)max_size) {
        close(fd);
        return sd_fail(SCORESDE_EIO, "%s is %lld bytes, larger than the limit of %zu", path,
                       (long long)st.st_size, max_size);
    }
    /* One allocation of the known size; the extra byte sees a file that grew
     * after fstat, which is refused rather than chased. */
    size_t cap = (size_t)st.st_size + 1;
    uint8_t *buf = sd_malloc(cap);
    if (buf == NULL) {
        close(fd);
        return SCORESDE_ENOMEM;
    }
    size_t len = 0;
    int rc = SCORESDE_OK;
    while (len < cap) {
        ssize_t k = read(fd, buf + len, cap - len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            rc = sd_fail(SCORESDE_EIO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    if (rc == SCORESDE_OK && len == cap)
        rc = sd_fail(SCORESDE_EIO, "cannot read %s: it grew while being read", path);
    close(fd);
    if (rc != SCORESDE_OK) {
        sd_free(buf);
        return rc;
    }
    *out = buf;
    *size = len;
    return SCORESDE_OK;
}
