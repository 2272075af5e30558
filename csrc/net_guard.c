/* The packet guard (used by gearman_xs/net_guard.py): no reply from a server crashes libgearman.

   libgearman 1.1.20 parses a server's bytes in gearman_packet_unpack() (libgearman/packet.cc); it
   crashes (SIGSEGV) on:

   * a command number >= 0x80000000: gearman_packet_unpack_header() checks
     `packet->command >= GEARMAN_COMMAND_MAX` on the enum, a signed int, so the negative value
     passes; gearman_command_info() then compares it unsigned, returns NULL, and
     `gearman_command_info(self.command)->argc` reads through it;
   * a text line (first byte of a packet not NUL) without a space: the text parser's
     `if (!ptr) { *ptr= 0; ...` writes through the NULL that memchr() returned;
   * a packet whose NUL-terminated arguments run past the size its header names (libgearman looks
     for the NULs in whatever follows, its data_size underflows, and the next packets are misread);
   * a call that times out while a packet is half received, when the connection is used again
     (its state machine keeps receiving into a packet the timed-out call owned: a Worker's job,
     freed by then; the packets of the echo, option and status calls that gearman_xs repeats).

   libgearman cannot be patched here, so its GOT slot for recv() (found like socket_buffers.c finds
   setsockopt's) points at gxs_ng_recv(), which reads the binary protocol itself, per socket, and
   hands libgearman only what it can parse whole: a packet's header and NUL-terminated arguments
   (for commands without data: the whole packet) are collected in a per-socket buffer of
   libgearman's own receive-buffer size and given out only once complete and checked. Only a data
   payload (JOB_ASSIGN's workload, WORK_COMPLETE's result...) streams through unbuffered. So
   libgearman never waits inside a header or an argument list, and a timeout finds it between
   packets or in a payload. A bad packet is neutralised instead of given out: a command number with
   the top bit set becomes 0x7FFFFFFF (libgearman's own clean GEARMAN_INVALID_COMMAND, as for 999);
   a text line, arguments that do not fit the size, a packet libgearman could not hold, or a
   JOB_CREATED whose handle libgearman would return empty or cut to 63 bytes become the same
   invalid command (a text line: the magic "\0BAD", GEARMAN_INVALID_MAGIC). libgearman then fails
   the call and closes the connection, as for any other malformed packet; the guard gives nothing
   more on that socket. The slot for socket() is redirected too, only to reset a socket's state when
   libgearman opens it. TLS connections, which libgearman reads with SSL_read(), come through
   gxs_ng_tls_recv() from tls_verify.c's SSL_read wrapper: the same state and checks per socket,
   with the bytes read from OpenSSL instead of the kernel.

   Job handles (every release; needed for libgearman 2.0.0): 2.0.0's client hands a result packet
   to the first task whose job handle is a *prefix* of the packet's (client.cc:
   `strncmp(job_handle, arg[0], strlen(job_handle))`), so with H:host:1 and H:host:10 both in flight
   the WORK_COMPLETE of :10 can reach the task of :1 (a wrong result, a false WORK_FAIL, a hang);
   1.1.x compares whole handles. So in JOB_CREATED and the WORK_* packets (DATA, WARNING, STATUS,
   COMPLETE, FAIL, EXCEPTION) the guard marks the handle, in place and at the same length: its last
   byte, a digit, becomes GXS_NG_MARK_LAST + digit (0x10-0x19) and its first byte gets the top bit.
   A marked handle ends in a byte no handle has anywhere else, so none is a prefix of another; and
   it starts with a byte no real handle has, so a task that asks for a status (GET_STATUS sends the
   real handle, STATUS_RES is left unmarked) never takes a job's result either. libgearman stores and
   compares the marked handles; gxs_task_job_handle() gives the real one back, and it is the only
   way the binding reads a task's handle. A handle that does not end in a digit (not gearmand's
   "H:host:N") is left as it came.

   Read what arrived (the poll() slot, during a Client's run_tasks() only: gxs_ng_client_enter):
   when a connection breaks (an RST: POLLERR|POLLHUP), libgearman's client treats it as fatal
   before it reads what the server had sent until then (client.cc, "Connection errors are fatal"),
   although the kernel still holds those bytes. A JOB_CREATED dropped there makes the Client take an
   accepted job for one that may never have reached the server and submit it again: run twice if
   the first copy had already finished. So while bytes are waiting on such a socket (or in the
   guard's buffer), gxs_ng_poll() reports only POLLIN: libgearman reads them (JOB_CREATED, even
   WORK_COMPLETE) and then meets the error on its next recv(). A Worker's sockets are left alone: a
   JOB_ASSIGN that came in on a connection already broken must not run (gearmand gives that job to
   another worker).

   Wait mode (gxs_ng_set_wait, a Worker's calls): an empty socket is waited on inside recv() instead
   of reporting EAGAIN, because libgearman 1.1.20's worker frees the job it is receiving into when
   its poll times out (a reply slower than the Worker's 200 ms poll slice killed the process). A
   reply that stalls past the wait, or a signal, ends the connection instead (ECONNRESET:
   GEARMAN_LOST_CONNECTION, a clean path in libgearman; the server requeues an unfinished job). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <libgearman-1.0/gearman.h>

#include "net_guard.h"
#include "socket_buffers.h"

#define GXS_NG_HEADER 12
#define GXS_NG_BUFFER 8192                /* libgearman's GEARMAN_RECV_BUFFER_SIZE */
#define GXS_NG_CHUNK 1024                 /* sockets per lazily allocated state chunk */
#define GXS_NG_CHUNKS 4096                /* fds below 4 Mi are guarded */
#define GXS_NG_COMMANDS 43                /* GEARMAN_COMMAND_MAX in 1.1.x and 2.0 */

