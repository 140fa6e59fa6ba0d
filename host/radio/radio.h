/* host/radio: one table of radio methods, backends chosen by name (uhd, file, zmq, loop) with
 * "key=value,..." args; timed bursts, timestamped RX (DESIGN "Radios", UHD_NOTES). */
#ifndef AM_HOST_RADIO_H
#define AM_HOST_RADIO_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* ---------------------------------------------------------------------------------------------
 * Time. A device time is whole seconds plus a fraction, never one float (UHD_NOTES "Every burst
 * carries a time": a double of seconds loses ticks after a few days at 61.44 MS/s and makes
 * LATE errors). Normalised form: 0 <= frac < 1.
 * ------------------------------------------------------------------------------------------- */
typedef struct radio_time {
    int64_t secs;
    double frac;
} radio_time;

/* The time of tick `ticks` of a clock of `rate` ticks per second (like uhd::time_spec_t::
 * from_ticks: secs = floor(ticks / rate), frac = remainder / rate). rate > 0. */
radio_time radio_time_from_ticks(int64_t ticks, double rate);
/* The nearest tick of a clock of `rate` ticks per second to t. to_ticks(from_ticks(k)) == k. */
int64_t radio_time_to_ticks(radio_time t, double rate);
/* t + s seconds, normalised (s may be negative). */
radio_time radio_time_add(radio_time t, double s);
/* a - b in seconds (for display and scheduling margins, not for sample arithmetic). */
double radio_time_diff(radio_time a, radio_time b);
/* -1, 0, +1 */
int radio_time_cmp(radio_time a, radio_time b);

/* ---------------------------------------------------------------------------------------------
 * Arguments: "key=value,key=value" (srsRAN rf "device args" style). Each backend declares the
 * keys it accepts; an unknown key, a duplicate, or a bad value is AM_EINVAL naming it. No
 * quoting: values cannot contain ',' (ZeroMQ endpoints, serials and paths don't).
 * ------------------------------------------------------------------------------------------- */
typedef enum radio_arg_kind {
    RADIO_ARG_DOUBLE, /* finite number within [min, max] when min <= max (cli_real's rules) */
    RADIO_ARG_FLOAT,  /* the same, stored as a float by its backend: 1e-50 is not 0 */
    RADIO_ARG_INT,    /* whole number within [min, max] when min <= max (cli_whole's rules) */
    RADIO_ARG_STR,    /* non-empty string */
    RADIO_ARG_CHOICE  /* one of choices ("internal|external|gpsdo") */
} radio_arg_kind;

typedef struct radio_arg_spec {
    const char *key;
    radio_arg_kind kind;
    double min, max;
    const char *choices;
    const char *help;
} radio_arg_spec;

#define RADIO_ARGS_MAX 32
#define RADIO_ARG_KEY_MAX 32
#define RADIO_ARG_VAL_MAX 256

typedef struct radio_args {
    size_t n;
    struct {
        char key[RADIO_ARG_KEY_MAX];
        char val[RADIO_ARG_VAL_MAX];
    } kv[RADIO_ARGS_MAX];
} radio_args;

/* Parses s (NULL or "" = no arguments) against the spec table; `what` names the owner in
 * messages ("radio 'zmq'"). Whitespace around keys and values is ignored. */
am_status radio_args_parse(
    const char *s, const radio_arg_spec *spec, size_t nspec, const char *what, radio_args *out);
/* Lookups of parsed (hence already validated) arguments; absent keys give the default. */
int radio_args_has(const radio_args *a, const char *key);
const char *radio_args_str(const radio_args *a, const char *key, const char *dflt);
double radio_args_double(const radio_args *a, const char *key, double dflt);
int64_t radio_args_int(const radio_args *a, const char *key, int64_t dflt);

/* ---------------------------------------------------------------------------------------------
 * The radio.
 * ------------------------------------------------------------------------------------------- */
typedef struct radio radio; /* opaque: backend + state */

typedef enum radio_dir { RADIO_TX = 1, RADIO_RX = 2, RADIO_TXRX = 3 } radio_dir;

/* Counters since open. A caller flags a round when any error counter moved during it
 * (UHD_NOTES "Buffers and async events"): snapshot before the round, compare after. */
typedef struct radio_stats {
    uint64_t tx_bursts;       /* bursts handed to the backend */
    uint64_t tx_samples;      /* samples in those bursts */
    uint64_t rx_samples;      /* samples delivered by radio_rx */
    uint64_t underflows;      /* TX ran dry inside a burst (uhd) */
    uint64_t late;            /* a burst (or RX start) whose time had already passed: dropped */
    uint64_t overflows;       /* RX samples lost because the host did not read in time */
    uint64_t seq_errors;      /* packets lost between host and device (uhd) */
    uint64_t timestamp_jumps; /* RX timestamps not continuous inside a stream (resynchronised) */
    uint64_t malformed;       /* received messages rejected by validation (zmq) */
    uint64_t tx_refused;      /* bursts refused: they would saturate the DAC after back-off (uhd) */
    uint64_t rx_clipped;      /* RX samples at the ADC's full scale (uhd: sc16 saturated) */
} radio_stats;

