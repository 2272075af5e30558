"""Builds ``gearman_xs._libgearman``: cffi API mode, out of line, against the system libgearman.

setuptools runs this through ``cffi_modules`` (see setup.py); ``python build_ffi.py`` builds the
extension in place for development.

The cdefs are grouped like libgearman's headers (``/usr/include/libgearman-1.0/*.h``). Enum members
and ``#define`` values are written as ``...`` so that the C compiler fills them in from the installed
headers: no value is typed in by hand. Three functions that the 1.1.20 headers declare are not
exported by ``libgearman.so.8`` (``gearman_worker_set_ssl``, ``gearman_worker_shutdown_handle``,
``gearman_client_namespace``); declaring them would make the import fail, so they are left out.

Where to find libgearman: ``pkg-config gearmand`` (the .pc file is called gearmand, not libgearman);
without pkg-config, ``libraries=["gearman"]`` plus the ``GEARMAN_INCLUDE`` / ``GEARMAN_LIB`` environment
variables that Gearman::XS's Makefile.PL reads. A missing library stops the build with one line that
names the package to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from cffi import FFI

MODULE = "gearman_xs._libgearman"

INSTALL_HINT = (
    "gearman_xs needs the libgearman headers and library: install libgearman-dev "
    "(Debian/Ubuntu: apt-get install libgearman-dev pkg-config) or libgearman-devel "
    "(RHEL/CentOS: enable EPEL, then dnf install libgearman-devel), or point GEARMAN_INCLUDE and "
    "GEARMAN_LIB at a libgearman installation."
)

# --------------------------------------------------------------------------------------------------
# cdefs, grouped like the headers
# --------------------------------------------------------------------------------------------------

CDEF_TYPES = """
/* return.h */
typedef enum gearman_return_t {
    GEARMAN_SUCCESS, GEARMAN_IO_WAIT, GEARMAN_SHUTDOWN, GEARMAN_SHUTDOWN_GRACEFUL, GEARMAN_ERRNO,
    GEARMAN_EVENT, GEARMAN_TOO_MANY_ARGS, GEARMAN_NO_ACTIVE_FDS, GEARMAN_INVALID_MAGIC,
    GEARMAN_INVALID_COMMAND, GEARMAN_INVALID_PACKET, GEARMAN_UNEXPECTED_PACKET, GEARMAN_GETADDRINFO,
    GEARMAN_NO_SERVERS, GEARMAN_LOST_CONNECTION, GEARMAN_MEMORY_ALLOCATION_FAILURE,
    GEARMAN_JOB_EXISTS, GEARMAN_JOB_QUEUE_FULL, GEARMAN_SERVER_ERROR, GEARMAN_WORK_ERROR,
    GEARMAN_WORK_DATA, GEARMAN_WORK_WARNING, GEARMAN_WORK_STATUS, GEARMAN_WORK_EXCEPTION,
    GEARMAN_WORK_FAIL, GEARMAN_NOT_CONNECTED, GEARMAN_COULD_NOT_CONNECT, GEARMAN_SEND_IN_PROGRESS,
    GEARMAN_RECV_IN_PROGRESS, GEARMAN_NOT_FLUSHING, GEARMAN_DATA_TOO_LARGE,
    GEARMAN_INVALID_FUNCTION_NAME, GEARMAN_INVALID_WORKER_FUNCTION, GEARMAN_NO_REGISTERED_FUNCTION,
    GEARMAN_NO_REGISTERED_FUNCTIONS, GEARMAN_NO_JOBS, GEARMAN_ECHO_DATA_CORRUPTION,
    GEARMAN_NEED_WORKLOAD_FN, GEARMAN_PAUSE, GEARMAN_UNKNOWN_STATE, GEARMAN_PTHREAD,
    GEARMAN_PIPE_EOF, GEARMAN_QUEUE_ERROR, GEARMAN_FLUSH_DATA, GEARMAN_SEND_BUFFER_TOO_SMALL,
    GEARMAN_IGNORE_PACKET, GEARMAN_UNKNOWN_OPTION, GEARMAN_TIMEOUT, GEARMAN_ARGUMENT_TOO_LARGE,
    GEARMAN_INVALID_ARGUMENT, GEARMAN_IN_PROGRESS, GEARMAN_INVALID_SERVER_OPTION,
    GEARMAN_JOB_NOT_FOUND, GEARMAN_MAX_RETURN, GEARMAN_FAIL, GEARMAN_FATAL, GEARMAN_ERROR,
    ...
} gearman_return_t;
bool gearman_continue(gearman_return_t rc);   /* static inline in return.h */

/* constants.h */
typedef enum {
    GEARMAN_VERBOSE_NEVER, GEARMAN_VERBOSE_FATAL, GEARMAN_VERBOSE_ERROR, GEARMAN_VERBOSE_INFO,
    GEARMAN_VERBOSE_DEBUG, GEARMAN_VERBOSE_CRAZY, GEARMAN_VERBOSE_MAX, ...
} gearman_verbose_t;
typedef enum { GEARMAN_NON_BLOCKING, GEARMAN_DONT_TRACK_PACKETS, GEARMAN_MAX, ... }
    gearman_universal_options_t;