struct gxs_ng_fd {
    uint8_t *buf;                 /* bytes read from the kernel, not yet given out (malloc'd) */
    uint32_t have;                /* bytes in buf */
    uint32_t ready;               /* of which checked and ready to give out (buf[0..ready)) */
    uint32_t skip;                /* payload bytes of a given-out packet still to stream through */
    uint8_t poisoned;             /* a bad packet was given out: nothing more on this socket */
};

typedef ssize_t (*gxs_ng_recv_fn)(int, void *, size_t, int);
typedef int (*gxs_ng_socket_fn)(int, int, int);
typedef int (*gxs_ng_poll_fn)(struct pollfd *, nfds_t, int);

static struct gxs_ng_fd *gxs_ng_chunks[GXS_NG_CHUNKS];
static gxs_ng_recv_fn gxs_ng_real_recv = 0;
static gxs_ng_socket_fn gxs_ng_real_socket = 0;
static gxs_ng_poll_fn gxs_ng_real_poll = 0;
static int gxs_ng_poll_status = GXS_SB_NOT_INITIALIZED;
static int gxs_ng_status = GXS_SB_NOT_INITIALIZED;
static unsigned long gxs_ng_counts[GXS_NG_NCOUNTS];
static unsigned long gxs_ng_read_first = 0;   /* broken connections read to the end first */

static __thread int gxs_ng_reason = GXS_NG_HEADERS;   /* the last packet neutralised here */
static __thread uint32_t gxs_ng_detail = 0;
static __thread int gxs_ng_wait_ms = 0;                /* > 0: a Worker's call (gxs_ng_read) */
static __thread int gxs_ng_client = 0;                 /* 1: inside a Client's run_tasks() */

/* libgearman's command table (libgearman/command.cc): how many NUL-terminated arguments a packet
   carries before its last argument or its data, and whether it has data (streamed). */
