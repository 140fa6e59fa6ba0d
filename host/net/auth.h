/* host/net/auth: who may join a run (issue 12): CURVE key files (`airmeta keygen`), the server's
 * allow-list that binds each agent id and the channel emulator to one public key, and the ZAP
 * policy (host/util/zctx.h) that admits a connection only under the identity its key is bound to.
 *
 * Files. NAME.key: the secret key, 40 z85 characters and a newline, mode 0600 (a key readable by
 * group or others is refused). NAME.pub: the public key, the same form, mode 0644.
 * Allow-list (--allow FILE): one line per enrolled process; a line whose first character (after
 * blanks) is '#' is a comment ('#' is a z85 digit too, so never after a key):
 *     agent ID PUBKEY      agent id ID (0..K-1) of the run, its public key (z85 text)
 *     chan PUBKEY          the channel emulator
 * An id listed twice, a key listed twice (one key, one identity) or an agent id outside the run is
 * an error naming the line.
 *
 * ZAP domains and the identities they admit:
 *     ctrl     the server's control socket: an agent key -> "agent:ID", the chan key -> "chan"
 *     iq-hub   the chan's beacon-in / sum-out sockets: the server's key -> "server"
 *     iq-ID    the chan's uplink / downlink sockets of agent ID: that agent's key -> "agent:ID"
 * Anything else is refused (and counted by the handler). The server then checks every message's
 * user id against the sender it claims (host/cmd/cmd_server.c). */
#ifndef AM_HOST_NET_AUTH_H
#define AM_HOST_NET_AUTH_H

#include <stddef.h>

#include "core/status.h"
#include "util/zctx.h"

typedef struct net_auth net_auth; /* opaque */

/* Secret key from NAME.key (checked: z85, mode not group/other readable). AM_EINVAL / AM_EIO /
 * AM_EFORMAT naming the file. */
am_status net_key_load(const char *path, unsigned char sec[ZCTX_KEY_LEN]);
/* A public key given as z85 text (40 characters) or as the path of a NAME.pub file. */
am_status net_pubkey_load(const char *arg, unsigned char pub[ZCTX_KEY_LEN]);

/* Reads the allow-list for a run of n_agents agents. */
am_status net_auth_load(const char *path, unsigned n_agents, net_auth **out);
void net_auth_destroy(net_auth *a); /* NULL is a no-op */
/* Agent id's key / the chan's key: 1 and the key when listed, 0 otherwise. */
int net_auth_agent_key(const net_auth *a, unsigned id, unsigned char pub[ZCTX_KEY_LEN]);
int net_auth_chan_key(const net_auth *a, unsigned char pub[ZCTX_KEY_LEN]);
/* The server's public key (admitted on iq-hub). */
void net_auth_set_server(net_auth *a, const unsigned char pub[ZCTX_KEY_LEN]);
/* Starts the process's ZAP handler with this allow-list (a is read by the handler's thread from
 * then on and must stay alive and unchanged until the last zctx_release). */
am_status net_auth_start(net_auth *a);

/* The ZAP user id of agent id ("agent:ID"). */
void net_auth_agent_user(unsigned id, char *out, size_t cap);

/* A process's security flags (--key, --server-key, --allow, --insecure) made into keys. */
typedef struct net_sec {
    int on;                                 /* 0: --insecure (plain TCP, no authentication) */
    unsigned char sec[ZCTX_KEY_LEN], pub[ZCTX_KEY_LEN]; /* this process's key pair */
    unsigned char server[ZCTX_KEY_LEN];     /* the server's public key (agent, chan) */
    net_auth *auth;                         /* the allow-list (server; chan for its IQ sockets) */
} net_sec;

/* who: "server", "agent", "chan". key: NAME.key (required unless insecure); server_key: z85 or
 * NAME.pub (agent, chan: required unless insecure; server: NULL); allow: the allow-list (server:
 * required unless insecure; chan: required unless insecure, for its IQ sockets; agent: NULL).
 * insecure: prints a warning on stderr and turns everything off; mixing it with key flags is an
 * error. Checks zmq_has("curve") and says so clearly when it is missing. When secure and allow is
 * given, starts the ZAP handler (the server's own public key is admitted on iq-hub). */
am_status net_sec_setup(const char *who,
                        const char *key,
                        const char *server_key,
                        const char *allow,
                        int insecure,
                        unsigned n_agents,
                        net_sec *out);
void net_sec_free(net_sec *s); /* call after the last socket of the process is closed */

/* key as 64 hex digits (for the zmq radio's curve_key= / curve_server=); out has 65 bytes. */
void net_key_hex(const unsigned char key[ZCTX_KEY_LEN], char *out);

#endif
