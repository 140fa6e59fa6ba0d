#include "core/mem.h"

#include <sys/sysinfo.h>

am_status am_mem_fits(double need, const char *what)
{
    struct sysinfo si;
    if (sysinfo(&si) != 0)
        return AM_OK;
    const double have = ((double)si.totalram + (double)si.totalswap) * (double)si.mem_unit;
    if (have > 0 && need > have)
        return AM_FAIL(AM_ENOMEM, "%s: need %.1f GB, this machine has %.1f GB (RAM + swap)",
                       what ? what : "memory", need / 1e9, have / 1e9);
    return AM_OK;
}
