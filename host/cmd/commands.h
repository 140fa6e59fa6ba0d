/* host/commands: the airmeta subcommands (git-style). Each returns the process exit code. */
#ifndef AM_HOST_COMMANDS_H
#define AM_HOST_COMMANDS_H

#include "bench/bench.h" /* airmeta bench */

typedef struct am_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} am_command;

int cmd_radio(int argc, char **argv);
int cmd_sim(int argc, char **argv);   /* airmeta sim (host/cmd/cmd_sim.c) */
int cmd_replay(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_sweep(int argc, char **argv); /* airmeta sweep (host/cmd/cmd_sweep.c) */
int cmd_server(int argc, char **argv); /* airmeta server (host/cmd/cmd_server.c) */
int cmd_agent(int argc, char **argv);  /* airmeta agent (host/cmd/cmd_agent.c) */
int cmd_chan(int argc, char **argv);   /* airmeta chan (host/cmd/cmd_chan.c) */
int cmd_keygen(int argc, char **argv);  /* airmeta keygen (host/cmd/cmd_keygen.c) */
int cmd_loopback(int argc, char **argv); /* airmeta loopback (host/cmd/cmd_loopback.c) */

#endif
