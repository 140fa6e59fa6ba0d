/* airmeta server: the server of a multi-process Air-meta-pFL run. The server itself is
 * host/run/server.h; this file parses the flags and runs it round by round. */
#include <stdio.h>

#include "cmd/commands.h"
#include "run/server.h"
#include "util/cli.h"

static const char server_summary[] =
    "The server of a multi-process Air-meta-pFL run: `airmeta agent` processes (one per\n"
    "agent id) and one `airmeta chan` (the channel emulator) join it over ZeroMQ. Each round\n"
    "it broadcasts the meta-model, collects the agents' reports until --round-timeout, has\n"
    "the chan carry its beacon down and the agents' precoded bursts up (IQ over the zmq\n"
    "radio), decodes the over-the-air sum with the streaming receiver, applies the outer\n"
    "step and tells the agents whose updates were applied. Agents that drop out or answer\n"
    "late do not stop a round; metrics.jsonl lists who took part in each. Malformed control\n"
    "messages are refused and counted (ctrl_rejected). Learner flags as `airmeta sim`; the\n"
    "agents get them from the server.\n"
    "Security (issue 12): with --key and --allow every connection, control and IQ, is\n"
    "CurveZMQ-encrypted and admitted only under the identity its key is listed for; a HELLO\n"
    "for another id, an unknown key or no key is refused and counted (auth_refused,\n"
    "hello_refused in metrics.jsonl) and the run goes on. A failure toward one peer drops\n"
    "that peer, never the run; it is taken back when it says HELLO again (agents and the\n"
    "chan do after every reconnection). eta is capped by --eta-cap, a payload whose norm\n"
    "exceeds --norm-bound is not applied, and the server never exits 0 with a non-finite\n"
    "model.\n"
    "Durable (issue 12): with --out the run is checkpointed every --checkpoint-every rounds\n"
    "and on SIGINT / SIGTERM; `airmeta server --resume DIR` continues it (the agents and the\n"
    "chan reconnect by themselves) and repeats the rounds an uninterrupted run would have.";

int cmd_server(int argc, char **argv)
{
    server_opts o;
    server_args keep;
    am_status st = server_parse(argc, argv,
                                "--bind tcp://HOST:PORT --agents K (--key NAME.key --allow FILE | "
                                "--insecure) [--rounds R] [--out DIR] ... | --resume DIR",
                                server_summary, &o, &keep);
    if (st == AM_ENOTFOUND) {
        server_args_free(&keep);
        return 0;
    }
    server *s = NULL;
    if (st == AM_OK)
        st = server_create(&o, &s);
    if (st != AM_OK) {
        server_args_free(&keep);
        return cli_fail("server", st);
    }
    if (server_rounds_done(s) < o.rounds) /* a resumed run that had finished: nothing to wait for */
        st = server_join(s);
    while (st == AM_OK && server_rounds_done(s) < o.rounds)
        st = server_round(s);
    st = server_finish(s, st);
    server_destroy(s);
    server_args_free(&keep);
    return st == AM_OK ? 0 : cli_fail("server", st);
}