typedef enum {
    GEARMAN_CON_READY, GEARMAN_CON_PACKET_IN_USE, GEARMAN_CON_EXTERNAL_FD,
    GEARMAN_CON_IGNORE_LOST_CONNECTION, GEARMAN_CON_CLOSE_AFTER_FLUSH, GEARMAN_CON_MAX, ...
} gearman_connection_options_t;
typedef enum {
    GEARMAN_CLIENT_ALLOCATED, GEARMAN_CLIENT_NON_BLOCKING, GEARMAN_CLIENT_TASK_IN_USE,
    GEARMAN_CLIENT_UNBUFFERED_RESULT, GEARMAN_CLIENT_NO_NEW, GEARMAN_CLIENT_FREE_TASKS,
    GEARMAN_CLIENT_GENERATE_UNIQUE, GEARMAN_CLIENT_EXCEPTION, GEARMAN_CLIENT_SSL,
    GEARMAN_CLIENT_MAX, ...
} gearman_client_options_t;
typedef enum {
    GEARMAN_WORKER_ALLOCATED, GEARMAN_WORKER_NON_BLOCKING, GEARMAN_WORKER_PACKET_INIT,
    GEARMAN_WORKER_GRAB_JOB_IN_USE, GEARMAN_WORKER_PRE_SLEEP_IN_USE,
    GEARMAN_WORKER_WORK_JOB_IN_USE, GEARMAN_WORKER_CHANGE, GEARMAN_WORKER_GRAB_UNIQ,
    GEARMAN_WORKER_TIMEOUT_RETURN, GEARMAN_WORKER_GRAB_ALL, GEARMAN_WORKER_SSL,
    GEARMAN_WORKER_IDENTIFIER, GEARMAN_WORKER_MAX, ...
} gearman_worker_options_t;

typedef struct gearman_task_st gearman_task_st;
typedef struct gearman_client_st gearman_client_st;
typedef struct gearman_job_st gearman_job_st;
typedef struct gearman_worker_st gearman_worker_st;
typedef struct gearman_result_st gearman_result_st;
typedef struct gearman_task_attr_t { ...; } gearman_task_attr_t;
typedef struct gearman_status_t { ...; } gearman_status_t;
typedef struct gearman_string_t { const char *c_str; const size_t size; } gearman_string_t;
typedef int... in_port_t;
typedef int... time_t;

typedef void (gearman_task_context_free_fn)(gearman_task_st *task, void *context);
typedef void (gearman_log_fn)(const char *line, gearman_verbose_t verbose, void *context);
typedef void *(gearman_worker_fn)(gearman_job_st *job, void *context, size_t *result_size,
                                  gearman_return_t *ret_ptr);
typedef gearman_return_t (gearman_function_fn)(gearman_job_st *job, void *worker_context);

/* priority.h */
typedef enum gearman_job_priority_t {
    GEARMAN_JOB_PRIORITY_HIGH, GEARMAN_JOB_PRIORITY_NORMAL, GEARMAN_JOB_PRIORITY_LOW,
    GEARMAN_JOB_PRIORITY_MAX, ...
} gearman_job_priority_t;

/* signal.h */
typedef enum gearman_signal_t {
    GEARMAN_SIGNAL_CHECK, GEARMAN_SIGNAL_INTERRUPT, GEARMAN_SIGNAL_KILL, GEARMAN_SIGNAL_KILLWAIT,
    GEARMAN_INTERRUPT, GEARMAN_KILL, ...
} gearman_signal_t;

/* protocol.h */
typedef enum gearman_command_t {
    GEARMAN_COMMAND_TEXT, GEARMAN_COMMAND_CAN_DO, GEARMAN_COMMAND_CANT_DO,
    GEARMAN_COMMAND_RESET_ABILITIES, GEARMAN_COMMAND_PRE_SLEEP, GEARMAN_COMMAND_UNUSED,
    GEARMAN_COMMAND_NOOP, GEARMAN_COMMAND_SUBMIT_JOB, GEARMAN_COMMAND_JOB_CREATED,
    GEARMAN_COMMAND_GRAB_JOB, GEARMAN_COMMAND_NO_JOB, GEARMAN_COMMAND_JOB_ASSIGN,
    GEARMAN_COMMAND_WORK_STATUS, GEARMAN_COMMAND_WORK_COMPLETE, GEARMAN_COMMAND_WORK_FAIL,
    GEARMAN_COMMAND_GET_STATUS, GEARMAN_COMMAND_ECHO_REQ, GEARMAN_COMMAND_ECHO_RES,
    GEARMAN_COMMAND_SUBMIT_JOB_BG, GEARMAN_COMMAND_ERROR, GEARMAN_COMMAND_STATUS_RES,
    GEARMAN_COMMAND_SUBMIT_JOB_HIGH, GEARMAN_COMMAND_SET_CLIENT_ID,
    GEARMAN_COMMAND_CAN_DO_TIMEOUT, GEARMAN_COMMAND_ALL_YOURS, GEARMAN_COMMAND_WORK_EXCEPTION,
    GEARMAN_COMMAND_OPTION_REQ, GEARMAN_COMMAND_OPTION_RES, GEARMAN_COMMAND_WORK_DATA,
    GEARMAN_COMMAND_WORK_WARNING, GEARMAN_COMMAND_GRAB_JOB_UNIQ, GEARMAN_COMMAND_JOB_ASSIGN_UNIQ,
    GEARMAN_COMMAND_SUBMIT_JOB_HIGH_BG, GEARMAN_COMMAND_SUBMIT_JOB_LOW,
    GEARMAN_COMMAND_SUBMIT_JOB_LOW_BG, GEARMAN_COMMAND_SUBMIT_JOB_SCHED,
    GEARMAN_COMMAND_SUBMIT_JOB_EPOCH, GEARMAN_COMMAND_SUBMIT_REDUCE_JOB,
    GEARMAN_COMMAND_SUBMIT_REDUCE_JOB_BACKGROUND, GEARMAN_COMMAND_GRAB_JOB_ALL,
    GEARMAN_COMMAND_JOB_ASSIGN_ALL, GEARMAN_COMMAND_GET_STATUS_UNIQUE,
    GEARMAN_COMMAND_STATUS_RES_UNIQUE, GEARMAN_COMMAND_MAX, ...
} gearman_command_t;
#define GEARMAN_DEFAULT_TCP_PORT ...

