/* host/ctrl: the control plane of `airmeta server | agent | chan`: versioned, size-checked, CRC'd
 * messages over ZeroMQ (model broadcast, round parameters, acks, status, join/leave). Issue 4
 * item 3.
 *
 * Sockets. The server binds one ROUTER socket (--bind); every agent and the channel emulator
 * connect one DEALER socket to it (--server). ROUTER/DEALER gives each peer its own queue, lets
 * the server address one peer (GO, PLAN) or all of them (MODEL) and, with ZMQ_ROUTER_MANDATORY,
 * tells the server at send time that a peer's connection is gone (an agent killed with -9 is
 * marked absent instead of being waited for). One ZeroMQ frame = one message (the ROUTER adds the
 * peer's routing-id frame in front); a message of several frames is rejected.
 *
 * Wire format, all little-endian, 32-byte header then the payload:
 *
 *   offset size field
 *        0    4 magic       "AMCT" (bytes 0x41 0x4D 0x43 0x54)
 *        4    2 version     5 (CTRL_VERSION; 2 added WELCOME.data_key, 3 the learner's pool,
 *                           4 WELCOME's levels, 5 the chan's radios' clocks)
 *        6    2 type        ctrl_type
 *        8    4 round       round index the message belongs to (0 outside rounds)
 *       12    4 sender      agent id 0..CTRL_MAX_AGENTS-1, CTRL_ID_SERVER or CTRL_ID_CHAN
 *       16    4 n           payload length in bytes, <= the receiver's max_payload
 *       20    4 crc         CRC-32 (zlib, IEEE 802.3) of the n payload bytes
 *       24    4 reserved    0
 *       28    4 hcrc        CRC-32 of header bytes 0..27
 *       32    n payload     per type, below (u32/i64/f32/f64 little-endian, strings fixed-size
 *                           NUL-padded, printable ASCII)
 *
 * Every received message is checked, before any field is used, for: size >= 32 (truncated),
 * magic, version, header CRC, type, reserved = 0, n <= max_payload (oversized), size == 32 + n
 * (truncated / trailing bytes), payload CRC, and then the payload itself: exact length for its
 * counts, counts within limits, agent ids in range and strictly increasing, every float finite
 * (a NaN or Inf in a model is refused), eta/rho > 0, g_th >= 0, enumerations known, strings
 * terminated and printable. A message failing any check is dropped and counted by reason
 * (ctrl_stats); it is never trusted, and receiving goes on.
 *
 * Payloads (offsets relative to the payload):
 *   HELLO    0 u32 role (1 agent, 2 chan) | 4 u32 id (agent id; chan 0) | 8 u64 dim (agent's D,
 *            0 = not known before WELCOME; chan 0) | 16 u32 n_agents (chan: agents it emulates;
 *            agent 0) | 20 u32 n_ep | 24 char desc[128] | 152 char ep[n_ep][128].
 *            Agent: n_ep = 0. Chan: n_ep = 2 + 2 n_agents endpoints: beacon-in, sum-out, then
 *            uplink_k, downlink_k per agent, then (chan only, version 5) the radios it emulates:
 *            f64 fc_fs | f32 ppm | f32 cfo_ms (ctrl_clock, as WELCOME's).
 *   WELCOME  0 u32 accepted | 4 u32 role | 8 char reason[128] | 136 u64 dim | 144 u32 nfft |
 *            148 u32 cp | 152 u64 payload_len | 160 f64 rate | 168 char uplink[128] |
 *            296 char downlink[128] | 424 learner block (CTRL_LEARNER_LEN bytes, see below) |
 *            508 char data_key[48] (the chan's CURVE public key, z85, or empty: plain IQ) |
 *            556 u32 levels (0/1) | 560 f32 tx_dbm | 564 f32 rx_dbm (the server radio's
 *            calibrated levels, radio.h radio_info, docs/air-interface.md §4.1: levels 1 with
 *            both within +-300 dBm; levels 0, a digital link, with both 0; version 4) |
 *            568 f64 fc_fs | 576 f32 ppm | 580 f32 cfo_ms (the chan's radios, ctrl_clock, for
 *            an agent on the chan path; all 0 otherwise; version 5).
 *            The setup fields are checked for an accepted agent; the chan gets nfft, cp and
 *            payload_len too and checks them itself.
 *   MODEL    0 f32 rho | 4 f32 g_th | 8 u32 flags | 12 u32 prev_round | 16 u32 n_prev |
 *            20 u32 dim | 24 u32 prev_ids[n_prev] | f32 theta[dim]
 *   STATUS   0 f32 loss | 4 f32 peak | 8 f32 power | 12 u32 n_x | 16 f32 x[n_x] (n_x = 0 or D)
 *   GO       0 f32 eta | 4 f32 rho | 8 f32 g_th | 12 u16 cal_slot | 14 u16 cal_slots (bits 0-13;
 *            bit 14: probe, §8.5; bit 15: mapping) | 16 i64 beacon_tick | 24 i64 tx_tick
 *            (cal_slots = 0: no calibration blocks, cal_slot 0; else cal_slot < cal_slots <=
 *            CTRL_MAX_AGENTS, §8.1; probe only with cal_slots > 0; mapping 0 complex, 1 real,
 *            §3.3) [| 32 f32 pilot_level, 0 < a <= 1, §2: absent = 1]
 *            [| 36 u32 beacon_reps, 1..CTRL_MAX_BEACON_REPS: the beacon's training blocks, §6.1;
 *            only after pilot_level (1 when not announced); absent = 0]
 *   PLAN     0 f32 eta | 4 f32 rho | 8 u32 nfft | 12 u32 cp | 16 u64 burst_len |
 *            24 i64 beacon_tick | 32 i64 tx_tick | 40 f64 deadline | 48 u32 n | 52 u32 ids[n]
 *            [| 52 + 4 n u32 probe, 1..CTRL_MAX_PROBES: §8.5's probe probe - 1; absent = 0, the
 *            round's own transmission]
 *   REPORT   0 i64 chunk_tick | 8 u64 chunk_len | 16 u32 late | 20 u32 rejected | 24 u32 n |
 *            28 u32 ids[n]
 *   COMMIT   0 u32 decoded | 4 u32 n | 8 u32 ids[n]
 *   CAL      0 u32 heard (0/1) | 4 u32 q (CTRL_CAL_Q) | 8 f32 mu (0 < mu <= 1) | 12 f32 snr_db |
 *            16 f32 E[q][2] (re, im) [| 16 + 8q f32 mu_q[q], each 0 < mu_q <= 1, mu their
 *            largest: the sub-bands' loop gains when they differ; absent: mu for every one]: the
 *            server's measurement of one agent in the header's round (docs/air-interface.md
 *            §8.2-§8.4, §9.4)
 *   LEAVE, BYE: empty
 *   learner block: 0 u32 task | 4 u32 learner | 8 u32 inner_steps | 12 f32 alpha | 16 u32 tasks |
 *            20 u32 local_iters | 24 f32 local_lr | 28 f32 hf_delta | 32 u32 ways | 36 u32 shots |
 *            40 u32 query | 44 f32 heterogeneity | 48 u32 filters | 52 u32 sparsify |
 *            56 f64 keep | 64 u32 memory | 68 u32 n_agents | 72 u64 seed | 80 u32 pool
 *            (84 bytes; pool: tasks each training agent owns, 0 = fresh tasks, version 3)
 */
