/* host/agg_iq: the `iq` aggregator, every round through the real waveform (beacon, agent channel
 * and CFO estimation, precoding, OFDM bursts, channel emulator or radio, streaming receiver).
 * Implements DESIGN "Data flow of one round" over docs/air-interface.md §2-§7 behind fl/agg.h. */
#ifndef AM_HOST_AGG_IQ_H
#define AM_HOST_AGG_IQ_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "fl/agg.h"
#include "phy/cal.h" /* PHY_CAL_PROBES_MAX */
#include "phy/impair.h"
#include "phy/ota_tx.h" /* phy_mapping */

/* How agents precode (docs/air-interface.md §4). */
typedef enum agg_iq_precoding {
    AGG_IQ_INVERSION = 0, /* truncated channel inversion with the round's (rho, g_th) */
    AGG_IQ_PHASE          /* phase-only: sqrt(rho) conj(h)/|h|, never truncated; the server then
                             recovers the |h|-weighted average (phy/precode.h) */
} agg_iq_precoding;
/* "inversion" | "phase" */
am_status agg_iq_precoding_parse(const char *name, agg_iq_precoding *out);

typedef struct agg_iq_cfg {
    unsigned agents;    /* K: agents a round may carry (x has K vectors), 1..4096 */
    size_t max_dim;     /* longest vector a round may carry = the burst's payload length L (a
                           shorter round is zero-padded to L on the air) */
    unsigned nfft;      /* M (§1), even 64..4096 */
    unsigned cp_len;    /* cyclic prefix, 0 = M/8 */
    unsigned n_taps;    /* multipath taps per agent (1 = flat Rayleigh) */
    float delay_spread; /* rms delay spread of the exponential profile, samples (n_taps > 1) */
    unsigned max_timing_offset; /* per-agent timing offset uniform in [0, max] samples; the
                                   offset + n_taps - 1 must fit in the cp (a timed system, §5) */
    float max_cfo; /* per-agent carrier offset uniform in [-max, max], subcarrier spacings */
    float snr_db;  /* per-agent SNR rho / N0 (§5), dB; INFINITY = no noise */
    agg_iq_precoding precoding;
    int cfo_comp;            /* 1: agents pre-compensate the carrier offset measured on the beacon
                                (phy_rotate); 0: they trust a shared frequency reference (UHD_NOTES:
                                B210s on one 10 MHz / GPSDO); -1: auto = 1 iff max_cfo > 0 or
                                the radios' oscillators are offset (impair ppm or ppm_spread).
                                One beacon's CFO estimate has an rms error of ~1e-3 subcarrier
                                spacings at 20 dB: the residual phase drift grows along the burst;
                                measured with it alone (track 0) at max_cfo 0.05-0.1, 20 dB: ~2 dB
                                above the §5 floor at D = 4096, ~7 dB at 16384, no aggregate left at
                                100 000 (per-agent phases decohere; the server's pilots only track
                                their common phase). Tracked (track below): +0.3 dB at D = 4096. */
    unsigned track;          /* carrier-offset tracking window (host/round/ota_agent.h
                                ota_agent_track, docs/air-interface.md §4.2): 1..256 = every agent
                                has ONE oscillator for the session (the emulator draws its offset
                                once, phy_chan_cfg.cfo_fixed) and pre-compensates with the mean of
                                its last `track` beacon estimates; 0 = version 1: the emulator
                                draws a new offset every round and agents use each beacon's own
                                estimate. Only matters with cfo_comp. A run resumed at round r
                                (a first round other than 0, or rounds out of order) rebuilds the
                                trackers by replaying the beacons of rounds r - track .. r - 1 (all
                                agents present, the round's rho): the same bytes as uninterrupted. */
    unsigned gap;            /* beacon-to-burst gap on the carrier phasors' time line, ticks
                                (0..2^30): the burst's phase continues `gap` ticks after the
                                beacon, as on the air (NET_AIR_TURN_S = 100 000 ticks at 1 MS/s,
                                host/net/net_air.h); 0 = the emulator's own schedule (both streams
                                start at tick 0). phy_chan_cfg.ul_tick0. */
    unsigned beacon_reps;    /* training blocks the server's beacon carries after S0a|S0b|S1
                                (docs/air-interface.md §6.1), 0..PHY_BEACON_MAX_REPS (16); the
                                agents combine them into their channel estimate (§6.2); default
                                16, as `airmeta server`'s */
    unsigned smooth;         /* agents' channel-estimate smoothing: least-squares fit of the used
                                bins by impulse-response lags -2 .. smooth-1 after the detected first
                                path; 0 = the system's designed channel length plus a margin for the
                                first-path decision, min(n_taps + 4, cp); must be <= M/2. Too short
                                biases the estimate (a floor), too long lets noise in: at the rms
                                eta rule the CSI noise is the largest gap to the §5 floor. */
    unsigned threads;        /* agents' beacon processing and TX, and the channel emulator, run on
                                this many threads (>= 1, the calling thread included); results are
                                byte-identical for any count */
    uint64_t seed;           /* channel realisations and noise: round r's are a function of
                                (seed, r) only (so a resumed run continues identically) */
    const phy_impair_cfg *impair; /* every radio's impairments (phy_chan_cfg.impair), used by
                                     agg_iq_create only; NULL = ideal radios */
    unsigned gain_pool;      /* the receiver's phy_ota_rx_cfg.gain_pool (0 = per-bin G) */
    phy_mapping mapping;     /* payload mapping of every burst (docs/air-interface.md §3.3;
                                0 = complex) */
    float pilot_level;       /* the pilots' level a of every burst (docs/air-interface.md §2), in
                                (0, 1]; 0 = the server's rule, phy_pilot_level of the round's
                                scheduled agents (1 / sqrt(n)) */
    int cal;                 /* closed-loop calibration (docs/air-interface.md §8): every burst
                                carries K slots (agent k in slot k), the server measures each
                                agent's gain and who was heard, and after each round every heard
                                agent updates its correction A_k (phy_cal_update) for the next
                                round's precoder. 1 on, 0 off, -1 auto = on iff `impair` is not
                                ideal (every B210 profile has random LO phases and chain mismatch,
                                which break reciprocity; ideal radios keep their bytes). */
    float cal_mu;            /* the loop gain mu of §8.4 once an (agent, sub-band) pair has been
                                measured 1/mu times,
                                (0, 1]; before, 1/n at its n-th measurement (A is the geometric
                                mean of the first measurements); 0 = 0.1 */
    unsigned probes;         /* with cal: calibration probes before the run's first round
                                (docs/air-interface.md §8.5, as `airmeta server` probes the agents
                                that join), 0..AGG_IQ_PROBES_MAX; default PHY_CAL_PROBES (2, the
                                server's); 0: none, round 1 precoded with A = 1 (the code before).
                                The first aggregate call of an aggregator runs them, unless
                                agg_iq_state_load gave it a run's state (a resumed run: probed) */
    float probe_excess;      /* 0: cfg.probes probes; > 0 (docs/air-interface.md §8.5 step 5,
                                `airmeta server --probe-excess`; docs/impairments.md "How many
                                probes"): from the second probe on, stop after a probe whose
                                phy_cal_probe_excess (what it measured over its noise) is at most
                                this, at most cfg.probes (phy_cal_probe_again; a
                                run resumed from a checkpoint replays the beacons of the probes
                                it made, kept in its state) */
    int probe_round_g_th;    /* 0: the probes go out with g_th 0 (docs/air-interface.md §8.5 2.);
                                1: with the round's g_th, as before that rule (tests/host/agg_iq_cal.c
                                measures why not: the bins an agent erases leave sub-bands unmeasured) */
    int cal_count_agent;     /* 0: each (agent, sub-band) pair counts its own measurements for the
                                loop gain (docs/air-interface.md §8.4: a sub-band first measured
                                in round r takes a first measurement's full step); 1: one count
                                per agent, its heard rounds, as before that rule (a sub-band first
                                measured in round r took 1/r: tests/host/agg_iq_cal.c measures it) */
    int cal_mixed;           /* 0: a pair first measured while another sub-band of its agent was
                                measured before takes a whole step (phy_cal_unmix,
                                docs/air-interface.md §8.4); 1: every CAL's E as measured, as
                                before that rule (a sub-band alone off moved ~0.8 of the way;
                                tests/host/agg_iq_cal.c measures it). With cal_count_agent: E as
                                measured */
    const char *radio;       /* NULL or "": the emulator's output goes straight to the receiver;
                                "loop" or "file": the round's received stream goes through that
                                radio (a timed burst out, timestamped RX back) */
    const char *radio_args;  /* "key=value,..." for the radio (loop: default bus=agg_iq-N) */
    const char *capture_dir; /* NULL: none; else every round's received stream is written to
                                DIR/round-NNNNNN.sigmf-{meta,data} with the §7 airmeta keys */
    int fail_on_miss;        /* 0: a round whose burst is not detected returns estimate 0, active 0,
                                delivered 0 (flagged in agg_iq_round_info); 1: AM_ENOTFOUND */
} agg_iq_cfg;

