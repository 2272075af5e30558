/* The Client's C side (client_acc.c): do*() results collected in C without a Python callback per
   packet, the task-callback installer and the epoch submit. Used by gearman_xs/client.py. */
#ifndef GXS_CLIENT_ACC_H
#define GXS_CLIENT_ACC_H

#include <stddef.h>
#include <time.h>
#include <libgearman-1.0/gearman.h>

/* One job's outcome, filled by the gxs_acc_on_* callbacks. The only definition of this struct:
   decl/client_acc.h lets the C compiler give cffi its layout. */
typedef struct gxs_acc {
    char *buf; size_t size; size_t cap;     /* result: WORK_DATA chunks + WORK_COMPLETE, malloc'd */
    char *exc; size_t exc_size;             /* WORK_EXCEPTION payload, malloc'd */
    unsigned long events;                   /* packets seen (progress) */
    int background;                         /* done at JOB_CREATED */
    int done;
    gearman_return_t rc;                    /* final outcome once done */
    gearman_return_t run_rc;                /* gxs_acc_do(): what its run_tasks() returned */
    char handle[GEARMAN_JOB_HANDLE_SIZE];   /* gxs_acc_do(): a finished background job's handle */
    /* kept across jobs by gxs_acc_do() (one gxs_acc per Client: do*() holds its lock) */
    gearman_task_st *task;                  /* GXS_DO_PENDING: the unfinished task */
    unsigned long long count;               /* jobs given a unique by gxs_acc_do() */
    char unique[GEARMAN_MAX_UNIQUE_SIZE];   /* the Client's 24-character prefix, then the last
                                               unique made: the prefix and count in 12 hex digits */
} gxs_acc;

#define GXS_UNIQUE_PREFIX 24

/* gxs_acc_do() outcomes; >= 0: the job succeeded, a->buf holds that many result bytes
   (a background job: 0, its handle is in a->handle). */
#define GXS_DO_PENDING (-1)     /* not finished in one run_tasks() slice: a->task, a->run_rc */
#define GXS_DO_FAILED (-2)      /* finished with a->rc != GEARMAN_SUCCESS */
#define GXS_DO_NOT_ADDED (-3)   /* the task could not be added: a->rc says why */
#define GXS_DO_CLOSED (-4)      /* the idle connection was closed by its server: nothing was sent */

/* Appends n bytes at p to a's result buffer (grown by doubling); 0, or -1 when out of memory. */
int gxs_acc_append(gxs_acc *a, const void *p, size_t n);

/* Frees the result and exception buffers (the struct itself belongs to the caller). */
void gxs_acc_release(gxs_acc *a);

/* Every task the client adds gets the Python callbacks (they dispatch through the task context). */
void gxs_client_install_callbacks(gearman_client_st *c);

/* kind: 0 high, 1 normal, 2 low; +3 for background. */
gearman_task_st *gxs_add_task_kind(gearman_client_st *c, int kind, void *context, const char *fn,
                                   const char *unique, const void *w, size_t n,
                                   gearman_return_t *ret);

/* Adds a task whose packets are collected into *a by C callbacks (do*() and do_*background()). */
gearman_task_st *gxs_add_acc_task(gearman_client_st *c, int kind, gxs_acc *a, const char *fn,
                                  const char *unique, const void *w, size_t n,
                                  gearman_return_t *ret);

/* gearman_client_run_tasks() that reads a broken connection to its end first (net_guard.c). */
gearman_return_t gxs_client_run_tasks(gearman_client_st *c);
/* gearman_client_wait() in the same read-first mode (a Client's waits between run_tasks()). */
gearman_return_t gxs_client_wait(gearman_client_st *c);

/* The fast path of do*(): see client_acc.c. */
long gxs_acc_do(gearman_client_st *c, int kind, gxs_acc *a, const char *fn, const char *unique,
                const char *w, size_t n, int fd);

/* A background job to run at a Unix time (SUBMIT_JOB_EPOCH). */
gearman_task_st *gxs_execute_epoch(gearman_client_st *c, const char *fn, size_t fn_len,
                                   const char *unique, size_t unique_len, time_t when,
                                   gearman_job_priority_t priority, const char *w, size_t n);

#endif