static const uint8_t gxs_ng_nuls[GXS_NG_COMMANDS] = {
    4, 0, 0, 0, 0, 0, 0, 2, 0, 0,   /* TEXT CAN_DO CANT_DO RESET PRE_SLEEP UNUSED NOOP SUBMIT
                                       JOB_CREATED GRAB_JOB */
    0, 2, 2, 1, 0, 0, 0, 0, 2, 1,   /* NO_JOB JOB_ASSIGN WORK_STATUS WORK_COMPLETE WORK_FAIL
                                       GET_STATUS ECHO_REQ ECHO_RES SUBMIT_BG ERROR */
    4, 2, 0, 1, 0, 1, 0, 0, 1, 1,   /* STATUS_RES SUBMIT_HIGH SET_CLIENT_ID CAN_DO_TIMEOUT
                                       ALL_YOURS WORK_EXCEPTION OPTION_REQ OPTION_RES WORK_DATA
                                       WORK_WARNING */
    0, 3, 2, 2, 2, 7, 3, 4, 4, 0,   /* GRAB_UNIQ ASSIGN_UNIQ SUBMIT_HIGH_BG SUBMIT_LOW
                                       SUBMIT_LOW_BG SCHED EPOCH REDUCE REDUCE_BG GRAB_ALL */
    4, 0, 5,                        /* ASSIGN_ALL GET_STATUS_UNIQUE STATUS_RES_UNIQUE */
};
static const uint8_t gxs_ng_data[GXS_NG_COMMANDS] = {
    0, 0, 0, 0, 0, 0, 0, 1, 0, 0,
    0, 1, 0, 1, 0, 0, 1, 1, 1, 0,
    0, 1, 0, 0, 0, 1, 0, 0, 1, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    1, 0, 0,
};

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

/* Replaces everything not yet given out by one header libgearman rejects cleanly. */
static void gxs_ng_neutralise(struct gxs_ng_fd *st, int reason, uint32_t detail)
{
    uint8_t *h = st->buf + st->ready;
    if (reason == GXS_NG_TEXT)    /* "\0BAD": GEARMAN_INVALID_MAGIC */
        memcpy(h, "\0BAD\0\0\0\0\0\0\0\0", GXS_NG_HEADER);
    else                          /* command 0x7FFFFFFF, size 0: GEARMAN_INVALID_COMMAND */
        memcpy(h, "\0RES\x7f\xff\xff\xff\0\0\0\0", GXS_NG_HEADER);
    st->ready += GXS_NG_HEADER;
    st->have = st->ready;
    st->skip = 0;
    st->poisoned = 1;
    gxs_ng_reason = reason;
    gxs_ng_detail = detail;
    gxs_ng_count(reason);
}

/* Marks the job handle at the start of `payload` (`avail` bytes of it in the buffer; it ends at the
   first NUL or there), see "Job handles" above. */
static void gxs_ng_mark(uint8_t *payload, uint32_t avail)
{
    uint32_t end = 0;
    while (end < avail && payload[end] != 0)
        end++;
    if (end < 2 || (payload[0] & 0x80) || payload[end - 1] < '0' || payload[end - 1] > '9')
        return;
    payload[0] |= 0x80;
    payload[end - 1] = (uint8_t)(GXS_NG_MARK_LAST + (payload[end - 1] - '0'));
    gxs_ng_count(GXS_NG_MARKED);
}

static int gxs_ng_has_job_handle(uint32_t command)
{
    switch (command) {
    case GEARMAN_COMMAND_JOB_CREATED: case GEARMAN_COMMAND_WORK_DATA:
    case GEARMAN_COMMAND_WORK_WARNING: case GEARMAN_COMMAND_WORK_STATUS:
    case GEARMAN_COMMAND_WORK_COMPLETE: case GEARMAN_COMMAND_WORK_FAIL:
    case GEARMAN_COMMAND_WORK_EXCEPTION:
        return 1;
    default:
        return 0;
    }
}

/* Checks the packets collected after buf[ready]: each complete one (header + arguments; the whole
   packet without data) becomes ready, a bad one is neutralised. Stops at an incomplete packet, or
   at one whose payload streams (skip > 0: buf then ends with it). */
