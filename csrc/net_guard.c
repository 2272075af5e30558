/* The packet guard (used by gearman_xs/net_guard.py): no reply from a server crashes libgearman.

   libgearman 1.1.20 parses a server's bytes in gearman_packet_unpack() (libgearman/packet.cc), and
   two kinds of packet header crash it there with SIGSEGV:

   * a command number >= 0x80000000: gearman_packet_unpack_header() checks
     `packet->command >= GEARMAN_COMMAND_MAX` on the enum, a signed int, so the negative value
     passes; gearman_command_info() then compares it unsigned, returns NULL, and
     `gearman_command_info(self.command)->argc` reads through it;
   * a text line (first byte of a packet not NUL) without a space: the text parser's
     `if (!ptr) { *ptr= 0; ...` writes through the NULL that memchr() returned.

   libgearman cannot be patched here, so its GOT slot for recv() (found like socket_buffers.c finds
   setsockopt's) points at gxs_ng_recv(), which follows the binary protocol's framing per socket
   (12-byte header, then the size the header names) and checks every header before libgearman sees
   it: a command number with the top bit set becomes 0x7FFFFFFF (libgearman's own clean
   GEARMAN_INVALID_COMMAND, as for 999), and a packet that starts with anything but NUL becomes the
   header "\0BAD" (GEARMAN_INVALID_MAGIC; libgearman never sends a text command, so a text reply is
   always garbage). libgearman then fails the call and closes the connection, as it does for every
   other malformed packet. The slot for socket() is redirected too, only to reset a socket's framing
   state when libgearman opens it. Payload bytes pass through untouched: one check per packet.

   A header split across two recv() calls is held back (at most 12 bytes per socket) until it is
   complete; the call that holds it reports EAGAIN, which libgearman answers by polling, so nothing
   spins. libgearman's sockets are non-blocking. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <libgearman-1.0/gearman.h>

#include "net_guard.h"
#include "socket_buffers.h"

#define GXS_NG_HEADER 12
#define GXS_NG_CHUNK 1024                 /* sockets per lazily allocated state chunk */
#define GXS_NG_CHUNKS 4096                /* fds below 4 Mi are guarded */

struct gxs_ng_fd {
    uint32_t skip;                /* payload bytes of the current packet still to pass through */
    uint8_t held;                 /* header bytes read from the kernel, not yet given out */
    uint8_t given;                /* bytes of a checked header (held == 12) already given out */
    uint8_t poisoned;             /* a bad header was given out: libgearman is closing the socket */
    uint8_t header[GXS_NG_HEADER];
};

typedef ssize_t (*gxs_ng_recv_fn)(int, void *, size_t, int);
typedef int (*gxs_ng_socket_fn)(int, int, int);

static struct gxs_ng_fd *gxs_ng_chunks[GXS_NG_CHUNKS];
static gxs_ng_recv_fn gxs_ng_real_recv = 0;
static gxs_ng_socket_fn gxs_ng_real_socket = 0;
static int gxs_ng_status = GXS_SB_NOT_INITIALIZED;
static unsigned long gxs_ng_counts[GXS_NG_NCOUNTS];

static void gxs_ng_count(int what)
{
    __atomic_add_fetch(&gxs_ng_counts[what], 1, __ATOMIC_RELAXED);
}

