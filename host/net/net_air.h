/* host/net_air: the on-air data plane of `airmeta server | agent --radio uhd` (no chan process):
 * timed beacon / bursts at server-announced device ticks, timestamped RX windows (issue 4,
 * UHD_NOTES).
 *
 * Time. Every radio of the run shares device time through 10 MHz + PPS (fpga-notes/,
 * --radio-args clock=external,time=external,sync=pps). A tick is one sample of the run's rate
 * counted from device time 0 (radio_time_from_ticks); the server picks the round's beacon tick
 * NET_AIR_LEAD_S ahead of its device time and announces it in GO (docs/air-interface.md §5, a timed
 * system); every TX carries a time_spec (full + fractional seconds, UHD_NOTES "Every burst carries
 * a time"). A burst or RX start whose time has passed, an underflow or a sequence error makes the
 * call fail (UHD_NOTES "Buffers and async events"): the round is flagged, never silently used. */
#ifndef AM_HOST_NET_AIR_H
#define AM_HOST_NET_AIR_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "radio/radio.h"

/* How far ahead of the server's device time a round's beacon is scheduled: GO must reach the
 * agents and their RX must be armed before it (control plane latency + UHD's ~0.1 s). */
#define NET_AIR_LEAD_S 0.25
/* Smallest time between the beacon and the uplink burst: the agent decodes the beacon, precodes
 * and hands its burst to the device ~0.1 s ahead (UHD_NOTES). */
#define NET_AIR_TURN_S 0.1

/* Opens the data-plane radio `backend` ("uhd"; "loop" for tests) with "key=value,..." args.
 * "zmq" and "file" are refused (zmq is the chan path, file has no clock). Bad args: AM_EINVAL
 * naming the key; no device: AM_EDEVICE naming the args (radio_open). *rate = the device's
 * actual sample rate. */
am_status net_air_open(const char *backend, const char *args, radio **out, double *rate);

/* The device time now + lead_s, as a tick of `rate` (rounded up). */
am_status net_air_tick_after(radio *r, double rate, double lead_s, int64_t *tick);

/* The burst x[0..n) on air at tick `tick`; waits up to flush_s for the device's verdict:
 * AM_EDEVICE when the burst was late or hit an underflow / sequence error. flush_s <= 0: no
 * wait (collect the verdict later: radio_tx_flush, net_air_stats_bad). */
am_status net_air_tx_at(
    radio *r, double rate, const float complex *x, size_t n, int64_t tick, double flush_s);

/* 1 when a round must be flagged: late, underflow or sequence-error counters moved a -> b. */
int net_air_stats_bad(const radio_stats *a, const radio_stats *b);

/* Arms RX for the window [start, start + len): exactly len samples from tick `start`, after which
 * the device stops by itself (radio_rx_start_n; uhd: no stop command, no drain). */
am_status net_air_rx_arm(radio *r, double rate, int64_t start, size_t len);

/* Collects the window [start, start + len) after net_air_rx_arm(start): samples are placed by
 * their timestamps (earlier ones are dropped, gaps inside the window are zero and counted in
 * *gaps), until the window is full, or, once some came, a read came back empty while the device's
 * clock (radio_get_time) was idle_s past the first sample missing (the stream stopped: a host-time
 * gap is no sign of it, fpga-notes/uhd-twin.md "Time"), or timeout_s passed (host time). *got =
 * one past the last window sample received (0: none, AM_ETIMEOUT). Stops RX. */
am_status net_air_rx_collect(radio *r,
                             double rate,
                             int64_t start,
                             float complex *buf,
                             size_t len,
                             double timeout_s,
                             double idle_s,
                             size_t *got,
                             size_t *gaps);

#endif