static void gxs_ng_parse(struct gxs_ng_fd *st)
{
    while (!st->poisoned && st->skip == 0 && st->have > st->ready) {
        uint8_t *p = st->buf + st->ready;
        uint32_t avail = st->have - st->ready, command, size, need, nuls, i, found;
        if (p[0] != 0) {          /* a text line: libgearman's text parser may crash on it */
            gxs_ng_neutralise(st, GXS_NG_TEXT, p[0]);
            return;
        }
        if (avail < GXS_NG_HEADER)
            return;
        command = gxs_ng_be32(p + 4);
        size = gxs_ng_be32(p + 8);
        if (command & 0x80000000u) {  /* a negative enum passes libgearman's range check */
            gxs_ng_neutralise(st, GXS_NG_COMMAND, command);
            return;
        }
        if (command == 0 || command >= GXS_NG_COMMANDS || memcmp(p, "\0RE", 3) != 0
            || (p[3] != 'S' && p[3] != 'Q')) {
            /* libgearman rejects these itself (GEARMAN_INVALID_COMMAND / _MAGIC): the header is
               all it reads. */
            st->ready += GXS_NG_HEADER;
            st->have = st->ready;
            st->poisoned = 1;
            gxs_ng_count(GXS_NG_HEADERS);
            return;
        }
        if (command == GEARMAN_COMMAND_JOB_CREATED
            && (size == 0 || size >= GEARMAN_JOB_HANDLE_SIZE
                || (avail > GXS_NG_HEADER && p[GXS_NG_HEADER] == 0))) {
            /* libgearman would report "" or silently keep the first 63 bytes of the handle */
            gxs_ng_neutralise(st, GXS_NG_HANDLE, size < GEARMAN_JOB_HANDLE_SIZE ? 0 : size);
            return;
        }
        if (!gxs_ng_data[command] && size > GXS_NG_BUFFER - GXS_NG_HEADER) {
            gxs_ng_neutralise(st, GXS_NG_TOO_LARGE, size);   /* libgearman could never hold it */
            return;
        }
        /* Find the end of the arguments: after the n-th NUL of the payload. */
        nuls = gxs_ng_nuls[command];
        need = GXS_NG_HEADER;
        for (i = GXS_NG_HEADER, found = 0; found < nuls && i < avail && i - GXS_NG_HEADER < size; i++)
            if (p[i] == 0) {
                found++;
                need = i + 1;
            }
        if (found < nuls) {
            if (i - GXS_NG_HEADER >= size) {  /* the payload ended first: libgearman would overrun */
                gxs_ng_neutralise(st, GXS_NG_ARGS, size);
                return;
            }
            if (avail >= GXS_NG_BUFFER) {   /* this packet's arguments alone fill the buffer: too large */
                gxs_ng_neutralise(st, GXS_NG_TOO_LARGE, size);
                return;
            }
            return;               /* more to come */
        }
        if (!gxs_ng_data[command]) {
            need = GXS_NG_HEADER + size;      /* the last argument is part of the packet */
            if (avail < need)
                return;
        }
        /* Give out what this packet has in buf; its data payload streams after that. */
        if (gxs_ng_data[command] && avail > GXS_NG_HEADER + (uint64_t)size)
            need = GXS_NG_HEADER + size;
        else if (gxs_ng_data[command])
            need = avail;
        if (gxs_ng_has_job_handle(command))
            gxs_ng_mark(p + GXS_NG_HEADER, need - GXS_NG_HEADER < size ? need - GXS_NG_HEADER : size);
        st->skip = GXS_NG_HEADER + size - need;
        st->ready += need;
        gxs_ng_count(GXS_NG_HEADERS);
    }
}

/* Where a socket's bytes come from: the kernel's recv(), or a TLS connection's SSL_read() with
   recv()'s conventions (gxs_ng_tls_recv(), tls_verify.c). */
struct gxs_ng_source {
    int fd;
    int flags;
    gxs_ng_reader_fn tls;         /* NULL: recv() */
    void *ssl;
};

