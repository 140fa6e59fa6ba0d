/* host/ota_agent: an agent's side of one over-the-air round: beacon -> carrier offset and channel
 * estimate -> weighted least-squares smoothing on the channel's lags, with the estimate's error
 * variance per bin -> precoder that accounts for it; payload -> precoded OFDM burst ->
 * carrier-offset pre-rotation. docs/air-interface.md §6 (beacon), §4 (precoding), §2-§3 (burst), §5 (a timed
 * system).
 *
 * One step for every agent of the program: the iq aggregator's emulated agents
 * (host/round/agg_iq.c, one object per worker thread, the per-agent state in caller arrays) and
 * `airmeta agent` (host/net/net.c, one object). The callers differ only in their ticks, given in
 * ota_agent_sched.
 *
 * Timing and phase references. The downlink stream x[0..n) starts at tick t0. Its carrier-offset
 * phasor is taken as 0 at tick phase_ref (agg_iq: the emulator's stream starts its phasor at
 * sample 0; the chan process refers it to the round's beacon tick, host/net/net.h). The beacon
 * receiver reports the first path s (a tick), the downlink offset c (subcarrier spacings) and,
 * re-estimated on the agent's copy of the beacon derotated by c from a = s - backoff on, h[i]
 * (window reference a). The agent then knows, with delta = a - beacon (the scheduled tick),
 *     H[i] = h[i] e^{-j 2 pi c (a - phase_ref) / M} e^{-j 2 pi i delta / M},
 * the gain a window at its scheduled place sees (TDD reciprocity of taps, delay and carrier phase),
 * precodes with H (§4) and pre-rotates its burst by
 *     e^{+j 2 pi c (t + u) / M},   u = 0 .. burst_len - 1,
 * where t is the burst's first tick counted from the uplink phasor's origin (phase_ref): its own
 * oscillator turns each sample at its transmit tick, before the delay (which is in H: the phase
 * the offset adds over the delay is the same both ways); this cancels the uplink offset (-c) at the
 * server up to the estimation error, whose residual grows along the burst and the beacon-to-burst
 * gap (a three-block beacon limits the coherence of long bursts).
 * With a tracker (ota_agent_beacon_track) c is the mean of the agent's last beacons' estimates
 * (ota_agent_track below, docs/air-interface.md §4.2), for the derotation, H and the burst. */
#ifndef AM_HOST_OTA_AGENT_H
#define AM_HOST_OTA_AGENT_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "phy/frame.h"
#include "phy/ota_tx.h" /* phy_mapping */

typedef struct ota_agent_cfg {
    unsigned nfft, cp_len; /* numerology (default allocation, §1); cp 0 = M/8 */
    size_t payload_len;    /* L reals per burst; a shorter payload is zero-padded to L */
    unsigned smooth;       /* channel-estimate smoothing: weighted least-squares fit of the used
                              bins by the impulse-response lags -2 .. smooth-1 after the detected
                              first path, then again on the span of the lags that stand out of
                              their noise, widened by one lag each side (docs/air-interface.md
                              §6.2); 1..M/2. Too short biases the estimate. */
    int cfo_comp;          /* 1: derotate the beacon by its carrier-offset estimate and
                              pre-compensate the burst; 0: trust a shared frequency reference */
    int phase_only;        /* 0: truncated channel inversion with the estimate's error variance v,
                              sqrt(rho) conj(H) / (|H|^2 + v), erased where |H|^2 < g_th
                              (docs/air-interface.md §4.1); 1: phase-only
                              sqrt(rho) conj(h)/|h|, never truncated (phy/precode.h) */
    unsigned cal_slots;    /* calibration slots S of the round's bursts (docs/air-interface.md §8;
                              0 = none); the agent's slot is ota_agent_link.cal_slot */
    phy_mapping mapping;   /* payload mapping (§3; 0 = complex, the real mapping §3.3) */
    unsigned beacon_reps;  /* training blocks the beacon carries after S0a|S0b|S1 (§6.1),
                              0..PHY_BEACON_MAX_REPS; ota_agent_set_beacon_reps changes it */
    double fc_fs;          /* a radio on its own free-running clock over a static air: its carrier
                              frequency over its sample rate (> 0, with cfo_comp and a tracker:
                              the LO phase tracker and the timing advance of docs/air-interface.md
                              §4.2 "Free-running radios"); 0: off (the emulators, whose carrier
                              phasors restart at each beacon tick and whose agents keep the
                              server's ticks) */
    double cfo_max;        /* the beacon receiver's carrier-offset range, subcarrier spacings,
                              0..M/8 (phy_beacon_rx_cfg.cfo_max, docs/air-interface.md §6.2); 0 =
                              the fraction alone (|offset| < 1) */
    double clock_fc_fs;    /* docs/air-interface.md §4.2 "Sampling clock": a radio whose one
                              reference drives its LO and its sample clock, its carrier frequency
                              over its sample rate (> 0, with cfo_comp): the burst is
                              pre-compensated for the sample clock's drift along it,
                              r = -clock_share c / (M clock_fc_fs) samples per sample for the
                              offset c it pre-rotates by (phy_ota_tx_set_drift); 0: off, else
                              up to 1e6. Set both fields with ota_agent_clock_rule. */
    double clock_share;    /* the part of c the agent takes for its clock's (§4.2: the rest is an
                              offset not from the shared reference), 0 < share <= 1 with
                              clock_fc_fs; 0 without */
} ota_agent_cfg;

