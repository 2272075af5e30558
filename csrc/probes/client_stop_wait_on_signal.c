/* Probe (build_ffi.py): the headers define GEARMAN_CLIENT_STOP_WAIT_ON_SIGNAL (2.0.0's constants.h). */
#include <libgearman-1.0/gearman.h>

int main(void)
{
    return (int)GEARMAN_CLIENT_STOP_WAIT_ON_SIGNAL == 0;
}
