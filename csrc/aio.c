/* The asyncio client's C side (used by gearman_xs/_aio_engine.py).

   Outcomes: every job an AsyncClient submits has a gxs_aio_job (allocated and kept alive by
   Python) as its task context. The callbacks below collect its packets into the job's gxs_acc the
   way client_acc.c does for do*() (WORK_DATA chunks + WORK_COMPLETE payload, the WORK_EXCEPTION
   text, the final code) and put the job on its gxs_aio's done list when it ends, so that after a
   gearman_client_run_tasks() the I/O thread visits only the jobs that finished, never every job in
   flight, and no Python code runs per packet.

   The wait: the I/O thread drives its C client in non-blocking mode and waits with
   gearman_client_wait(), which polls libgearman's connections for the events libgearman wants and
   records what is ready for the next run_tasks(). A new submission from the event loop must wake
   that wait, and libgearman has no such hook for clients. So libgearman's GOT slots for poll() are
   redirected (gxs_sb_redirect, socket_buffers.c) to gxs_aio_poll, which, only inside
   gxs_aio_wait() in the calling thread, adds the wake-up fd to the poll set and takes it out of
   the result again: libgearman sees "nothing ready" (GEARMAN_TIMEOUT) when only the wake-up fd
   fired. Every other poll() of libgearman passes straight through. The wait and run_tasks() count
   as a Client's for the packet guard (net_guard.c): a connection that broke is read to its end
   before libgearman sees the error, so a JOB_CREATED or result that arrived first is not lost. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aio.h"
#include "net_guard.h"
#include "socket_buffers.h"

typedef int (*gxs_aio_poll_fn)(struct pollfd *, nfds_t, int);

static gxs_aio_poll_fn gxs_aio_forward = 0;   /* the real poll() */
static int gxs_aio_status = GXS_SB_NOT_INITIALIZED;
static __thread int gxs_aio_extra = -1;        /* the wake-up fd of the gxs_aio_wait() in progress */
static __thread int gxs_aio_woke = 0;

#define GXS_AIO_LOCAL_FDS 16

static int gxs_aio_poll(struct pollfd *fds, nfds_t n, int timeout)
{
    struct pollfd local[GXS_AIO_LOCAL_FDS + 1], *p = local;
    nfds_t i;
    int r;
    if (gxs_aio_extra < 0)
        return gxs_aio_forward(fds, n, timeout);
    if (n > GXS_AIO_LOCAL_FDS) {
        p = (struct pollfd *)malloc((n + 1) * sizeof *p);
        if (p == NULL)
            return gxs_aio_forward(fds, n, timeout < 0 || timeout > 10 ? 10 : timeout);
    }
    memcpy(p, fds, n * sizeof *p);
    p[n].fd = gxs_aio_extra;
    p[n].events = POLLIN;
    p[n].revents = 0;
    r = gxs_aio_forward(p, n + 1, timeout);
    if (r > 0) {
        for (i = 0; i < n; i++)
            fds[i].revents = p[i].revents;
        if (p[n].revents) {
            gxs_aio_woke = 1;
            r--;
        }
    }
    if (p != local)
        free(p);
    return r;
}

int gxs_aio_install(void)
{
    void *original = (void *)&poll;
    if (gxs_aio_status != GXS_SB_NOT_INITIALIZED)
        return gxs_aio_status;
    gxs_aio_forward = &poll;   /* set before any slot points at gxs_aio_poll */
    gxs_aio_status = gxs_sb_redirect("poll", (void *)&gxs_aio_poll, &original);
    gxs_aio_forward = (gxs_aio_poll_fn)original;
    return gxs_aio_status;
}

/* -- outcomes ----------------------------------------------------------------------------------- */

static void gxs_aio_list(gxs_aio_job *j)
{
    gxs_aio *aio = j->aio;
    if (j->listed)
        return;
    if (aio->n_done == aio->cap_done) {
        size_t cap = aio->cap_done ? 2 * aio->cap_done : 64;
        gxs_aio_job **nd = (gxs_aio_job **)realloc(aio->done, cap * sizeof *nd);
        if (nd == NULL) {
            aio->nomem = 1;    /* Python then looks at every job's acc.done */
            return;
        }
        aio->done = nd;
        aio->cap_done = cap;
    }
    aio->done[aio->n_done++] = j;
    j->listed = 1;
}

static void gxs_aio_end(gxs_aio_job *j, gearman_return_t rc)
{
    if (!j->acc.done) {
        j->acc.done = 1;
        j->acc.rc = rc;
    }
    gxs_aio_list(j);
}

static gxs_aio_job *gxs_aio_job_of(gearman_task_st *t)
{
    gxs_aio_job *j = (gxs_aio_job *)gearman_task_context(t);
    j->acc.events++;
    j->aio->events++;
    return j;
}

