/* The worker's V1 function trampoline (worker_trampoline.c). */
#ifndef GXS_WORKER_TRAMPOLINE_H
#define GXS_WORKER_TRAMPOLINE_H

#include <stddef.h>
#include <stdint.h>
#include <libgearman-1.0/gearman.h>

/* gearman_worker_add_function() with gxs_worker_trampoline as the function; context is the
   Python handle that gxs_worker_function receives. */
gearman_return_t gxs_worker_add_function(gearman_worker_st *worker, const char *function_name,
                                         uint32_t timeout, void *context);

/* gxs_worker_work(): a GEARMAN_TIMEOUT that came before half the worker's poll timeout (of at least
   GXS_WORK_EARLY_MIN_MS): libgearman did not wait, because the server closed the connection. */
#define GXS_WORK_CLOSED_EARLY (-1)
#define GXS_WORK_EARLY_MIN_MS 20

/* One pass of a Worker's work(): gearman_worker_work() with the packet guard's reply wait set to
   wait_ms for the call (first: also forget the last reason, as at the start of a work() call) and
   off after it; on success the last reason is forgotten too. Returns its gearman_return_t, or
   GXS_WORK_CLOSED_EARLY for a GEARMAN_TIMEOUT before half the worker's timeout. */
int gxs_worker_work(gearman_worker_st *worker, int wait_ms, int first);
/* gxs_worker_work() again while each pass runs a job: at most budget jobs (0: no limit), and no
   more once *stop is nonzero (Python's stop()) or a function returned gxs_worker_stop(). *done:
   the jobs run; the return value is that of the last pass (GEARMAN_SUCCESS when it stopped after
   a job). first: as for gxs_worker_work(); each job's end forgets the reason too. */
int gxs_worker_run(gearman_worker_st *worker, int wait_ms, int first, uint64_t budget,
                   const volatile int *stop, uint64_t *done);

/* A malloc'd copy of a worker function's result (libgearman frees it); NULL if out of memory. Its
   size is what the trampoline reports, so a function returns this pointer and nothing else. */
void *gxs_dup(const char *p, size_t n);
/* What a worker function returns for success with nothing (more) to send (see worker_trampoline.c). */
void *gxs_worker_done(void);
/* What a worker function returns when its job failed and Python must see the exception it left:
   gxs_worker_run() stops after the pass. */
void *gxs_worker_stop(void);

#endif
