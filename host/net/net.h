/* host/net: the pieces `airmeta server | agent | chan` share: the learner setup the server hands
 * to agents, the agent's beacon -> channel -> precoded burst step, the chan's emulated links on
 * absolute ticks, and the data-plane endpoints. Implements DESIGN "Data flow of one round" over
 * docs/air-interface.md §2-§6 for separate processes (issue 4 item 3).
 *
 * Time. Every IQ message carries the tick of its first sample (host/radio zmq header); ticks are
 * the server's schedule, shared by every process: the round's beacon leaves the server at
 * beacon_tick and every agent's burst starts at tx_tick (a timed system, docs/air-interface.md §5).
 *
 * Phase reference. phy_chan starts its carrier-offset phasor at sample 0 of each call; the chan
 * process multiplies each input by a constant phase so that, on every link of round r, the
 * phasor is that of (absolute tick - beacon_tick of round r): the relative oscillator phase is
 * taken as known (0) at each beacon instant, as if every agent re-acquired carrier phase from the
 * beacon (on air this is the calibration step of UHD_NOTES "Phase is never aligned"). Anchoring at
 * absolute tick 0 instead would make a CFO estimation error e cost 2 pi e (tx_tick + beacon_tick)
 * / M of phase (uplink and downlink phasors have opposite signs), unbounded over a run; with the
 * beacon as origin it costs 2 pi e (tx_tick - beacon_tick + t) / M, growing with the time since
 * the beacon as on air.
 * The agent's step is host/round/ota_agent.h (the iq aggregator's agents run the same one) with
 * phase_ref = beacon_tick for the downlink and the uplink phasor's origin at beacon_tick: it
 * precodes with the gain a window at the scheduled place sees (TDD reciprocity of the emulator's
 * taps, delay and carrier phase) and pre-rotates its burst, sent at tx_tick, by
 *     e^{+j 2 pi c (t + tx_tick - beacon_tick + delta) / M},   t = 0 .. burst_len - 1,
 * with c its beacon's carrier offset and delta = s - beacon_tick (s its beacon's first path),
 * cancelling the uplink offset (-c) at the server.
 */
#ifndef AM_HOST_NET_H
#define AM_HOST_NET_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "net/auth.h"
#include "net/ctrl.h"
#include "fl/meta.h"
#include "fl/sparse.h"
#include "fl/task.h"
#include "phy/frame.h"
#include "phy/impair.h"
#include "phy/ota_tx.h" /* phy_mapping */

/* ---------------------------------------------------------------------------------------------
 * Learner setup (server flags -> WELCOME -> agent)
 * ------------------------------------------------------------------------------------------- */

/* The family of agent ids 0..n_agents-1 plus new_agents new ones (0: one, unused; the server's
 * evaluation draws from them, docs/paper.md §3) for l; data_dir as fl_task_cfg (NULL: fmnist
 * default; omniglot needs it). The training agents' tasks do not depend on new_agents. */
am_status net_family_create(const ctrl_learner *l,
                            const char *data_dir,
                            unsigned new_agents,
                            fl_task_family **out);
/* fl_meta_cfg from l. */
void net_meta_cfg(const ctrl_learner *l, fl_meta_cfg *cfg);

/* ---------------------------------------------------------------------------------------------
 * Agent: beacon -> channel estimate -> precoder -> burst
 * ------------------------------------------------------------------------------------------- */
typedef struct net_agent net_agent; /* opaque */

/* `airmeta agent`'s tracker window, in beacons (sim --agg iq's default, agg_iq_cfg.track) */
#define NET_AGENT_TRACK 64u

/* `airmeta agent`'s longest smoothing span (docs/air-interface.md §6.2): lags -2 .. 47, whatever
 * the cp. The condition number of the lags' Gram matrix A^H W A on the used bins (~80 % of the
 * circle at every M) depends on the number of lags, not on M, and grows ~2x per lag: 2.5e12 ..
 * 3.9e12 for 50 lags, 4e14 for 58 and 1.5e16 .. 1.7e16 (beyond double precision) for 66 at
 * M = 128 .. 4096; 50 lags keep eps cond below 1e-3. 48 samples is 48 us at 1 MS/s, far beyond a
 * B210 link's delay spread. */
#define NET_AGENT_SMOOTH_MAX 48u

