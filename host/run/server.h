/* host/run/server: the server of a multi-process Air-meta-pFL run as an object (docs/paper.md
 * §3). `airmeta agent` processes (one per agent id) and one `airmeta chan` (the channel
 * emulator) join it over ZeroMQ (host/net/ctrl.h), CURVE-authenticated against an allow-list
 * (host/net/auth.h); with --radio uhd the server's own radio sends the beacon and receives the
 * over-the-air sum (host/net/net_air.h) and there is no chan.
 *
 *   server_create()   validates the options, reserves open files, sets up the keys, builds the
 *                     learner, receiver and buffers, locks --out, binds the control endpoint,
 *                     writes --out DIR/config.json
 *   server_join()     waits for the chan and the agents (all, or --min-agents by --join-timeout)
 *   server_round()    one round, steps 1-6 below; theta.f32 every --save-every rounds, the
 *                     checkpoint every --checkpoint-every rounds
 *   server_finish()   BYE to everybody; theta.f32 (also after SIGINT / SIGTERM), the summary
 *   server_destroy()
 *
 * One round r (control messages host/net/ctrl.h, data plane host/net/net.h):
 *  1. MODEL(r) to every joined agent: theta, rho, g_th, and who made round r-1;
 *  2. STATUS(r) back from each agent (train loss, peak |c| and power of its payload x, and x
 *     itself with --report-x) until all answered or --round-timeout: those are the round's agents;
 *     an agent that is gone, silent or late is left out of this round and the round goes on;
 *  3. eta from the reports (--eta-rule, capped at --eta-cap x the median reported peak), PLAN(r)
 *     to the chan (the agents, ticks, deadline --burst-timeout), GO(r) to the agents, then the
 *     beacon as IQ to the chan;
 *  4. the chan passes the beacon down each agent's channel, sums the bursts that arrived by the
 *     deadline and stamped with the round's tick, forwards the stream and REPORTs whose bursts
 *     made the sum;
 *  5. the streaming receiver decodes the stream; its payload is the estimate of the average of
 *     the summed agents' x (docs/air-interface.md §5); unless it is non-finite or above
 *     --norm-bound, theta <- fl_opt step on it;
 *  6. COMMIT(r) to the round's agents (whose updates were applied: feeds their error memory, see
 *     host/cmd/cmd_agent.c); one JSONL line in --out DIR/metrics.jsonl.
 * A round whose burst is not decoded changes nothing (theta kept, nobody applied) and says so. A
 * failure toward one peer drops that peer, never the run.
 *
 * Durability (issue 12 item 3): --out DIR/checkpoint.bin (host/run/checkpoint.h) holds everything
 * the next rounds depend on: the rounds done, theta, the optimiser's state (Adam's step count and
 * moments), who was applied in the last round (told in the next MODEL) and the run's counters;
 * written atomically every --checkpoint-every rounds and on SIGINT / SIGTERM, after
 * metrics.jsonl is synced. `--resume DIR` takes the configuration from DIR/config.json ("flags";
 * flags given again must agree, except the run-control ones of server_parse), cuts the metrics
 * lines after the checkpoint and goes on from it; the agents and the chan rejoin by themselves
 * (they reconnect and say HELLO again until their --timeout). An agent keeps its state as of
 * each of its last --keep-rounds rounds and a MODEL of a round it has passed restores that
 * round's state (host/cmd/cmd_agent.c); the chan draws round r's channel from (seed, r): a run
 * resumed after a kill -9 repeats the uninterrupted one's rounds (tests/cli/net_resume.sh). */
#ifndef AM_HOST_RUN_SERVER_H
#define AM_HOST_RUN_SERVER_H

#include <stdint.h>

#include "core/status.h"
#include "run/flags.h"
#include "util/cli.h"

typedef struct server_opts {
    const char *bind, *out;
    const char *key, *allow; /* CURVE (host/net/auth.h) */
    int insecure;
    const char *resume; /* --resume DIR (then out = DIR) */
    unsigned agents, rounds, min_agents, nfft, save_every, checkpoint_every;
    unsigned gain_pool; /* the receiver's phy_ota_rx_cfg.gain_pool (0 = per-bin G) */
    unsigned beacon_reps; /* training blocks after the beacon's preamble (§6.1), in GO (§9.4) */
    const char *mapping; /* payload mapping complex|real, announced in GO (§3.3, §9.4) */
    double round_timeout, burst_timeout, join_timeout, round_period, eta_cap, norm_bound;
    uint64_t seed;
    int report_x, quiet, force;
    const char *cal; /* auto|on|off: closed-loop calibration (docs/air-interface.md §8) */
    flags_probes probes; /* with calibration: the probes of a join (§8.5: --probes, --probe-excess) */
    flags_task task;
    flags_learner learn;
    flags_eval eval; /* new agents fine-tuned at eval rounds (as sim) */
    flags_air air;
    flags_radio radio; /* data plane: zmq (the chan) or uhd (on air) */
} server_opts;

#define SERVER_MAX_OPTS 64
/* The beacon's training blocks by default (docs/air-interface.md §6.1, as sim --agg iq), and
 * those of a run whose config.json does not record them (made before the default was 16: it ran
 * with the three-block beacon and resumes so). */
#define SERVER_BEACON_REPS 16u
#define SERVER_BEACON_REPS_UNRECORDED 0u

void server_defaults(server_opts *o);
/* The option table of o: the shared groups of host/run/flags.h and the server's own. */
size_t server_table(server_opts *o, cli_opt *t);

/* What resumed options point into (DIR/config.json and the arguments made from it). */
typedef struct server_args {
    void *stored; /* cJSON */
    char **v;
    char *store;
} server_args;

/* Parses argv[1..argc) into o (defaults first). With --resume DIR: o is DIR/config.json's "flags"
 * (validated by the same parser); a flag given again must have the stored value, except the
 * run-control ones, which this session chooses: --bind, --key, --allow, --insecure (the three
 * together), timeouts, --round-period, --min-agents, --save-every, --checkpoint-every,
 * --radio-args, --quiet. AM_EINVAL naming the flag and both values on a conflict; AM_ENOTFOUND
 * when --help was printed. keep must be freed with server_args_free (also after a failure). */
am_status server_parse(int argc,
                       char **argv,
                       const char *usage,
                       const char *summary,
                       server_opts *o,
                       server_args *keep);
void server_args_free(server_args *a);

typedef struct server server;

/* o is copied; the per-family defaults are resolved. */
am_status server_create(const server_opts *o, server **out);
am_status server_join(server *s);
/* Round number server_rounds_done(s) + 1. */
am_status server_round(server *s);
unsigned server_rounds_done(const server *s);
/* st: how the rounds ended (AM_OK: all ran). The agents and the chan are told to stop; after a
 * stop signal theta.f32 keeps the rounds done; theta.f32 and the summary are written when all
 * ran. Returns the run's status. */
am_status server_finish(server *s, am_status st);
void server_destroy(server *s);

#endif
