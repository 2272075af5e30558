/* cffi cdef, added when probes/client_set_ssl.c compiles and links. */

void gearman_client_set_ssl(gearman_client_st *client, bool ssl, const char *ca_file,
                             const char *certificate, const char *key_file);
