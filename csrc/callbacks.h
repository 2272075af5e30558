/* The Python functions that the C shims call. cffi defines them in the generated module
   (extern "Python+C" in decl/callbacks.h, implemented with @ffi.def_extern in
   gearman_xs/_task_callbacks.py and gearman_xs/worker.py); this header gives the shims their
   prototypes. */
#ifndef GXS_CALLBACKS_H
#define GXS_CALLBACKS_H

#include <stddef.h>
#include <libgearman-1.0/gearman.h>

/* One per task event; each dispatches through the task's context (a cffi handle). */
gearman_return_t gxs_task_created(gearman_task_st *task);
gearman_return_t gxs_task_data(gearman_task_st *task);
gearman_return_t gxs_task_warning(gearman_task_st *task);
gearman_return_t gxs_task_status(gearman_task_st *task);
gearman_return_t gxs_task_complete(gearman_task_st *task);
gearman_return_t gxs_task_exception(gearman_task_st *task);
gearman_return_t gxs_task_fail(gearman_task_st *task);

/* The worker's function, called by gxs_worker_trampoline (worker_trampoline.c). */
void *gxs_worker_function(gearman_job_st *job, void *context, const char *workload,
                          size_t workload_size);

#endif