static gearman_return_t gxs_aio_on_event(gearman_task_st *t)
{
    gxs_aio_job_of(t);
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_aio_on_created(gearman_task_st *t)
{
    gxs_aio_job *j = gxs_aio_job_of(t);
    j->created = 1;
    if (j->acc.background)
        gxs_aio_end(j, GEARMAN_SUCCESS);
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_aio_on_data(gearman_task_st *t)
{
    gxs_aio_job *j = gxs_aio_job_of(t);
    if (!j->acc.done && !j->abandoned
        && gxs_acc_append(&j->acc, gearman_task_data(t), gearman_task_data_size(t)))
        gxs_aio_end(j, GEARMAN_MEMORY_ALLOCATION_FAILURE);
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_aio_on_complete(gearman_task_st *t)
{
    gxs_aio_job *j = gxs_aio_job_of(t);
    gxs_acc *a = &j->acc;
    if (a->done) return GEARMAN_SUCCESS;
    if (j->abandoned) {           /* nobody waits for the result: just end */
        gxs_aio_end(j, GEARMAN_SUCCESS);
        return GEARMAN_SUCCESS;
    }
    if (a->size == 0) {           /* the usual case: hand libgearman's buffer over, no copy */
        size_t n = 0;
        void *p = gearman_task_take_data(t, &n);
        if (p != NULL) { free(a->buf); a->buf = (char *)p; a->size = n; a->cap = n; }
    } else if (gxs_acc_append(a, gearman_task_data(t), gearman_task_data_size(t))) {
        gxs_aio_end(j, GEARMAN_MEMORY_ALLOCATION_FAILURE);
        return GEARMAN_SUCCESS;
    }
    gxs_aio_end(j, GEARMAN_SUCCESS);
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_aio_on_exception(gearman_task_st *t)
{
    gxs_aio_job *j = gxs_aio_job_of(t);
    size_t n = gearman_task_data_size(t);
    if (j->acc.done) return GEARMAN_SUCCESS;
    if (n && j->acc.exc == NULL && (j->acc.exc = (char *)malloc(n)) != NULL) {
        memcpy(j->acc.exc, gearman_task_data(t), n);
        j->acc.exc_size = n;
    }
    gxs_aio_end(j, GEARMAN_WORK_EXCEPTION);
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_aio_on_fail(gearman_task_st *t)
{
    gxs_aio_end(gxs_aio_job_of(t), GEARMAN_WORK_FAIL);
    return GEARMAN_SUCCESS;
}

gearman_task_st *gxs_aio_add(gearman_client_st *c, gxs_aio *aio, gxs_aio_job *j, int kind,
                             const char *fn, const char *unique, const void *w, size_t n,
                             gearman_return_t *ret)
{
    j->aio = aio;
    j->listed = 0;
    j->created = 0;
    j->abandoned = 0;
    j->acc.background = kind >= 3;
    j->acc.done = 0;
    j->acc.rc = GEARMAN_SUCCESS;
    /* callbacks are copied into each task when it is added */
    gearman_client_set_created_fn(c, gxs_aio_on_created);
    gearman_client_set_data_fn(c, gxs_aio_on_data);
    gearman_client_set_warning_fn(c, gxs_aio_on_event);
    gearman_client_set_status_fn(c, gxs_aio_on_event);
    gearman_client_set_complete_fn(c, gxs_aio_on_complete);
    gearman_client_set_exception_fn(c, gxs_aio_on_exception);
    gearman_client_set_fail_fn(c, gxs_aio_on_fail);
    return gxs_add_task_kind(c, kind, j, fn, unique, w, n, ret);
}

void gxs_aio_release(gxs_aio *aio)
{
    free(aio->done);
    aio->done = NULL;
    aio->n_done = aio->cap_done = 0;
}

/* -- the wait ----------------------------------------------------------------------------------- */

static void gxs_aio_drain(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

int gxs_aio_wait(gearman_client_st *c, int wake_fd, int timeout_ms, gearman_return_t *rc)
{
    int hooked = gxs_aio_status == GXS_SB_OK && wake_fd >= 0;
    int woke;
    gxs_aio_woke = 0;
    *rc = GEARMAN_NO_ACTIVE_FDS;
    if (c != NULL) {
        int old = gearman_client_timeout(c);
        int previous = gxs_ng_client_enter();   /* a broken connection is read to its end first */
        gxs_aio_extra = hooked ? wake_fd : -1;
        gearman_client_set_timeout(c, timeout_ms > 0 ? timeout_ms : 1);
        *rc = gearman_client_wait(c);
        gxs_ng_client_leave(previous);
        gearman_client_set_timeout(c, old);
        gxs_aio_extra = -1;
    }
    if (*rc == GEARMAN_NO_ACTIVE_FDS && wake_fd >= 0) {
        struct pollfd p;
        int r;
        p.fd = wake_fd;
        p.events = POLLIN;
        p.revents = 0;
        do {
            r = poll(&p, 1, timeout_ms > 0 ? timeout_ms : 1);
        } while (r < 0 && errno == EINTR);
        if (r > 0)
            gxs_aio_woke = 1;
    }
    woke = gxs_aio_woke;
    gxs_aio_woke = 0;
    if (woke)
        gxs_aio_drain(wake_fd);
    return woke;
}

static long gxs_aio_ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

gearman_return_t gxs_aio_step(gearman_client_st *c, gxs_aio *aio, int wake_fd, int timeout_ms,
                              int *woke)
{
    struct timespec t0;
    gearman_return_t rc, wrc;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *woke = 0;
    for (;;) {
        long left;
        rc = gxs_client_run_tasks(c);   /* client_acc.c: as a Client's, for the packet guard */
        if (aio->n_done || aio->nomem || rc != GEARMAN_IO_WAIT || *woke || timeout_ms <= 0)
            return rc;
        left = timeout_ms - gxs_aio_ms_since(&t0);
        if (left <= 0)
            return rc;
        *woke = gxs_aio_wait(c, wake_fd, (int)left, &wrc);
        if (wrc == GEARMAN_TIMEOUT || wrc == GEARMAN_NO_ACTIVE_FDS)
            return rc;   /* nothing ready (or only the wake-up fd) */
    }
}
