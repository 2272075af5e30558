/* cffi cdef of ../conn_watch.h. */

int gxs_cw_install(void);
int gxs_cw_take(void);
int gxs_cw_peer_closed(int fd);