/* docs/air-interface.md §4.2 "Sampling clock": the largest relative clock offset an agent turns a
 * carrier offset into (two radios each within phy/impair's 100 ppm). A tracked offset that implies
 * more (|r| > OTA_AGENT_CLOCK_MAX: a wrong f_c / f_s, or an offset that is not the clock's) goes
 * without the drift correction (ota_agent_link.drift_off), never with a nonsense one. */
#define OTA_AGENT_CLOCK_MAX 2e-4

/* docs/air-interface.md §4.2 "Sampling clock", the one rule for `airmeta agent` (host/cmd) and
 * sim's emulated agents (agg_iq): sets cfg->clock_fc_fs and cfg->clock_share for radios at carrier
 * over sample rate fc_fs, each within +-spread_ppm of a common value on its own reference (two of
 * them differ by a clock offset of variance 2 spread^2 / 3 ppm^2), under a carrier offset of
 * mean square extra_ms spacings^2 that is not from the clocks (the emulator's --cfo / --agent-cfo).
 * The tracked offset c is the clocks' part plus that one; the agent takes for its clock's the
 * linear least-squares estimate share c, share = V / (V + extra_ms), V = 2 (spread 1e-6 fc_fs
 * M)^2 / 3 (M = cfg->nfft): 1 with no other offset, 0 (no correction: both fields 0) when the
 * radios share a clock (spread 0) or fc_fs is 0. */
void ota_agent_clock_rule(ota_agent_cfg *cfg, double fc_fs, double spread_ppm, double extra_ms);
/* The drift a burst pre-rotated by c is pre-compensated for under cfg (§4.2):
 * -clock_share c / (M clock_fc_fs), M = cfg->nfft; 0 without cfo_comp or clock_fc_fs; 0 and
 * *off = 1 when its magnitude exceeds OTA_AGENT_CLOCK_MAX (else *off = 0). */
double ota_agent_clock_drift(const ota_agent_cfg *cfg, double c, int *off);

/* docs/air-interface.md §5.1 "The search range": the beacon receiver's cfo_max for radios each
 * within +-ppm of their own reference at carrier over sample rate fc_fs (two of them are up to
 * 2 ppm 1e-6 fc_fs M subcarrier spacings apart), plus `extra` spacings, at most M/8. One rule for
 * `airmeta agent` (net_cfo_range) and sim's emulated agents (agg_iq). */
double ota_agent_cfo_range(double extra, double ppm, double fc_fs, unsigned M);

/* The round as the agent knows it, in the ticks of the downlink stream. */
typedef struct ota_agent_sched {
    int64_t beacon;    /* tick the beacon is scheduled at */
    int64_t lo, hi;    /* a first path outside [lo, hi] is not this round's beacon */
    int64_t phase_ref; /* tick at which the downlink carrier phasor is referred (see the top) */
    float rho, g_th;   /* the round's power factor and truncation threshold (§4) */
    float link_db;     /* the uplink's gain over the downlink's, dB: H (and its error variance)
                          is scaled by 10^(link_db/20) before precoding, so that rho and g_th are
                          received power at the server (docs/air-interface.md §4.1 "Link
                          budget"; 0: a digital link, as sim and the chan; |link_db| <= 300) */
} ota_agent_sched;

