/* Probe (build_ffi.py): gearman.h compiles and libgearman links. Without it the build stops with
   one line that names the package to install. */
#include <libgearman-1.0/gearman.h>

int main(void)
{
    return gearman_version() == 0;
}
