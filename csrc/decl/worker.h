/* cffi cdef: worker.h. Left out: gearman_worker_set_ssl and gearman_worker_shutdown_handle
   (declared by the 1.1.20 headers, not exported by libgearman.so.8). */

gearman_worker_st *gearman_worker_create(gearman_worker_st *worker);
gearman_worker_st *gearman_worker_clone(gearman_worker_st *worker, const gearman_worker_st *from);
void gearman_worker_free(gearman_worker_st *worker);
const char *gearman_worker_error(const gearman_worker_st *worker);
int gearman_worker_errno(gearman_worker_st *worker);
gearman_worker_options_t gearman_worker_options(const gearman_worker_st *worker);
void gearman_worker_set_options(gearman_worker_st *worker, gearman_worker_options_t options);
void gearman_worker_add_options(gearman_worker_st *worker, gearman_worker_options_t options);
void gearman_worker_remove_options(gearman_worker_st *worker, gearman_worker_options_t options);
int gearman_worker_timeout(gearman_worker_st *worker);
void gearman_worker_set_timeout(gearman_worker_st *worker, int timeout);
void *gearman_worker_context(const gearman_worker_st *worker);
void gearman_worker_set_context(gearman_worker_st *worker, void *context);
void gearman_worker_set_log_fn(gearman_worker_st *worker, gearman_log_fn *function, void *context,
                               gearman_verbose_t verbose);
gearman_return_t gearman_worker_add_server(gearman_worker_st *worker, const char *host,
                                           in_port_t port);
gearman_return_t gearman_worker_add_servers(gearman_worker_st *worker, const char *servers);
void gearman_worker_remove_servers(gearman_worker_st *worker);
gearman_return_t gearman_worker_wait(gearman_worker_st *worker);
gearman_return_t gearman_worker_register(gearman_worker_st *worker, const char *function_name,
                                         uint32_t timeout);
gearman_return_t gearman_worker_unregister(gearman_worker_st *worker, const char *function_name);
gearman_return_t gearman_worker_unregister_all(gearman_worker_st *worker);
gearman_job_st *gearman_worker_grab_job(gearman_worker_st *worker, gearman_job_st *job,
                                        gearman_return_t *ret_ptr);
void gearman_job_free_all(gearman_worker_st *worker);
bool gearman_worker_function_exist(gearman_worker_st *worker, const char *function_name,
                                   size_t function_length);
gearman_return_t gearman_worker_add_function(gearman_worker_st *worker,
                                             const char *function_name, uint32_t timeout,
                                             gearman_worker_fn *function, void *context);
gearman_return_t gearman_worker_work(gearman_worker_st *worker);
gearman_return_t gearman_worker_echo(gearman_worker_st *worker, const void *workload,
                                     size_t workload_size);
bool gearman_worker_set_server_option(gearman_worker_st *self, const char *option_arg,
                                      size_t option_arg_size);
void gearman_worker_set_namespace(gearman_worker_st *self, const char *namespace_key,
                                  size_t namespace_key_size);
const char *gearman_worker_namespace(gearman_worker_st *self);
gearman_id_t gearman_worker_id(gearman_worker_st *self);
gearman_return_t gearman_worker_set_identifier(gearman_worker_st *worker, const char *id,
                                               size_t id_size);
