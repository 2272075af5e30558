/* The asyncio client's C side (aio.c), used by gearman_xs/_aio_engine.py: the outcome of every job
   collected in C (one gxs_aio_job per awaited job, listed in its gxs_aio once finished, so the I/O
   thread never scans the jobs in flight), and a wait on libgearman's connections that a wake-up
   pipe can interrupt. */
#ifndef GXS_AIO_H
#define GXS_AIO_H

#include <stddef.h>
#include <libgearman-1.0/gearman.h>

#include "client_acc.h"

struct gxs_aio;

/* One job of an AsyncClient: its outcome (acc, as do*() collects it) and where it is listed. */
typedef struct gxs_aio_job {
    gxs_acc acc;
    struct gxs_aio *aio;
    int listed;                 /* on aio->done already */
    int created;                /* JOB_CREATED came (the job handle is known) */
    int abandoned;              /* set by Python: nobody waits for it; its data is not kept */
    long key;                   /* set by Python: which job this is */
} gxs_aio_job;

/* The jobs of one AsyncClient that finished since the I/O thread last took them. */
typedef struct gxs_aio {
    gxs_aio_job **done; size_t n_done; size_t cap_done;
    unsigned long events;       /* packets seen (progress) */
    int nomem;                  /* the done list could not grow: scan the jobs instead */
} gxs_aio;

/* Redirects libgearman's poll() slots (once) so that gxs_aio_wait() can add its wake-up fd; a
   GXS_SB_* status (gxs_aio_wait() then waits at most timeout_ms without the wake-up fd). */
int gxs_aio_install(void);

/* Adds job j (kind: 0 high, 1 normal, 2 low; +3 for background) with the collecting callbacks;
   NULL with *ret set when libgearman refused it. */
gearman_task_st *gxs_aio_add(gearman_client_st *c, gxs_aio *aio, gxs_aio_job *j, int kind,
                             const char *fn, const char *unique, const void *w, size_t n,
                             gearman_return_t *ret);

/* Frees the done list (the struct belongs to the caller). */
void gxs_aio_release(gxs_aio *aio);

/* Waits up to timeout_ms for libgearman's connections (gearman_client_wait(): their revents set
   for the next gearman_client_run_tasks(); c NULL: none) or for wake_fd to become readable (then drained).
   Returns 1 when woken, 0 otherwise, with *rc what the wait returned (GEARMAN_SUCCESS: a
   connection is ready; GEARMAN_TIMEOUT: nothing; GEARMAN_NO_ACTIVE_FDS: libgearman waits for
   nothing, only wake_fd was watched). */
int gxs_aio_wait(gearman_client_st *c, int wake_fd, int timeout_ms, gearman_return_t *rc);

/* The I/O thread's pass: gearman_client_run_tasks(), then waits (gxs_aio_wait) and runs again,
   until a job ended (aio->n_done), wake_fd fired (*woke), run_tasks() returned anything but
   GEARMAN_IO_WAIT, or timeout_ms passed (0: run once, never wait). Returns run_tasks()'s last code. */
gearman_return_t gxs_aio_step(gearman_client_st *c, gxs_aio *aio, int wake_fd, int timeout_ms,
                              int *woke);

#endif
