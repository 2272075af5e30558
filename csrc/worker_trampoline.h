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

/* A malloc'd copy of a worker function's result (libgearman frees it); NULL if out of memory. */
void *gxs_dup(const char *p, size_t n);

#endif