typedef struct net_agent_cfg {
    unsigned nfft, cp_len; /* numerology (default allocation), cp 0 = M/8 */
    size_t payload_len;    /* L reals per burst (the model dimension D) */
    unsigned smooth;       /* channel-estimate smoothing: least-squares lags -2 .. smooth-1
                              (host/round/ota_agent.h), 0 = min(cp, NET_AGENT_SMOOTH_MAX) (the cp
                              is the longest channel a timed system carries) */
    int cfo_comp;          /* 1: pre-compensate the beacon's carrier offset */
    unsigned track;        /* carrier-offset tracker: the mean of the last `track` beacons'
                              estimates (host/round/ota_agent.h ota_agent_track; as sim's agents,
                              64); 0 = each beacon's own estimate */
    unsigned cal_slots;    /* calibration slots of the bursts (docs/air-interface.md §8.1; 0 =
                              none); changed by net_agent_set_slots */
    phy_mapping mapping;   /* payload mapping (docs/air-interface.md §3.3; 0 = complex); changed
                              by net_agent_set_mapping */
    unsigned beacon_reps;  /* training blocks of the beacon (§6.1, GO's beacon_reps); changed by
                              net_agent_set_beacon_reps */
    float link_db;         /* the uplink's gain over the downlink's, dB, from the two radios'
                              levels (net_link_db; docs/air-interface.md §4.1 "Link budget"); 0 =
                              a digital link (the chan path) */
    double fc_fs;          /* on air (a radio on its own clock): carrier frequency over sample
                              rate, the LO phase tracker and timing advance of §4.2 ("Free-running
                              radios", ota_agent_cfg.fc_fs; needs track > 0); 0 = off (the chan) */
    double cfo_max;        /* the beacon receiver's carrier-offset range, subcarrier spacings
                              (docs/air-interface.md §5.1, §6.2), 0..M/8; 0 = net_cfo_range(fc_fs,
                              nfft) */
    double clock_fc_fs, clock_share; /* the sampling-clock pre-compensation (§4.2 "Sampling
                              clock", ota_agent_cfg's fields of the same names): set by
                              net_agent_clock; 0, 0 = off */
} net_agent_cfg;

/* docs/air-interface.md §4.2 "Sampling clock": cfg's clock_fc_fs and clock_share by
 * ota_agent_clock_rule (cfg->nfft set) for a radio at carrier over sample rate fc_fs (0: not
 * known, off), within +-spread_ppm of the server's (its own reference), under a carrier offset
 * of mean square extra_ms spacings^2 that is not the clocks'. */
void net_agent_clock(net_agent_cfg *cfg, double fc_fs, double spread_ppm, double extra_ms);

/* The carrier-offset range an agent's beacon receiver searches (docs/air-interface.md §6.2): two
 * radios NET_RADIO_PPM apart each way, 2 NET_RADIO_PPM 1e-6 f_c M / f_s subcarrier spacings, at
 * fc_fs = f_c / f_s, or NET_CHAN_FC_FS (the emulator's carrier and rate, §11: `airmeta chan`)
 * when fc_fs is 0; at most M/8. 0.94 at M = 256, 915 MHz, 1 MS/s (no integer search: the
 * fraction reaches 1), 3.75 at 1024. */
#define NET_RADIO_PPM 2.0    /* the B210's TCXO, per radio (§11, b210-free) */
#define NET_CHAN_FC_FS 915.0 /* 915 MHz at 1 MS/s (phy/impair.h's profiles) */
double net_cfo_range(double fc_fs, unsigned nfft);

/* docs/air-interface.md §4.1 "Link budget": the uplink's gain over the downlink's, dB, for an agent
 * whose radio has levels (a_tx, a_rx) under a server whose WELCOME announced (s_tx, s_rx) (dBm, as
 * radio_info's tx_dbm, rx_dbm): (a_tx + a_rx) - (s_tx + s_rx). The downlink is s_tx - L - a_rx
 * dB (L the air's loss, the same both ways), the uplink a_tx - L - s_rx. */
double net_link_db(double a_tx, double a_rx, double s_tx, double s_rx);

/* What the agent learned from the round's beacon. */
typedef struct net_beacon_info {
    int found;       /* 0: no beacon near beacon_tick (the agent stays silent) */
    int64_t start;   /* absolute tick of its first path */
    int64_t delta;   /* start - beacon_tick */
    float cfo;       /* this beacon's downlink carrier offset estimate, subcarrier spacings */
    float cfo_used;  /* the offset pre-compensated (the tracked one with a tracker) */
    float snr_db;    /* beacon SNR estimate */
    unsigned erased; /* used bins truncated (|H|^2 < g_th) */
    unsigned used;   /* used bins (M_used): erased == used is a link too weak for g_th */
    int64_t adv;     /* the burst goes at tx_tick + adv (§4.2 timing advance; 0 without fc_fs) */
    double eps;      /* with fc_fs: the predicted clock offset epsilon at this beacon, ticks (§4.2;
                        at the first beacon its measured delay tau); else 0 */
    double drift;    /* the sampling-clock drift the burst is pre-compensated for (§4.2
                        "Sampling clock", ota_agent_link.drift); 0 without clock_fc_fs */
    int drift_off;   /* 1: the offset implies a clock offset beyond OTA_AGENT_CLOCK_MAX: the burst
                        goes without that correction */
} net_beacon_info;

