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

   libgearman's read path (connection.cc recv_socket(), every release from 1.1.x to 2.0.0) turns a
   fatal SSL_read() failure (SSL_ERROR_SSL, or SSL_ERROR_SYSCALL without errno: a bad record, an
   alert, an unexpected EOF) into `return gearman_universal_set_error(...)` from a function that
   returns a byte count: the caller takes GEARMAN_LOST_CONNECTION (14) as "14 bytes received" with
   its status left at success, and parses 14 bytes of the connection's receive buffer as a packet:
   a segfault (a NULL dereference in gearman_packet_unpack's text-command parser), a made-up packet
   or a hang. gearmand 2.0.0 with two or more I/O threads sends such bad records now and then (its
   processing thread calls SSL_shutdown() on a closed connection's SSL after the I/O thread closed
   the socket, and the close_notify lands on the next connection given that descriptor number).
   This shim also redirects libgearman's SSL_read and SSL_get_error slots: a fatal read failure is
   reported to libgearman as SSL_ERROR_ZERO_RETURN (the peer closed), which its read path handles
   right: GEARMAN_LOST_CONNECTION "lost connection to server (EOF)", the socket closed, nothing
   parsed. The override is for that SSL object's next SSL_get_error() in the same thread only
   (libgearman calls it right after SSL_read()); every other answer is OpenSSL's.

   The same gearmand bug also breaks handshakes: a new connection that gets the stray record while
   its handshake runs fails with "unexpected message" (libgearman: "SSL failure", 1-8 % of new
   connections to a gearmand -t 2..4). Nothing of the caller's was sent then (the handshake runs
   in libgearman's first SSL_write(), which writes no application data before it completes), so
   the SSL_write wrapper redoes such a handshake, at most GXS_TLS_REDO times per connection, on a
   new TCP connection to the same address and on the same descriptor: connect(AF_UNSPEC) dissolves
   the failed one (Linux, connect(2); the socket keeps libgearman's options), connect() starts the
   new one, SSL_clear() readies the SSL object, and libgearman goes on as if the first one had only
   been slow (SSL_ERROR_WANT_WRITE until the connect completes). A failed certificate
   verification (a wrong CA) is not redone.

   The packet guard (net_guard.c) sees what libgearman reads with recv(); on a TLS connection
   libgearman reads with SSL_read() instead. So the SSL_read wrapper reads through the guard
   (gxs_ng_tls_recv(), keyed by the connection's socket, SSL_get_fd()): the same per-socket buffer,
   checks and rewrites as on plain TCP, and the Worker's wait for a slow reply. The guard sees
   recv()'s conventions (gxs_tls_recv(): 0 for the end of the stream, a fatal failure included,
   -1 with EAGAIN when OpenSSL wants the socket), and what it returns is told to libgearman's next
   SSL_get_error() on that connection in OpenSSL's terms (0: ZERO_RETURN; EAGAIN: WANT_READ; another
   errno: SYSCALL with errno kept), because OpenSSL never saw those returns. Without the guard
   (GEARMAN_XS_NET_GUARD=off, or not installed) the read goes straight to OpenSSL with the same
   conventions. While a packet is incomplete the guard reads on until OpenSSL wants the socket
   (OpenSSL may already hold the rest, where libgearman's poll() cannot see it).

   OpenSSL is not linked here: its functions are looked up in the process (libgearman loaded
   libssl), so a libgearman without TLS needs nothing of this. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "net_guard.h"
#include "socket_buffers.h"
#include "tls_verify.h"

#define GXS_SSL_VERIFY_PEER 0x01  /* openssl/ssl.h SSL_VERIFY_PEER */
#define GXS_SSL_ERROR_SSL 1  /* openssl/ssl.h SSL_ERROR_* */
#define GXS_SSL_ERROR_WANT_READ 2
#define GXS_SSL_ERROR_WANT_WRITE 3
#define GXS_SSL_ERROR_WANT_X509_LOOKUP 4
#define GXS_SSL_ERROR_SYSCALL 5
#define GXS_SSL_ERROR_ZERO_RETURN 6
#define GXS_SSL_ERROR_WANT_CONNECT 7
#define GXS_SSL_ERROR_WANT_ACCEPT 8
#define GXS_X509_V_OK 0
#define GXS_TLS_REDO 2  /* handshakes redone per connection, at most */

typedef void (*gxs_tls_connect_state_fn)(void *ssl);
typedef void (*gxs_tls_set_verify_fn)(void *ssl, int mode, void *callback);
typedef void (*gxs_tls_clear_fn)(void);
typedef int (*gxs_tls_read_fn)(void *ssl, void *buf, int num);
typedef int (*gxs_tls_get_error_fn)(const void *ssl, int ret);
typedef int (*gxs_tls_write_fn)(void *ssl, const void *buf, int num);
typedef int (*gxs_tls_int_fn)(const void *ssl);
typedef long (*gxs_tls_long_fn)(const void *ssl);

static gxs_tls_connect_state_fn gxs_tls_forward = 0;
static gxs_tls_set_verify_fn gxs_tls_set_verify = 0;
static gxs_tls_clear_fn gxs_tls_clear_errors = 0;
static gxs_tls_read_fn gxs_tls_read_forward = 0;
static gxs_tls_get_error_fn gxs_tls_get_error_forward = 0;
static gxs_tls_write_fn gxs_tls_write_forward = 0;
static gxs_tls_int_fn gxs_tls_init_finished = 0;  /* SSL_is_init_finished */
static gxs_tls_int_fn gxs_tls_get_fd = 0;
static gxs_tls_int_fn gxs_tls_clear = 0;  /* SSL_clear */
static gxs_tls_long_fn gxs_tls_verify_result = 0;
static __thread const void *gxs_tls_redo_ssl = 0;  /* the connection whose handshakes are counted */
static __thread int gxs_tls_redo_count = 0;
static unsigned long gxs_tls_redone = 0;
static __thread const void *gxs_tls_answer_ssl = 0;  /* its next SSL_get_error: the answer below */
static __thread int gxs_tls_answer_code = 0;
static unsigned long gxs_tls_failed_reads = 0;
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

/* One SSL_read() with recv()'s conventions, for the packet guard (net_guard.c): bytes read; 0 at
   the end of the stream, a fatal failure included; -1 with errno (EAGAIN when OpenSSL wants the
   socket, as libgearman maps those codes). */
static ssize_t gxs_tls_recv(void *ssl, void *buf, size_t len)
{
    int ret = gxs_tls_read_forward(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    int saved, error;
    if (ret > 0)
        return ret;
    saved = errno;
    error = gxs_tls_get_error_forward(ssl, ret);
    switch (error) {
    case GXS_SSL_ERROR_ZERO_RETURN:
        return 0;
    case GXS_SSL_ERROR_WANT_READ:
    case GXS_SSL_ERROR_WANT_WRITE:
    case GXS_SSL_ERROR_WANT_X509_LOOKUP:
    case GXS_SSL_ERROR_WANT_CONNECT:
    case GXS_SSL_ERROR_WANT_ACCEPT:
        errno = EAGAIN;
        return -1;
    case GXS_SSL_ERROR_SYSCALL:
        if (saved != 0) {
            errno = saved;
            return -1;
        }
        /* without errno, libgearman takes it as fatal */
        /* fall through */
    default:
        gxs_tls_clear_errors();  /* libgearman would leave them for the thread's next call */
        __atomic_add_fetch(&gxs_tls_failed_reads, 1, __ATOMIC_RELAXED);
        return 0;
    }
}

/* libgearman's SSL_read(): through the packet guard, and what it returns told to libgearman's
   SSL_get_error() right after (the end of the stream: ZERO_RETURN; EAGAIN: WANT_READ; another
   errno: SYSCALL, errno kept). */
static int gxs_tls_read(void *ssl, void *buf, int num)
{
    ssize_t n;
    int saved;
    if (num <= 0)
        return gxs_tls_read_forward(ssl, buf, num);
    n = gxs_ng_tls_recv(gxs_tls_get_fd(ssl), ssl, gxs_tls_recv, buf, (size_t)num);
    if (n > 0) {
        gxs_tls_answer_ssl = 0;  /* SSL_get_error(ssl, n > 0) is OpenSSL's: SSL_ERROR_NONE */
        return (int)n;
    }
    saved = errno;
    gxs_tls_answer_ssl = ssl;
    gxs_tls_answer_code = n == 0 ? GXS_SSL_ERROR_ZERO_RETURN
                        : saved == EAGAIN ? GXS_SSL_ERROR_WANT_READ : GXS_SSL_ERROR_SYSCALL;
    errno = saved;
    return n == 0 ? 0 : -1;
}

/* A new TCP connection to the same address on ssl's descriptor, and ssl ready for a new handshake.
   0 when that is not possible (the caller then reports the first failure). */
static int gxs_tls_reconnect(void *ssl)
{
    struct sockaddr_storage peer;
    struct sockaddr unspec;
    socklen_t len = sizeof peer;
    int fd = gxs_tls_get_fd(ssl);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
        return 0;
    memset(&unspec, 0, sizeof unspec);
    unspec.sa_family = AF_UNSPEC;
    if (connect(fd, &unspec, sizeof unspec) != 0)
        return 0;
    if (connect(fd, (struct sockaddr *)&peer, len) != 0 && errno != EINPROGRESS)
        return 0;
    if (gxs_tls_clear(ssl) != 1)
        return 0;
    gxs_tls_clear_errors();
    gxs_tls_set_verify(ssl, GXS_SSL_VERIFY_PEER, NULL);
    gxs_tls_forward(ssl);  /* SSL_set_connect_state */
    return 1;
}

static int gxs_tls_write(void *ssl, const void *buf, int num)
{
    int ret = gxs_tls_write_forward(ssl, buf, num);
    while (ret <= 0 && gxs_tls_init_finished(ssl) == 0) {
        int saved = errno;
        int error = gxs_tls_get_error_forward(ssl, ret);
        if (ssl != gxs_tls_redo_ssl) {
            gxs_tls_redo_ssl = ssl;
            gxs_tls_redo_count = 0;
        }
        if (!(error == GXS_SSL_ERROR_SSL || (error == GXS_SSL_ERROR_SYSCALL && saved == 0))
            || gxs_tls_verify_result(ssl) != GXS_X509_V_OK || gxs_tls_redo_count >= GXS_TLS_REDO
            || !gxs_tls_reconnect(ssl)) {
            errno = saved;
            break;
        }
        gxs_tls_redo_count++;
        __atomic_add_fetch(&gxs_tls_redone, 1, __ATOMIC_RELAXED);
        ret = gxs_tls_write_forward(ssl, buf, num);  /* usually SSL_ERROR_WANT_WRITE: connecting */
    }
    return ret;
}

static int gxs_tls_get_error(const void *ssl, int ret)
{
    if (ssl != 0 && ssl == gxs_tls_answer_ssl) {
        gxs_tls_answer_ssl = 0;
        return gxs_tls_answer_code;
    }
    return gxs_tls_get_error_forward(ssl, ret);
}

static int gxs_tls_redirect(const char *symbol, void *replacement, void **forward)
{
    void *original = NULL;
    int status = gxs_sb_redirect(symbol, replacement, &original);
    if (status == GXS_SB_OK && original != NULL)
        *forward = original;
    return status;
}

int gxs_tls_install(void)
{
    if (gxs_tls_installed)
        return gxs_tls_status;
    gxs_tls_installed = 1;
    gxs_tls_set_verify = (gxs_tls_set_verify_fn)dlsym(RTLD_DEFAULT, "SSL_set_verify");
    gxs_tls_forward = (gxs_tls_connect_state_fn)dlsym(RTLD_DEFAULT, "SSL_set_connect_state");
    gxs_tls_clear_errors = (gxs_tls_clear_fn)dlsym(RTLD_DEFAULT, "ERR_clear_error");
    gxs_tls_read_forward = (gxs_tls_read_fn)dlsym(RTLD_DEFAULT, "SSL_read");
    gxs_tls_get_error_forward = (gxs_tls_get_error_fn)dlsym(RTLD_DEFAULT, "SSL_get_error");
    gxs_tls_write_forward = (gxs_tls_write_fn)dlsym(RTLD_DEFAULT, "SSL_write");
    gxs_tls_init_finished = (gxs_tls_int_fn)dlsym(RTLD_DEFAULT, "SSL_is_init_finished");
    gxs_tls_get_fd = (gxs_tls_int_fn)dlsym(RTLD_DEFAULT, "SSL_get_fd");
    gxs_tls_clear = (gxs_tls_int_fn)dlsym(RTLD_DEFAULT, "SSL_clear");
    gxs_tls_verify_result = (gxs_tls_long_fn)dlsym(RTLD_DEFAULT, "SSL_get_verify_result");
    if (gxs_tls_set_verify == 0 || gxs_tls_forward == 0 || gxs_tls_clear_errors == 0
        || gxs_tls_read_forward == 0 || gxs_tls_get_error_forward == 0 || gxs_tls_write_forward == 0
        || gxs_tls_init_finished == 0 || gxs_tls_get_fd == 0 || gxs_tls_clear == 0
        || gxs_tls_verify_result == 0) {
        gxs_tls_status = GXS_TLS_NO_OPENSSL;
        return gxs_tls_status;
    }
    /* SSL_get_error first: the SSL_read wrapper's override is answered by it. A slot that cannot
       be redirected fails the install (set_ssl() then refuses TLS). */
    gxs_tls_status = gxs_tls_redirect("SSL_get_error", (void *)&gxs_tls_get_error,
                                      (void **)&gxs_tls_get_error_forward);
    if (gxs_tls_status == GXS_SB_OK)
        gxs_tls_status = gxs_tls_redirect("SSL_read", (void *)&gxs_tls_read,
                                          (void **)&gxs_tls_read_forward);
    if (gxs_tls_status == GXS_SB_OK)
        gxs_tls_status = gxs_tls_redirect("SSL_write", (void *)&gxs_tls_write,
                                          (void **)&gxs_tls_write_forward);
    if (gxs_tls_status == GXS_SB_OK)
        gxs_tls_status = gxs_tls_redirect("SSL_set_connect_state", (void *)&gxs_tls_connect_state,
                                          (void **)&gxs_tls_forward);
    return gxs_tls_status;
}

unsigned long gxs_tls_verified_connections(void)
{
    return __atomic_load_n(&gxs_tls_count, __ATOMIC_RELAXED);
}

unsigned long gxs_tls_failed_reads_count(void)
{
    return __atomic_load_n(&gxs_tls_failed_reads, __ATOMIC_RELAXED);
}

unsigned long gxs_tls_redone_handshakes(void)
{
    return __atomic_load_n(&gxs_tls_redone, __ATOMIC_RELAXED);
}
