/* cffi cdef, added when probes/client_stop_wait_on_signal.c compiles: a gearman_client_options_t
   member that only 2.0.0's constants.h has. */

#define GEARMAN_CLIENT_STOP_WAIT_ON_SIGNAL ...
