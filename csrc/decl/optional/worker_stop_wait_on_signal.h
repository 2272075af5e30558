/* cffi cdef, added when probes/worker_stop_wait_on_signal.c compiles: a gearman_worker_options_t
   member that only 2.0.0's constants.h has. */

#define GEARMAN_WORKER_STOP_WAIT_ON_SIGNAL ...
