/* The worker's V1 function trampoline (used by gearman_xs/worker.py).

   The V1 worker function goes through a trampoline that presets *ret_ptr to GEARMAN_WORK_FAIL, so
   that a Python callback which fails before it can store a code (an exception at entry, e.g. a
   pending KeyboardInterrupt) fails the job instead of reporting an empty success. A non-NULL
   result (a malloc'd copy, see gxs_dup) means success; for an empty or already-sent result Python
   returns NULL and stores GEARMAN_SUCCESS itself. The workload pointer and size are passed in, so
   that Job.workload() needs one cffi call per job instead of four. */
#include <stdlib.h>
#include <string.h>

#include "callbacks.h"
#include "worker_trampoline.h"

static void *gxs_worker_trampoline(gearman_job_st *job, void *context, size_t *result_size,
                                   gearman_return_t *ret_ptr)
{
    void *result;
    *ret_ptr = GEARMAN_WORK_FAIL;
    *result_size = 0;
    result = gxs_worker_function(job, context, (const char *)gearman_job_workload(job),
                                 gearman_job_workload_size(job), result_size, ret_ptr);
    if (result != NULL)
        *ret_ptr = GEARMAN_SUCCESS;
    return result;
}

void *gxs_dup(const char *p, size_t n)
{
    void *r = malloc(n ? n : 1);
    if (r != NULL && n)
        memcpy(r, p, n);
    return r;
}

gearman_return_t gxs_worker_add_function(gearman_worker_st *worker, const char *function_name,
                                         uint32_t timeout, void *context)
{
    return gearman_worker_add_function(worker, function_name, timeout, gxs_worker_trampoline,
                                       context);
}
