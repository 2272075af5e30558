/* The Client's C side (used by gearman_xs/client.py): do*() results collected in C, without a
   Python callback per packet (the gxs_acc_on_* callbacks fill a gxs_acc), the installer of the
   Python task callbacks, and the epoch submit. */
#include <stdlib.h>
#include <string.h>

#include "callbacks.h"
#include "client_acc.h"
#include "conn_watch.h"
#include "net_guard.h"

int gxs_acc_append(gxs_acc *a, const void *p, size_t n)
{
    if (p == NULL || n == 0) return 0;
    if (a->size + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        char *nb;
        while (cap < a->size + n) cap *= 2;
        nb = (char *)realloc(a->buf, cap);
        if (nb == NULL) return -1;
        a->buf = nb; a->cap = cap;
    }
    memcpy(a->buf + a->size, p, n);
    a->size += n;
    return 0;
}

static gearman_return_t gxs_acc_on_event(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    a->events++;
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_acc_on_created(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    a->events++;
    if (a->background) { a->done = 1; a->rc = GEARMAN_SUCCESS; }
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_acc_on_data(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    a->events++;
    if (gxs_acc_append(a, gearman_task_data(t), gearman_task_data_size(t))) {
        a->done = 1; a->rc = GEARMAN_MEMORY_ALLOCATION_FAILURE;
    }
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_acc_on_complete(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    a->events++;
    if (a->done) return GEARMAN_SUCCESS;
    a->rc = GEARMAN_SUCCESS;
    if (a->size == 0) {           /* the usual case: hand libgearman's buffer over, no copy */
        size_t n = 0;
        void *p = gearman_task_take_data(t, &n);
        if (p != NULL) { free(a->buf); a->buf = (char *)p; a->size = n; a->cap = n; }
    } else if (gxs_acc_append(a, gearman_task_data(t), gearman_task_data_size(t))) {
        a->rc = GEARMAN_MEMORY_ALLOCATION_FAILURE;
    }
    a->done = 1;
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_acc_on_exception(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    size_t n = gearman_task_data_size(t);
    a->events++;
    if (n && a->exc == NULL && (a->exc = (char *)malloc(n)) != NULL) {
        memcpy(a->exc, gearman_task_data(t), n);
        a->exc_size = n;
    }
    a->done = 1; a->rc = GEARMAN_WORK_EXCEPTION;
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_acc_on_fail(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    a->events++;
    if (!a->done) { a->done = 1; a->rc = GEARMAN_WORK_FAIL; }
    return GEARMAN_SUCCESS;
}

void gxs_acc_release(gxs_acc *a)
{
    free(a->buf); a->buf = NULL; a->size = a->cap = 0;
    free(a->exc); a->exc = NULL; a->exc_size = 0;
}

/* Every task the client adds gets the Python callbacks (they dispatch through the task context). */
void gxs_client_install_callbacks(gearman_client_st *c)
{
    gearman_client_set_created_fn(c, gxs_task_created);
    gearman_client_set_data_fn(c, gxs_task_data);
    gearman_client_set_warning_fn(c, gxs_task_warning);
    gearman_client_set_status_fn(c, gxs_task_status);
    gearman_client_set_complete_fn(c, gxs_task_complete);
    gearman_client_set_exception_fn(c, gxs_task_exception);
    gearman_client_set_fail_fn(c, gxs_task_fail);
}

typedef gearman_task_st *(*gxs_add_fn)(gearman_client_st *, gearman_task_st *, void *, const char *,
                                       const char *, const void *, size_t, gearman_return_t *);

/* kind: 0 high, 1 normal, 2 low; +3 for background. */
gearman_task_st *gxs_add_task_kind(gearman_client_st *c, int kind, void *context,
                                   const char *fn, const char *unique, const void *w,
                                   size_t n, gearman_return_t *ret)
{
    static gxs_add_fn fns[6] = {
        gearman_client_add_task_high, gearman_client_add_task, gearman_client_add_task_low,
        gearman_client_add_task_high_background, gearman_client_add_task_background,
        gearman_client_add_task_low_background };
    if (kind < 0 || kind > 5) { *ret = GEARMAN_INVALID_ARGUMENT; return NULL; }
    return fns[kind](c, NULL, context, fn, unique, w, n, ret);
}

/* Adds a task whose packets are collected into *a by C callbacks (do*() and do_*background()). */
gearman_task_st *gxs_add_acc_task(gearman_client_st *c, int kind, gxs_acc *a,
                                  const char *fn, const char *unique, const void *w,
                                  size_t n, gearman_return_t *ret)
{
    gearman_task_st *t;
    a->background = kind >= 3;
    gearman_client_set_created_fn(c, gxs_acc_on_created);
    gearman_client_set_data_fn(c, gxs_acc_on_data);
    gearman_client_set_warning_fn(c, gxs_acc_on_event);
    gearman_client_set_status_fn(c, gxs_acc_on_event);
    gearman_client_set_complete_fn(c, gxs_acc_on_complete);
    gearman_client_set_exception_fn(c, gxs_acc_on_exception);
    gearman_client_set_fail_fn(c, gxs_acc_on_fail);
    t = gxs_add_task_kind(c, kind, a, fn, unique, w, n, ret);
    gxs_client_install_callbacks(c);
    return t;
}

/* gearman_client_run_tasks() as a Client's call for the packet guard: a connection that broke
   is read to its end before libgearman sees the error (net_guard.c), so a JOB_CREATED or a result
   that had arrived is not dropped (a job taken for unacknowledged is submitted again). */
gearman_return_t gxs_client_run_tasks(gearman_client_st *c)
{
    int previous = gxs_ng_client_enter();
    gearman_return_t rc = gearman_client_run_tasks(c);
    gxs_ng_client_leave(previous);
    return rc;
}

/* gearman_client_wait() in the same read-first mode: it polls the connections and hands their
   revents to the next run_tasks(), which takes POLLERR/POLLHUP as fatal before reading what had
   arrived (a JOB_CREATED dropped: an accepted job reported lost). */
gearman_return_t gxs_client_wait(gearman_client_st *c)
{
    int previous = gxs_ng_client_enter();
    gearman_return_t rc = gearman_client_wait(c);
    gxs_ng_client_leave(previous);
    return rc;
}

/* The next unique of the Client (UUID-shaped, like libgearman's: its random prefix, then a counter
   in 12 hex digits) into a->unique. */
static const char *gxs_acc_next_unique(gxs_acc *a)
{
    static const char hex[] = "0123456789abcdef";
    unsigned long long v = ++a->count;
    char *p = a->unique + GXS_UNIQUE_PREFIX + 12;
    int i;
    *p = 0;
    for (i = 0; i < 12; i++, v >>= 4)
        *--p = hex[v & 15];
    return a->unique;
}

/* The fast path of do*() (one cffi call per job). A NULL `unique` gets the Client's next one
   (a->unique; libgearman would make a UUID per job, with libuuid ~20 us of CPU). The connection
   `fd` (-1: unknown) is polled first, before every job: a server that closed it since the last
   one returns GXS_DO_CLOSED before anything is sent. (No time since the last answer proves the
   server is still there: a gearmand SIGKILLed right after answering is reaped in ~1 ms, and a
   window of 1 ms without the poll sent jobs onto its dead connection.) Then clears *a, adds the
   task and runs gearman_client_run_tasks() once. If that finished the job (the usual case), the job handle of a background job is copied into
   a->handle, the task is freed and the outcome returned: the result size, or GXS_DO_FAILED with
   a->rc. Otherwise GXS_DO_PENDING leaves the task in a->task (a->run_rc holds run_tasks()'s code)
   for the slow path in _client_do.py; GXS_DO_NOT_ADDED: the task could not be added (a->rc). */
long gxs_acc_do(gearman_client_st *c, int kind, gxs_acc *a, const char *fn, const char *unique,
                const char *w, size_t n, int fd)
{
    gearman_task_st *t;
    gearman_return_t ret = GEARMAN_SUCCESS;
    if (fd >= 0 && gxs_cw_peer_closed(fd))
        return GXS_DO_CLOSED;
    gxs_acc_release(a);
    a->events = 0; a->done = 0; a->rc = GEARMAN_SUCCESS; a->handle[0] = 0; a->task = NULL;
    if (unique == NULL)
        unique = gxs_acc_next_unique(a);
    t = gxs_add_acc_task(c, kind, a, fn, unique, w, n, &ret);
    if (t == NULL) {
        a->rc = ret != GEARMAN_SUCCESS ? ret : GEARMAN_UNKNOWN_STATE;
        return GXS_DO_NOT_ADDED;
    }
    a->run_rc = gxs_client_run_tasks(c);
    if (a->run_rc != GEARMAN_SUCCESS || !a->done) {
        a->task = t;
        return GXS_DO_PENDING;
    }
    if (a->background) {
        const char *h = gxs_task_job_handle(t);   /* real, not the guard's mark */
        if (h != NULL) {
            strncpy(a->handle, h, sizeof(a->handle) - 1);
            a->handle[sizeof(a->handle) - 1] = 0;
        }
    }
    gearman_task_free(t);
    if (a->rc != GEARMAN_SUCCESS)
        return GXS_DO_FAILED;
    return (long)a->size;
}

/* A background job to run at a Unix time (SUBMIT_JOB_EPOCH): gearman_execute() with an epoch
   attribute. Waits for JOB_CREATED; returns the task (NULL on error, see gearman_client_error). */
gearman_task_st *gxs_execute_epoch(gearman_client_st *c, const char *fn, size_t fn_len,
                                   const char *unique, size_t unique_len, time_t when,
                                   gearman_job_priority_t priority, const char *w,
                                   size_t n)
{
    gearman_task_attr_t attr = gearman_task_attr_init_epoch(when, priority);
    gearman_argument_t arg = gearman_argument_make(NULL, 0, w, n);
    return gearman_execute(c, fn, fn_len, unique, unique_len, &attr, &arg, NULL);
}
