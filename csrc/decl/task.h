/* cffi cdef: task.h. Left out: gearman_task_exception() (returns a gearman_string_t, whose const
   member cffi cannot assign; nothing uses it) and gearman_task_job_handle() (the packet guard marks
   handles; gxs_task_job_handle() in net_guard.h gives the real one). */

void gearman_task_free(gearman_task_st *task);
void *gearman_task_context(const gearman_task_st *task);
void gearman_task_set_context(gearman_task_st *task, void *context);
const char *gearman_task_function_name(const gearman_task_st *task);
const char *gearman_task_unique(const gearman_task_st *task);
bool gearman_task_is_known(const gearman_task_st *task);
bool gearman_task_is_running(const gearman_task_st *task);
uint32_t gearman_task_numerator(const gearman_task_st *task);
uint32_t gearman_task_denominator(const gearman_task_st *task);
const void *gearman_task_data(const gearman_task_st *task);
size_t gearman_task_data_size(const gearman_task_st *task);
void *gearman_task_take_data(gearman_task_st *task, size_t *data_size);
const char *gearman_task_error(const gearman_task_st *task);
gearman_result_st *gearman_task_result(gearman_task_st *task);
gearman_return_t gearman_task_return(const gearman_task_st *task);
const char *gearman_task_strstate(const gearman_task_st *);
bool gearman_task_has_exception(const gearman_task_st *task_shell);
