/* host/commands: the airmeta subcommands (git-style). Each returns the process exit code. */
#ifndef AM_HOST_COMMANDS_H
#define AM_HOST_COMMANDS_H

typedef struct am_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} am_command;

int cmd_bench(int argc, char **argv);
int cmd_radio(int argc, char **argv);
int cmd_sim(int argc, char **argv);   /* airmeta sim (host/cmd_sim.c) */
int bench_fl(int argc, char **argv);  /* airmeta bench fl (host/bench_fl.c) */
int cmd_replay(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int bench_phy(int argc, char **argv); /* airmeta bench phy (host/bench_phy.c) */
int bench_radio(int argc, char **argv); /* airmeta bench radio (host/bench_radio.c) */
int bench_round(int argc, char **argv); /* airmeta bench round (host/bench_round.c) */
int cmd_sweep(int argc, char **argv); /* airmeta sweep (host/cmd_sweep.c) */
int cmd_server(int argc, char **argv); /* airmeta server (host/cmd_server.c) */
int cmd_agent(int argc, char **argv);  /* airmeta agent (host/cmd_agent.c) */
int cmd_chan(int argc, char **argv);   /* airmeta chan (host/cmd_chan.c) */
int cmd_loopback(int argc, char **argv); /* airmeta loopback (host/cmd_loopback.c) */

#endif
