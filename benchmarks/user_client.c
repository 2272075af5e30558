/* A C client written the way a user writes one (benchmarks/user.py, scale.py): libgearman's defaults
   (no gearman_client_set_timeout, no warm-up echo: the first job connects), the payload built per
   job, every result checked. user_client.py is the same program in Python with gearman_xs.

   user_client HOST PORT MODE COUNT SIZE [THREADS [DURATION START]]
     do          sequential gearman_client_do() per thread
     background  sequential gearman_client_do_background() per thread
     tasks       COUNT gearman_client_add_task() then one gearman_client_run_tasks() per thread
   THREADS (default 1) pthreads, each with its own gearman_client_st. With DURATION > 0 (seconds),
   every thread starts at START (a Unix time, so that several processes start together; "-": print
   "ready" on stderr and read it from stdin) and runs do/background jobs until START + DURATION
   (COUNT caps the jobs per thread; 0: no cap; at least one job).
   The payload of job i is i in decimal, zero-padded to SIZE bytes (20 <= SIZE <= 4096).

   Prints one JSON line: jobs done, wall seconds from the start to the last thread's end (connects
   included), the process's CPU seconds over the same time, failures (errors or wrong results). */
#include "bench_common.h"

#include <pthread.h>
#include <libgearman-1.0/gearman.h>

static const char *host, *mode;
static in_port_t port;
static long count;
static size_t size;
static double duration, start_mono;

typedef struct {
    long done, failures;
    char *payloads;                 /* tasks: every payload, kept until run_tasks() returns */
    unsigned char *seen;            /* tasks: which payloads came back */
} thread_state;

static void make_payload(char *buf, long i)
{
    char tmp[4097];
    snprintf(tmp, sizeof tmp, "%0*ld", (int)size, i);   /* size + NUL: snprintf writes all of it */
    memcpy(buf, tmp, size);
}

/* tasks: a result is a payload (its number in range, seen once) */
static gearman_return_t on_complete(gearman_task_st *task)
{
    thread_state *st = (thread_state *)gearman_task_context(task);
    const char *data = (const char *)gearman_task_data(task);
    char tmp[4097];
    long i;
    if (gearman_task_data_size(task) != size || data == NULL) {
        st->failures++;
        return GEARMAN_SUCCESS;
    }
    memcpy(tmp, data, size);
    tmp[size] = 0;
    i = strtol(tmp, NULL, 10);
    if (i < 0 || i >= count || st->seen[i]) {
        st->failures++;
    } else {
        st->seen[i] = 1;
        st->done++;
    }
    return GEARMAN_SUCCESS;
}

static void *run(void *arg)
{
    thread_state *st = (thread_state *)arg;
    gearman_client_st *client;
    char *payload = malloc(size + 1);
    long i;
    struct timespec ts;
    double stop = start_mono + duration;

    ts.tv_sec = (time_t)start_mono;
    ts.tv_nsec = (long)((start_mono - (double)ts.tv_sec) * 1e9);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);

    client = gearman_client_create(NULL);
    if (client == NULL || gearman_client_add_server(client, host, port) != GEARMAN_SUCCESS) {
        fprintf(stderr, "client setup failed\n");
        exit(1);
    }
    if (strcmp(mode, "tasks") == 0) {
        gearman_return_t rc;
        st->payloads = malloc((size_t)count * size + 1);
        st->seen = calloc((size_t)count + 1, 1);
        gearman_client_set_complete_fn(client, on_complete);
        for (i = 0; i < count; i++) {
            make_payload(st->payloads + (size_t)i * size, i);
            gearman_client_add_task(client, NULL, st, "echo", NULL, st->payloads + (size_t)i * size, size, &rc);
            if (rc != GEARMAN_SUCCESS) {
                fprintf(stderr, "add_task: %s\n", gearman_client_error(client));
                st->failures++;
                break;
            }
        }
        if (gearman_client_run_tasks(client) != GEARMAN_SUCCESS) {
            fprintf(stderr, "run_tasks: %s\n", gearman_client_error(client));
            st->failures++;
        }
        if (st->done != count)
            st->failures += count - st->done;
        gearman_client_task_free_all(client);
    } else {
        int background = strcmp(mode, "background") == 0;
        for (i = 0; count == 0 || i < count; i++) {
            gearman_return_t rc;
            if (duration > 0 && i > 0 && bench_now() >= stop)   /* at least one job */
                break;
            make_payload(payload, i);
            if (background) {
                char handle[GEARMAN_JOB_HANDLE_SIZE];
                rc = gearman_client_do_background(client, "echo", NULL, payload, size, handle);
                if (rc != GEARMAN_SUCCESS) {
                    fprintf(stderr, "do_background: %s\n", gearman_client_error(client));
                    st->failures++;
                }
            } else {
                size_t result_size = 0;
                void *result = gearman_client_do(client, "echo", NULL, payload, size, &result_size, &rc);
                if (rc != GEARMAN_SUCCESS || result_size != size || memcmp(result, payload, size) != 0) {
                    fprintf(stderr, "do: %s\n", gearman_strerror(rc));
                    st->failures++;
                }
                free(result);
            }
            st->done++;
        }
    }
    gearman_client_free(client);
    free(payload);
    free(st->payloads);
    free(st->seen);
    return NULL;
}

