/* host/radio/radio_impl: the method table every radio backend fills in (internal to host/radio).
 * radio.c validates arguments common to all backends before dispatching (radio.h contract). */
#ifndef AM_HOST_RADIO_IMPL_H
#define AM_HOST_RADIO_IMPL_H

#include <pthread.h>

#include "radio/radio.h"

typedef struct radio_ops {
    const char *name;
    const radio_arg_spec *spec; /* accepted --radio-args keys */
    size_t nspec;
    /* Sets r->impl and r->info; arguments already parsed against spec. */
    am_status (*open)(radio *r, const radio_args *a);
    void (*close)(radio *r);
    am_status (*set_rate)(radio *r, double sps);
    am_status (*set_freq)(radio *r, radio_dir dir, double hz);
    am_status (*set_gain)(radio *r, radio_dir dir, double db);
    am_status (*set_clock_source)(radio *r, const char *src);
    am_status (*set_time_source)(radio *r, const char *src);
    am_status (*set_time)(radio *r, const radio_time *t, int next_pps);
    am_status (*get_time)(radio *r, radio_time *t);
    am_status (*tx_burst)(radio *r, const float complex *x, size_t n, const radio_time *at);
    am_status (*tx_flush)(radio *r, double timeout_s);
    am_status (*rx_start)(radio *r, const radio_time *at);
    /* optional: exactly n samples from at, then stop (NULL: rx_start, continuous) */
    am_status (*rx_start_n)(radio *r, const radio_time *at, size_t n);
    am_status (*rx_stop)(radio *r);
    am_status (*rx)(
        radio *r, float complex *x, size_t cap, size_t *n, radio_time *t0, double timeout_s);
} radio_ops;

struct radio {
    const radio_ops *ops;
    void *impl;
    radio_info info;
    /* Counters. Backends update them under `lock` when another thread may touch them (the loop
     * bus counts overflows on its receivers from the transmitter's thread). */
    pthread_mutex_t lock;
    radio_stats stats;
    int rx_started;
};

extern const radio_ops radio_loop_ops;
extern const radio_ops radio_zmq_ops;
extern const radio_ops radio_file_ops;
#ifdef AM_HAVE_UHD
extern const radio_ops radio_uhd_ops;
#endif

/* Shared argument-spec entries and the clock/time source choices. */
#define RADIO_SOURCES "internal|external|gpsdo"

/* Copies src into a fixed buffer, truncating. */
void radio_strlcpy(char *dst, const char *src, size_t cap);

/* 1 when every component of x[0..n) is finite. */
int radio_all_finite(const float complex *x, size_t n);

/* Adds k to one of r's counters (a field of r->stats) under r->lock. */
void radio_count(radio *r, uint64_t *field, uint64_t k);

/* The tuning methods of the virtual backends (loop, zmq, file): nothing to tune, the value is
 * recorded in r->info (and a file recording's meta). */
am_status radio_record_freq(radio *r, radio_dir dir, double hz);
am_status radio_record_gain(radio *r, radio_dir dir, double db);
am_status radio_record_clock_source(radio *r, const char *src);
am_status radio_record_time_source(radio *r, const char *src);
/* r->info's frequencies and gains from the args freq, tx_gain, rx_gain (0 when absent). */
void radio_record_rf_args(radio *r, const radio_args *a);

#endif
