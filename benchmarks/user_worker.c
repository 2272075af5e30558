/* A C worker written the way a user writes one (benchmarks/user.py, scale.py): libgearman's defaults
   (no timeout: gearman_worker_work() blocks), function "echo" returns a copy of its workload.
   user_worker.py is the same program in Python with gearman_xs.

   user_worker HOST PORT COUNT [THREADS]
     THREADS (default 1) pthreads, each with its own gearman_worker_st, loop on
     gearman_worker_work(). After COUNT jobs in all (0: never; stop it with a signal) the process
     prints one JSON line (jobs, wall and CPU seconds from the start of the first job to the end of
     the last) and exits. */
#include "bench_common.h"

#include <pthread.h>
#include <unistd.h>
#include <libgearman-1.0/gearman.h>

static const char *host;
static in_port_t port;
static long count, nthreads = 1;
static long jobs;                   /* atomic */
static int started;                 /* atomic */
static double first_wall, first_cpu;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void *echo(gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret_ptr)
{
    size_t n = gearman_job_workload_size(job);
    void *result = malloc(n ? n : 1);
    (void)context;
    if (__atomic_exchange_n(&started, 1, __ATOMIC_SEQ_CST) == 0) {
        first_wall = bench_now();
        first_cpu = bench_cpu();
    }
    if (result == NULL) {
        *ret_ptr = GEARMAN_WORK_FAIL;
        return NULL;
    }
    memcpy(result, gearman_job_workload(job), n);
    *result_size = n;
    *ret_ptr = GEARMAN_SUCCESS;
    return result;
}

static void *run(void *arg)
{
    gearman_worker_st *worker = gearman_worker_create(NULL);
    (void)arg;
    if (worker == NULL || gearman_worker_add_server(worker, host, port) != GEARMAN_SUCCESS
        || gearman_worker_add_function(worker, "echo", 0, echo, NULL) != GEARMAN_SUCCESS) {
        fprintf(stderr, "worker setup failed\n");
        exit(1);
    }
    for (;;) {
        gearman_return_t rc = gearman_worker_work(worker);
        if (rc != GEARMAN_SUCCESS) {
            fprintf(stderr, "work: %s\n", gearman_worker_error(worker));
            exit(1);
        }
        if (__atomic_add_fetch(&jobs, 1, __ATOMIC_SEQ_CST) == count) {
            double wall = bench_now(), cpu = bench_cpu();
            pthread_mutex_lock(&report_lock);
            printf("{\"impl\": \"c\", \"mode\": \"worker\", \"threads\": %ld, \"count\": %ld, "
                   "\"seconds\": %.6f, \"cpu\": %.6f, \"rss_peak_kib\": %ld}\n",
                   nthreads, count, wall - first_wall, cpu - first_cpu, bench_status_kib("VmHWM"));
            fflush(stdout);
            _exit(0);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t *threads;
    long t;

    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s HOST PORT COUNT [THREADS]\n", argv[0]);
        return 2;
    }
    host = argv[1];
    port = (in_port_t)atoi(argv[2]);
    count = atol(argv[3]);
    if (argc == 5)
        nthreads = atol(argv[4]);
    if (nthreads < 1) {
        fprintf(stderr, "THREADS must be >= 1\n");
        return 2;
    }
    threads = calloc((size_t)nthreads, sizeof *threads);
    for (t = 0; t < nthreads; t++)
        pthread_create(&threads[t], NULL, run, NULL);
    for (t = 0; t < nthreads; t++)
        pthread_join(threads[t], NULL);
    return 0;
}
