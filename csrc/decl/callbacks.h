/* cffi cdef: callbacks from C into Python. One global @ffi.def_extern() implementation each,
   dispatching through the context pointer (ffi.new_handle): gearman_xs/_task_callbacks.py
   implements the task callbacks, gearman_xs/worker.py the worker function and the log callback.
   "Python+C": the C shims call these too (prototypes in ../callbacks.h). */

extern "Python+C" gearman_return_t gxs_task_created(gearman_task_st *task);
extern "Python+C" gearman_return_t gxs_task_data(gearman_task_st *task);
extern "Python+C" gearman_return_t gxs_task_warning(gearman_task_st *task);
extern "Python+C" gearman_return_t gxs_task_status(gearman_task_st *task);
extern "Python+C" gearman_return_t gxs_task_complete(gearman_task_st *task);
extern "Python+C" gearman_return_t gxs_task_exception(gearman_task_st *task);
extern "Python+C" gearman_return_t gxs_task_fail(gearman_task_st *task);
extern "Python+C" void *gxs_worker_function(gearman_job_st *job, void *context,
                                            const char *workload, size_t workload_size);
extern "Python" void gxs_log(const char *line, gearman_verbose_t verbose, void *context);
