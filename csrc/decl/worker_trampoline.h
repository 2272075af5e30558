/* cffi cdef of ../worker_trampoline.h. */

gearman_return_t gxs_worker_add_function(gearman_worker_st *worker, const char *function_name,
                                         uint32_t timeout, void *context);
void *gxs_dup(const char *p, size_t n);
