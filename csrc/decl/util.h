/* cffi cdef: strerror.h, util.h, kill.h, status.h, task_attr.h, result.h, and libc's malloc/free. */

const char *gearman_strerror(gearman_return_t rc);
const char *gearman_version(void);
const char *gearman_bugreport(void);
const char *gearman_verbose_name(gearman_verbose_t verbose);

/* kill.h */
typedef struct gearman_id_t { int read_fd; int write_fd; } gearman_id_t;
gearman_return_t gearman_kill(const gearman_id_t handle, const gearman_signal_t);
bool gearman_id_valid(const gearman_id_t handle);

/* status.h */
gearman_return_t gearman_status_return(const struct gearman_status_t arg);
bool gearman_status_is_known(const struct gearman_status_t arg);
bool gearman_status_is_running(const struct gearman_status_t arg);
uint32_t gearman_status_numerator(const struct gearman_status_t arg);
uint32_t gearman_status_denominator(const struct gearman_status_t arg);

/* task_attr.h */
gearman_task_attr_t gearman_task_attr_init(gearman_job_priority_t priority);
gearman_task_attr_t gearman_task_attr_init_epoch(time_t epoch, gearman_job_priority_t priority);
gearman_task_attr_t gearman_task_attr_init_background(gearman_job_priority_t priority);

/* result.h */
size_t gearman_result_size(const gearman_result_st *self);
const char *gearman_result_value(const gearman_result_st *self);
bool gearman_result_is_null(const gearman_result_st *self);

/* stdlib: memory that libgearman hands over is released with libc free() */
void *malloc(size_t size);
void free(void *ptr);
