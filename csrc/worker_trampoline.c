/* The worker's V1 function trampoline (used by gearman_xs/worker.py).

   gxs_worker_trampoline() is the V1 worker function of every registered name. It calls the Python
   function gxs_worker_function (gearman_xs/_worker_call.py) with the job, its context (the
   function's cffi handle) and the workload pointer and size (so that Job.workload() is one cffi
   call), and turns what it returns into the V1 answer:
     NULL                  the job failed (GEARMAN_WORK_FAIL): the function raised, or returned a
                           value that cannot be sent;
     gxs_worker_stop()     the job failed, and Python has an exception to raise (the function's
                           KeyboardInterrupt or SystemExit, or one at the callback's entry: cffi's
                           onerror): gxs_worker_run() stops after this pass;
     gxs_worker_done()     success with nothing (more) to send: an empty result, or the function
                           already answered the job itself;
     anything else         a result made by gxs_dup() (libgearman frees it), whose size gxs_dup()
                           left in this thread's gxs_dup_size.
   So the callback takes four arguments and writes no out-parameters.

   gxs_worker_work() is one pass of a Worker's work(): the packet guard's reply wait on for the
   call, gearman_worker_work(), the wait off again, and the one timing question the pass loop asks
   (did the poll end long before its timeout?), in one cffi call and one GIL hand-off per job.
   gxs_worker_run() is the same for run(): passes one after the other in C while they run jobs, so
   Python is entered only for the jobs' functions. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callbacks.h"
#include "net_guard.h"
#include "worker_trampoline.h"

static char gxs_done;                    /* gxs_worker_done(): success, nothing to send */
static char gxs_stop;                    /* gxs_worker_stop(): the job failed, stop the passes */
static __thread size_t gxs_dup_size;     /* the size of this thread's last gxs_dup() */
static __thread int gxs_stop_asked;      /* a function returned gxs_worker_stop() in this pass */

void *gxs_worker_done(void)
{
    return &gxs_done;
}

void *gxs_worker_stop(void)
{
    return &gxs_stop;
}

static void *gxs_worker_trampoline(gearman_job_st *job, void *context, size_t *result_size,
                                   gearman_return_t *ret_ptr)
{
    void *result;
    gxs_dup_size = 0;
    result = gxs_worker_function(job, context, (const char *)gearman_job_workload(job),
                                 gearman_job_workload_size(job));
    *result_size = 0;
    if (result == NULL || result == &gxs_stop) {
        if (result != NULL)
            gxs_stop_asked = 1;
        *ret_ptr = GEARMAN_WORK_FAIL;
        return NULL;
    }
    *ret_ptr = GEARMAN_SUCCESS;
    if (result == &gxs_done)
        return NULL;
    *result_size = gxs_dup_size;
    return result;
}

void *gxs_dup(const char *p, size_t n)
{
    void *r = malloc(n ? n : 1);
    if (r != NULL && n)
        memcpy(r, p, n);
    gxs_dup_size = n;
    return r;
}

gearman_return_t gxs_worker_add_function(gearman_worker_st *worker, const char *function_name,
                                         uint32_t timeout, void *context)
{
    return gearman_worker_add_function(worker, function_name, timeout, gxs_worker_trampoline,
                                       context);
}

static long long gxs_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Passes of gearman_worker_work() while they run jobs: up to budget jobs, until *stop is set or a
   function asked to stop (GXS_WORKER_STOP). *done: the jobs run. See worker_trampoline.h. */
static int gxs_worker_passes(gearman_worker_st *worker, int wait_ms, int first, uint64_t budget,
                             const volatile int *stop, uint64_t *done)
{
    gearman_return_t rc;
    int timeout = gearman_worker_timeout(worker);
    long long started = timeout >= GXS_WORK_EARLY_MIN_MS ? gxs_now_ms() : 0;
    uint64_t n = 0;
    if (first)
        gxs_ng_set_wait(wait_ms);
    else
        gxs_ng_wait_only(wait_ms);
    for (;;) {
        gxs_stop_asked = 0;
        rc = gearman_worker_work(worker);
        if (rc != GEARMAN_SUCCESS)
            break;
        ++n;
        if (n >= budget || gxs_stop_asked || (stop != NULL && *stop)) {
            gxs_ng_set_wait(0);   /* as at the end of work(): no reason left to explain */
            *done = n;
            return rc;
        }
        gxs_ng_set_wait(wait_ms); /* the next job is a new call: the last reason forgotten */
        if (started)
            started = gxs_now_ms();
    }
    gxs_ng_wait_only(0);          /* the reason stays for the error the caller raises */
    *done = n;
    if (rc == GEARMAN_TIMEOUT && started && (gxs_now_ms() - started) * 2 < timeout)
        return GXS_WORK_CLOSED_EARLY;
    return rc;
}

int gxs_worker_work(gearman_worker_st *worker, int wait_ms, int first)
{
    uint64_t done;
    return gxs_worker_passes(worker, wait_ms, first, 1, NULL, &done);
}

int gxs_worker_run(gearman_worker_st *worker, int wait_ms, int first, uint64_t budget,
                   const volatile int *stop, uint64_t *done)
{
    return gxs_worker_passes(worker, wait_ms, first, budget ? budget : UINT64_MAX, stop, done);
}