/* The state of `fd`, allocated on first use (NULL: fd out of range or no memory: unguarded). */
static struct gxs_ng_fd *gxs_ng_state(int fd)
{
    struct gxs_ng_fd *chunk, *fresh, *expected = NULL;
    if (fd < 0 || fd / GXS_NG_CHUNK >= GXS_NG_CHUNKS)
        return NULL;
    chunk = __atomic_load_n(&gxs_ng_chunks[fd / GXS_NG_CHUNK], __ATOMIC_ACQUIRE);
    if (chunk == NULL) {
        fresh = (struct gxs_ng_fd *)calloc(GXS_NG_CHUNK, sizeof(struct gxs_ng_fd));
        if (fresh == NULL)
            return NULL;
        if (__atomic_compare_exchange_n(&gxs_ng_chunks[fd / GXS_NG_CHUNK], &expected, fresh, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            chunk = fresh;
        } else {
            free(fresh);          /* another thread allocated it first */
            chunk = expected;
        }
    }
    return &chunk[fd % GXS_NG_CHUNK];
}

static uint32_t gxs_ng_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static __thread int gxs_ng_reason = GXS_NG_HEADERS;   /* the last header neutralised here */
static __thread uint32_t gxs_ng_detail = 0;
static __thread int gxs_ng_wait_ms = 0;                /* > 0: a Worker's call (gxs_ng_read) */

/* Makes `h` a header libgearman rejects cleanly, and ends the stream after it. */
static void gxs_ng_neutralise(struct gxs_ng_fd *st, uint8_t *h, int reason, uint32_t detail)
{
    if (reason == GXS_NG_TEXT)    /* "\0BAD": GEARMAN_INVALID_MAGIC */
        memcpy(h, "\0BAD\0\0\0\0\0\0\0\0", GXS_NG_HEADER);
    else {                        /* command 0x7FFFFFFF: GEARMAN_INVALID_COMMAND */
        h[4] = 0x7F; h[5] = 0xFF; h[6] = 0xFF; h[7] = 0xFF;
        memset(h + 8, 0, 4);
    }
    st->poisoned = 1;
    st->skip = 0;
    gxs_ng_reason = reason;
    gxs_ng_detail = detail;
    gxs_ng_count(reason);
}

/* Checks (and if needed neutralises) a complete header in place; sets the payload to skip. */
static void gxs_ng_check(struct gxs_ng_fd *st, uint8_t *h)
{
    uint32_t command, size;
    if (h[0] != 0) {              /* a text line: libgearman's text parser may crash on it */
        gxs_ng_neutralise(st, h, GXS_NG_TEXT, h[0]);
        return;
    }
    command = gxs_ng_be32(h + 4);
    size = gxs_ng_be32(h + 8);
    if (command & 0x80000000u) {  /* a negative enum passes libgearman's range check */
        gxs_ng_neutralise(st, h, GXS_NG_COMMAND, command);
        return;
    }
    if (command == GEARMAN_COMMAND_JOB_CREATED && (size == 0 || size >= GEARMAN_JOB_HANDLE_SIZE)) {
        /* libgearman would report "" or silently keep the first 63 bytes of the handle */
        gxs_ng_neutralise(st, h, GXS_NG_HANDLE, size);
        return;
    }
    st->skip = size;
    gxs_ng_count(GXS_NG_HEADERS);
}

int gxs_ng_take_reason(uint32_t *detail)
{
    int reason = gxs_ng_reason;
    *detail = gxs_ng_detail;
    gxs_ng_reason = GXS_NG_HEADERS;
    gxs_ng_detail = 0;
    return reason;
}

/* Hands out the rest of a checked header that did not fit into the caller's buffer. */
static ssize_t gxs_ng_give_held(struct gxs_ng_fd *st, uint8_t *out, size_t len)
{
    size_t n = (size_t)(GXS_NG_HEADER - st->given);
    if (n > len)
        n = len;
    memcpy(out, st->header + st->given, n);
    st->given = (uint8_t)(st->given + n);
    if (st->given == GXS_NG_HEADER)
        st->held = st->given = 0;
    return (ssize_t)n;
}

/* The kernel's recv(). In wait mode (a Worker's call, gxs_ng_set_wait()) an empty socket is waited
   on here instead of reporting EAGAIN: libgearman 1.1.20's worker frees its job, whose packet the
   connection is still receiving into, when its poll times out inside a reply, and the next call
   then crashes (a reply slower than the poll timeout, a job payload arriving in slow pieces). A
   reply that stalls past the wait, or a signal, ends the connection instead (ECONNRESET:
   GEARMAN_LOST_CONNECTION, a clean path in libgearman; the server requeues an unfinished job). */
static ssize_t gxs_ng_read(int fd, void *buf, size_t len, int flags)
{
    struct timespec now;
    long long deadline = 0, left;
    struct pollfd p;
    ssize_t n;
    int r;
    for (;;) {
        n = gxs_ng_real_recv(fd, buf, len, flags);
        if (n >= 0 || errno != EAGAIN || gxs_ng_wait_ms <= 0)
            return n;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (deadline == 0)
            deadline = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 + gxs_ng_wait_ms;
        left = deadline - ((long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        if (left <= 0) {
            gxs_ng_reason = GXS_NG_STALL;
            gxs_ng_detail = (uint32_t)gxs_ng_wait_ms;
            gxs_ng_count(GXS_NG_STALL);
            errno = ECONNRESET;
            return -1;
        }
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        r = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (r < 0 && errno == EINTR) {    /* a signal: let Python see it (Ctrl-C, stop()) */
            gxs_ng_reason = GXS_NG_INTERRUPTED;
            gxs_ng_detail = 0;
            errno = ECONNRESET;
            return -1;
        }
        if (r < 0)
            return -1;
    }
}

static ssize_t gxs_ng_recv(int fd, void *buf, size_t len, int flags)
{
    struct gxs_ng_fd *st;
    uint8_t *out = (uint8_t *)buf;
    ssize_t n;
    size_t r, w;

    if (len == 0 || (flags & MSG_PEEK) || (st = gxs_ng_state(fd)) == NULL)
        return gxs_ng_real_recv(fd, buf, len, flags);
    for (;;) {
        if (st->held == GXS_NG_HEADER)
            return gxs_ng_give_held(st, out, len);
        if (st->poisoned)         /* nothing more after a bad header: end of stream */
            return 0;
        if (st->held > 0) {       /* complete a header split across calls, then give it out */
            n = gxs_ng_read(fd, st->header + st->held, (size_t)(GXS_NG_HEADER - st->held), flags);
            if (n <= 0)
                return n;
            st->held = (uint8_t)(st->held + n);
            if (st->held < GXS_NG_HEADER) {
                if (gxs_ng_wait_ms > 0)
                    continue;
                errno = EAGAIN;   /* libgearman polls for the rest */
                return -1;
            }
            gxs_ng_check(st, st->header);
            st->given = 0;
            return gxs_ng_give_held(st, out, len);
        }

        n = gxs_ng_read(fd, buf, len, flags);
        if (n <= 0)
            return n;
        /* Walk the packets in what arrived: payload passes, each header is checked in place. Only
           a header cut off at the end is held back; after a bad header the rest is dropped. */
        for (r = 0, w = 0; r < (size_t)n && !st->poisoned;) {
            size_t left = (size_t)n - r;
            if (st->skip > 0) {
                size_t k = st->skip < left ? st->skip : left;
                st->skip -= (uint32_t)k;
                r += k;
                w = r;
            } else if (out[r] != 0 && len - r < GXS_NG_HEADER) {
                st->header[0] = out[r];             /* text, and no room for the bad header: */
                gxs_ng_check(st, st->header);       /* give it out on the next calls */
                st->held = GXS_NG_HEADER;
                st->given = 0;
            } else if (out[r] != 0 || left >= GXS_NG_HEADER) {
                gxs_ng_check(st, out + r);         /* may write 12 bytes: len - r >= 12 here */
                r += GXS_NG_HEADER;
                w = r;
            } else {
                memcpy(st->header, out + r, left);    /* a partial header: hold it back */
                st->held = (uint8_t)left;
                st->given = 0;
                break;
            }
        }
        if (w > 0)
            return (ssize_t)w;
        if (st->held == GXS_NG_HEADER)
            return gxs_ng_give_held(st, out, len);
        if (gxs_ng_wait_ms <= 0) {
            errno = EAGAIN;       /* only part of a header arrived: libgearman polls for more */
            return -1;
        }
    }
}

void gxs_ng_set_wait(int ms)
{
    gxs_ng_wait_ms = ms;
    gxs_ng_reason = GXS_NG_HEADERS;
    gxs_ng_detail = 0;
}

static int gxs_ng_socket(int domain, int type, int protocol)
{
    int fd = gxs_ng_real_socket(domain, type, protocol);
    struct gxs_ng_fd *st = gxs_ng_state(fd);
    if (st != NULL)
        memset(st, 0, sizeof(*st));
    return fd;
}

int gxs_ng_install(void)
{
    void *forward_socket = (void *)&socket, *forward_recv = (void *)&recv;
    int status;
    if (gxs_ng_status != GXS_SB_NOT_INITIALIZED)
        return gxs_ng_status;
    /* Set before any slot points at the guard; gxs_sb_redirect() replaces them with what the
       loader bound the slots to. socket() first: from then on every new libgearman socket starts
       with a clean state. */
    gxs_ng_real_socket = &socket;
    gxs_ng_real_recv = &recv;
    status = gxs_sb_redirect("socket", (void *)&gxs_ng_socket, &forward_socket);
    if (status == GXS_SB_OK) {
        gxs_ng_real_socket = (gxs_ng_socket_fn)forward_socket;
        status = gxs_sb_redirect("recv", (void *)&gxs_ng_recv, &forward_recv);
        if (status == GXS_SB_OK)
            gxs_ng_real_recv = (gxs_ng_recv_fn)forward_recv;
    }
    gxs_ng_status = status;
    return status;
}

int gxs_ng_status_code(void) { return gxs_ng_status; }

unsigned long gxs_ng_counter(int what)
{
    if (what < 0 || what >= GXS_NG_NCOUNTS)
        return 0;
    return __atomic_load_n(&gxs_ng_counts[what], __ATOMIC_RELAXED);
}
