/* Shared helpers for the C reference programs of benchmarks/run.py (plain libgearman 1.1.20). */
#ifndef GXS_BENCH_COMMON_H
#define GXS_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double bench_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Current and peak resident set size in KiB, from /proc/self/status (VmRSS, VmHWM). */
static inline long bench_status_kib(const char *field)
{
    char line[256];
    long value = -1;
    size_t n = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            value = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return value;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0), so a later VmHWM is the peak since now. */
static inline void bench_reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f != NULL) {
        fputs("5", f);
        fclose(f);
    }
}

static inline void bench_fill(char *buf, size_t size)
{
    size_t i;
    for (i = 0; i < size; i++)
        buf[i] = (char)('a' + (i * 7 + i / 251) % 26);
}

#endif