/* What an agent learned from the round's beacon (kept by the caller until its burst). */
typedef struct ota_agent_link {
    int found;       /* the scheduled beacon was found: the precoder is valid */
    int64_t start;   /* tick of its first path */
    int64_t delta;   /* start - sched.beacon */
    float cfo;       /* the beacon's carrier-offset estimate, subcarrier spacings (with or without
                        cfo_comp; with a tracker and cfo_comp: refined on S0a and S1, the value
                        the tracker takes) */
    double cfo_used; /* the offset the agent pre-compensates its burst with (and derotated the
                        beacon by): the tracked value with ota_agent_beacon_track, this beacon's
                        estimate without a tracker, 0 without cfo_comp */
    float snr_db;    /* the beacon's SNR estimate */
    unsigned erased; /* used bins truncated by the precoder */
    unsigned cal_slot; /* with cal_slots: the agent's slot (< cal_slots; set by the caller after
                          the beacon, which clears it) */
    int64_t adv;       /* with fc_fs: the burst goes adv ticks after its scheduled tick (the
                          timing advance, §4.2: round of the predicted clock offset); else 0 */
    double lo_rot;     /* with fc_fs: the burst's extra pre-rotation 2 phi_lo, rad (§4.2); else 0 */
    double lo_c;       /* with fc_fs: the offset the burst's pre-rotation runs at (the LO phase's
                          steps' offset once measured, else cfo_used); else 0 */
    double drift;      /* with clock_fc_fs: the sampling-clock drift the burst is pre-compensated
                          for, -clock_share c / (M clock_fc_fs) (c = lo_c, else cfo_used; §4.2);
                          0 without, or when it would exceed OTA_AGENT_CLOCK_MAX (drift_off) */
    int drift_off;     /* 1: the offset implies a clock offset beyond OTA_AGENT_CLOCK_MAX: the
                          burst goes without the drift correction */
} ota_agent_link;

/* Carrier-offset tracking across rounds (docs/air-interface.md §4.2): the agent's oscillator
 * offset is nearly constant from round to round, so the offset the agent uses is the mean of its
 * last `len` beacon estimates (a sliding window: the mean of the n < len it has at first). With
 * independent per-beacon errors of variance v the used offset's error variance is v / min(n, len)
 * (the closed form of tests/host/agg_iq.c, cfo_tracking_variance); a frequency ramp of r spacings
 * per round is followed with a lag of (len - 1) / 2 rounds (error r (len - 1) / 2);
 * noise-equivalent bandwidth 1 / (2 len) cycles per round. The mean is summed oldest first over the
 * window, so the state after any sequence of estimates depends only on the last len of them (a run
 * resumed from a checkpoint rebuilds it bit for bit by replaying len beacons, host/round/agg_iq.c).
 * len = 1: each beacon's own estimate. Caller-owned, one per agent (plain data, no allocation). */
#define OTA_AGENT_TRACK_MAX 256u
#define OTA_AGENT_LO_J 32u /* sub-bands of the LO phase tracker's channel summary (§4.2) */
typedef struct ota_agent_track {
    unsigned len;                  /* window, 1..OTA_AGENT_TRACK_MAX */
    unsigned n;                    /* estimates held, <= len */
    unsigned head;                 /* the slot the next estimate goes to */
    double c[OTA_AGENT_TRACK_MAX]; /* the last n estimates, spacings (ring) */
    /* free-running radios (ota_agent_cfg.fc_fs > 0; docs/air-interface.md §4.2): */
    unsigned lo_n;   /* beacons found so far (0: the next is the time line's origin) */
    int64_t lo_tick; /* the last one's scheduled tick B */
    double lo_phase; /* phi_lo: the downlink LO phase at B since the first beacon, rad, [-pi, pi) */
    double lo_eps;   /* the predicted clock offset at B (agent's ticks minus the server's, since
                        the first beacon), ticks */
    double lo_c;     /* the offset measured from the LO phase's steps, spacings (lo_cn > 0) */
    unsigned lo_cn;  /* steps in lo_c (its average over the last min(lo_cn, 16)) */
    float complex lo_s[OTA_AGENT_LO_J]; /* the last beacon's channel H' summed over J sub-bands */
} ota_agent_track;

/* Empty window of len estimates (clamped to 1..OTA_AGENT_TRACK_MAX). */
void ota_agent_track_init(ota_agent_track *t, unsigned len);
/* Adds one beacon's estimate (the oldest of a full window goes). */
void ota_agent_track_push(ota_agent_track *t, double c);
/* The tracked offset: the mean of the estimates held, oldest first; 0 when empty. */
double ota_agent_track_value(const ota_agent_track *t);