/* limits.h */
#define GEARMAN_ARGS_BUFFER_SIZE ...
#define GEARMAN_DEFAULT_SOCKET_RECV_SIZE ...
#define GEARMAN_DEFAULT_SOCKET_SEND_SIZE ...
#define GEARMAN_DEFAULT_SOCKET_TIMEOUT ...
#define GEARMAN_DEFAULT_CONNECT_TIMEOUT ...
static const char *const GEARMAN_DEFAULT_TCP_HOST;
#define GEARMAN_FUNCTION_MAX_SIZE ...
#define GEARMAN_JOB_HANDLE_SIZE ...
#define GEARMAN_MAX_COMMAND_ARGS ...
#define GEARMAN_MAX_ERROR_SIZE ...
#define GEARMAN_MAX_IDENTIFIER ...
#define GEARMAN_MAX_UNIQUE_SIZE ...
#define GEARMAN_MAX_UUID_SIZE ...
#define GEARMAN_OPTION_SIZE ...
#define GEARMAN_PACKET_HEADER_SIZE ...
#define GEARMAN_RECV_BUFFER_SIZE ...
#define GEARMAN_SEND_BUFFER_SIZE ...
#define GEARMAN_UNIQUE_SIZE ...
#define GEARMAN_WORKER_WAIT_TIMEOUT ...

/* version.h */
#define LIBGEARMAN_VERSION_HEX ...
static const char *const LIBGEARMAN_VERSION_STRING;
"""

CDEF_UTIL = """
/* strerror.h, util.h */
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
"""

CDEF_CLIENT = """
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
"""

CDEF_TASK = """
/* task.h */
void gearman_task_free(gearman_task_st *task);
void *gearman_task_context(const gearman_task_st *task);
void gearman_task_set_context(gearman_task_st *task, void *context);
const char *gearman_task_function_name(const gearman_task_st *task);
const char *gearman_task_unique(const gearman_task_st *task);
const char *gearman_task_job_handle(const gearman_task_st *task);
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
/* gearman_task_exception() returns a gearman_string_t, whose const member cffi cannot assign:
   see gxs_task_exception_text in CDEF_GLUE. */
"""

CDEF_WORKER = """
/* worker.h (gearman_worker_set_ssl and gearman_worker_shutdown_handle are not exported) */
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
"""

CDEF_JOB = """
/* job.h */
void gearman_job_free(gearman_job_st *job);
gearman_return_t gearman_job_send_data(gearman_job_st *job, const void *data, size_t data_size);
gearman_return_t gearman_job_send_warning(gearman_job_st *job, const void *warning,
                                          size_t warning_size);
gearman_return_t gearman_job_send_status(gearman_job_st *job, uint32_t numerator,
                                         uint32_t denominator);
gearman_return_t gearman_job_send_complete(gearman_job_st *job, const void *result,
                                           size_t result_size);
gearman_return_t gearman_job_send_exception(gearman_job_st *job, const void *exception,
                                            size_t exception_size);
gearman_return_t gearman_job_send_fail(gearman_job_st *job);
const char *gearman_job_handle(const gearman_job_st *job);
const char *gearman_job_function_name(const gearman_job_st *job);
const char *gearman_job_unique(const gearman_job_st *job);
const void *gearman_job_workload(const gearman_job_st *job);
size_t gearman_job_workload_size(const gearman_job_st *job);
void *gearman_job_take_workload(gearman_job_st *job, size_t *data_size);
const char *gearman_job_error(gearman_job_st *job);
"""

# Callbacks from C into Python: one global @ffi.def_extern() implementation each, dispatching
# through the context pointer (ffi.new_handle). gearman_xs/_task_callbacks.py implements the task callbacks,
# worker.py the worker function and the log callbacks.
CDEF_CALLBACKS = """
extern "Python" gearman_return_t gxs_task_created(gearman_task_st *task);
extern "Python" gearman_return_t gxs_task_data(gearman_task_st *task);
extern "Python" gearman_return_t gxs_task_warning(gearman_task_st *task);
extern "Python" gearman_return_t gxs_task_status(gearman_task_st *task);
extern "Python" gearman_return_t gxs_task_complete(gearman_task_st *task);
extern "Python" gearman_return_t gxs_task_exception(gearman_task_st *task);
extern "Python" gearman_return_t gxs_task_fail(gearman_task_st *task);
extern "Python" void gxs_task_context_free(gearman_task_st *task, void *context);
extern "Python" void *gxs_worker_function(gearman_job_st *job, void *context, const char *workload,
                                          size_t workload_size, size_t *result_size,
                                          gearman_return_t *ret_ptr);
extern "Python" void gxs_log(const char *line, gearman_verbose_t verbose, void *context);
"""

# --------------------------------------------------------------------------------------------------
# C glue compiled into the module (set_source); each piece is declared in CDEF_GLUE.
# --------------------------------------------------------------------------------------------------

GLUE_SOURCE = """
#include <libgearman-1.0/gearman.h>
#include <stdlib.h>
#include <string.h>

/* gearman_string_t has a const member, so it cannot be returned through cffi's generated code. */
static size_t gxs_task_exception_text(const gearman_task_st *task, const char **text)
{
    gearman_string_t s = gearman_task_exception(task);
    *text = s.c_str;
    return s.c_str ? s.size : 0;
}

/* --- worker glue (gearman_xs/worker.py) ---
   The V1 worker function goes through a trampoline that presets *ret_ptr to GEARMAN_WORK_FAIL, so
   that a Python callback which fails before it can store a code (an exception at entry, e.g. a
   pending KeyboardInterrupt) fails the job instead of reporting an empty success. A non-NULL
   result (a malloc'd copy, see gxs_dup) means success; for an empty or already-sent result Python
   returns NULL and stores GEARMAN_SUCCESS itself. The workload pointer and size are passed in, so
   that Job.workload() needs one cffi call per job instead of four. */
