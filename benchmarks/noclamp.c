/* LD_PRELOAD shim for the C relay of benchmarks/large.py: ignores libgearman's
   setsockopt(SOL_SOCKET, SO_SNDBUF/SO_RCVBUF) calls (its hard-coded 32 KiB clamp), as gearman_xs does
   for its own connections (gearman_xs/socket_buffers.py), so that the C programs measure what the
   same client -> gearmand -> worker path costs with the kernel's buffers and autotuning. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <sys/socket.h>

int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    static int (*real)(int, int, int, const void *, socklen_t);
    if (level == SOL_SOCKET && (name == SO_SNDBUF || name == SO_RCVBUF))
        return 0;
    if (real == NULL)
        real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
    return real(fd, level, name, value, len);
}