int main(int argc, char **argv)
{
    long nthreads = 1, t, done = 0, failures = 0;
    double start_real = 0, begin, c0, t1, c1;
    pthread_t *threads;
    thread_state *states;
    struct timespec ts;

    if (argc != 6 && argc != 7 && argc != 9) {
        fprintf(stderr, "usage: %s HOST PORT do|background|tasks COUNT SIZE [THREADS [DURATION START]]\n", argv[0]);
        return 2;
    }
    host = argv[1];
    port = (in_port_t)atoi(argv[2]);
    mode = argv[3];
    count = atol(argv[4]);
    size = (size_t)atol(argv[5]);
    if (argc >= 7)
        nthreads = atol(argv[6]);
    if (argc == 9) {
        duration = atof(argv[7]);
        if (strcmp(argv[8], "-") == 0) {        /* "ready", then the start time comes on stdin */
            char line[64];
            fprintf(stderr, "ready\n");
            fflush(stderr);
            if (fgets(line, sizeof line, stdin) == NULL) {
                fprintf(stderr, "no start time on stdin\n");
                return 2;
            }
            start_real = atof(line);
        } else {
            start_real = atof(argv[8]);
        }
    }
    if (size < 20 || size > 4096 || nthreads < 1 || (count <= 0 && duration <= 0)) {
        fprintf(stderr, "SIZE must be 20..4096, THREADS >= 1, COUNT > 0 unless DURATION is given\n");
        return 2;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    start_mono = bench_now();
    if (start_real > 0)
        start_mono += start_real - ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    threads = calloc((size_t)nthreads, sizeof *threads);
    states = calloc((size_t)nthreads, sizeof *states);
    for (t = 0; t < nthreads; t++)
        pthread_create(&threads[t], NULL, run, &states[t]);
    ts.tv_sec = (time_t)start_mono;
    ts.tv_nsec = (long)((start_mono - (double)ts.tv_sec) * 1e9);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    begin = bench_now();                /* a process that started late counts from its own start */
    if (begin < start_mono)
        begin = start_mono;
    c0 = bench_cpu();
    for (t = 0; t < nthreads; t++) {
        pthread_join(threads[t], NULL);
        done += states[t].done;
        failures += states[t].failures;
    }
    c1 = bench_cpu();
    t1 = bench_now();
    printf("{\"impl\": \"c\", \"mode\": \"%s\", \"threads\": %ld, \"count\": %ld, \"size\": %zu, "
           "\"seconds\": %.6f, \"cpu\": %.6f, \"failures\": %ld, \"late\": %.6f}\n",
           mode, nthreads, done, size, t1 - begin, c1 - c0, failures, begin - start_mono);
    free(threads);
    free(states);
    return failures ? 1 : 0;
}