static void *gxs_worker_function(gearman_job_st *job, void *context, const char *workload,
                                 size_t workload_size, size_t *result_size,
                                 gearman_return_t *ret_ptr);
static void *gxs_worker_trampoline(gearman_job_st *job, void *context, size_t *result_size,
                                   gearman_return_t *ret_ptr)
{
    void *result;
    *ret_ptr = GEARMAN_WORK_FAIL;
    *result_size = 0;
    result = gxs_worker_function(job, context, (const char *)gearman_job_workload(job),
                                 gearman_job_workload_size(job), result_size, ret_ptr);
    if (result != NULL)
        *ret_ptr = GEARMAN_SUCCESS;
    return result;
}
/* A malloc'd copy of a worker function's result (libgearman frees it); NULL if out of memory. */
static void *gxs_dup(const char *p, size_t n)
{
    void *r = malloc(n ? n : 1);
    if (r != NULL && n)
        memcpy(r, p, n);
    return r;
}
static gearman_return_t gxs_worker_add_function(gearman_worker_st *worker, const char *function_name,
                                                uint32_t timeout, void *context)
{
    return gearman_worker_add_function(worker, function_name, timeout, gxs_worker_trampoline,
                                       context);
}
"""

CDEF_GLUE = """
size_t gxs_task_exception_text(const gearman_task_st *task, const char **text);
"""

# --- worker glue: see GLUE_SOURCE
CDEF_GLUE += """
gearman_return_t gxs_worker_add_function(gearman_worker_st *worker, const char *function_name,
                                         uint32_t timeout, void *context);
void *gxs_dup(const char *p, size_t n);
"""


# --- socket-buffer glue (perf helper; gearman_xs/socket_buffers.py) ----------------------------------
# libgearman 1.1.20 calls setsockopt(SOL_SOCKET, SO_SNDBUF/SO_RCVBUF, 32768) on every connection it
# opens (hard-coded, no API). These functions redirect libgearman's own GOT/PLT slot for setsockopt
# (and only that library's slot: libc and every other library are untouched) to gxs_sb_wrapper, which
# ignores exactly those two calls and forwards everything else. See socket_buffers.py and the README.
SOCKET_BUFFERS_SOURCE = r"""
#include <link.h>
#include <elf.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define GXS_SB_OK 0
#define GXS_SB_LIBRARY_NOT_FOUND 1
#define GXS_SB_NO_DYNAMIC 2
#define GXS_SB_SLOT_NOT_FOUND 3
#define GXS_SB_UNSUPPORTED 4
#define GXS_SB_MPROTECT_FAILED 5
#define GXS_SB_VERIFY_FAILED 6
#define GXS_SB_NOT_INITIALIZED 7
#define GXS_SB_MAX_SLOTS 4

typedef int (*gxs_sb_fn)(int, int, int, const void *, socklen_t);

static void **gxs_sb_slots[GXS_SB_MAX_SLOTS];   /* libgearman's GOT entries for setsockopt */
static void *gxs_sb_saved[GXS_SB_MAX_SLOTS];    /* their contents before the first write */
static int gxs_sb_slot_relro[GXS_SB_MAX_SLOTS]; /* slot lies in PT_GNU_RELRO (read-only after load) */
static int gxs_sb_nslots = 0;
static int gxs_sb_initialized = 0;
static int gxs_sb_init_status = GXS_SB_NOT_INITIALIZED;
static gxs_sb_fn gxs_sb_forward = 0;            /* the real setsockopt */
static unsigned long gxs_sb_ignored = 0;
static char gxs_sb_path[1024];

static int gxs_sb_wrapper(int fd, int level, int name, const void *value, socklen_t length)
{
    if (level == SOL_SOCKET && (name == SO_SNDBUF || name == SO_RCVBUF)) {
        __atomic_add_fetch(&gxs_sb_ignored, 1, __ATOMIC_RELAXED);
        return 0;
    }
    return gxs_sb_forward(fd, level, name, value, length);
}

#if defined(__x86_64__) || defined(__aarch64__)
#  if defined(__x86_64__)
#    define GXS_SB_JUMP_SLOT R_X86_64_JUMP_SLOT
#    define GXS_SB_GLOB_DAT R_X86_64_GLOB_DAT
#  else
#    define GXS_SB_JUMP_SLOT R_AARCH64_JUMP_SLOT
#    define GXS_SB_GLOB_DAT R_AARCH64_GLOB_DAT
#  endif

struct gxs_sb_search {
    uintptr_t anchor;             /* an address inside libgearman (gearman_version) */
    const char *symbol;
    int found_library;
    int status;
    int nslots;
    void **slots[GXS_SB_MAX_SLOTS];
    int relro[GXS_SB_MAX_SLOTS];
    void *saved[GXS_SB_MAX_SLOTS];
    uintptr_t lo, hi;             /* libgearman's mapped range (PT_LOAD segments) */
    char path[1024];
};

/* d_ptr values are already relocated by glibc's loader, but not by every loader (musl): accept both. */
static uintptr_t gxs_sb_ptr(uintptr_t base, uintptr_t value, uintptr_t lo, uintptr_t hi)
{
    if (value >= lo && value < hi)
        return value;
    if (base + value >= lo && base + value < hi)
        return base + value;
    return 0;
}

