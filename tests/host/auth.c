/* host/net/auth + host/util/zctx + the CURVE side of host/net/ctrl (issue 12): the allow-list
 * parser refuses what it must, and over 127.0.0.1 a control socket admits an enrolled key under
 * its identity (User-Id "agent:ID" / "chan"), while a client with no key or an unlisted key never
 * delivers a message and is counted as a failed handshake; IQ over the zmq radio with CURVE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "am_test.h"
#include "net/auth.h"
#include "net/ctrl.h"
#include "radio/radio.h"
#include "util/zctx.h"

static char dir[64];

static const char *put(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

typedef struct kp {
    char pub[ZCTX_Z85_LEN + 1], sec[ZCTX_Z85_LEN + 1];
    unsigned char p[ZCTX_KEY_LEN], s[ZCTX_KEY_LEN];
} kp;

static void make(kp *k)
{
    AM_REQUIRE_OK(zctx_keypair(k->pub, k->sec));
    AM_REQUIRE_OK(zctx_z85_key(k->pub, k->p, "pub"));
    AM_REQUIRE_OK(zctx_z85_key(k->sec, k->s, "sec"));
}

AM_TEST(allow_list, unit)
{
    AM_REQUIRE(zctx_has_curve(), "this libzmq has no CURVE (zmq_has(\"curve\") = 0)");
    snprintf(dir, sizeof dir, "/tmp/am_auth_XXXXXX");
    AM_REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    kp a, b, c;
    make(&a);
    make(&b);
    make(&c);
    char t[512];
    net_auth *au = NULL;
    snprintf(t, sizeof t, "# run 7\nagent 0 %s\nagent 1 %s\n  # bob\n\nchan %s\n", a.pub, b.pub, c.pub);
    AM_REQUIRE_OK(net_auth_load(put("ok", t), 2, &au));
    unsigned char k[ZCTX_KEY_LEN];
    AM_CHECK(net_auth_agent_key(au, 1, k) && memcmp(k, b.p, sizeof k) == 0, "agent 1 key");
    AM_CHECK(net_auth_chan_key(au, k) && memcmp(k, c.p, sizeof k) == 0, "chan key");
    AM_CHECK(!net_auth_agent_key(au, 2, k), "agent 2 is outside the run");
    net_auth_destroy(au);
    const struct {
        const char *text, *want;
    } bad[] = {
        {"agent 0 %s\nagent 0 %s\n", "listed twice"},
        {"agent 0 %s\nagent 1 %s\n", NULL}, /* filled below: same key twice */
        {"agent 2 %s\n", "not 0..1"},
        {"agent 0x1 %s\n", "not 0..1"},
        {"agent 0 tooshort\n", "not 40 z85"},
        {"robot %s\n", "expected 'agent ID PUBKEY'"},
        {"# nobody\n", "lists nobody"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (i == 1)
            snprintf(t, sizeof t, bad[i].text, a.pub, a.pub);
        else
            snprintf(t, sizeof t, bad[i].text, a.pub, b.pub);
        am_status s = net_auth_load(put("bad", t), 2, &au);
        const char *want = bad[i].want ? bad[i].want : "listed already";
        AM_CHECK(s == AM_EFORMAT && strstr(am_last_error(), want), "case %zu: %s", i,
                 am_last_error());
        net_auth_destroy(au);
    }
    /* key files: a secret readable by others is refused */
    snprintf(t, sizeof t, "%s\n", a.sec);
    const char *kf = put("a.key", t);
    chmod(kf, 0644);
    unsigned char s[ZCTX_KEY_LEN];
    AM_CHECK(net_key_load(kf, s) == AM_EINVAL && strstr(am_last_error(), "chmod 600"), "%s",
             am_last_error());
    chmod(kf, 0600);
    AM_CHECK_OK(net_key_load(kf, s));
    AM_CHECK(memcmp(s, a.s, sizeof s) == 0, "secret key read back");
    AM_CHECK_OK(net_pubkey_load(a.pub, k));
    AM_CHECK(memcmp(k, a.p, sizeof k) == 0, "z85 public key");
    snprintf(t, sizeof t, "%s\n", b.pub);
    AM_CHECK_OK(net_pubkey_load(put("b.pub", t), k));
    AM_CHECK(memcmp(k, b.p, sizeof k) == 0, "public key file");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    AM_CHECK(system(cmd) == 0, "cleanup");
}

