/* cffi cdef of ../client_acc.h. gxs_acc is defined there; here it lists the fields Python reads,
   and `[...]` / `...;` make the C compiler supply the handle's size and the layout. */

typedef struct gxs_acc {
    char *buf; size_t size; size_t cap; char *exc; size_t exc_size;
    unsigned long events; int background; int done; gearman_return_t rc;
    gearman_return_t run_rc; char handle[...]; gearman_task_st *task; char unique[...];
    ...;
} gxs_acc;
#define GXS_DO_PENDING ...
#define GXS_DO_FAILED ...
#define GXS_DO_NOT_ADDED ...
#define GXS_DO_CLOSED ...
#define GXS_UNIQUE_PREFIX ...
void gxs_acc_release(gxs_acc *a);
void gxs_client_install_callbacks(gearman_client_st *c);
gearman_task_st *gxs_add_task_kind(gearman_client_st *c, int kind, void *context, const char *fn,
                                   const char *unique, const void *w, size_t n,
                                   gearman_return_t *ret);
gearman_task_st *gxs_add_acc_task(gearman_client_st *c, int kind, gxs_acc *a, const char *fn,
                                  const char *unique, const void *w, size_t n,
                                  gearman_return_t *ret);
gearman_return_t gxs_client_run_tasks(gearman_client_st *c);
gearman_return_t gxs_client_wait(gearman_client_st *c);
long gxs_acc_do(gearman_client_st *c, int kind, gxs_acc *a, const char *fn, const char *unique,
                const char *w, size_t n, int fd);
gearman_task_st *gxs_execute_epoch(gearman_client_st *c, const char *fn, size_t fn_len,
                                   const char *unique, size_t unique_len, time_t when,
                                   gearman_job_priority_t priority, const char *w, size_t n);