am_status net_agent_create(const net_agent_cfg *cfg, net_agent **out);
void net_agent_destroy(net_agent *q); /* NULL is a no-op */
size_t net_agent_burst_len(const net_agent *q);
const phy_frame *net_agent_frame(const net_agent *q);

/* Looks for the beacon in the downlink chunk x[0..n) whose first sample is absolute tick t0; only
 * a beacon starting within [beacon_tick - cp, beacon_tick + 2 cp] counts. On success computes the
 * precoder for (rho, g_th) (§4 truncated inversion, host/round/ota_agent.h), the carrier offset
 * tracked (cfg.track; the estimate goes into the tracker) and, with calibration slots, the
 * correction A applied (§8.4) and the burst's slot set to cal_slot (< the slots; 0 without).
 * info->found = 0 when there is none (AM_OK). AM_EFORMAT for non-finite samples, AM_EINVAL for bad
 * rho / g_th / slot. Does not allocate. */
am_status net_agent_beacon(net_agent *q,
                           const float complex *x,
                           size_t n,
                           int64_t t0,
                           int64_t beacon_tick,
                           float rho,
                           float g_th,
                           unsigned cal_slot,
                           net_beacon_info *info);

/* The uplink's gain over the downlink's from now on (net_agent_cfg.link_db; a server that took the
 * agent back may announce other levels). AM_EINVAL unless finite within +-300 dB. */
am_status net_agent_set_link_db(net_agent *q, float db);
/* net_agent_clock for the bursts from now on (a restarted chan's radios, §4.2 "Sampling clock");
 * the DSP object is rebuilt only when the fields change (a new object forgets the last beacon's
 * precoder). On failure q is unchanged. */
am_status net_agent_set_clock(net_agent *q, double fc_fs, double spread_ppm, double extra_ms);

/* The bursts from now on carry `slots` calibration blocks' slots (GO's cal_slots, §8.1): the DSP
 * object is made again when they change (net_agent_burst_len changes with them; a precoder of
 * the last beacon is dropped). The tracker and A are kept. */
am_status net_agent_set_slots(net_agent *q, unsigned slots);

/* The bursts from now on use payload mapping m (GO's, §3.3, §9.4), as net_agent_set_slots: the
 * DSP object is made again when it changes (a real-mapped burst has twice the data symbols); the
 * tracker and A are kept. AM_EINVAL for a mapping other than complex or real. */
am_status net_agent_set_mapping(net_agent *q, phy_mapping m);

/* The bursts from now on carry their pilots at level a (GO's, docs/air-interface.md §2, §9.4; 1
 * at create), kept when the DSP object is made again. AM_EINVAL unless 0 < a <= 1. */
am_status net_agent_set_pilot_level(net_agent *q, float a);

/* The beacons from now on carry `reps` training blocks (GO's beacon_reps, docs/air-interface.md
 * §6.1, §9.4): the channel estimate's weights follow (§6.2); the tracker, A and the burst are
 * kept. AM_EINVAL beyond PHY_BEACON_MAX_REPS. */
am_status net_agent_set_beacon_reps(net_agent *q, unsigned reps);

/* CAL (docs/air-interface.md §8.4): when heard, A[q] <- A[q] (E[q] / s)^(-mu), |A| clipped to
 * [1/4, 4] (phy_cal_update), s the scale the last burst was sent with (net_agent_fit_dac; 1 when
 * it fitted): E was measured on a burst scaled by s. Not heard: A unchanged. AM_EFORMAT for
 * q != PHY_CAL_Q or mu outside (0, 1] (ctrl has checked the floats). */
am_status net_agent_cal(net_agent *q, const ctrl_cal *c);

/* docs/air-interface.md §4.1 "The DAC's limit": a burst whose peak (the largest |Re x[i]|,
 * |Im x[i]|) exceeds `limit` (radio_info.tx_peak_max) is scaled whole by
 * s = NET_DAC_MARGIN * limit / peak (its peak becomes NET_DAC_MARGIN * limit), instead of being
 * refused by the radio. Returns s: 1 with x untouched when the peak is within the limit, the
 * limit is 0 or not finite (no limit) or the peak is not finite. *peak (may be NULL) gets the
 * peak before. */
