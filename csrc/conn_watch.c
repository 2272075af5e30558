/* The connection watch: which fd is a Client's connection, and did its server close it?

   A submission may be repeated on another server only when it provably never reached the first.
   A server that died while the Client was idle leaves a connection libgearman would still write
   the next job into (then "lost connection": sent or not, nobody can tell). So libgearman's own GOT
   slot for connect() is redirected (gxs_sb_redirect, socket_buffers.c) to gxs_cw_connect, which
   notes in a thread-local variable the first connection libgearman opens after gxs_cw_take(). The
   Client takes it right after the call that connected its C client (one server per C client), and
   polls it (gxs_cw_peer_closed) before submitting on it: a server that closed the connection
   meanwhile is seen before the job is sent, and the job goes to a fresh connection. Where the slot
   cannot be redirected the fd stays unknown, and a connection lost after sending is reported
   instead of being resubmitted to another server. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "conn_watch.h"
#include "socket_buffers.h"

typedef int (*gxs_cw_fn)(int, const struct sockaddr *, socklen_t);

static gxs_cw_fn gxs_cw_forward = 0;      /* the real connect() */
static int gxs_cw_status = GXS_SB_NOT_INITIALIZED;
static __thread int gxs_cw_fd = -1;

static int gxs_cw_connect(int fd, const struct sockaddr *addr, socklen_t length)
{
    if (gxs_cw_fd < 0)   /* the first since gxs_cw_take(): a callback's own connects come later */
        gxs_cw_fd = fd;
    return gxs_cw_forward(fd, addr, length);
}

int gxs_cw_install(void)
{
    void *original = (void *)&connect;
    if (gxs_cw_status != GXS_SB_NOT_INITIALIZED)
        return gxs_cw_status;
    gxs_cw_forward = &connect;   /* set before any slot points at the watcher */
    gxs_cw_status = gxs_sb_redirect("connect", (void *)&gxs_cw_connect, &original);
    gxs_cw_forward = (gxs_cw_fn)original;
    return gxs_cw_status;
}

int gxs_cw_take(void)
{
    int fd = gxs_cw_fd;
    gxs_cw_fd = -1;
    return fd;
}

int gxs_cw_peer_closed(int fd)
{
    struct pollfd p;
    int n;
    p.fd = fd;
    p.events = POLLIN | POLLPRI
#ifdef POLLRDHUP
        | POLLRDHUP
#endif
        ;
    p.revents = 0;
    do {
        n = poll(&p, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n != 0;
}
