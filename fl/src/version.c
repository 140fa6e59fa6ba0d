#include "fl/version.h"
const char *fl_version(void)
{
    return "airmeta-fl 1";
}