#define NET_DAC_MARGIN 0.99f
float net_burst_fit(float complex *x, size_t n, double limit, float *peak);

/* net_burst_fit on the burst net_agent_burst just made (out, n samples), the scale remembered
 * for the CAL of that burst (net_agent_cal reads E / s); net_agent_burst sets it back to 1. */
float net_agent_fit_dac(net_agent *q, float complex *x, size_t n, double limit, float *peak);

/* The state an agent carries from round to round besides its learner's (the tracker's window and
 * the correction A): net_agent_carry_size bytes, this machine's byte order, for the agent's kept
 * states and --state (host/cmd/cmd_agent.c). Load validates everything (AM_EFORMAT naming it)
 * before changing q. */
size_t net_agent_carry_size(const net_agent *q);
void net_agent_carry_save(const net_agent *q, void *buf);
am_status net_agent_carry_load(net_agent *q, const void *buf);

/* The burst of payload x (payload_len reals, finite) with scale eta, for transmission at tx_tick
 * (after a successful net_agent_beacon): out gets burst_len samples. delivered (may be NULL,
 * payload_len) = x where the entry's bin was not truncated, 0 where it was (docs/paper.md §3 error
 * memory; entry j sits on data bin data_bins[(j / 2) % M_data], §3; data_bins[j % M_data] with
 * the real mapping, §3.3). Does not allocate. */
am_status net_agent_burst(net_agent *q,
                          const float *x,
                          float eta,
                          int64_t tx_tick,
                          float complex *out,
                          size_t cap,
                          float *delivered);

/* The error memory once the server's verdict on a round is known (docs/paper.md §3, and the choice
 * for a burst that did not make it): without memory m = 0; applied (the agent's burst was in the
 * sum the server applied): m = v - delivered; not applied (late, lost, beacon missed, round not
 * decoded, or no verdict): m = v, since nothing of v was delivered, nothing is lost. */
void net_memory_resolve(
    float *m, const float *v, const float *delivered, size_t d, int memory, int applied);

/* Peak |x[2j] + i x[2j+1]| and power ||x||^2 / ceil(d/2) of a payload (fl_agg_eta's rules). */
void net_payload_peak_power(const float *x, size_t d, float *peak, float *power);

/* The round's eta from the agents' reported figures f[0..n) (docs/air-interface.md §3.1: peak, or
 * sqrt(power) under the rms rule): their maximum, but at most cap times their upper median
 * *med = f[n/2] of the sorted figures (the product in f32, as GO carries eta), so that one agent's
 * report (peak = 1e30) cannot set the round's scale; 1 when that is not positive (every figure 0,
 * or the upper median 0; n = 0: *med = 0). Sorts f. */
float net_eta_capped(float *f, size_t n, float cap, float *med);

/* §3.1's plausibility bound on a decoded payload x of d reals: 1 (apply it) when its norm is
 * finite and at most bound x med x sqrt(ceil(d/2)), else 0; *norm and *limit (double) for the
 * message. */
int net_payload_plausible(
    const float *x, size_t d, double bound, float med, double *norm, double *limit);

/* ---------------------------------------------------------------------------------------------
 * Chan: phy_chan on absolute ticks
 * ------------------------------------------------------------------------------------------- */
typedef struct net_chan net_chan; /* opaque */

typedef struct net_chan_cfg {
    unsigned n_agents;
    unsigned nfft, cp_len;
    unsigned n_taps;
    float delay_spread;
    unsigned max_timing_offset;
    float max_cfo, common_cfo;
    float snr_db;
    float rho;
    size_t max_burst; /* longest uplink burst (samples) */
    uint64_t seed;
    const phy_impair_cfg *impair; /* every radio's impairments (phy_chan_cfg.impair), used by
                                     net_chan_create only; NULL = ideal radios */
} net_chan_cfg;

am_status net_chan_create(const net_chan_cfg *cfg, net_chan **out);
void net_chan_destroy(net_chan *q);
/* The round's power factor: the noise follows it so that rho / N0 stays at cfg.snr_db (§5). */
am_status net_chan_set_rho(net_chan *q, float rho);
/* A new realisation of every agent's channel (once per round, before the beacon). */
am_status net_chan_draw(net_chan *q);
/* Round `round`'s realisation: every random stream restarted from (seed, round) first, so that
 * round r's channels and noise depend on the seed and r only (a restarted chan, or a resumed
 * server repeating rounds, gets the uninterrupted run's; as sim --agg iq). probe = p + 1 (PLAN's
 * probe, §8.5's probe p before round `round`) draws from (seed, round, p) instead: each probe
 * has a channel realisation and noise of its own, as sim's probes (0: the round's own). */