#define AGG_IQ_PROBES_MAX PHY_CAL_PROBES_MAX

/* K 10, max_dim 1024, M 256, cp M/8, 4 taps, delay spread 1, timing offset up to cp/4, no CFO,
 * SNR 20 dB, inversion, cfo_comp -1 (auto), track 64, gap 0, beacon_reps 16, cal -1 (auto),
 * cal_mu 0 (0.1), probes 2,
 * smooth 0 (auto), 2 threads, seed 1, no radio, no capture, fail_on_miss 0. */
void agg_iq_cfg_default(agg_iq_cfg *cfg);

/* Validates (AM_EINVAL naming the field), copies cfg, creates every object (FFTW plans on this
 * thread), allocates every buffer for K agents and payload max_dim, starts threads - 1 worker
 * threads, opens the radio and creates capture_dir. out->ops->aggregate never allocates (radio and
 * capture file I/O aside). fl_agg_destroy(out) releases everything. */
am_status agg_iq_create(const agg_iq_cfg *cfg, fl_agg *out);

/* What the last round measured (wall times in seconds). */
typedef struct agg_iq_round_info {
    unsigned round;          /* fl_agg_round.round */
    int detected;            /* the server found the round's burst (0: flagged, estimate 0) */
    unsigned bursts;         /* bursts the receiver decoded in the round's stream (1 normally) */
    unsigned agents_sent;    /* agents that found the beacon and transmitted */
    unsigned agents_deaf;    /* present agents that missed the beacon (stayed silent) */
    uint64_t start;          /* receiver's burst start in the round's stream (nominal: lead) */
    size_t lead;             /* nominal burst start (samples of noise before it) */
    size_t stream_len;       /* samples the receiver processed */
    float cfo, snr_db;       /* receiver's estimates (subcarrier spacings, dB) */
    float active_mean;       /* receiver's mean |G|/sqrt(rho) over used bins */
    double active_true_mean; /* mean over used bins of the agents active there (agents know) */
    double erased_frac;      /* fraction of (sending agent, used bin) pairs truncated */
    double beacon_cfo_err;   /* rms over sending agents of (agents' CFO estimate - truth), the
                                truth taken from the emulator (its offsets and its radios'
                                oscillators) for this diagnostic only */
    double used_cfo_err;     /* the same for the offset they used (tracked, ota_agent_link.cfo_used;
                                0 without cfo_comp) */
    double t_beacon, t_tx, t_chan, t_rx; /* downlink+chanest, delivered vectors, emulator with
                                            the agents' bursts made in it (precode+TX), RX */
    double t_probe;          /* the calibration probes before this round (not in the four above) */
    int cal;                 /* calibration on: heard and cal_snr_db are the server's (§8.3) */
    unsigned agents_heard;   /* agents the server heard in their calibration slot */
    const unsigned char *heard; /* with cal, K: agent k heard (valid until the next round) */
    unsigned probes;         /* calibration probes run before this round (§8.5: the run's first,
                                with cal and agg_iq_cfg.probes), else 0 */
    unsigned probe_agents;   /* agents probed (all K) */
    unsigned probe_heard;    /* agents heard in the last probe */
    const unsigned char *probe_hearing; /* with probes, K: agent k heard in the last probe */
    double probe_excess[AGG_IQ_PROBES_MAX]; /* with probes, probe p's phy_cal_probe_excess (+inf:
                                               its burst not found; §8.5 step 5) */
    char capture[512];                   /* capture written this round ("" if none) */
} agg_iq_round_info;