#ifndef AM_HOST_CTRL_H
#define AM_HOST_CTRL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "util/zctx.h"

#define CTRL_MAGIC 0x54434D41u /* "AMCT" read as a little-endian u32 */
#define CTRL_VERSION 5 /* 2: WELCOME carries the data plane's CURVE key; 3: learner pool;
                          4: WELCOME carries the server radio's levels; 5: the chan's HELLO and
                          WELCOME carry its radios' clocks */
#define CTRL_HDR_LEN 32
#define CTRL_MAX_AGENTS 4096u
#define CTRL_MAX_DIM (1u << 24) /* floats in a model or update vector */
#define CTRL_STR_LEN 128        /* every fixed string field (endpoints, reasons, descriptions) */
#define CTRL_LEARNER_LEN 84
#define CTRL_KEY_TXT 48 /* WELCOME.data_key: z85 public key (40 characters), NUL-padded */
#define CTRL_CAL_Q 8u /* CAL: sub-bands (docs/air-interface.md §8.2, PHY_CAL_Q) */
#define CTRL_ID_SERVER 0xFFFFFFFFu
#define CTRL_ID_CHAN 0xFFFFFFFEu
#define CTRL_NO_ROUND 0xFFFFFFFFu /* MODEL.prev_round when there was no previous round */

