/* phy/version: the air-interface version this library implements (docs/air-interface.md, title)
 * and the versions it still reads (a version-1 burst or capture is a version-2 one without
 * calibration blocks, docs/air-interface.md §12). */
#ifndef AM_PHY_VERSION_H
#define AM_PHY_VERSION_H
#define PHY_AIR_INTERFACE_VERSION 2u
#define PHY_AIR_INTERFACE_MIN_VERSION 1u /* oldest version still read (captures, run folders) */
unsigned phy_air_interface_version(void);
/* 1 when version v (captures, run folders) is read by this library: MIN_VERSION..VERSION. */
int phy_air_interface_supported(long long v);
#endif
