/* fl (internal): FL_CLONES marks a hot elementwise loop to be compiled for AVX2 and for the
 * baseline, the loader choosing one per CPU (GCC target_clones). Neither clone has FMA (AVX2 does
 * not imply it), so both give the same bytes. */
#ifndef AM_FL_CLONES_H
#define AM_FL_CLONES_H

#define FL_CLONES __attribute__((target_clones("avx2", "default")))

#endif
