#include "phy/version.h"
unsigned phy_air_interface_version(void)
{
    return PHY_AIR_INTERFACE_VERSION;
}
