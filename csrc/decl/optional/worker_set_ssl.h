/* cffi cdef, added when probes/worker_set_ssl.c compiles and links. */

void gearman_worker_set_ssl(gearman_worker_st *worker, bool ssl, const char *ca_file,
                             const char *certificate, const char *key_file);
