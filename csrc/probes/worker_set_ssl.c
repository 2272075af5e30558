/* Probe (build_ffi.py): the headers declare gearman_worker_set_ssl() with this signature and the
   library exports it (libgearman 1.1.20's headers declare gearman_worker_set_ssl, but Debian's
   libgearman.so.8 does not export it). Whether the library was built with SSL is a run-time
   question (gearman_xs/_features.py, SSL). */
#include <stdbool.h>
#include <libgearman-1.0/gearman.h>

int main(void)
{
    void (*volatile fn)(gearman_worker_st *, bool, const char *, const char *, const char *) =
        gearman_worker_set_ssl;
    return fn == 0;
}
