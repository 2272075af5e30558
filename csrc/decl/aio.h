/* cffi cdef of ../aio.h. The layouts come from the C compiler (`...;`). */

typedef struct gxs_aio_job {
    gxs_acc acc; int listed; int created; int abandoned; long key;
    ...;
} gxs_aio_job;
typedef struct gxs_aio {
    gxs_aio_job **done; size_t n_done; unsigned long events; int nomem;
    ...;
} gxs_aio;
int gxs_aio_install(void);
gearman_task_st *gxs_aio_add(gearman_client_st *c, gxs_aio *aio, gxs_aio_job *j, int kind,
                             const char *fn, const char *unique, const void *w, size_t n,
                             gearman_return_t *ret);
void gxs_aio_release(gxs_aio *aio);
int gxs_aio_wait(gearman_client_st *c, int wake_fd, int timeout_ms, gearman_return_t *rc);
gearman_return_t gxs_aio_step(gearman_client_st *c, gxs_aio *aio, int wake_fd, int timeout_ms,
                              int *woke);
