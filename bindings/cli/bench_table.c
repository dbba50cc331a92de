/*
 * bench_table: reads a generated 1e6 x 10 CSV (values printed with %.17g,
 * as the tool writes them) with sd_table_read and prints the time, next to
 * the time strtod alone takes for the same cells already in memory (the
 * bound of a strtod-based reader), and the peak memory of a read in a fresh
 * process against the array's size. Usage: bench_table [ROWS [DIR]].
 * Never a test: the figures depend on the machine.
 */
#define _GNU_SOURCE
#include "table.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* CPU time of this process: the time on one core, whatever else the
 * machine runs (the reader is single-threaded). */
static double cpu(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* The peak resident size of this process (VmHWM, kB), which exec resets. */
static long peak_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

/* The child: read path once, print the peak resident size over the array's. */
static int read_once(const char *path)
{
    long before = peak_kb();
    sd_table r;
    char err[512];
    if (sd_table_read(path, NULL, &r, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    long after = peak_kb();
    double array = (double)(r.rows * r.cols * sizeof(double));
    printf("peak memory of one read: %.1f MB above the %.1f MB before it, %.2fx the %.1f MB array\n",
           (double)(after - before) / 1e3, (double)before / 1e3, (double)(after - before) * 1e3 / array,
           array / 1e6);
    sd_table_free(&r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--read-once") == 0)
        return read_once(argv[2]);
    size_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000, cols = 10;
    const char *dir = argc > 2 ? argv[2] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/bench_table_%ld.csv", dir, (long)getpid());

    sd_table t = {rows, cols, malloc(rows * cols * sizeof(double)), calloc(cols, sizeof(char *))};
    if (t.values == NULL || t.names == NULL)
        return 1;
    uint64_t s = 0x9E3779B97F4A7C15u;
    for (size_t k = 0; k < rows * cols; k++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        t.values[k] = ((double)(s >> 11) * 0x1p-53 - 0.5) * 200.0;
    }
    for (size_t j = 0; j < cols; j++) {
        t.names[j] = malloc(16);
        snprintf(t.names[j], 16, "x%zu", j + 1);
    }
    double t0 = now();
    if (sd_table_write(path, NULL, &t, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t_write = now() - t0;

    /* strtod alone over the file's text in memory */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    if (fread(text, 1, (size_t)size, f) != (size_t)size)
        return 1;
    text[size] = '\0';
    fclose(f);
    t0 = cpu();
    char *p = strchr(text, '\n') + 1, *end;
    double sum = 0;
    while (*p) {
        sum += strtod(p, &end);
        p = end + 1;
    }
    double t_strtod = cpu() - t0;
    free(text);

    sd_table r;
    double best = 1e30, best_cpu = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        t0 = now();
        double c0 = cpu();
        if (sd_table_read(path, NULL, &r, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        double dt = now() - t0, dc = cpu() - c0;
        if (dt < best)
            best = dt;
        if (dc < best_cpu)
            best_cpu = dc;
        int same = r.rows == rows && r.cols == cols && memcmp(r.values, t.values, rows * cols * sizeof(double)) == 0;
        sd_table_free(&r);
        if (!same) {
            fprintf(stderr, "read values differ from the written ones\n");
            return 1;
        }
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], "--read-once", path, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    unlink(path);
    printf("table %zu x %zu, %.1f MB of CSV (checksum %.3g)\n", rows, cols, (double)size / 1e6, sum);
    printf("write %.3f s; read %.3f s of CPU (%.3f s wall, %.0f MB/s of CPU), strtod alone %.3f s of CPU: "
           "read / strtod = %.2f\n",
           t_write, best_cpu, best, (double)size / 1e6 / best_cpu, t_strtod, best_cpu / t_strtod);
    sd_table_free(&t);
    return 0;
}
