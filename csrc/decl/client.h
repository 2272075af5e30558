/* cffi cdef: client.h, client_callbacks.h, cancel.h, execute.h.
   Left out: gearman_client_namespace (declared by the 1.1.20 headers, not exported by
   libgearman.so.8; declaring it would make the import fail). */

/* client.h */
gearman_client_st *gearman_client_create(gearman_client_st *client);
gearman_client_st *gearman_client_clone(gearman_client_st *client, const gearman_client_st *from);
void gearman_client_free(gearman_client_st *client);
const char *gearman_client_error(const gearman_client_st *client);
gearman_return_t gearman_client_error_code(const gearman_client_st *client);
int gearman_client_errno(const gearman_client_st *client);
gearman_client_options_t gearman_client_options(const gearman_client_st *client);
void gearman_client_set_options(gearman_client_st *client, gearman_client_options_t options);
void gearman_client_add_options(gearman_client_st *client, gearman_client_options_t options);
bool gearman_client_has_option(gearman_client_st *client, gearman_client_options_t option);
void gearman_client_remove_options(gearman_client_st *client, gearman_client_options_t options);
int gearman_client_timeout(gearman_client_st *client);
void gearman_client_set_timeout(gearman_client_st *client, int timeout);
void *gearman_client_context(const gearman_client_st *client);
void gearman_client_set_context(gearman_client_st *client, void *context);
void gearman_client_set_log_fn(gearman_client_st *client, gearman_log_fn *function, void *context,
                               gearman_verbose_t verbose);
gearman_return_t gearman_client_add_server(gearman_client_st *client, const char *host,
                                           in_port_t port);
gearman_return_t gearman_client_add_servers(gearman_client_st *client, const char *servers);
void gearman_client_remove_servers(gearman_client_st *client);
gearman_return_t gearman_client_wait(gearman_client_st *client);
void *gearman_client_do(gearman_client_st *client, const char *function_name, const char *unique,
                        const void *workload, size_t workload_size, size_t *result_size,
                        gearman_return_t *ret_ptr);
void *gearman_client_do_high(gearman_client_st *client, const char *function_name,
                             const char *unique, const void *workload, size_t workload_size,
                             size_t *result_size, gearman_return_t *ret_ptr);
void *gearman_client_do_low(gearman_client_st *client, const char *function_name,
                            const char *unique, const void *workload, size_t workload_size,
                            size_t *result_size, gearman_return_t *ret_ptr);
const char *gearman_client_do_job_handle(gearman_client_st *client);
void gearman_client_do_status(gearman_client_st *client, uint32_t *numerator,
                              uint32_t *denominator);
gearman_return_t gearman_client_do_background(gearman_client_st *client,
                                              const char *function_name, const char *unique,
                                              const void *workload, size_t workload_size,
                                              char *job_handle);
gearman_return_t gearman_client_do_high_background(gearman_client_st *client,
                                                   const char *function_name, const char *unique,
                                                   const void *workload, size_t workload_size,
                                                   char *job_handle);
gearman_return_t gearman_client_do_low_background(gearman_client_st *client,
                                                  const char *function_name, const char *unique,
                                                  const void *workload, size_t workload_size,
                                                  char *job_handle);
gearman_return_t gearman_client_job_status(gearman_client_st *client, const char *job_handle,
                                           bool *is_known, bool *is_running,
                                           uint32_t *numerator, uint32_t *denominator);
gearman_status_t gearman_client_unique_status(gearman_client_st *client, const char *unique,
                                              size_t unique_length);
gearman_return_t gearman_client_echo(gearman_client_st *client, const void *workload,
                                     size_t workload_size);
void gearman_client_task_free_all(gearman_client_st *client);
void gearman_client_set_task_context_free_fn(gearman_client_st *client,
                                             gearman_task_context_free_fn *function);
gearman_task_st *gearman_client_add_task(gearman_client_st *client, gearman_task_st *task,
                                         void *context, const char *function_name,
                                         const char *unique, const void *workload,
                                         size_t workload_size, gearman_return_t *ret_ptr);
gearman_task_st *gearman_client_add_task_high(gearman_client_st *client, gearman_task_st *task,
                                              void *context, const char *function_name,
                                              const char *unique, const void *workload,
                                              size_t workload_size, gearman_return_t *ret_ptr);
gearman_task_st *gearman_client_add_task_low(gearman_client_st *client, gearman_task_st *task,
                                             void *context, const char *function_name,
                                             const char *unique, const void *workload,
                                             size_t workload_size, gearman_return_t *ret_ptr);
gearman_task_st *gearman_client_add_task_background(gearman_client_st *client,
                                                    gearman_task_st *task, void *context,
                                                    const char *function_name,
                                                    const char *unique, const void *workload,
                                                    size_t workload_size,
                                                    gearman_return_t *ret_ptr);
gearman_task_st *gearman_client_add_task_high_background(gearman_client_st *client,
                                                         gearman_task_st *task, void *context,
                                                         const char *function_name,
                                                         const char *unique,
                                                         const void *workload,
                                                         size_t workload_size,
                                                         gearman_return_t *ret_ptr);
gearman_task_st *gearman_client_add_task_low_background(gearman_client_st *client,
                                                        gearman_task_st *task, void *context,
                                                        const char *function_name,
                                                        const char *unique,
                                                        const void *workload,
                                                        size_t workload_size,
                                                        gearman_return_t *ret_ptr);
gearman_task_st *gearman_client_add_task_status(gearman_client_st *client, gearman_task_st *task,
                                                void *context, const char *job_handle,
                                                gearman_return_t *ret_ptr);
typedef gearman_return_t (gearman_task_fn)(gearman_task_st *task);  /* client_callbacks.h */
void gearman_client_set_workload_fn(gearman_client_st *client, gearman_task_fn *function);
void gearman_client_set_created_fn(gearman_client_st *client, gearman_task_fn *function);
void gearman_client_set_data_fn(gearman_client_st *client, gearman_task_fn *function);
void gearman_client_set_warning_fn(gearman_client_st *client, gearman_task_fn *function);
void gearman_client_set_status_fn(gearman_client_st *client, gearman_task_fn *function);
void gearman_client_set_complete_fn(gearman_client_st *client, gearman_task_fn *function);
void gearman_client_set_exception_fn(gearman_client_st *client, gearman_task_fn *function);
void gearman_client_set_fail_fn(gearman_client_st *client, gearman_task_fn *function);
void gearman_client_clear_fn(gearman_client_st *client);
gearman_return_t gearman_client_run_tasks(gearman_client_st *client);
bool gearman_client_set_server_option(gearman_client_st *self, const char *option_arg,
                                      size_t option_arg_size);
void gearman_client_set_namespace(gearman_client_st *self, const char *namespace_key,
                                  size_t namespace_key_size);
gearman_return_t gearman_client_set_identifier(gearman_client_st *client, const char *id,
                                               size_t id_size);
bool gearman_client_has_tasks(const gearman_client_st *client);
bool gearman_client_has_active_tasks(gearman_client_st *client);

/* cancel.h */
gearman_return_t gearman_client_cancel_job(gearman_client_st *client, char *job_handle);

/* execute.h (the argument is left out: gearman_argument_t is only ever passed as NULL here) */
typedef struct gearman_argument_t gearman_argument_t;
gearman_task_st *gearman_execute(gearman_client_st *client, const char *function_name,
                                 size_t function_name_length, const char *unique,
                                 size_t unique_length, gearman_task_attr_t *workload,
                                 gearman_argument_t *arguments, void *context);
