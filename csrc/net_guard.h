/* The packet guard (net_guard.c), used by gearman_xs/net_guard.py. */
#ifndef GXS_NET_GUARD_H
#define GXS_NET_GUARD_H

#include <stdint.h>
#include <sys/types.h>

#include <libgearman-1.0/gearman.h>

/* Counters (gxs_ng_counter): packets checked, and bad ones neutralised by kind. */
#define GXS_NG_HEADERS 0
#define GXS_NG_COMMAND 1
#define GXS_NG_TEXT 2
#define GXS_NG_HANDLE 3
#define GXS_NG_STALL 4        /* a reply stalled past the wait (Worker calls) */
#define GXS_NG_ARGS 5         /* arguments that run past the packet's size */
#define GXS_NG_TOO_LARGE 6    /* a header + arguments libgearman's 8 KiB buffer cannot hold */
#define GXS_NG_MARKED 7       /* job handles marked (not a fault: see "Job handles" in net_guard.c) */
#define GXS_NG_NCOUNTS 8
#define GXS_NG_INTERRUPTED 8  /* a reason only: a signal ended a wait */

/* A marked job handle's last byte is GXS_NG_MARK_LAST + its digit (and its first byte has the top
   bit set). */
#define GXS_NG_MARK_LAST 0x10

/* Redirects libgearman's socket() and recv() GOT slots to the guard, once; a GXS_SB_* status
   (GXS_SB_OK: every libgearman connection opened from now on is guarded). */
int gxs_ng_install(void);
/* What gxs_ng_install() returned (GXS_SB_NOT_INITIALIZED before it ran). */
int gxs_ng_status_code(void);
unsigned long gxs_ng_counter(int what);
/* ms > 0: this thread's libgearman calls are a Worker's, whose replies are waited for in recv()
   for up to ms (see net_guard.c); 0: a Client's (libgearman polls). Also forgets the last reason. */
void gxs_ng_set_wait(int ms);
/* gxs_ng_set_wait() that keeps the last reason (gxs_worker_work(): the passes after a Worker call's
   first, and the end of a pass whose error the caller may still explain). */
void gxs_ng_wait_only(int ms);
/* A Client's run_tasks() (client_acc.c, gxs_client_run_tasks): while inside, a connection that
   broke with bytes still to read reports only POLLIN to libgearman (see net_guard.c). Returns the
   previous state, for gxs_ng_client_leave(). */
int gxs_ng_client_enter(void);
void gxs_ng_client_leave(int previous);
/* How many times a broken connection was read to the end first; the poll() slot's GXS_SB_* status
   (GXS_SB_NOT_INITIALIZED when the guard is not installed). */
unsigned long gxs_ng_read_first_count(void);
int gxs_ng_poll_status_code(void);
/* The last header the guard neutralised in this thread (GXS_NG_COMMAND, _TEXT or _HANDLE; with the
   command number, first byte or handle size in *detail), or GXS_NG_HEADERS for none; clears it. */
int gxs_ng_take_reason(uint32_t *detail);
/* `task`'s job handle as the server wrote it (gearman_task_job_handle() with the guard's marks
   undone); NULL where libgearman gives NULL. The text lives in a per-thread buffer until this
   thread's next call: copy it out at once. */
const char *gxs_task_job_handle(const gearman_task_st *task);

/* A TLS connection's read, with recv()'s conventions: bytes read (> 0), 0 at the end of the stream,
   -1 with errno (EAGAIN: nothing to read now). */
typedef ssize_t (*gxs_ng_reader_fn)(void *ssl, void *buf, size_t len);
/* libgearman's SSL_read() on socket fd (tls_verify.c): the packets `tls` reads go through the same
   checks as recv()'s, with recv()'s conventions in and out. Unguarded (straight to `tls`) when the
   guard is not installed. */
ssize_t gxs_ng_tls_recv(int fd, void *ssl, gxs_ng_reader_fn tls, void *buf, size_t len);

#endif
