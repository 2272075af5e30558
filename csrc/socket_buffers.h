/* The socket-buffer lift (socket_buffers.c), used by gearman_xs/socket_buffers.py. */
#ifndef GXS_SOCKET_BUFFERS_H
#define GXS_SOCKET_BUFFERS_H

/* Status codes (socket_buffers.py names each one). */
#define GXS_SB_OK 0
#define GXS_SB_LIBRARY_NOT_FOUND 1
#define GXS_SB_NO_DYNAMIC 2
#define GXS_SB_SLOT_NOT_FOUND 3
#define GXS_SB_UNSUPPORTED 4
#define GXS_SB_MPROTECT_FAILED 5
#define GXS_SB_VERIFY_FAILED 6
#define GXS_SB_NOT_INITIALIZED 7

/* Locates libgearman's setsockopt slots once; later calls return the first result. */
int gxs_sb_init(void);
/* Finds how many GOT slots libgearman has for `symbol` without changing anything. */
int gxs_sb_probe(const char *symbol, int *nslots);
/* lift != 0: the slots point at the wrapper; lift == 0: back to what the loader put there. */
int gxs_sb_set_lifted(int lift);
/* Reads the slots back: 1 all point at the wrapper, 0 none does, -1 mixed or not initialized. */
int gxs_sb_is_lifted(void);
/* How many SO_SNDBUF/SO_RCVBUF calls the wrapper swallowed. */
unsigned long gxs_sb_ignored_calls(void);
int gxs_sb_slot_count(void);
/* libgearman's path as the loader reported it ("" before gxs_sb_init()). */
const char *gxs_sb_library(void);
/* For other shims: redirects libgearman's GOT slots for `symbol` to `replacement` for good;
   *original gets the function a bound slot held. A GXS_SB_* status. */
int gxs_sb_redirect(const char *symbol, void *replacement, void **original);

#endif
