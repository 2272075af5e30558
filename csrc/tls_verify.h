/* Certificate verification for libgearman's TLS connections (tls_verify.c), used by
   gearman_xs/_tls.py. */
#ifndef GXS_TLS_VERIFY_H
#define GXS_TLS_VERIFY_H

#define GXS_TLS_OK 0
#define GXS_TLS_NO_OPENSSL 100  /* SSL_set_verify / SSL_set_connect_state not in the process */
/* other values: the GXS_SB_* status of redirecting libgearman's SSL_set_connect_state slot */

/* Makes every TLS connection libgearman opens from now on verify the server's certificate chain
   against the CA file given to gearman_*_set_ssl() (libgearman itself leaves OpenSSL's default,
   SSL_VERIFY_NONE: any certificate, or none, is accepted). Once; later calls return the first
   result. */
int gxs_tls_install(void);
/* How many connections were switched to verification so far. */
unsigned long gxs_tls_verified_connections(void);
/* How many fatal SSL_read() failures were handed to libgearman as "connection closed" (its own
   handling of them parses garbage; see tls_verify.c). */
unsigned long gxs_tls_failed_reads_count(void);
/* How many failed handshakes were redone on a new connection (see tls_verify.c). */
unsigned long gxs_tls_redone_handshakes(void);

#endif
