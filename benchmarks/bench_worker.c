/* C reference worker for benchmarks/run.py: one libgearman worker whose function "echo" returns
   its workload (a V1 function: the result is a malloc'ed copy that libgearman frees).

   bench_worker HOST PORT COUNT
     runs gearman_worker_work() until COUNT jobs are done (0: until SIGTERM), then prints one JSON
     line: jobs, wall and CPU seconds from the start of the first job to the end of the last one,
     and RSS after the first job and at the end. Prints "ready" on stderr once registered. */
#include "bench_common.h"

#include <signal.h>
#include <libgearman-1.0/gearman.h>

static long jobs = 0;
static double first_wall = 0, first_cpu = 0, last_wall = 0, last_cpu = 0;
static long rss_first = -1;
static volatile sig_atomic_t stop = 0;

static void *echo(gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret_ptr)
{
    size_t size = gearman_job_workload_size(job);
    void *result = malloc(size ? size : 1);
    (void)context;
    if (jobs == 0) {
        first_wall = bench_now();
        first_cpu = bench_cpu();
    }
    if (result == NULL) {
        *ret_ptr = GEARMAN_WORK_FAIL;
        return NULL;
    }
    if (size)
        memcpy(result, gearman_job_workload(job), size);
    *result_size = size;
    *ret_ptr = GEARMAN_SUCCESS;
    return result;
}

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    gearman_worker_st *worker;
    long count;
    const char *function = getenv("BENCH_FUNCTION");

    if (argc != 4) {
        fprintf(stderr, "usage: %s HOST PORT COUNT\n", argv[0]);
        return 2;
    }
    count = atol(argv[3]);
    signal(SIGTERM, on_term);
    worker = gearman_worker_create(NULL);
    if (worker == NULL || gearman_worker_add_server(worker, argv[1], (in_port_t)atoi(argv[2])) != GEARMAN_SUCCESS
        || gearman_worker_add_function(worker, function && *function ? function : "echo", 0, echo, NULL)
               != GEARMAN_SUCCESS) {
        fprintf(stderr, "worker setup failed\n");
        return 1;
    }
    if (gearman_worker_echo(worker, "x", 1) != GEARMAN_SUCCESS) {   /* default timeout: a loaded machine */
        fprintf(stderr, "echo: %s\n", gearman_worker_error(worker));
        return 1;
    }
    gearman_worker_set_timeout(worker, 200);   /* wake up to notice SIGTERM */
    fprintf(stderr, "ready\n");
    while (!stop && (count == 0 || jobs < count)) {
        gearman_return_t rc = gearman_worker_work(worker);
        if (rc == GEARMAN_SUCCESS) {
            jobs++;
            last_wall = bench_now();
            last_cpu = bench_cpu();
            if (jobs == 1)
                rss_first = bench_status_kib("VmRSS");
        } else if (rc != GEARMAN_TIMEOUT && rc != GEARMAN_IO_WAIT && rc != GEARMAN_NO_JOBS) {
            fprintf(stderr, "work: %s\n", gearman_worker_error(worker));
            return 1;
        }
    }
    printf("{\"impl\": \"c\", \"mode\": \"worker\", \"count\": %ld, \"seconds\": %.6f, \"cpu\": %.6f, "
           "\"rss_first_kib\": %ld, \"rss_end_kib\": %ld, \"rss_peak_kib\": %ld}\n",
           jobs, jobs ? last_wall - first_wall : 0.0, jobs ? last_cpu - first_cpu : 0.0, rss_first,
           bench_status_kib("VmRSS"), bench_status_kib("VmHWM"));
    fflush(stdout);
    gearman_worker_free(worker);
    return 0;
}
