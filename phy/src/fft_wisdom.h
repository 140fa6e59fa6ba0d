/* phy/fft: FFTW wisdom shipped with phy for the TX's inverse transforms (PHY_FFT_TUNED), the only
 * wisdom phy ever loads. Included by fft.c only.
 *
 * What it holds: for the sizes M = 256 and 1024 (the default and the large configuration of
 * docs/air-interface.md; `airmeta bench phy`'s sizes), single-precision, backward, out of place,
 * one transform, unit strides, SIMD-aligned arrays, the plan FFTW's own planner finds fastest when
 * it times candidates (FFTW_MEASURE/PATIENT) on this project's reference machine (x86-64 AVX, the
 * Debian 12 FFTW 3.3.10 build): M = 256 Cooley-Tukey radix 32 (t2bv_32_avx, n2bv_8_avx), M = 1024
 * radix 64 (t2bv_64_avx, n2bv_16_avx), where FFTW_ESTIMATE picks radix 16 (t3bv_16, n2bv_16) and
 * radix 32 (t3bv_32, n2bv_32). Measured one transform, median of interleaved runs in separate
 * processes: 256: 0.142 us vs ESTIMATE's 0.167; 1024: 0.744 vs 0.823.
 *
 * Why wisdom and not FFTW_MEASURE at run time: MEASURE times candidates in each process, so under
 * load two processes may pick different plans and their outputs differ in the last bits (resume
 * and replay need byte-identical bursts). A plan read from this text is the same plan in every
 * process on every machine with the same FFTW build and CPU features, so its output is the same
 * bytes (checked: 5 processes each, the same output hash). Where it does not apply (another FFTW
 * version: the import fails; a CPU without AVX: the codelets do not apply; other sizes) the
 * transform is planned with FFTW_ESTIMATE as before.
 *
 * How it was made (to remake it for another FFTW build): plan each size with FFTW_MEASURE in a
 * few processes (or `fftwf-wisdom -n cob256 cob1024`), export each process's wisdom
 * (fftwf_export_wisdom_to_file), time each candidate in fresh processes after importing it
 * (interleaved, median), keep the fastest per size, and merge the files (import them all in one
 * process, export). */
static const char phy_fft_wisdom[] =
    "(fftw-3.3.10 fftwf_wisdom #x9e7d4dee #xdb14fed1 #x34bf76a4 #xeb6e8fdf\n"
    "  (fftwf_codelet_n2bv_16_avx 0 #x11bdd #x11bdd #x0 "
    "#x09828f7b #x31d0c35d #xa617d809 #x4ccb96bd)\n"
    "  (fftwf_codelet_n2bv_8_avx 0 #x11bdd #x11bdd #x0 "
    "#x017d7382 #xbd6f3d64 #x1cc0b76d #x12cff5e6)\n"
    "  (fftwf_codelet_t2bv_32_avx 0 #x11bdd #x11bdd #x0 "
    "#xb070d958 #x23f0478f #x95da449c #x52df1d59)\n"
    "  (fftwf_codelet_t2bv_64_avx 0 #x11bdd #x11bdd #x0 "
    "#xd86f0fcc #x804581bb #x5ccfdfba #x14108c49)\n"
    ")\n";
