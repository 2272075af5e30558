/* cffi cdef of ../worker_trampoline.h. */

gearman_return_t gxs_worker_add_function(gearman_worker_st *worker, const char *function_name,
                                         uint32_t timeout, void *context);
#define GXS_WORK_CLOSED_EARLY ...
int gxs_worker_work(gearman_worker_st *worker, int wait_ms, int first);
void *gxs_dup(const char *p, size_t n);
void *gxs_worker_done(void);
