/* core/mem: whether the machine can hold what a run will write. */
#ifndef AM_CORE_MEM_H
#define AM_CORE_MEM_H

#include "core/status.h"

/* AM_ENOMEM "WHAT: need X GB, this machine has Y GB (RAM + swap)" when need bytes, all of which
 * will be written, exceed the machine's RAM plus swap (sysinfo(2)): each piece of such a request
 * may be granted (overcommit) and the run then ends in the kernel's OOM kill instead of an answer.
 * AM_OK otherwise, or when the total cannot be read. */
am_status am_mem_fits(double need, const char *what);

#endif