/* Waits for one message at the server (up to 1.5 s; a handshake here takes ~ms). */
static am_status recv_one(ctrl *srv, ctrl_msg *d, ctrl_peer *from)
{
    return ctrl_recv(srv, 1.5, d, from);
}

AM_TEST(curve_ctrl, unit)
{
    AM_REQUIRE(zctx_has_curve(), "this libzmq has no CURVE (zmq_has(\"curve\") = 0)");
    snprintf(dir, sizeof dir, "/tmp/am_auth_XXXXXX");
    AM_REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    kp srvk, a0, a1, chk, rogue;
    make(&srvk);
    make(&a0);
    make(&a1);
    make(&chk);
    make(&rogue);
    char t[512];
    snprintf(t, sizeof t, "agent 0 %s\nagent 1 %s\nchan %s\n", a0.pub, a1.pub, chk.pub);
    net_auth *au = NULL;
    AM_REQUIRE_OK(net_auth_load(put("allow", t), 2, &au));
    net_auth_set_server(au, srvk.p);
    AM_REQUIRE_OK(net_auth_start(au));

    ctrl_cfg sc = {.server = 1,
                   .endpoint = "tcp://127.0.0.1:*",
                   .self_id = CTRL_ID_SERVER,
                   .max_payload = 4096,
                   .send_timeout = 1.0,
                   .curve_secret = srvk.s,
                   .zap_domain = "ctrl"};
    ctrl *srv = NULL;
    AM_REQUIRE_OK(ctrl_create(&sc, &srv));
    const char *ep = ctrl_endpoint(srv);
    ctrl_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = CTRL_HELLO;
    m.u.hello = (ctrl_hello){.role = CTRL_ROLE_AGENT, .id = 0};
    ctrl_peer from;

    /* enrolled agent 1 (its own key): arrives with User-Id agent:1 */
    ctrl_cfg ac = {.server = 0,
                   .endpoint = ep,
                   .self_id = 1,
                   .max_payload = 4096,
                   .send_timeout = 1.0,
                   .curve_secret = a1.s,
                   .curve_server = srvk.p};
    ctrl *ag = NULL;
    AM_REQUIRE_OK(ctrl_create(&ac, &ag));
    m.u.hello.id = 1;
    AM_REQUIRE_OK(ctrl_send(ag, NULL, &m));
    AM_REQUIRE_OK(recv_one(srv, &d, &from));
    AM_CHECK(d.type == CTRL_HELLO && strcmp(from.user, "agent:1") == 0, "user '%s'", from.user);
    /* and the server's reply is read by it (encrypted both ways) */
    memset(&m, 0, sizeof m);
    m.type = CTRL_BYE;
    AM_CHECK_OK(ctrl_send(srv, &from, &m));
    AM_CHECK_OK(ctrl_recv(ag, 3.0, &d, NULL));
    AM_CHECK(d.type == CTRL_BYE, "BYE at the agent");
    ctrl_destroy(ag);

    /* no key, an unlisted key, a listed key with the wrong server key: nothing gets through */
    ctrl_cfg nk = ac;
    nk.curve_secret = NULL;
    nk.curve_server = NULL;
    ctrl_cfg rk = ac;
    rk.curve_secret = rogue.s;
    ctrl_cfg wk = ac;
    wk.curve_server = rogue.p;
    const ctrl_cfg *bad[3] = {&nk, &rk, &wk};
    ctrl_stats st0, st1;
    ctrl_get_stats(srv, &st0);
    uint64_t refused0 = 0, refused1 = 0;
    zctx_zap_counts(NULL, &refused0);
    for (int i = 0; i < 3; i++) {
        AM_REQUIRE_OK(ctrl_create(bad[i], &ag));
        memset(&m, 0, sizeof m);
        m.type = CTRL_HELLO;
        m.u.hello = (ctrl_hello){.role = CTRL_ROLE_AGENT, .id = 1};
        ctrl_set_linger(ag, 0);
        AM_CHECK_OK(ctrl_send(ag, NULL, &m));
        AM_CHECK(recv_one(srv, &d, &from) == AM_ETIMEOUT, "case %d: a message got through", i);
        ctrl_destroy(ag);
    }
    ctrl_get_stats(srv, &st1);
    zctx_zap_counts(NULL, &refused1);
    /* measured: 3 failed handshakes at the server (no key: mechanism mismatch; rogue key: ZAP
     * 400; wrong server key: the server cannot decrypt); 1 ZAP refusal (the rogue key) */
    AM_CHECK(st1.handshake_failed - st0.handshake_failed >= 2, "handshake failures %llu",
             (unsigned long long)(st1.handshake_failed - st0.handshake_failed));
    AM_CHECK(refused1 - refused0 == 1, "ZAP refusals %llu", (unsigned long long)(refused1 - refused0));

    /* IQ: chan-side bound PULL (domain iq-0) admits agent 0's key, not agent 1's */
    char hex_c[65], hex_s[65], hex_a0[65], hex_a1[65];
    net_key_hex(chk.s, hex_c);
    net_key_hex(chk.p, hex_s);
    net_key_hex(a0.s, hex_a0);
    net_key_hex(a1.s, hex_a1);
    char args[600];
    snprintf(args, sizeof args, "rx=@tcp://127.0.0.1:*,curve_key=%s,zap_domain=iq-0", hex_c);
    radio *hub = NULL, *tx0 = NULL, *tx1 = NULL;
    AM_REQUIRE_OK(radio_open("zmq", args, &hub));
    AM_REQUIRE_OK(radio_rx_start(hub, NULL));
    radio_info info;
    radio_get_info(hub, &info);
    const char *rx = strstr(info.device, "rx=");
    AM_REQUIRE(rx, "device %s", info.device);
    char rxep[128];
    snprintf(rxep, sizeof rxep, "%s", rx + 3);
    snprintf(args, sizeof args, "tx=>%s,curve_key=%s,curve_server=%s,timeout=0.5", rxep, hex_a1,
             hex_s);
    AM_REQUIRE_OK(radio_open("zmq", args, &tx1));
    snprintf(args, sizeof args, "tx=>%s,curve_key=%s,curve_server=%s,timeout=0.5", rxep, hex_a0,
             hex_s);
    AM_REQUIRE_OK(radio_open("zmq", args, &tx0));
    float complex x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)i;
    radio_time at = radio_time_from_ticks(100, 1e6);
    radio_tx_burst(tx1, x, 16, &at); /* queued, never delivered: agent 1 is refused on iq-0 */
    at = radio_time_from_ticks(200, 1e6);
    AM_CHECK_OK(radio_tx_burst(tx0, x, 16, &at));
    float complex y[32];
    size_t n = 0;
    radio_time t0;
    AM_CHECK_OK(radio_rx(hub, y, 32, &n, &t0, 3.0));
    AM_CHECK(n == 16 && radio_time_to_ticks(t0, 1e6) == 200, "burst of %zu at tick %lld", n,
             (long long)radio_time_to_ticks(t0, 1e6));
    am_status s2 = radio_rx(hub, y, 32, &n, &t0, 0.5);
    uint64_t al = 0, rf = 0;
    zctx_zap_counts(&al, &rf);
    AM_CHECK(s2 == AM_ETIMEOUT, "agent 1's burst got through: %zu at %lld (zap %llu/%llu)", n,
             (long long)radio_time_to_ticks(t0, 1e6), (unsigned long long)al, (unsigned long long)rf);
    radio_close(tx0);
    radio_close(tx1);
    radio_close(hub);
    ctrl_destroy(srv); /* the last user: the ZAP handler stops with the context */
    AM_CHECK(!zctx_zap_running(), "ZAP handler still running");
    net_auth_destroy(au);
    snprintf(args, sizeof args, "rx=@tcp://127.0.0.1:*,curve_key=%s,zap_domain=iq-0", hex_c);
    AM_CHECK(radio_open("zmq", args, &hub) == AM_EINVAL && strstr(am_last_error(), "ZAP"),
             "a CURVE socket without a handler: %s", am_last_error());
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    AM_CHECK(system(cmd) == 0, "cleanup");
}
