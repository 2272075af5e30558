/* cffi cdef of ../tls_verify.h. */

#define GXS_TLS_OK ...
#define GXS_TLS_NO_OPENSSL ...
int gxs_tls_install(void);
unsigned long gxs_tls_verified_connections(void);
unsigned long gxs_tls_failed_reads_count(void);
unsigned long gxs_tls_redone_handshakes(void);
