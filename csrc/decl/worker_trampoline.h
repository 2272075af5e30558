/* cffi cdef of ../worker_trampoline.h. */

gearman_return_t gxs_worker_add_function(gearman_worker_st *worker, const char *function_name,
                                         uint32_t timeout, void *context);
#define GXS_WORK_CLOSED_EARLY ...
int gxs_worker_work(gearman_worker_st *worker, int wait_ms, int first);
int gxs_worker_run(gearman_worker_st *worker, int wait_ms, int first, uint64_t budget,
                   const volatile int *stop, uint64_t *done);
void *gxs_dup(const char *p, size_t n);
void *gxs_worker_done(void);
void *gxs_worker_stop(void);