#define CTRL_MODEL_REPORT_X 1u /* MODEL.flags: agents append their transmitted x to STATUS */

typedef enum ctrl_type {
    CTRL_HELLO = 1, /* agent / chan -> server: join */
    CTRL_WELCOME,   /* server -> agent / chan: accepted (with the run's setup) or refused */
    CTRL_MODEL,     /* server -> agents: meta-model theta, rho, g_th, who made the previous round */
    CTRL_STATUS,    /* agent -> server: train loss, peak |c| and power of x (the eta rule), [x] */
    CTRL_GO,        /* server -> the round's agents: eta and the beacon / transmit ticks */
    CTRL_PLAN,      /* server -> chan: the round's agents, numerology, ticks, deadline */
    CTRL_REPORT,    /* chan -> server: whose bursts made the sum, the forwarded chunk */
    CTRL_COMMIT,    /* server -> the round's agents: whose updates were applied */
    CTRL_LEAVE,     /* agent / chan -> server: leaving */
    CTRL_BYE,       /* server -> everyone: the run is over */
    CTRL_CAL,       /* server -> each scheduled agent: heard, its gain per sub-band (§8.4) */
    CTRL_TYPE_END
} ctrl_type;

const char *ctrl_type_name(uint32_t type); /* "HELLO", ..., "?" for unknown values */

typedef enum ctrl_role { CTRL_ROLE_AGENT = 1, CTRL_ROLE_CHAN = 2 } ctrl_role;

/* What the server tells agents to learn with (so every agent of a run uses the same setup).
 * Enumerations are fl's: task = fl_task_kind, learner = fl_learner, sparsify = fl_sparse_kind. */
typedef struct ctrl_learner {
    uint32_t task, learner, inner_steps;
    float alpha;
    uint32_t tasks, local_iters;
    float local_lr, hf_delta;
    uint32_t ways, shots, query;
    float heterogeneity;
    uint32_t filters, sparsify;
    double keep;
    uint32_t memory, n_agents;
    uint64_t seed;
    uint32_t pool; /* fl_task_cfg.pool: tasks each training agent owns (0 = fresh tasks) */
} ctrl_learner;

/* Arrays inside decoded messages are byte views into the received buffer (possibly unaligned):
 * read them with ctrl_u32_at / ctrl_f32_copy. For encoding they point at the caller's arrays
 * (uint32_t / float / char[CTRL_STR_LEN]). */
/* The radios the chan emulates, for its agents' sampling-clock pre-compensation
 * (docs/air-interface.md §4.2 "Sampling clock", §9.4): fc_fs their carrier over sample rate (0:
 * not known, no correction; else up to 1e6), ppm the spread of their clocks (each radio within
 * +-ppm of a common value, 0..100: 0 = one clock), cfo_ms the mean square of the carrier offsets
 * the chan adds that are not the clocks' (--cfo^2 + --agent-cfo^2 / 3, spacings^2, 0..2048^2:
 * the emulator's offsets are within M/2, M <= 4096). */
typedef struct ctrl_clock {
    double fc_fs;
    float ppm, cfo_ms;
} ctrl_clock;

typedef struct ctrl_hello {
    uint32_t role, id;
    uint64_t dim;
    uint32_t n_agents, n_ep;
    char desc[CTRL_STR_LEN];
    const void *ep;   /* n_ep x CTRL_STR_LEN bytes */
    ctrl_clock clock; /* chan: its radios (after the endpoints); agent: 0 */
} ctrl_hello;