typedef struct ota_agent ota_agent; /* opaque: the DSP of one agent at a time */

/* Validates (AM_EINVAL naming the field) and creates the beacon receiver, the transmitter and the
 * smoothing basis (FFTW plans on this thread). */
am_status ota_agent_create(const ota_agent_cfg *cfg, ota_agent **out);
void ota_agent_destroy(ota_agent *q); /* NULL is a no-op */
size_t ota_agent_burst_len(const ota_agent *q);
/* The training blocks of the next beacons (GO's beacon_reps, docs/air-interface.md §9.4): the
 * estimate's weights follow (§6.2). AM_EINVAL beyond PHY_BEACON_MAX_REPS. */
am_status ota_agent_set_beacon_reps(ota_agent *q, unsigned reps);
/* The pilots of the bursts from now on carry +a (docs/air-interface.md §2, GO's pilot level,
 * §9.4; 1 at create). AM_EINVAL unless 0 < a <= 1. */
am_status ota_agent_set_pilot_level(ota_agent *q, float a);
const phy_frame *ota_agent_frame(const ota_agent *q);

/* Looks for the scheduled beacon in x[0..n) (x[0] at tick t0). Found: the precoder for (rho, g_th)
 * into p (M values, 0 on truncated and null bins), link->found = 1 and the figures. Not found
 * (also when the stream ends before the beacon's three blocks): link->found = 0, AM_OK.
 * AM_EFORMAT for non-finite samples, AM_EINVAL for bad rho / g_th. Does not allocate. */
am_status ota_agent_beacon(ota_agent *q,
                           const float complex *x,
                           size_t n,
                           int64_t t0,
                           const ota_agent_sched *sc,
                           float complex *p,
                           ota_agent_link *link);

/* ota_agent_beacon with carrier-offset tracking: with cfo_comp, this beacon's estimate goes into
 * t (when the beacon is found and its three blocks are in x) and the offset used is t's value
 * (link->cfo_used). The estimate is the detector's (lag M/2 inside S0) refined on the agent's copy
 * of the beacon: derotated by it, S0a's and S1's spectra, 2 (M + cp) samples apart, give the
 * residual from their phase difference on S0's bins (about a third of the detector's error
 * variance, docs/air-interface.md §4.2). t NULL: ota_agent_beacon (each beacon's own estimate,
 * version 1's bytes). */
am_status ota_agent_beacon_track(ota_agent *q,
                                 const float complex *x,
                                 size_t n,
                                 int64_t t0,
                                 const ota_agent_sched *sc,
                                 ota_agent_track *t,
                                 float complex *p,
                                 ota_agent_link *link);

/* The burst of payload x (d <= payload_len finite reals) with scale eta, precoded by p (from
 * ota_agent_beacon with link), its first sample t ticks after the uplink phasor's origin: out gets
 * burst_len samples (cap). delivered (may be NULL, d values) = x where the entry's data bin
 * data_bins[(j / 2) % M_data] (§3) was not truncated, 0 where it was (docs/paper.md §3 error
 * memory). AM_EINVAL when link found no beacon. Does not allocate. */
am_status ota_agent_burst(ota_agent *q,
                          const ota_agent_link *link,
                          const float complex *p,
                          const float *x,
                          size_t d,
                          float eta,
                          int64_t t,
                          float complex *out,
                          size_t cap,
                          float *delivered);

/* Samples u0 .. u0+n-1 of the burst ota_agent_burst writes (the same bytes), into out (n values),
 * without delivered: for the channel emulator's source (phy/chan.h), which asks for a burst in
 * pieces, so that no burst needs to exist whole. AM_EINVAL as ota_agent_burst, and for a range past
 * burst_len. Does not allocate. */
am_status ota_agent_burst_range(ota_agent *q,
                                const ota_agent_link *link,
                                const float complex *p,
                                const float *x,
                                size_t d,
                                float eta,
                                int64_t t,
                                size_t u0,
                                size_t n,
                                float complex *out);
/* docs/air-interface.md §8.4: p[i] *= a(i), the agent's correction A[0..PHY_CAL_Q) (phy/cal.h)
 * interpolated to every bin (0 stays 0: truncation and delivered are unchanged). */
void ota_agent_correct(ota_agent *q, const float complex *A, float complex *p);
/* ota_agent_burst's delivered (d values) for the precoder p. */
void ota_agent_delivered(
    ota_agent *q, const float complex *p, const float *x, size_t d, float *delivered);

#endif
