/* host/twin/air: the shared air of the B210 twins (fpga-notes/uhd-twin.md). One air per run:
 * every twin device joins it over ZeroMQ (DEALER -> the air's ROUTER) and the air mixes each
 * device's TX bursts into every other device's RX stream with one path loss, on one virtual clock
 * T (air ticks at fs). Everything in the air is in physical units: TX bursts arrive as
 * sqrt(mW) amplitudes (after the sender's DAC, chain impairments and TX gain), RX spans leave
 * as sqrt(mW) at the receiver's antenna (its noise, gain, chain and ADC are applied by the device).
 *
 * Time. A device that has streamed RX "holds" the air while it is active (waiting on the air,
 * or heard from within hold_s of host time, default 0.5 s, unless its last request was a wait
 * served while it did not stream: then it is done with the air until its next request). While
 * anyone holds it, T advances in lockstep: only when every holder is blocked in a request that
 * needs the future (an RX span, a wait), and then to the earliest tick such a request needs, so the
 * samples never depend on the host's load or on how the processes are scheduled. While nobody holds
 * it, T follows the host's monotonic clock times `pace` (PPS edges pass, timeouts run), as a real
 * radio's time does. A request is also answered when its timeout has passed in host time (with what
 * there is: the caller retries), so a process that stops time does not hang the others' calls.
 *
 * Protocol: one request = frame 1 twin_air_req (+ frame 2: cf32 samples for TX); one reply =
 * frame 1 twin_air_rep (+ frame 2: cf32 samples for RX). Host byte order (ipc/tcp on one host or
 * identical hosts; the twin is a test bench, not a network service). A request whose a is outside
 * -1..2^61 or whose b is outside 0..2^61 is refused (an error reply naming both); T stops at 2^62
 * (a request due later is answered there). */
#ifndef AM_HOST_TWIN_AIR_H
#define AM_HOST_TWIN_AIR_H

#include <signal.h>
#include <stdint.h>

#include "core/status.h"

enum twin_air_op {
    TWIN_AIR_JOIN = 1, /* -> dev id; rep.a = fs (as ticks per second, rounded), rep.d = fs,
                          rep.n = the UTC second of T = 0 (T starts at the host's time of day) */
    TWIN_AIR_NOW,      /* -> rep.t = T */
    TWIN_AIR_WAIT,     /* a = tick: reply once T >= a, or after b ticks' worth of host time */
    TWIN_AIR_TX,       /* a = start tick (-1: now), flags = TWIN_TX_*, b = first packet's length;
                          frame 2 = samples. rep.code = 1 late (rep.a = where the rest went, or
                          -1 when dropped whole) */
    TWIN_AIR_RXSTART,  /* a = start tick (-1: now), b = samples (0: continuous). rep.code = 1 late
                          (the command is dropped, as the device drops a late stream command) */
    TWIN_AIR_RXSTOP,
    TWIN_AIR_RX, /* a = samples wanted, b = timeout in ticks: reply with the next samples of
                    the stream once T passed them (or at the timeout, in virtual or host
                    time whichever comes first, with what there is).
                    rep.a = air tick of the first sample, rep.n samples, rep.code bit 0 =
                    stream ended (num_samps done), bit 1 = overflow: the device read so late
                    that its buffers overflowed; no samples, the stream resumes at rep.a */
    TWIN_AIR_LEAVE
};

#define TWIN_TX_NEXT_BURST 1u /* underflow_policy=next_burst: a late burst is dropped whole */

/* Samples of one TX burst at most, as the host hands it to the device (twin_uhd.c refuses a
 * longer one). */
#define TWIN_AIR_BURST_MAX ((size_t)1 << 26)
/* Samples of one TX request at most: the burst after the sender's TX chain, whose clock offset
 * (|ppm| + spread <= 100) makes about n / (1 + delta) + 2 outputs and whose interpolator's flush
 * adds PHY_IMPAIR_M + 4: within 2^16 of the burst (6736 more at 2^26). The air's socket takes no
 * longer message (ZMQ_MAXMSGSIZE: ZeroMQ drops the connection of a peer that announces one, before
 * it is allocated). */
#define TWIN_AIR_TX_MAX (TWIN_AIR_BURST_MAX + ((size_t)1 << 16))

typedef struct twin_air_req {
    uint32_t op, dev;
    int64_t a, b;
    uint32_t flags, n;
} twin_air_req;

typedef struct twin_air_rep {
    int32_t status; /* 0 ok, else an am_status; the message then follows in frame 2 */
    int32_t code;
    int64_t t; /* T when served */
    int64_t a;
    double d;
    uint32_t dev, n;
} twin_air_rep;

typedef struct twin_air_cfg {
    double fs;      /* air sample rate, S/s (every streaming device must use it) */
    double loss_db; /* path loss between any two devices, dB */
    double pace;    /* idle time: virtual seconds per host second */
    double hold_s;  /* a streaming device quiet this long (host s) no longer holds the air */
    int paced;      /* also while streaming, T never runs more than 0.1 s ahead of the host clock
                       times pace (rehearsals: a process that joins late is not left behind) */
} twin_air_cfg;

typedef struct twin_air twin_air; /* an air served by a thread of this process */

/* Binds `endpoint` (inproc://, ipc://, tcp://) on zctx and serves it from a new thread. */
am_status twin_air_start(void *zctx, const char *endpoint, const twin_air_cfg *cfg, twin_air **out);
void twin_air_stop(twin_air *a); /* NULL is a no-op */

/* Serves `endpoint` on the calling thread until *stop becomes non-zero (a process's air). */
am_status twin_air_serve(void *zctx,
                         const char *endpoint,
                         const twin_air_cfg *cfg,
                         volatile sig_atomic_t *stop);

#endif
