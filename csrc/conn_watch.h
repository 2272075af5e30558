/* The connection watch (conn_watch.c), used by gearman_xs/client.py: the fd of the connection a
   Client's C client opened, and whether its server closed it while the Client was idle. */
#ifndef GXS_CONN_WATCH_H
#define GXS_CONN_WATCH_H

/* Redirects libgearman's connect() slots to the watcher (once); a GXS_SB_* status. */
int gxs_cw_install(void);
/* The fd of the first connection libgearman opened in this thread since the last call (-1: none). */
int gxs_cw_take(void);
/* 1 if the idle connection `fd` has anything to read, a hang-up or an error (the server closed it,
   or the fd is gone), 0 if it is quiet. */
int gxs_cw_peer_closed(int fd);

#endif
