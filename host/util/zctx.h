/* host/zctx: the process's one ZeroMQ context (every control-plane and IQ socket of airmeta), its
 * ZAP handler (CURVE authentication, RFC 27), z85 keys and the open-files budget. Issue 12.
 *
 * One context per process instead of one per socket: one I/O thread, one reaper and their
 * descriptors whatever the number of sockets (a chan with K agents binds 2K + 2 IQ sockets), and
 * one ZAP handler (inproc://zeromq.zap.01) that authenticates every CURVE socket of the process.
 * Each socket that binds with CURVE names a ZAP domain; the handler passes the domain, the peer's
 * address and its public key to the policy (host/net/auth.h) and sends back the user id the
 * policy gave ("agent:3", "chan", "server"), which every message from that connection then carries
 * (zmq_msg_gets "User-Id"). */
#ifndef AM_HOST_ZCTX_H
#define AM_HOST_ZCTX_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define ZCTX_KEY_LEN 32   /* CURVE key, bytes */
#define ZCTX_Z85_LEN 40   /* its z85 text, characters */
#define ZCTX_USER_LEN 32  /* longest user id a policy gives (with its NUL) */
#define ZCTX_MAX_SOCKETS 16384

/* The context (created at the first call, ZMQ_MAX_SOCKETS = ZCTX_MAX_SOCKETS); every acquire is
 * matched by a release. The last release stops the ZAP handler and terminates the context (which
 * waits for each socket's linger). NULL with errno when ZeroMQ cannot make one. */
void *zctx_acquire(void);
void zctx_release(void);

/* 1 when this libzmq has CURVE (zmq_has("curve")). */
int zctx_has_curve(void);

/* The policy: 1 to let the connection in (user_id, cap ZCTX_USER_LEN, gets its user id), 0 to
 * refuse. Called on the handler's thread, one request at a time. */
typedef int (*zctx_policy)(void *user,
                           const char *domain,
                           const char *address,
                           const unsigned char key[ZCTX_KEY_LEN],
                           char *user_id,
                           size_t cap);

/* Starts the ZAP handler of the context with this policy (it holds a reference until the last
 * release). AM_EINVAL when one runs already; AM_EIO when it cannot bind or start its thread. */
am_status zctx_zap_start(zctx_policy fn, void *user);

/* Stops the ZAP handler and drops its reference (no-op when none runs). Call it after the last
 * CURVE server socket is closed: a socket left without a handler admits every key. */
void zctx_zap_stop(void);

/* 1 while a ZAP handler runs. libzmq lets every CURVE client in when no handler is bound, so a
 * CURVE server socket is made only while this holds (ctrl_create, the zmq radio refuse otherwise). */
int zctx_zap_running(void);

/* Requests the handler allowed / refused so far (refusals include non-CURVE requests). */
void zctx_zap_counts(uint64_t *allowed, uint64_t *refused);

/* A new key pair (z85 text, ZCTX_Z85_LEN + 1 bytes each). AM_ENOTSUP without CURVE. */
am_status zctx_keypair(char *pub_z85, char *sec_z85);
/* key (32 bytes) from z85 text of exactly 40 characters; AM_EFORMAT naming what otherwise. */
am_status zctx_z85_key(const char *text, unsigned char key[ZCTX_KEY_LEN], const char *what);
/* The public key of a secret one. */
am_status zctx_public_of(const unsigned char sec[ZCTX_KEY_LEN], unsigned char pub[ZCTX_KEY_LEN]);
/* z85 text of a key (out: ZCTX_Z85_LEN + 1 bytes). */
void zctx_key_z85(const unsigned char key[ZCTX_KEY_LEN], char *out);

/* Makes sure this process may open `need` files: raises the soft RLIMIT_NOFILE (and the hard one
 * where allowed) when it is lower. AM_EINVAL naming who, the need and the limit when it cannot
 * ("chan: 4096 agents need about 24700 open files; the limit is 20000 (ulimit -Hn)..."). */
am_status zctx_files_reserve(uint64_t need, const char *who);
/* Raises the soft RLIMIT_NOFILE to the hard one (best effort; a server facing a connection
 * flood). */
void zctx_files_raise(void);

#endif
