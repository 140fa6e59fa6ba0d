#include "phy/version.h"
unsigned phy_air_interface_version(void)
{
    return PHY_AIR_INTERFACE_VERSION;
}
int phy_air_interface_supported(long long v)
{
    return v >= PHY_AIR_INTERFACE_MIN_VERSION && v <= PHY_AIR_INTERFACE_VERSION;
}