typedef struct ctrl_welcome {
    uint32_t accepted, role;
    char reason[CTRL_STR_LEN];
    uint64_t dim;
    uint32_t nfft, cp;
    uint64_t payload_len;
    double rate;
    char uplink[CTRL_STR_LEN], downlink[CTRL_STR_LEN];
    ctrl_learner learner;
    char data_key[CTRL_KEY_TXT]; /* the chan's public key (z85) when its IQ sockets use CURVE,
                                    "" otherwise */
    uint32_t levels;             /* 1: tx_dbm and rx_dbm are the server radio's calibrated levels
                                    (radio_info); 0: a digital link, both 0 */
    float tx_dbm, rx_dbm;
    ctrl_clock clock; /* the chan's radios (its HELLO's) for an agent on the chan path; else 0 */
} ctrl_welcome;

typedef struct ctrl_model {
    float rho, g_th;
    uint32_t flags, prev_round, n_prev, dim;
    const void *prev_ids; /* n_prev u32 */
    const void *theta;    /* dim f32 */
} ctrl_model;

typedef struct ctrl_status {
    float loss, peak, power;
    uint32_t n_x;
    const void *x; /* n_x f32 */
} ctrl_status;

#define CTRL_MAX_PROBES 16u /* phy/cal.h PHY_CAL_PROBES_MAX: PLAN.probe 1..16 */
#define CTRL_MAX_BEACON_REPS 16u /* phy/beacon.h PHY_BEACON_MAX_REPS */

typedef struct ctrl_go {
    float eta, rho, g_th;
    uint32_t cal_slot, cal_slots; /* u16 on the wire (§8.1); 0, 0: no calibration */
    uint32_t mapping;             /* 0 complex, 1 real (§3.3): bit 15 of cal_slots' u16 */
    uint32_t probe;               /* 1: a calibration probe (§8.5: the burst's payload all zero,
                                     no model round; needs cal_slots > 0): bit 14 of that u16 */
    uint32_t beacon_reps;         /* training blocks after the beacon's preamble (§6.1), 0..
                                     CTRL_MAX_BEACON_REPS; 0: a GO of 32 bytes, else 36 */
    int64_t beacon_tick, tx_tick;
    float pilot_level;            /* §2's a, 0 < a <= 1, at offset 32 (a 36-byte GO); 0 = absent
                                     (a 32-byte GO): the pilots carry +1 */
} ctrl_go;

typedef struct ctrl_plan {
    float eta, rho;
    uint32_t nfft, cp;
    uint64_t burst_len;
    int64_t beacon_tick, tx_tick;
    double deadline; /* seconds the chan waits for the bursts */
    uint32_t n;
    const void *ids; /* n u32 */
    uint32_t probe;  /* 0: the round's transmission; p + 1: §8.5's probe p before it (written
                        after ids only when > 0; 1..CTRL_MAX_PROBES) */
} ctrl_plan;

typedef struct ctrl_report {
    int64_t chunk_tick;
    uint64_t chunk_len;
    uint32_t late, rejected, n;
    const void *ids; /* n u32 */
} ctrl_report;

typedef struct ctrl_commit {
    uint32_t decoded, n;
    const void *ids; /* n u32 */
} ctrl_commit;

typedef struct ctrl_cal {
    uint32_t heard, q; /* q = CTRL_CAL_Q */
    float mu, snr_db;  /* loop gain in (0, 1]; the slot's SNR, dB (finite) */
    const void *E;     /* q complex = 2 q f32 (re, im), finite */
    const void *mu_q;  /* NULL, or q f32: sub-band q's loop gain, each in (0, 1], mu their largest
                          (§8.4: each (agent, sub-band) pair counts its own measurements; the
                          server sends them only when they differ) */
} ctrl_cal;

