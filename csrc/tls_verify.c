/* Certificate verification for libgearman's TLS connections.

   libgearman (1.1.x and 2.0.0 built with --enable-ssl) loads the CA file given to
   gearman_client_set_ssl() / gearman_worker_set_ssl() into its SSL_CTX but never calls
   SSL_CTX_set_verify(): OpenSSL's default for a client, SSL_VERIFY_NONE, accepts any server
   certificate. Each connection is set up with SSL_new(), SSL_set_fd(), SSL_set_connect_state()
   (connection.cc enable_ssl()), then the handshake runs in the first SSL_write(). This shim
   redirects libgearman's GOT slot for SSL_set_connect_state (socket_buffers.c's
   gxs_sb_redirect()) to a wrapper that first sets SSL_VERIFY_PEER on that connection: a server
   whose certificate chain does not verify against the CA file then fails the handshake, and
   libgearman reports "SSL failure" (GEARMAN_LOST_CONNECTION). The host name is not checked
   (libgearman does not tell OpenSSL which host it connects to).

   The wrapper also empties the thread's OpenSSL error queue first (ERR_clear_error()):
   libgearman reads SSL_get_error() without clearing it, and the errors an earlier connection
   left there ("shutdown while in init" from freeing a client) made about one new connection in
   ten fail its handshake with SSL_ERROR_SSL (measured with 2.0.0: 11-30 of 300 job_status calls
   on throw-away clients; none with the queue cleared).

   OpenSSL is not linked here: its functions are looked up in the process (libgearman loaded
   libssl), so a libgearman without TLS needs nothing of this. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

#include "socket_buffers.h"
#include "tls_verify.h"

#define GXS_SSL_VERIFY_PEER 0x01  /* openssl/ssl.h SSL_VERIFY_PEER */

typedef void (*gxs_tls_connect_state_fn)(void *ssl);
typedef void (*gxs_tls_set_verify_fn)(void *ssl, int mode, void *callback);
typedef void (*gxs_tls_clear_fn)(void);

static gxs_tls_connect_state_fn gxs_tls_forward = 0;
static gxs_tls_set_verify_fn gxs_tls_set_verify = 0;
static gxs_tls_clear_fn gxs_tls_clear_errors = 0;
static int gxs_tls_installed = 0;
static int gxs_tls_status = GXS_TLS_NO_OPENSSL;
static unsigned long gxs_tls_count = 0;

static void gxs_tls_connect_state(void *ssl)
{
    gxs_tls_clear_errors();
    gxs_tls_set_verify(ssl, GXS_SSL_VERIFY_PEER, NULL);
    __atomic_add_fetch(&gxs_tls_count, 1, __ATOMIC_RELAXED);
    gxs_tls_forward(ssl);
}

int gxs_tls_install(void)
{
    void *original = NULL;
    if (gxs_tls_installed)
        return gxs_tls_status;
    gxs_tls_installed = 1;
    gxs_tls_set_verify = (gxs_tls_set_verify_fn)dlsym(RTLD_DEFAULT, "SSL_set_verify");
    gxs_tls_forward = (gxs_tls_connect_state_fn)dlsym(RTLD_DEFAULT, "SSL_set_connect_state");
    gxs_tls_clear_errors = (gxs_tls_clear_fn)dlsym(RTLD_DEFAULT, "ERR_clear_error");
    if (gxs_tls_set_verify == 0 || gxs_tls_forward == 0 || gxs_tls_clear_errors == 0) {
        gxs_tls_status = GXS_TLS_NO_OPENSSL;
        return gxs_tls_status;
    }
    gxs_tls_status = gxs_sb_redirect("SSL_set_connect_state", (void *)&gxs_tls_connect_state, &original);
    if (gxs_tls_status == GXS_SB_OK && original != NULL)
        gxs_tls_forward = (gxs_tls_connect_state_fn)original;
    return gxs_tls_status;
}

unsigned long gxs_tls_verified_connections(void)
{
    return __atomic_load_n(&gxs_tls_count, __ATOMIC_RELAXED);
}
