/* C reference client for benchmarks/run.py: plain libgearman, the calls a C program would make.

   bench_client HOST PORT MODE COUNT SIZE
     do          COUNT sequential gearman_client_do() of SIZE bytes (W1, W4 round trips, soak)
     background  COUNT sequential gearman_client_do_background() of SIZE bytes (W2 submit, W5 fill)
     tasks       COUNT gearman_client_add_task() then one gearman_client_run_tasks() (W3)

   Function "echo" (env BENCH_FUNCTION overrides). Prints one JSON line: wall and CPU seconds of the
   measured loop, per-call times for "do" when COUNT <= 1000, RSS before the loop and the peak during it.
   Exit status 1 (and a message on stderr) if any call fails or a result differs from its payload. */
#include "bench_common.h"

#include <libgearman-1.0/gearman.h>

static const char *expected;
static size_t expected_size;
static long completed, bad;

/* W3: the complete callback checks each result (libgearman keeps no result without one). */
static gearman_return_t on_complete(gearman_task_st *task)
{
    if (gearman_task_data_size(task) != expected_size
        || (expected_size && memcmp(gearman_task_data(task), expected, expected_size) != 0))
        bad++;
    completed++;
    return GEARMAN_SUCCESS;
}

static const char *function_name(void)
{
    const char *f = getenv("BENCH_FUNCTION");
    return f != NULL && *f ? f : "echo";
}

int main(int argc, char **argv)
{
    gearman_client_st *client;
    const char *mode;
    long count, i;
    size_t size;
    char *payload;
    double t0, c0, t1, c1;
    double *times = NULL;
    long rss_before, failures = 0;

    if (argc != 6) {
        fprintf(stderr, "usage: %s HOST PORT do|background|tasks COUNT SIZE\n", argv[0]);
        return 2;
    }
    mode = argv[3];
    count = atol(argv[4]);
    size = (size_t)atol(argv[5]);
    payload = malloc(size ? size : 1);
    bench_fill(payload, size);

    client = gearman_client_create(NULL);
    if (client == NULL || gearman_client_add_server(client, argv[1], (in_port_t)atoi(argv[2])) != GEARMAN_SUCCESS) {
        fprintf(stderr, "client setup failed\n");
        return 1;
    }
    gearman_client_set_timeout(client, 600000);
    if (gearman_client_echo(client, "x", 1) != GEARMAN_SUCCESS) {   /* connect outside the loop */
        fprintf(stderr, "echo: %s\n", gearman_client_error(client));
        return 1;
    }
    if (strcmp(mode, "do") == 0 && count <= 1000)
        times = calloc((size_t)count, sizeof(double));
    rss_before = bench_status_kib("VmRSS");
    bench_reset_peak();
    t0 = bench_now();
    c0 = bench_cpu();

    if (strcmp(mode, "do") == 0) {
        for (i = 0; i < count; i++) {
            gearman_return_t rc;
            size_t result_size = 0;
            double s = bench_now();
            void *result = gearman_client_do(client, function_name(), NULL, payload, size, &result_size, &rc);
            if (times != NULL)
                times[i] = bench_now() - s;
            if (rc != GEARMAN_SUCCESS || result_size != size || (size && memcmp(result, payload, size) != 0)) {
                fprintf(stderr, "do #%ld: %s (%zu bytes)\n", i, gearman_strerror(rc), result_size);
                failures++;
            }
            free(result);
        }
    } else if (strcmp(mode, "background") == 0) {
        for (i = 0; i < count; i++) {
            char handle[GEARMAN_JOB_HANDLE_SIZE];
            gearman_return_t rc = gearman_client_do_background(client, function_name(), NULL, payload, size, handle);
            if (rc != GEARMAN_SUCCESS) {
                fprintf(stderr, "do_background #%ld: %s\n", i, gearman_strerror(rc));
                failures++;
            }
        }
    } else if (strcmp(mode, "tasks") == 0) {
        gearman_return_t rc;
        expected = payload;
        expected_size = size;
        gearman_client_set_complete_fn(client, on_complete);
        for (i = 0; i < count; i++) {
            gearman_client_add_task(client, NULL, NULL, function_name(), NULL, payload, size, &rc);
            if (rc != GEARMAN_SUCCESS) {
                fprintf(stderr, "add_task #%ld: %s\n", i, gearman_strerror(rc));
                return 1;
            }
        }
        rc = gearman_client_run_tasks(client);
        if (rc != GEARMAN_SUCCESS) {
            fprintf(stderr, "run_tasks: %s\n", gearman_client_error(client));
            failures++;
        }
        failures += bad + (count - completed);
        gearman_client_task_free_all(client);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }

    c1 = bench_cpu();
    t1 = bench_now();
    printf("{\"impl\": \"c\", \"mode\": \"%s\", \"count\": %ld, \"size\": %zu, \"seconds\": %.6f, "
           "\"cpu\": %.6f, \"rss_before_kib\": %ld, \"rss_peak_kib\": %ld, \"failures\": %ld",
           mode, count, size, t1 - t0, c1 - c0, rss_before, bench_status_kib("VmHWM"), failures);
    if (times != NULL) {
        printf(", \"times\": [");
        for (i = 0; i < count; i++)
            printf(i ? ", %.6f" : "%.6f", times[i]);
        printf("]");
    }
    printf("}\n");
    gearman_client_free(client);
    free(payload);
    free(times);
    return failures ? 1 : 0;
}