typedef struct ctrl_msg {
    uint32_t type; /* ctrl_type */
    uint32_t round, sender;
    union {
        ctrl_hello hello;
        ctrl_welcome welcome;
        ctrl_model model;
        ctrl_status status;
        ctrl_go go;
        ctrl_plan plan;
        ctrl_report report;
        ctrl_commit commit;
        ctrl_cal cal;
    } u;
} ctrl_msg;

/* Why a message was refused (one counter each in ctrl_stats). */
typedef enum ctrl_reject {
    CTRL_REJ_NONE = 0,
    CTRL_REJ_TRUNCATED, /* shorter than the header, or than header + n */
    CTRL_REJ_OVERSIZED, /* n > max_payload, or longer than the receiver accepts */
    CTRL_REJ_SIZE,      /* bytes after the payload (size != 32 + n) */
    CTRL_REJ_MAGIC,
    CTRL_REJ_VERSION,
    CTRL_REJ_HCRC,     /* header CRC mismatch */
    CTRL_REJ_TYPE,     /* unknown type */
    CTRL_REJ_RESERVED, /* reserved field not 0 */
    CTRL_REJ_CRC,      /* payload CRC mismatch */
    CTRL_REJ_PAYLOAD,  /* payload fields: lengths, counts, ids, NaN/Inf, ranges, strings */
    CTRL_REJ_FRAMES,   /* not exactly one frame (plus the ROUTER's routing id) */
    CTRL_REJ_PEER,     /* valid message from a peer or sender id the receiver does not accept
                          (counted by the application with ctrl_count_reject) */
    CTRL_REJ_END
} ctrl_reject;

const char *ctrl_reject_name(ctrl_reject r);

/* Bytes of the encoding of m (header included), 0 if m's type is unknown. */
size_t ctrl_encoded_len(const ctrl_msg *m);

/* Encodes m into buf (cap bytes): *len bytes written. Validates m as the decoder would (so a
 * sender never emits what a receiver refuses): AM_EINVAL with a message otherwise, or when cap
 * is short. Does not allocate. */
am_status ctrl_encode(const ctrl_msg *m, void *buf, size_t cap, size_t *len);

/* Decodes and validates one message of len bytes; max_payload bounds n. On success fills *m
 * (arrays are views into buf, valid while buf is) and returns AM_OK. Otherwise returns
 * AM_EFORMAT with a message naming the problem ("ctrl: bad magic 0x..."), sets *why (may be NULL)
 * and leaves *m unspecified. Never reads outside buf[0..len). Does not allocate. */
am_status
ctrl_decode(const void *buf, size_t len, size_t max_payload, ctrl_msg *m, ctrl_reject *why);

/* Array views. */
uint32_t ctrl_u32_at(const void *view, size_t i);
void ctrl_f32_copy(const void *view, size_t n, float *dst);
/* i-th CTRL_STR_LEN string of a view (HELLO endpoints); NUL-terminated (checked by decode). */
const char *ctrl_str_at(const void *view, size_t i);

/* Payload bytes needed for a model of dim floats with n agents (MODEL / STATUS with x / the
 * chan's HELLO), a convenient max_payload for the sockets of a run. */
size_t ctrl_payload_bound(size_t dim, size_t n_agents);

/* ---------------------------------------------------------------------------------------------
 * The socket. Server: ROUTER bound at endpoint. Peer (agent, chan): DEALER connected to it.
 * ------------------------------------------------------------------------------------------- */
typedef struct ctrl ctrl; /* opaque */

typedef struct ctrl_cfg {
    int server;           /* 1: ROUTER, bind; 0: DEALER, connect */
    const char *endpoint; /* "tcp://127.0.0.1:5555"; copied */
    uint32_t self_id;    /* sender id put in every header: agent id, CTRL_ID_SERVER, CTRL_ID_CHAN */
    size_t max_payload;  /* largest payload sent or accepted, bytes (>= 1024) */
    double send_timeout; /* seconds a send may block (peer queue full), > 0 */
    /* CURVE (host/util/zctx.h; NULL curve_secret: plain TCP, --insecure). The server's socket is a
     * CURVE server whose connections the process's ZAP handler admits under zap_domain; a peer is
     * a CURVE client that needs the server's public key. */
    const unsigned char *curve_secret; /* this side's secret key, ZCTX_KEY_LEN bytes */
    const unsigned char *curve_server; /* peer: the server's public key */
    const char *zap_domain;            /* server: ZAP domain of its socket ("ctrl") */
} ctrl_cfg;