/* 1 when a was made by agg_iq_create. */
int agg_iq_is(const fl_agg *a);
/* The last round's figures (zeroed before the first round). AM_EINVAL if a is not `iq`. */
am_status agg_iq_last_round(const fl_agg *a, agg_iq_round_info *info);
/* The first min(n_symbols, AGG_IQ_SYMBOLS_KEPT) equalised data symbols Y/G (phy_ota_burst.symbols)
 * of the last round's burst (for a constellation plot); *n = 0 when it was not detected. Valid
 * until the next round. AM_EINVAL if a is not `iq`. */
#define AGG_IQ_SYMBOLS_KEPT 4096u
am_status agg_iq_last_symbols(const fl_agg *a, const float complex **sym, size_t *n);
/* The agents' calibration state: corrections A (K x PHY_CAL_Q complex) and the measurements of
 * each (agent, sub-band) pair (K x PHY_CAL_Q u32; cfg.cal_count_agent: K u32, each agent's heard
 * rounds): K (8 + 4) PHY_CAL_Q bytes, and with cfg.probe_excess a u32, the probes the run made
 * (their beacons are replayed into a resumed run's trackers), 0 without calibration; for a
 * checkpoint: a run resumed with them continues as the uninterrupted one. state_load: AM_EINVAL for the wrong size or a
 * non-finite value. */