/* A read from the source into buf[have..]; in wait mode an empty socket is waited on (see above). */
static ssize_t gxs_ng_read(const struct gxs_ng_source *src, void *buf, size_t len)
{
    int fd = src->fd;
    struct timespec now;
    long long deadline = 0, left;
    struct pollfd p;
    ssize_t n;
    int r;
    for (;;) {
        n = src->tls ? src->tls(src->ssl, buf, len) : gxs_ng_real_recv(fd, buf, len, src->flags);
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

static ssize_t gxs_ng_give(struct gxs_ng_fd *st, uint8_t *out, size_t len)
{
    size_t n = st->ready < len ? st->ready : len;
    memcpy(out, st->buf, n);
    memmove(st->buf, st->buf + n, st->have - n);
    st->have -= (uint32_t)n;
    st->ready -= (uint32_t)n;
    return (ssize_t)n;
}

/* What libgearman gets from one read call on a guarded socket (recv() or SSL_read()). */
static ssize_t gxs_ng_filter(struct gxs_ng_fd *st, const struct gxs_ng_source *src, void *buf,
                             size_t len)
{
    ssize_t n;
    for (;;) {
        if (st->ready > 0)
            return gxs_ng_give(st, (uint8_t *)buf, len);
        if (st->poisoned)         /* nothing more after a bad packet: end of stream */
            return 0;
        if (st->skip > 0) {       /* a payload: straight to libgearman, never past its end */
            n = gxs_ng_read(src, buf, st->skip < len ? st->skip : len);
            if (n > 0)
                st->skip -= (uint32_t)n;
            return n;
        }
        if (st->have >= GXS_NG_BUFFER) {     /* cannot happen: gxs_ng_parse() neutralises first */
            errno = ECONNRESET;
            return -1;
        }
        n = gxs_ng_read(src, st->buf + st->have, GXS_NG_BUFFER - st->have);
        if (n <= 0)
            return n;             /* EOF, an error, or EAGAIN: libgearman polls, nothing given */
        st->have += (uint32_t)n;
        gxs_ng_parse(st);
        if (st->ready == 0 && !st->poisoned && gxs_ng_wait_ms <= 0 && src->tls == NULL) {
            errno = EAGAIN;       /* part of a packet: libgearman polls for the rest */
            return -1;
        }
        /* TLS reads on until SSL_read() wants the socket: OpenSSL may hold the rest of a record
           that poll() cannot see, and libgearman polls the socket after EAGAIN. */
    }
}

static ssize_t gxs_ng_recv(int fd, void *buf, size_t len, int flags)
{
    struct gxs_ng_fd *st;
    struct gxs_ng_source src;

    if (len == 0 || (flags & MSG_PEEK) || (st = gxs_ng_state(fd)) == NULL)
        return gxs_ng_real_recv(fd, buf, len, flags);
    if (st->buf == NULL && (st->buf = (uint8_t *)malloc(GXS_NG_BUFFER + GXS_NG_HEADER)) == NULL)
        return gxs_ng_real_recv(fd, buf, len, flags);   /* no memory: unguarded */
    src.fd = fd;
    src.flags = flags;
    src.tls = NULL;
    src.ssl = NULL;
    return gxs_ng_filter(st, &src, buf, len);
}

ssize_t gxs_ng_tls_recv(int fd, void *ssl, gxs_ng_reader_fn tls, void *buf, size_t len)
{
    struct gxs_ng_fd *st;
    struct gxs_ng_source src;

    if (gxs_ng_status != GXS_SB_OK || len == 0 || (st = gxs_ng_state(fd)) == NULL)
        return tls(ssl, buf, len);
    if (st->buf == NULL && (st->buf = (uint8_t *)malloc(GXS_NG_BUFFER + GXS_NG_HEADER)) == NULL)
        return tls(ssl, buf, len);                      /* no memory: unguarded */
    src.fd = fd;
    src.flags = 0;
    src.tls = tls;
    src.ssl = ssl;
    return gxs_ng_filter(st, &src, buf, len);
}

static int gxs_ng_socket(int domain, int type, int protocol)
{
    int fd = gxs_ng_real_socket(domain, type, protocol);
    struct gxs_ng_fd *st = gxs_ng_state(fd);
    if (st != NULL) {
        st->have = st->ready = st->skip = 0;
        st->poisoned = 0;
    }
    return fd;
}

/* Bytes waiting to be read on fd: in the guard's buffer, or in the kernel (FIONREAD). */
static int gxs_ng_pending(int fd)
{
    struct gxs_ng_fd *st = gxs_ng_state(fd);
    int n = 0;
    if (st != NULL && st->buf != NULL && !st->poisoned && (st->ready > 0 || st->have > 0))
        return 1;
    return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

static int gxs_ng_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    int r = gxs_ng_real_poll(fds, nfds, timeout);
    nfds_t i;
    if (r <= 0 || !gxs_ng_client)
        return r;
    for (i = 0; i < nfds; i++) {
        if ((fds[i].revents & (POLLERR | POLLHUP)) && !(fds[i].revents & POLLNVAL)
            && (fds[i].events & POLLIN) && gxs_ng_pending(fds[i].fd)) {
            /* read first: the error comes back on the recv() after the last byte */
            fds[i].revents = POLLIN;
            __atomic_add_fetch(&gxs_ng_read_first, 1, __ATOMIC_RELAXED);
        }
    }
    return r;
}

int gxs_ng_client_enter(void)
{
    int previous = gxs_ng_client;
    gxs_ng_client = 1;
    return previous;
}

void gxs_ng_client_leave(int previous)
{
    gxs_ng_client = previous;
}

unsigned long gxs_ng_read_first_count(void)
{
    return __atomic_load_n(&gxs_ng_read_first, __ATOMIC_RELAXED);
}

int gxs_ng_poll_status_code(void) { return gxs_ng_poll_status; }

void gxs_ng_set_wait(int ms)
{
    gxs_ng_wait_ms = ms;
    gxs_ng_reason = GXS_NG_HEADERS;
    gxs_ng_detail = 0;
}

void gxs_ng_wait_only(int ms)
{
    gxs_ng_wait_ms = ms;
}

int gxs_ng_take_reason(uint32_t *detail)
{
    int reason = gxs_ng_reason;
    *detail = gxs_ng_detail;
    gxs_ng_reason = GXS_NG_HEADERS;
    gxs_ng_detail = 0;
    return reason;
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
    if (status == GXS_SB_OK) {
        void *forward_poll = (void *)&poll;
        gxs_ng_real_poll = &poll;
        gxs_ng_poll_status = gxs_sb_redirect("poll", (void *)&gxs_ng_poll, &forward_poll);
        if (gxs_ng_poll_status == GXS_SB_OK)
            gxs_ng_real_poll = (gxs_ng_poll_fn)forward_poll;
    }
    gxs_ng_status = status;
    return status;
}

int gxs_ng_status_code(void) { return gxs_ng_status; }

const char *gxs_task_job_handle(const gearman_task_st *task)
{
    static __thread char real[GEARMAN_JOB_HANDLE_SIZE];
    const char *h = gearman_task_job_handle(task);
    size_t n;
    if (h == NULL)
        return NULL;
    n = strnlen(h, sizeof(real) - 1);
    memcpy(real, h, n);
    real[n] = 0;
    if (n >= 2 && ((unsigned char)real[0] & 0x80) && (unsigned char)real[n - 1] >= GXS_NG_MARK_LAST
        && (unsigned char)real[n - 1] <= GXS_NG_MARK_LAST + 9) {
        real[0] = (char)((unsigned char)real[0] & 0x7F);
        real[n - 1] = (char)('0' + ((unsigned char)real[n - 1] - GXS_NG_MARK_LAST));
    }
    return real;
}

unsigned long gxs_ng_counter(int what)
{
    if (what < 0 || what >= GXS_NG_NCOUNTS)
        return 0;
    return __atomic_load_n(&gxs_ng_counts[what], __ATOMIC_RELAXED);
}
