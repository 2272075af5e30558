/* The head of cffi's generated module (gearman_xs/_libgearman.c, set_source in build_ffi.py): the
   headers its code needs to compile every cdef in decl/. The shims themselves are the other
   .c files here, compiled and linked into the same extension. */
#include <libgearman-1.0/gearman.h>
#include <stdlib.h>
#include <string.h>

#include "aio.h"
#include "callbacks.h"
#include "client_acc.h"
#include "conn_watch.h"
#include "library.h"
#include "socket_buffers.h"
#include "tls_verify.h"
#include "net_guard.h"
#include "worker_trampoline.h"