typedef struct radio_info {
    char backend[8];  /* "loop", "zmq", "file", "uhd" */
    char device[256]; /* backend-specific description (bus name, endpoints, USRP model) */
    double rate;      /* sample rate, S/s (actual, after the device coerced it) */
    double tx_freq, rx_freq;
    double tx_gain, rx_gain;
    double master_clock;   /* uhd: master clock rate; others 0 */
    char clock_source[16]; /* "internal", "external", "gpsdo" */
    char time_source[16];
    size_t max_burst; /* longest burst radio_tx_burst accepts (samples) */
    /* Calibrated levels (docs/air-interface.md §4.1 "Link budget"): levels = 1 when the backend
     * knows them. tx_dbm: the power at the antenna, dBm, of fc32 samples of unit mean power;
     * rx_dbm: the power at the antenna, dBm, that radio_rx delivers as unit mean power. uhd: from
     * the gains, backoff_db and the B210's nominal figures or the radio's own power calibration
     * (tx_ref_dbm, rx_ref_dbm); updated by radio_set_*_gain. levels = 0 (loop, zmq, file): a
     * digital link, both 0. */
    int levels;
    double tx_dbm, rx_dbm;
    /* The DAC's limit in burst units (docs/air-interface.md §4.1 "The DAC's limit"): the largest
     * |Re x|, |Im x| of an fc32 sample radio_tx_burst sends (uhd: 10^(backoff_db/20), the DAC's
     * full scale after the back-off; a burst beyond it is refused whole, stats.tx_refused).
     * 0 (loop, zmq, file): no limit. */
    double tx_peak_max;
} radio_info;

/* The peak of a burst: the largest |Re x[i]|, |Im x[i]| over x[0..n) (0 for none), INFINITY
 * when a component is NaN or infinite, so that a comparison against a limit refuses it (the one
 * measure of radio_tx_burst's backends, uhd's DAC check, and host/net's net_burst_fit). */
float radio_burst_peak(const float complex *x, size_t n);

/* Names of the backends compiled in, NULL-terminated ({"loop","zmq","file","uhd",NULL}). */
const char *const *radio_backends(void);
/* The argument keys a backend accepts (for help texts). AM_ENOTFOUND for an unknown name. */
am_status radio_backend_keys(const char *name, const radio_arg_spec **spec, size_t *n);

/* Opens backend `name` with "key=value,..." args. Every argument is validated here; device
 * errors (no USRP, socket bind failure, unreadable capture) come back as AM_EDEVICE / AM_EIO
 * with a message naming the arguments tried. On failure *out is NULL. */
am_status radio_open(const char *name, const char *args, radio **out);
void radio_close(radio *r); /* NULL is a no-op */

/* Settings. Each returns AM_OK, AM_EINVAL for a bad value (not finite, out of the device's
 * range) or AM_EDEVICE. Backends without hardware record the value (radio_get_info).
 * uhd: a rate the device would coerce is refused (all radios of a round need one exact rate);
 * if the master clock changes with the rate, the device time is set again as at open; every
 * retune leaves the AD9361 LO at a random phase, so never retune between beacon and data
 * (fpga-notes/lo-phase.md). */
am_status radio_set_rate(radio *r, double sps);
am_status radio_set_freq(radio *r, radio_dir dir, double hz);
am_status radio_set_tx_gain(radio *r, double db);
am_status radio_set_rx_gain(radio *r, double db);
/* "internal", "external" (10 MHz / PPS inputs) or "gpsdo". uhd: applied to the device before
 * any streamer exists; a streamer made earlier is dropped and rebuilt at next use (UHD_NOTES
 * "Order of setup matters"). */
am_status radio_set_clock_source(radio *r, const char *src);
am_status radio_set_time_source(radio *r, const char *src);
/* Device time := t at the next PPS edge (all radios sharing the PPS get the same time), or now. */
am_status radio_set_time_next_pps(radio *r, const radio_time *t);
am_status radio_set_time_now(radio *r, const radio_time *t);
am_status radio_get_time(radio *r, radio_time *t);

/* One whole burst, start-of-burst .. end-of-burst, starting on air at *at (NULL: as soon as
 * possible). Samples must be finite; n <= info.max_burst. A burst whose time has already passed
 * is dropped by the device and counted in stats.late (uhd reports it asynchronously: call
 * radio_tx_flush to collect the verdict). */
am_status radio_tx_burst(radio *r, const float complex *x, size_t n, const radio_time *at);
/* Waits up to timeout_s until every burst sent so far has been acknowledged or has failed,
 * updating stats (late/underflow/seq_error). Immediate for loop/zmq/file. AM_ETIMEOUT if acks
 * are still missing. */
am_status radio_tx_flush(radio *r, double timeout_s);

/* Starts receiving at *at (NULL: now). radio_rx before radio_rx_start is AM_EINVAL. */
am_status radio_rx_start(radio *r, const radio_time *at);
/* Receives exactly n samples from *at (NULL: now), then the device stops by itself (uhd: UHD's
 * STREAM_MODE_NUM_SAMPS_AND_DONE, no stop command and no drain). radio_rx_stop is still called
 * after the window; it costs nothing once the n samples were read. Backends without such a mode
 * stream continuously. n >= 1; uhd: n < 2^28 (the B200's num_samps field). */
am_status radio_rx_start_n(radio *r, const radio_time *at, size_t n);
am_status radio_rx_stop(radio *r);
/* Receives up to cap contiguous samples into x; *n of them, x[0] at device time *t0 (x[i] at
 * t0 + i/rate). Waits at most timeout_s for the first sample: AM_ETIMEOUT if none came (*n = 0).
 * Gaps (bursts, overflows) never fall inside one call: the next call reports its own t0. */
am_status
radio_rx(radio *r, float complex *x, size_t cap, size_t *n, radio_time *t0, double timeout_s);

void radio_get_stats(const radio *r, radio_stats *s);
void radio_get_info(const radio *r, radio_info *info);

#endif