static void gxs_sb_scan(struct gxs_sb_search *s, const struct dl_phdr_info *info,
                        const ElfW(Rela) *rel, size_t size, const ElfW(Sym) *symtab,
                        const char *strtab, size_t strsz,
                        const ElfW(Phdr) *relro_ph)
{
    size_t i, n = size / sizeof(ElfW(Rela));
    for (i = 0; i < n; i++) {
        unsigned long type = ELF64_R_TYPE(rel[i].r_info);
        unsigned long sym = ELF64_R_SYM(rel[i].r_info);
        uintptr_t slot;
        if ((type != GXS_SB_JUMP_SLOT && type != GXS_SB_GLOB_DAT) || sym == 0)
            continue;
        if (symtab[sym].st_name >= strsz || strcmp(strtab + symtab[sym].st_name, s->symbol) != 0)
            continue;
        slot = info->dlpi_addr + rel[i].r_offset;
        if (slot < s->lo || slot + sizeof(void *) > s->hi || (slot % sizeof(void *)) != 0)
            continue;
        if (s->nslots >= GXS_SB_MAX_SLOTS)
            return;
        s->slots[s->nslots] = (void **)slot;
        s->saved[s->nslots] = __atomic_load_n((void **)slot, __ATOMIC_ACQUIRE);
        s->relro[s->nslots] = relro_ph != 0
            && slot >= info->dlpi_addr + relro_ph->p_vaddr
            && slot < info->dlpi_addr + relro_ph->p_vaddr + relro_ph->p_memsz;
        s->nslots++;
    }
}

static int gxs_sb_visit(struct dl_phdr_info *info, size_t info_size, void *data)
{
    struct gxs_sb_search *s = (struct gxs_sb_search *)data;
    const ElfW(Phdr) *dyn_ph = 0, *relro_ph = 0;
    const ElfW(Dyn) *dyn;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    uintptr_t jmprel = 0, rela = 0, symtab = 0, strtab = 0;
    size_t pltrelsz = 0, relasz = 0, strsz = 0;
    long pltrel = DT_RELA;
    int contains = 0, i;
    (void)info_size;

    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
            if (start < lo) lo = start;
            if (end > hi) hi = end;
            if (s->anchor >= start && s->anchor < end) contains = 1;
        } else if (ph->p_type == PT_DYNAMIC) {
            dyn_ph = ph;
        } else if (ph->p_type == PT_GNU_RELRO) {
            relro_ph = ph;
        }
    }
    if (!contains)
        return 0;                 /* not libgearman: keep looking */
    s->found_library = 1;
    s->lo = lo;
    s->hi = hi;
    if (info->dlpi_name) {
        strncpy(s->path, info->dlpi_name, sizeof(s->path) - 1);
        s->path[sizeof(s->path) - 1] = 0;
    }
    if (dyn_ph == 0) {
        s->status = GXS_SB_NO_DYNAMIC;
        return 1;
    }
    for (dyn = (const ElfW(Dyn) *)(info->dlpi_addr + dyn_ph->p_vaddr); dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_JMPREL: jmprel = gxs_sb_ptr(info->dlpi_addr, dyn->d_un.d_ptr, lo, hi); break;
        case DT_PLTRELSZ: pltrelsz = dyn->d_un.d_val; break;
        case DT_PLTREL: pltrel = (long)dyn->d_un.d_val; break;
        case DT_RELA: rela = gxs_sb_ptr(info->dlpi_addr, dyn->d_un.d_ptr, lo, hi); break;
        case DT_RELASZ: relasz = dyn->d_un.d_val; break;
        case DT_SYMTAB: symtab = gxs_sb_ptr(info->dlpi_addr, dyn->d_un.d_ptr, lo, hi); break;
        case DT_STRTAB: strtab = gxs_sb_ptr(info->dlpi_addr, dyn->d_un.d_ptr, lo, hi); break;
        case DT_STRSZ: strsz = dyn->d_un.d_val; break;
        default: break;
        }
    }
    if (symtab == 0 || strtab == 0 || strsz == 0) {
        s->status = GXS_SB_NO_DYNAMIC;
        return 1;
    }
    if (jmprel != 0 && pltrel == DT_RELA)
        gxs_sb_scan(s, info, (const ElfW(Rela) *)jmprel, pltrelsz, (const ElfW(Sym) *)symtab,
                    (const char *)strtab, strsz, relro_ph);
    if (rela != 0)
        gxs_sb_scan(s, info, (const ElfW(Rela) *)rela, relasz, (const ElfW(Sym) *)symtab,
                    (const char *)strtab, strsz, relro_ph);
    s->status = s->nslots > 0 ? GXS_SB_OK : GXS_SB_SLOT_NOT_FOUND;
    return 1;
}

static int gxs_sb_search_for(const char *symbol, struct gxs_sb_search *s)
{
    memset(s, 0, sizeof(*s));
    s->anchor = (uintptr_t)&gearman_version;
    s->symbol = symbol;
    s->status = GXS_SB_LIBRARY_NOT_FOUND;
    dl_iterate_phdr(gxs_sb_visit, s);
    return s->status;
}
#else
struct gxs_sb_search { int nslots; void **slots[1]; int relro[1]; void *saved[1]; uintptr_t lo, hi;
                       char path[1024]; };
static int gxs_sb_search_for(const char *symbol, struct gxs_sb_search *s)
{
    (void)symbol;
    memset(s, 0, sizeof(*s));
    return GXS_SB_UNSUPPORTED;
}
#endif

/* Finds how many GOT slots libgearman has for `symbol` without changing anything (diagnostics, tests). */
static int gxs_sb_probe(const char *symbol, int *nslots)
{
    struct gxs_sb_search s;
    int status = gxs_sb_search_for(symbol, &s);
    *nslots = s.nslots;
    return status;
}

