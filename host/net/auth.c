/* host/net/auth: key files, the allow-list and the ZAP policy (host/net/auth.h). */
#include "net/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fsutil.h"

struct net_auth {
    unsigned n;               /* agents of the run */
    unsigned char (*key)[ZCTX_KEY_LEN]; /* n agent keys */
    unsigned char *has;       /* n */
    unsigned char chan[ZCTX_KEY_LEN], server[ZCTX_KEY_LEN];
    int has_chan, has_server;
};

void net_auth_agent_user(unsigned id, char *out, size_t cap)
{
    snprintf(out, cap, "agent:%u", id);
}

void net_key_hex(const unsigned char key[ZCTX_KEY_LEN], char *out)
{
    for (int i = 0; i < ZCTX_KEY_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", key[i]);
}

/* The single z85 line of a key file (trailing newline allowed). */
static am_status key_text(const char *path, char *z85)
{
    char *t = NULL;
    am_status s = fs_read_text(path, 256, &t);
    if (s != AM_OK)
        return s;
    size_t n = strlen(t);
    while (n && (t[n - 1] == '\n' || t[n - 1] == '\r'))
        t[--n] = '\0';
    if (n != ZCTX_Z85_LEN) {
        free(t);
        return AM_FAIL(AM_EFORMAT, "%s: not a key file (one line of %d z85 characters)", path,
                       ZCTX_Z85_LEN);
    }
    memcpy(z85, t, ZCTX_Z85_LEN + 1);
    free(t);
    return AM_OK;
}

am_status net_key_load(const char *path, unsigned char sec[ZCTX_KEY_LEN])
{
    if (!path || !path[0])
        return AM_FAIL(AM_EINVAL, "--key: no file given");
    struct stat st;
    if (stat(path, &st) != 0)
        return AM_FAIL(AM_ENOTFOUND, "--key %s: no such file (make one with airmeta keygen)", path);
    if (!S_ISREG(st.st_mode))
        return AM_FAIL(AM_EINVAL, "--key %s: not a regular file", path);
    if (st.st_mode & 077)
        return AM_FAIL(AM_EINVAL, "--key %s: readable by others (mode %04o): chmod 600 it", path,
                       (unsigned)(st.st_mode & 07777));
    char z[ZCTX_Z85_LEN + 1];
    am_status s = key_text(path, z);
    if (s == AM_OK)
        s = zctx_z85_key(z, sec, path);
    memset(z, 0, sizeof z);
    return s;
}

am_status net_pubkey_load(const char *arg, unsigned char pub[ZCTX_KEY_LEN])
{
    if (!arg || !arg[0])
        return AM_FAIL(AM_EINVAL, "public key: nothing given");
    if (strlen(arg) == ZCTX_Z85_LEN && zctx_z85_key(arg, pub, arg) == AM_OK)
        return AM_OK;
    char z[ZCTX_Z85_LEN + 1];
    am_status s = key_text(arg, z);
    if (s != AM_OK)
        return s;
    return zctx_z85_key(z, pub, arg);
}

void net_auth_destroy(net_auth *a)
{
    if (!a)
        return;
    free(a->key);
    free(a->has);
    free(a);
}

static int same_key(const net_auth *a, const unsigned char k[ZCTX_KEY_LEN])
{
    if (a->has_chan && memcmp(a->chan, k, ZCTX_KEY_LEN) == 0)
        return 1;
    for (unsigned i = 0; i < a->n; i++)
        if (a->has[i] && memcmp(a->key[i], k, ZCTX_KEY_LEN) == 0)
            return 1;
    return 0;
}

am_status net_auth_load(const char *path, unsigned n_agents, net_auth **out)
{
    *out = NULL;
    char *t = NULL;
    am_status s = fs_read_text(path, (size_t)1 << 20, &t);
    if (s != AM_OK)
        return am_error_wrap(s, "--allow");
    net_auth *a = calloc(1, sizeof *a);
    if (a) {
        a->n = n_agents;
        a->key = calloc(n_agents ? n_agents : 1, sizeof *a->key);
        a->has = calloc(n_agents ? n_agents : 1, 1);
    }
    if (!a || !a->key || !a->has) {
        free(t);
        net_auth_destroy(a);
        return AM_FAIL(AM_ENOMEM, "--allow: out of memory");
    }
    unsigned line = 0, listed = 0;
    for (char *p = t, *nl; p && *p; p = nl) {
        nl = strchr(p, '\n');
        if (nl)
            *nl++ = '\0';
        line++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#') /* a comment line ('#' is also a z85 digit: never cut a line at one) */
            continue;
        char role[16], idtxt[64], key[64], extra[8];
        int nf = sscanf(p, "%15s %63s %63s %7s", role, idtxt, key, extra);
        if (nf <= 0)
            continue;
        unsigned char k[ZCTX_KEY_LEN];
        if (nf == 4) {
            s = AM_FAIL(AM_EFORMAT, "--allow %s line %u: more than 'agent ID PUBKEY' / 'chan PUBKEY'",
                        path, line);
            break;
        }
        if (strcmp(role, "chan") == 0 && nf == 2) {
            if (a->has_chan) {
                s = AM_FAIL(AM_EFORMAT, "--allow %s line %u: a second chan", path, line);
                break;
            }
            if ((s = zctx_z85_key(idtxt, k, "key")) != AM_OK || same_key(a, k)) {
                s = AM_FAIL(AM_EFORMAT, "--allow %s line %u: %s", path, line,
                            s != AM_OK ? "the key is not 40 z85 characters"
                                       : "this key is listed already (one key, one identity)");
                break;
            }
            memcpy(a->chan, k, sizeof k);
            a->has_chan = 1;
        } else if (strcmp(role, "agent") == 0 && nf == 3) {
            char *end = NULL;
            unsigned long id = strtoul(idtxt, &end, 10);
            if (*end || idtxt[0] < '0' || idtxt[0] > '9' || id >= n_agents) {
                s = AM_FAIL(AM_EFORMAT, "--allow %s line %u: agent id '%.15s' is not 0..%u", path,
                            line, idtxt, n_agents ? n_agents - 1 : 0);
                break;
            }
            if (a->has[id]) {
                s = AM_FAIL(AM_EFORMAT, "--allow %s line %u: agent %lu listed twice", path, line,
                            id);
                break;
            }
            if ((s = zctx_z85_key(key, k, "key")) != AM_OK || same_key(a, k)) {
                s = AM_FAIL(AM_EFORMAT, "--allow %s line %u: %s", path, line,
                            s != AM_OK ? "the key is not 40 z85 characters"
                                       : "this key is listed already (one key, one identity)");
                break;
            }
            memcpy(a->key[id], k, sizeof k);
            a->has[id] = 1;
        } else {
            s = AM_FAIL(AM_EFORMAT, "--allow %s line %u: expected 'agent ID PUBKEY' or 'chan PUBKEY'",
                        path, line);
            break;
        }
        listed++;
    }
    free(t);
    if (s == AM_OK && listed == 0)
        s = AM_FAIL(AM_EFORMAT, "--allow %s: lists nobody", path);
    if (s != AM_OK) {
        net_auth_destroy(a);
        return s;
    }
    *out = a;
    return AM_OK;
}

int net_auth_agent_key(const net_auth *a, unsigned id, unsigned char pub[ZCTX_KEY_LEN])
{
    if (!a || id >= a->n || !a->has[id])
        return 0;
    memcpy(pub, a->key[id], ZCTX_KEY_LEN);
    return 1;
}

int net_auth_chan_key(const net_auth *a, unsigned char pub[ZCTX_KEY_LEN])
{
    if (!a || !a->has_chan)
        return 0;
    memcpy(pub, a->chan, ZCTX_KEY_LEN);
    return 1;
}

void net_auth_set_server(net_auth *a, const unsigned char pub[ZCTX_KEY_LEN])
{
    if (!a)
        return;
    memcpy(a->server, pub, ZCTX_KEY_LEN);
    a->has_server = 1;
}

static int policy(void *user,
                  const char *domain,
                  const char *address,
                  const unsigned char key[ZCTX_KEY_LEN],
                  char *user_id,
                  size_t cap)
{
    (void)address;
    const net_auth *a = user;
    if (strcmp(domain, "ctrl") == 0) {
        if (a->has_chan && memcmp(key, a->chan, ZCTX_KEY_LEN) == 0) {
            snprintf(user_id, cap, "chan");
            return 1;
        }
        for (unsigned i = 0; i < a->n; i++)
            if (a->has[i] && memcmp(key, a->key[i], ZCTX_KEY_LEN) == 0) {
                net_auth_agent_user(i, user_id, cap);
                return 1;
            }
        return 0;
    }
    if (strcmp(domain, "iq-hub") == 0) {
        if (a->has_server && memcmp(key, a->server, ZCTX_KEY_LEN) == 0) {
            snprintf(user_id, cap, "server");
            return 1;
        }
        return 0;
    }
    if (strncmp(domain, "iq-", 3) == 0) {
        char *end = NULL;
        unsigned long id = strtoul(domain + 3, &end, 10);
        if (*end || id >= a->n || !a->has[id] || memcmp(key, a->key[id], ZCTX_KEY_LEN) != 0)
            return 0;
        net_auth_agent_user((unsigned)id, user_id, cap);
        return 1;
    }
    return 0;
}

am_status net_auth_start(net_auth *a)
{
    if (!a)
        return AM_FAIL(AM_EINVAL, "net_auth_start: NULL");
    return zctx_zap_start(policy, a);
}

am_status net_sec_setup(const char *who,
                        const char *key,
                        const char *server_key,
                        const char *allow,
                        int insecure,
                        unsigned n_agents,
                        net_sec *out)
{
    memset(out, 0, sizeof *out);
    const int peer = strcmp(who, "server") != 0;
    if (insecure) {
        if (key || server_key || allow)
            return AM_FAIL(AM_EINVAL, "--insecure together with --key / --server-key / --allow: "
                                      "choose one");
        fprintf(stderr, "airmeta %s: WARNING: --insecure: control and IQ traffic is neither "
                        "authenticated nor encrypted; anyone who reaches these ports can join, "
                        "impersonate a process or disturb the run (quick local runs only)\n",
                who);
        return AM_OK;
    }
    if (!zctx_has_curve())
        return AM_FAIL(AM_ENOTSUP, "this libzmq has no CURVE security (zmq_has(\"curve\") is 0): "
                                   "install a libzmq built with libsodium, or run with --insecure");
    if (!key)
        return AM_FAIL(AM_EINVAL, "give --key NAME.key (make one with airmeta keygen)%s, or "
                                  "--insecure for a quick local run",
                       peer ? " and --server-key SERVER.pub" : " and --allow FILE");
    if (peer && !server_key)
        return AM_FAIL(AM_EINVAL, "--server-key is required with --key (the server's NAME.pub)");
    if ((!peer || strcmp(who, "chan") == 0) && !allow)
        return AM_FAIL(AM_EINVAL, "--allow FILE is required with --key (lines 'agent ID PUBKEY' "
                                  "and 'chan PUBKEY')");
    am_status st = net_key_load(key, out->sec);
    if (st == AM_OK)
        st = zctx_public_of(out->sec, out->pub);
    if (st == AM_OK && peer)
        st = am_error_wrap(net_pubkey_load(server_key, out->server), "--server-key");
    if (st == AM_OK && allow)
        st = net_auth_load(allow, n_agents, &out->auth);
    if (st == AM_OK && out->auth) {
        net_auth_set_server(out->auth, peer ? out->server : out->pub);
        st = net_auth_start(out->auth);
    }
    if (st != AM_OK) {
        net_sec_free(out);
        return st;
    }
    out->on = 1;
    return AM_OK;
}

void net_sec_free(net_sec *s)
{
    if (!s)
        return;
    if (s->auth)
        zctx_zap_stop(); /* the handler reads s->auth */
    net_auth_destroy(s->auth);
    memset(s, 0, sizeof *s);
}
