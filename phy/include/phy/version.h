/* phy/version: the air-interface version this library implements (AIR_INTERFACE.md, title). */
#ifndef AM_PHY_VERSION_H
#define AM_PHY_VERSION_H
#define PHY_AIR_INTERFACE_VERSION 1u
unsigned phy_air_interface_version(void);
#endif