/* Locates libgearman's setsockopt slots once; later calls return the first result. */
static int gxs_sb_init(void)
{
    struct gxs_sb_search s;
    int i;
    if (gxs_sb_initialized)
        return gxs_sb_init_status;
    gxs_sb_initialized = 1;
    gxs_sb_forward = (gxs_sb_fn)&setsockopt;
    gxs_sb_init_status = gxs_sb_search_for("setsockopt", &s);
    if (gxs_sb_init_status != GXS_SB_OK)
        return gxs_sb_init_status;
    gxs_sb_nslots = s.nslots;
    for (i = 0; i < s.nslots; i++) {
        gxs_sb_slots[i] = s.slots[i];
        gxs_sb_slot_relro[i] = s.relro[i];
        /* A lazily bound slot (no BIND_NOW) still points into libgearman's own PLT: calling that
           would re-resolve and overwrite the slot, so the wrapper forwards to setsockopt itself.
           A bound slot keeps what the loader (or an earlier interposer) put there. */
        gxs_sb_saved[i] = s.saved[i];
        if (((uintptr_t)s.saved[i] < s.lo || (uintptr_t)s.saved[i] >= s.hi)
            && s.saved[i] != (void *)&gxs_sb_wrapper && s.saved[i] != 0)
            gxs_sb_forward = (gxs_sb_fn)s.saved[i];
    }
    memcpy(gxs_sb_path, s.path, sizeof(gxs_sb_path));
    gxs_sb_path[sizeof(gxs_sb_path) - 1] = 0;
    return GXS_SB_OK;
}

static int gxs_sb_write(int i, void *value)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start;
    if (page <= 0)
        page = 4096;
    start = (uintptr_t)gxs_sb_slots[i] & ~((uintptr_t)page - 1);
    if (gxs_sb_slot_relro[i]) {
        if (mprotect((void *)start, (size_t)page, PROT_READ | PROT_WRITE) != 0)
            return GXS_SB_MPROTECT_FAILED;
    }
    __atomic_store_n(gxs_sb_slots[i], value, __ATOMIC_RELEASE);
    if (gxs_sb_slot_relro[i])
        mprotect((void *)start, (size_t)page, PROT_READ);
    return __atomic_load_n(gxs_sb_slots[i], __ATOMIC_ACQUIRE) == value ? GXS_SB_OK : GXS_SB_VERIFY_FAILED;
}

/* lift != 0: the slots point at gxs_sb_wrapper; lift == 0: back to what the loader put there. */
static int gxs_sb_set_lifted(int lift)
{
    int i, status = gxs_sb_init();
    if (status != GXS_SB_OK)
        return status;
    for (i = 0; i < gxs_sb_nslots; i++) {
        status = gxs_sb_write(i, lift ? (void *)&gxs_sb_wrapper : gxs_sb_saved[i]);
        if (status != GXS_SB_OK) {
            int j;
            for (j = 0; j < i; j++)           /* all or nothing */
                gxs_sb_write(j, lift ? gxs_sb_saved[j] : (void *)&gxs_sb_wrapper);
            return status;
        }
    }
    return GXS_SB_OK;
}

/* Reads the slots back: 1 all point at the wrapper, 0 none does, -1 mixed or not initialized. */
static int gxs_sb_is_lifted(void)
{
    int i, lifted = 0;
    if (!gxs_sb_initialized || gxs_sb_init_status != GXS_SB_OK || gxs_sb_nslots == 0)
        return -1;
    for (i = 0; i < gxs_sb_nslots; i++)
        if (__atomic_load_n(gxs_sb_slots[i], __ATOMIC_ACQUIRE) == (void *)&gxs_sb_wrapper)
            lifted++;
    return lifted == gxs_sb_nslots ? 1 : lifted == 0 ? 0 : -1;
}

static unsigned long gxs_sb_ignored_calls(void)
{
    return __atomic_load_n(&gxs_sb_ignored, __ATOMIC_RELAXED);
}

static int gxs_sb_slot_count(void) { return gxs_sb_nslots; }
static const char *gxs_sb_library(void) { return gxs_sb_path; }
"""

CDEF_SOCKET_BUFFERS = """
#define GXS_SB_OK ...
#define GXS_SB_LIBRARY_NOT_FOUND ...
#define GXS_SB_NO_DYNAMIC ...
#define GXS_SB_SLOT_NOT_FOUND ...
#define GXS_SB_UNSUPPORTED ...
#define GXS_SB_MPROTECT_FAILED ...
#define GXS_SB_VERIFY_FAILED ...
#define GXS_SB_NOT_INITIALIZED ...
int gxs_sb_init(void);
int gxs_sb_probe(const char *symbol, int *nslots);
int gxs_sb_set_lifted(int lift);
int gxs_sb_is_lifted(void);
unsigned long gxs_sb_ignored_calls(void);
int gxs_sb_slot_count(void);
const char *gxs_sb_library(void);
"""
# --- end of socket-buffer glue ---------------------------------------------------------------------

# --- client glue (client helper): do() results collected in C, without a Python callback per packet.
CLIENT_GLUE_SOURCE = """
#include <string.h>

/* The Python task callbacks, defined by cffi further down (extern "Python"). */
static gearman_return_t gxs_task_created(gearman_task_st *);
static gearman_return_t gxs_task_data(gearman_task_st *);
static gearman_return_t gxs_task_warning(gearman_task_st *);
static gearman_return_t gxs_task_status(gearman_task_st *);
static gearman_return_t gxs_task_complete(gearman_task_st *);
static gearman_return_t gxs_task_exception(gearman_task_st *);
static gearman_return_t gxs_task_fail(gearman_task_st *);

typedef struct gxs_acc {
    char *buf; size_t size; size_t cap;     /* result: WORK_DATA chunks + WORK_COMPLETE, malloc'd */
    char *exc; size_t exc_size;             /* WORK_EXCEPTION payload, malloc'd */
    unsigned long events;                   /* packets seen (progress) */
    int background;                         /* done at JOB_CREATED */
    int done;
    gearman_return_t rc;                    /* final outcome once done */
    gearman_return_t run_rc;                /* gxs_acc_do(): what its run_tasks() returned */
    char handle[GEARMAN_JOB_HANDLE_SIZE];   /* gxs_acc_do(): a finished background job's handle */
} gxs_acc;