size_t agg_iq_state_size(const fl_agg *a);
void agg_iq_state_save(const fl_agg *a, void *buf);
am_status agg_iq_state_load(fl_agg *a, const void *buf, size_t n);
/* Diagnostics only (the agents and the server never see it): with calibration, agent k's residual
 * r_k of its correction a_k(i) (phy_cal_interp of A_k) against the emulator's truth, the reciprocity
 * mismatch c_k(i) of its radio's chains (phy/impair: TX over RX gain, LO phases, ripple, the TX
 * timing error; 1 with ideal radios), into r (K values): with z_k(i) = c_k(i) a_k(i) and zbar(i) the
 * mean over the K agents, r_k = sum_i |z_k(i) - zbar(i)|^2 / (sum_i sum_j |z_j(i)|^2 / K) over the
 * used bins: the part of agent k's gain that disagrees with the others' (what §8's loop removes; the
 * common part is the server's G), 0 when calibrated exactly, ~1 - 1/K uncalibrated (random phases).
 * probe -1: the A the next round's precoders take; 0..P: the A before the first of the last
 * calibration probes (0) or after probe `probe` (P of them run, §8.5). AM_EINVAL if a is not `iq`,
 * has no calibration, or ran fewer probes. */
am_status agg_iq_cal_residual(const fl_agg *a, int probe, double *r);
/* Diagnostics only: per (agent, sub-band) pair, k x PHY_CAL_Q + q, into r (may be NULL) its
 * residual against the emulator's truth at the sub-band's centre (phy_cal_groups' centre x_q, where
 * a_k = A_k[q]): z_kq = c_k(x_q) A_k[q] against the mean over the agents, |z_kq - zbar_q|^2 /
 * (sum_j |z_jq|^2 / K), for the A the next round's precoders take; into m (may be NULL) 1 when
 * the last round or probe measured it (the agent heard, the sub-band with an active bin, §8.2),
 * else 0. AM_EINVAL if a is not `iq` or has no calibration. */
am_status agg_iq_cal_pairs(const fl_agg *a, double *r, unsigned char *m);
/* Rounds aggregated and rounds whose burst was missed since create. */
am_status agg_iq_counts(const fl_agg *a, uint64_t *rounds, uint64_t *missed);

#endif
