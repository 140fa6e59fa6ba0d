/* fl/version: identifies the meta-learning library build. */
#ifndef AM_FL_VERSION_H
#define AM_FL_VERSION_H
const char *fl_version(void);
#endif