/* A peer as the ROUTER knows it (its routing id). */
typedef struct ctrl_peer {
    unsigned char id[255];
    size_t len;
    char user[ZCTX_USER_LEN]; /* the ZAP user id of its connection ("agent:3", "chan"); "" without
                                 CURVE */
} ctrl_peer;

typedef struct ctrl_stats {
    uint64_t received; /* frames sets read from the socket */
    uint64_t accepted; /* messages that passed ctrl_decode */
    uint64_t rejected; /* sum of by_reason */
    uint64_t by_reason[CTRL_REJ_END];
    uint64_t sent, send_failed; /* messages handed to ZeroMQ / not (peer gone, queue full) */
    /* connection events (socket monitor): handshakes that failed (no key, a key the ZAP handler
     * refused, another mechanism, garbage instead of ZMTP), handshakes that succeeded,
     * disconnections, and HELLOs re-sent after a reconnection (ctrl_set_hello) */
    uint64_t handshake_failed, handshakes, disconnects, rehello;
    char last_reject[200];      /* the message of the last rejection ("" if none) */
} ctrl_stats;

/* Creates the context and socket, binds or connects. AM_EIO naming the endpoint when the bind
 * fails (e.g. "Address already in use"). Allocates the send buffer (32 + max_payload bytes). */
am_status ctrl_create(const ctrl_cfg *cfg, ctrl **out);
void ctrl_destroy(ctrl *q); /* NULL is a no-op; pending sends linger at most send_timeout (or
                              what ctrl_set_linger set) */

/* How long ctrl_destroy lets unsent messages go out, s (0: drop them; a process that gives up on
 * a silent server must not wait to flush its HELLO). */
void ctrl_set_linger(ctrl *q, double seconds);

/* Peer: m (a HELLO) is sent again after every reconnection (a restarted server, or a connection
 * that dropped and came back under load): the server learns the new connection. Copied. */
am_status ctrl_set_hello(ctrl *q, const ctrl_msg *m);

/* The endpoint actually bound or connected (a bound "tcp://127.0.0.1:*" names the real port). */
const char *ctrl_endpoint(const ctrl *q);

/* Encodes m (with this socket's self_id as sender) and sends it. Server: to `to` (required);
 * peer: to the server (to ignored). AM_ENOTFOUND when the ROUTER has no connection to `to`
 * (peer gone), AM_ETIMEOUT when the peer's queue stayed full for send_timeout, AM_EINVAL for an
 * invalid m. Failures are counted in send_failed. */
am_status ctrl_send(ctrl *q, const ctrl_peer *to, const ctrl_msg *m);

/* Waits up to timeout_s (0: poll once) for one valid message. Rejected messages are counted and
 * skipped; waiting goes on until the deadline. AM_OK: *m holds the message (arrays valid until the
 * next ctrl_recv / ctrl_destroy) and *from (may be NULL) its sender. AM_ETIMEOUT: nothing valid
 * arrived. AM_EIO: socket error. */
am_status ctrl_recv(ctrl *q, double timeout_s, ctrl_msg *m, ctrl_peer *from);

/* For rejections the application decides (valid message, wrong peer): counts it under `why` with
 * the message text. */
void ctrl_count_reject(ctrl *q, ctrl_reject why, const char *text);

void ctrl_get_stats(const ctrl *q, ctrl_stats *s);

/* Sends raw bytes as one frame (tests and fuzzing: a peer sending garbage). */
am_status ctrl_send_raw(ctrl *q, const ctrl_peer *to, const void *buf, size_t len);

int ctrl_peer_eq(const ctrl_peer *a, const ctrl_peer *b);

#endif