am_status net_chan_draw_round(net_chan *q, uint32_t round, uint32_t probe);
/* Samples of noise before (lead) every link's output. */
size_t net_chan_lead(const net_chan *q);
/* Output capacity needed for an input of n samples. */
size_t net_chan_out_len(const net_chan *q, size_t n);
/* Downlink to agent k of the beacon x[0..n) sent at absolute tick tick: y (cap) gets *ny samples,
 * y[0] at absolute tick *t0 = tick - lead; carrier phasors referred to tick (see the top). */
am_status net_chan_downlink(net_chan *q,
                            unsigned k,
                            const float complex *x,
                            size_t n,
                            int64_t tick,
                            float complex *y,
                            size_t cap,
                            size_t *ny,
                            int64_t *t0);
/* Uplink: the bursts tx[k] (NULL: agent k silent) of burst_len samples, all sent at absolute tick
 * tick, through each agent's channel, summed, plus AWGN; y[0] at absolute tick *t0 = tick - lead;
 * carrier phasors referred to ref_tick, the round's beacon tick. */
am_status net_chan_uplink(net_chan *q,
                          const float complex *const *tx,
                          size_t burst_len,
                          int64_t tick,
                          int64_t ref_tick,
                          float complex *y,
                          size_t cap,
                          size_t *ny,
                          int64_t *t0);
/* phy_chan_agent_cfo of agent k (diagnostics). */
float net_chan_agent_cfo(const net_chan *q, unsigned k);

/* ---------------------------------------------------------------------------------------------
 * Processes: stop signals; the peers' (agent, chan) side of the control plane
 * ------------------------------------------------------------------------------------------- */

/* From now on SIGINT and SIGTERM do not end the process: they set the flag net_stop_requested()
 * reads, so that the server, an agent or the chan leaves the run cleanly. */
void net_catch_stop_signals(void);
int net_stop_requested(void);

/* A peer's --server: tcp://HOST:PORT with a port number. AM_EINVAL naming --server otherwise. */
am_status net_check_server(const char *ep);

/* One wait (up to 0.5 s) of a peer (`who`: "agent 3", "chan") for the server's next message.
 * AM_OK with *got = 1: m is from the server, *last = now; *got = 0: nothing yet, or a message from
 * another sender (counted as CTRL_REJ_PEER); AM_ETIMEOUT naming who and server when the server
 * has been silent for silence_s since *last; a socket error otherwise. */
am_status net_peer_recv(ctrl *c,
                        const char *who,
                        const char *server,
                        double silence_s,
                        double *last,
                        ctrl_msg *m,
                        int *got);
/* The server's WELCOME for a peer of `role`: AM_EINVAL "WHO: the server refused: REASON" unless it
 * accepted that role. */
am_status net_peer_welcome(const ctrl_welcome *w, uint32_t role, const char *who);
/* A peer's control connection to `server` (DEALER, CURVE with sec's keys when sec->on) and its
 * HELLO, set to be re-sent after every reconnection and sent now. max_payload: the largest
 * message this peer accepts. On error *out may hold the connection (the caller destroys it). */
am_status net_peer_join(const char *server,
                        uint32_t self_id,
                        size_t max_payload,
                        const net_sec *sec,
                        const ctrl_msg *hello,
                        ctrl **out);
/* Tells the server this peer is gone (a stop, or a set-up that failed: it must not wait for us). */
void net_peer_leave(ctrl *c);
/* Counts a message the peer does not expect now as CTRL_REJ_PEER "WHO: unexpected TYPE". */
void net_peer_unexpected(ctrl *c, const char *who, uint32_t type);

/* ---------------------------------------------------------------------------------------------
 * Endpoints
 * ------------------------------------------------------------------------------------------- */

/* The endpoint a zmq radio actually uses for its "tx" or "rx" side (from radio_get_info's device
 * text, so a bound tcp://127.0.0.1:* names its real port). AM_ENOTFOUND when absent. */
am_status net_radio_endpoint(const char *device, const char *side, char *out, size_t cap);

/* Splits "tcp://HOST:PORT" into prefix "tcp://HOST:" and port (-1 for '*'). AM_EINVAL naming it
 * when it is not of that form or the port is not 1..65535. */
am_status net_split_endpoint(const char *ep, char *prefix, size_t cap, int *port);

/* 1 when ep is a tcp:// endpoint on 127.0.0.1 / localhost (tests use only these). */
int net_is_loopback(const char *ep);

#endif