static int gxs_acc_append(gxs_acc *a, const void *p, size_t n)
{
    if (p == NULL || n == 0) return 0;
    if (a->size + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        char *nb;
        while (cap < a->size + n) cap *= 2;
        nb = (char *)realloc(a->buf, cap);
        if (nb == NULL) return -1;
        a->buf = nb; a->cap = cap;
    }
    memcpy(a->buf + a->size, p, n);
    a->size += n;
    return 0;
}

static gearman_return_t gxs_acc_on_event(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    a->events++;
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_acc_on_created(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    a->events++;
    if (a->background) { a->done = 1; a->rc = GEARMAN_SUCCESS; }
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_acc_on_data(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    a->events++;
    if (gxs_acc_append(a, gearman_task_data(t), gearman_task_data_size(t))) {
        a->done = 1; a->rc = GEARMAN_MEMORY_ALLOCATION_FAILURE;
    }
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_acc_on_complete(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    a->events++;
    if (a->done) return GEARMAN_SUCCESS;
    a->rc = GEARMAN_SUCCESS;
    if (a->size == 0) {           /* the usual case: hand libgearman's buffer over, no copy */
        size_t n = 0;
        void *p = gearman_task_take_data(t, &n);
        if (p != NULL) { free(a->buf); a->buf = (char *)p; a->size = n; a->cap = n; }
    } else if (gxs_acc_append(a, gearman_task_data(t), gearman_task_data_size(t))) {
        a->rc = GEARMAN_MEMORY_ALLOCATION_FAILURE;
    }
    a->done = 1;
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_acc_on_exception(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    size_t n = gearman_task_data_size(t);
    a->events++;
    if (n && a->exc == NULL && (a->exc = (char *)malloc(n)) != NULL) {
        memcpy(a->exc, gearman_task_data(t), n);
        a->exc_size = n;
    }
    a->done = 1; a->rc = GEARMAN_WORK_EXCEPTION;
    return GEARMAN_SUCCESS;
}

static gearman_return_t gxs_acc_on_fail(gearman_task_st *t)
{
    gxs_acc *a = (gxs_acc *)gearman_task_context(t);
    a->events++;
    if (!a->done) { a->done = 1; a->rc = GEARMAN_WORK_FAIL; }
    return GEARMAN_SUCCESS;
}

static void gxs_acc_release(gxs_acc *a)
{
    free(a->buf); a->buf = NULL; a->size = a->cap = 0;
    free(a->exc); a->exc = NULL; a->exc_size = 0;
}

/* Every task the client adds gets the Python callbacks (they dispatch through the task context). */
static void gxs_client_install_callbacks(gearman_client_st *c)
{
    gearman_client_set_created_fn(c, gxs_task_created);
    gearman_client_set_data_fn(c, gxs_task_data);
    gearman_client_set_warning_fn(c, gxs_task_warning);
    gearman_client_set_status_fn(c, gxs_task_status);
    gearman_client_set_complete_fn(c, gxs_task_complete);
    gearman_client_set_exception_fn(c, gxs_task_exception);
    gearman_client_set_fail_fn(c, gxs_task_fail);
}

typedef gearman_task_st *(*gxs_add_fn)(gearman_client_st *, gearman_task_st *, void *, const char *,
                                       const char *, const void *, size_t, gearman_return_t *);

/* kind: 0 high, 1 normal, 2 low; +3 for background. */
static gearman_task_st *gxs_add_task_kind(gearman_client_st *c, int kind, void *context,
                                          const char *fn, const char *unique, const void *w,
                                          size_t n, gearman_return_t *ret)
{
    static gxs_add_fn fns[6] = {
        gearman_client_add_task_high, gearman_client_add_task, gearman_client_add_task_low,
        gearman_client_add_task_high_background, gearman_client_add_task_background,
        gearman_client_add_task_low_background };
    if (kind < 0 || kind > 5) { *ret = GEARMAN_INVALID_ARGUMENT; return NULL; }
    return fns[kind](c, NULL, context, fn, unique, w, n, ret);
}

/* Adds a task whose packets are collected into *a by C callbacks (do*() and do_*background()). */
static gearman_task_st *gxs_add_acc_task(gearman_client_st *c, int kind, gxs_acc *a,
                                         const char *fn, const char *unique, const void *w,
                                         size_t n, gearman_return_t *ret)
{
    gearman_task_st *t;
    a->background = kind >= 3;
    gearman_client_set_created_fn(c, gxs_acc_on_created);
    gearman_client_set_data_fn(c, gxs_acc_on_data);
    gearman_client_set_warning_fn(c, gxs_acc_on_event);
    gearman_client_set_status_fn(c, gxs_acc_on_event);
    gearman_client_set_complete_fn(c, gxs_acc_on_complete);
    gearman_client_set_exception_fn(c, gxs_acc_on_exception);
    gearman_client_set_fail_fn(c, gxs_acc_on_fail);
    t = gxs_add_task_kind(c, kind, a, fn, unique, w, n, ret);
    gxs_client_install_callbacks(c);
    return t;
}

/* The fast path of do*() (one cffi call per job): clears *a, adds the task and runs
   gearman_client_run_tasks() once. If that finished the job (the usual case), the job handle of a
   background job is copied into a->handle, the task is freed and NULL is returned with a->done
   set. Otherwise the task is returned (a->run_rc holds run_tasks()'s code) for the slow path in
   client.py; NULL with a->done unset means the task could not be added (*ret says why). */
static gearman_task_st *gxs_acc_do(gearman_client_st *c, int kind, gxs_acc *a, const char *fn,
                                   const char *unique, const char *w, size_t n,
                                   gearman_return_t *ret)
{
    gearman_task_st *t;
    gxs_acc_release(a);
    a->events = 0; a->done = 0; a->rc = GEARMAN_SUCCESS; a->handle[0] = 0;
    t = gxs_add_acc_task(c, kind, a, fn, unique, w, n, ret);
    if (t == NULL)
        return NULL;
    a->run_rc = gearman_client_run_tasks(c);
    if (a->run_rc != GEARMAN_SUCCESS || !a->done)
        return t;
    if (a->background) {
        const char *h = gearman_task_job_handle(t);
        if (h != NULL) {
            strncpy(a->handle, h, sizeof(a->handle) - 1);
            a->handle[sizeof(a->handle) - 1] = 0;
        }
    }
    gearman_task_free(t);
    return NULL;
}

/* A background job to run at a Unix time (SUBMIT_JOB_EPOCH): gearman_execute() with an epoch
   attribute. Waits for JOB_CREATED; returns the task (NULL on error, see gearman_client_error). */
static gearman_task_st *gxs_execute_epoch(gearman_client_st *c, const char *fn, size_t fn_len,
                                          const char *unique, size_t unique_len, time_t when,
                                          gearman_job_priority_t priority, const char *w,
                                          size_t n)
{
    gearman_task_attr_t attr = gearman_task_attr_init_epoch(when, priority);
    gearman_argument_t arg = gearman_argument_make(NULL, 0, w, n);
    return gearman_execute(c, fn, fn_len, unique, unique_len, &attr, &arg, NULL);
}
"""

CLIENT_CDEF_GLUE = """
typedef struct gxs_acc {
    char *buf; size_t size; size_t cap; char *exc; size_t exc_size;
    unsigned long events; int background; int done; gearman_return_t rc;
    gearman_return_t run_rc; char handle[64];
} gxs_acc;
void gxs_acc_release(gxs_acc *a);
void gxs_client_install_callbacks(gearman_client_st *c);
gearman_task_st *gxs_add_task_kind(gearman_client_st *c, int kind, void *context, const char *fn,
                                   const char *unique, const void *w, size_t n,
                                   gearman_return_t *ret);
gearman_task_st *gxs_add_acc_task(gearman_client_st *c, int kind, gxs_acc *a, const char *fn,
                                  const char *unique, const void *w, size_t n,
                                  gearman_return_t *ret);
gearman_task_st *gxs_execute_epoch(gearman_client_st *c, const char *fn, size_t fn_len,
                                   const char *unique, size_t unique_len, time_t when,
                                   gearman_job_priority_t priority, const char *w, size_t n);
gearman_task_st *gxs_acc_do(gearman_client_st *c, int kind, gxs_acc *a, const char *fn,
                            const char *unique, const char *w, size_t n, gearman_return_t *ret);
"""
# --- end client glue


def _pkg_config_available() -> bool:
    if shutil.which("pkg-config") is None:
        return False
    return (
        subprocess.run(
            ["pkg-config", "--exists", "gearmand"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        ).returncode
        == 0
    )


def _fallback_dirs(variable: str) -> list[str]:
    value = os.environ.get(variable, "")
    return [d for d in value.split(os.pathsep) if d]


def _check_libgearman(include_dirs: list[str], library_dirs: list[str]) -> None:
    """Stops the build with one clear line when gearman.h or libgearman.so cannot be used."""
    cc = os.environ.get("CC", "cc").split()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(
                "#include <libgearman-1.0/gearman.h>\n"
                "int main(void) { return gearman_version() == 0; }\n"
            )
        cmd = [*cc, src, "-o", os.path.join(tmp, "probe")]
        cmd += [f"-I{d}" for d in include_dirs] + [f"-L{d}" for d in library_dirs] + ["-lgearman"]
        try:
            ok = subprocess.run(cmd, capture_output=True, check=False).returncode == 0
        except OSError:
            ok = False
    if not ok:
        raise SystemExit(f"error: {INSTALL_HINT}")


def make_ffibuilder() -> FFI:
    builder = FFI()
    for part in (CDEF_TYPES, CDEF_UTIL, CDEF_CLIENT, CDEF_TASK, CDEF_WORKER, CDEF_JOB,
                 CDEF_CALLBACKS, CDEF_GLUE, CDEF_SOCKET_BUFFERS, CLIENT_CDEF_GLUE):
        builder.cdef(part)
    if _pkg_config_available():
        # Probe first: a .pc file without the headers (a half-removed package) must still give
        # the one-line message, not a compiler traceback.
        cflags = subprocess.run(
            ["pkg-config", "--cflags-only-I", "gearmand"], capture_output=True, text=True,
            check=False,
        ).stdout.split()
        libs = subprocess.run(
            ["pkg-config", "--libs-only-L", "gearmand"], capture_output=True, text=True,
            check=False,
        ).stdout.split()
        _check_libgearman([f[2:] for f in cflags], [f[2:] for f in libs])
        builder.set_source_pkgconfig(
            MODULE, ["gearmand"], GLUE_SOURCE + SOCKET_BUFFERS_SOURCE + CLIENT_GLUE_SOURCE
        )
    else:
        include_dirs = _fallback_dirs("GEARMAN_INCLUDE")
        library_dirs = _fallback_dirs("GEARMAN_LIB")
        _check_libgearman(include_dirs, library_dirs)
        builder.set_source(
            MODULE,
            GLUE_SOURCE + SOCKET_BUFFERS_SOURCE + CLIENT_GLUE_SOURCE,
            libraries=["gearman"],
            include_dirs=include_dirs,
            library_dirs=library_dirs,
            runtime_library_dirs=library_dirs,
        )
    return builder


ffibuilder = make_ffibuilder()

if __name__ == "__main__":
    # In-place development build: writes gearman_xs/_libgearman*.so next to the sources.
    ffibuilder.compile(tmpdir=os.path.dirname(os.path.abspath(__file__)), verbose=False)
