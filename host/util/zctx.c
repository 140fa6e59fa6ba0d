/* host/zctx: the process's ZeroMQ context, ZAP handler, keys and open-files budget (zctx.h). */
#include "util/zctx.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *ctx;
static unsigned refs;

static struct {
    int on;
    pthread_t th;
    void *sock;
    zctx_policy fn;
    void *user;
    atomic_int stop;
    atomic_uint_least64_t allowed, refused;
} zap;

void *zctx_acquire(void)
{
    pthread_mutex_lock(&lock);
    if (!ctx) {
        ctx = zmq_ctx_new();
        if (ctx)
            zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, ZCTX_MAX_SOCKETS);
    }
    if (ctx)
        refs++;
    void *c = ctx;
    pthread_mutex_unlock(&lock);
    return c;
}

void zctx_release(void)
{
    pthread_mutex_lock(&lock);
    if (refs == 0) {
        pthread_mutex_unlock(&lock);
        return;
    }
    refs--;
    if (refs > (unsigned)zap.on) {
        pthread_mutex_unlock(&lock);
        return;
    }
    if (zap.on) { /* only the handler holds it now */
        atomic_store(&zap.stop, 1);
        pthread_join(zap.th, NULL);
        zap.on = 0;
        refs = 0;
    }
    void *c = ctx;
    ctx = NULL;
    pthread_mutex_unlock(&lock);
    zmq_ctx_term(c); /* waits for the sockets' linger */
}

int zctx_has_curve(void)
{
    return zmq_has("curve") != 0;
}

/* One frame into buf (NUL-terminated, cut at cap - 1); its size in *n. -1 on error. */
static int frame(void *s, char *buf, size_t cap, size_t *n)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s, 0) < 0) {
        zmq_msg_close(&m);
        return -1;
    }
    size_t len = zmq_msg_size(&m);
    size_t k = len < cap - 1 ? len : cap - 1;
    memcpy(buf, zmq_msg_data(&m), k);
    buf[k] = '\0';
    *n = len;
    zmq_msg_close(&m);
    return 0;
}

static int more(void *s)
{
    int m = 0;
    size_t ml = sizeof m;
    return zmq_getsockopt(s, ZMQ_RCVMORE, &m, &ml) == 0 && m;
}

static void zap_one(void)
{
    /* RFC 27: version, request id, domain, address, identity, mechanism, credentials... */
    char f[8][256];
    size_t n[8] = {0};
    int k = 0;
    do {
        char sink[8];
        size_t sn;
        if (k < 8 ? frame(zap.sock, f[k], sizeof f[k], &n[k]) : frame(zap.sock, sink, 8, &sn))
            return;
        k++;
    } while (more(zap.sock));
    char user[ZCTX_USER_LEN] = "";
    int ok = k == 7 && strcmp(f[0], "1.0") == 0 && strcmp(f[5], "CURVE") == 0 &&
             n[6] == ZCTX_KEY_LEN &&
             zap.fn(zap.user, f[2], f[3], (const unsigned char *)f[6], user, sizeof user);
    atomic_fetch_add(ok ? &zap.allowed : &zap.refused, 1);
    const char *code = ok ? "200" : "400";
    const char *text = ok ? "OK" : "key not allowed here";
    zmq_send(zap.sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(zap.sock, f[1], n[1] < sizeof f[1] ? n[1] : sizeof f[1] - 1, ZMQ_SNDMORE);
    zmq_send(zap.sock, code, 3, ZMQ_SNDMORE);
    zmq_send(zap.sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(zap.sock, user, ok ? strlen(user) : 0, ZMQ_SNDMORE);
    zmq_send(zap.sock, "", 0, 0);
}

static void *zap_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&zap.stop)) {
        zmq_pollitem_t it = {zap.sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, 100);
        if (rc > 0)
            zap_one();
        else if (rc < 0 && errno != EINTR)
            break;
    }
    int zero = 0;
    zmq_setsockopt(zap.sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(zap.sock);
    return NULL;
}

am_status zctx_zap_start(zctx_policy fn, void *user)
{
    if (!fn)
        return AM_FAIL(AM_EINVAL, "zctx_zap_start: no policy");
    if (!zctx_has_curve())
        return AM_FAIL(AM_ENOTSUP, "this libzmq has no CURVE security (zmq_has(\"curve\") is 0): "
                                   "rebuild it with libsodium, or run with --insecure");
    void *c = zctx_acquire();
    if (!c)
        return AM_FAIL(AM_EIO, "zmq_ctx_new: %s", zmq_strerror(errno));
    pthread_mutex_lock(&lock);
    if (zap.on) {
        pthread_mutex_unlock(&lock);
        zctx_release();
        return AM_FAIL(AM_EINVAL, "zctx_zap_start: a ZAP handler runs already");
    }
    void *s = zmq_socket(c, ZMQ_REP);
    if (!s || zmq_bind(s, "inproc://zeromq.zap.01") != 0) {
        int e = errno;
        if (s)
            zmq_close(s);
        pthread_mutex_unlock(&lock);
        zctx_release();
        return AM_FAIL(AM_EIO, "ZAP handler: %s", zmq_strerror(e));
    }
    zap.sock = s;
    zap.fn = fn;
    zap.user = user;
    atomic_store(&zap.stop, 0);
    if (pthread_create(&zap.th, NULL, zap_main, NULL) != 0) {
        zmq_close(s);
        pthread_mutex_unlock(&lock);
        zctx_release();
        return AM_FAIL(AM_EIO, "ZAP handler: cannot start its thread");
    }
    zap.on = 1;
    pthread_mutex_unlock(&lock);
    return AM_OK;
}

void zctx_zap_stop(void)
{
    pthread_mutex_lock(&lock);
    if (!zap.on) {
        pthread_mutex_unlock(&lock);
        return;
    }
    atomic_store(&zap.stop, 1);
    pthread_join(zap.th, NULL);
    zap.on = 0;
    pthread_mutex_unlock(&lock);
    zctx_release(); /* the handler's reference */
}

int zctx_zap_running(void)
{
    pthread_mutex_lock(&lock);
    int on = zap.on;
    pthread_mutex_unlock(&lock);
    return on;
}

void zctx_zap_counts(uint64_t *allowed, uint64_t *refused)
{
    if (allowed)
        *allowed = atomic_load(&zap.allowed);
    if (refused)
        *refused = atomic_load(&zap.refused);
}

am_status zctx_keypair(char *pub_z85, char *sec_z85)
{
    if (!zctx_has_curve())
        return AM_FAIL(AM_ENOTSUP, "this libzmq has no CURVE security (zmq_has(\"curve\") is 0)");
    if (zmq_curve_keypair(pub_z85, sec_z85) != 0)
        return AM_FAIL(AM_EIO, "zmq_curve_keypair: %s", zmq_strerror(errno));
    return AM_OK;
}

am_status zctx_z85_key(const char *text, unsigned char key[ZCTX_KEY_LEN], const char *what)
{
    if (!text || strlen(text) != ZCTX_Z85_LEN)
        return AM_FAIL(AM_EFORMAT, "%s: a key is %d z85 characters", what, ZCTX_Z85_LEN);
    if (!zmq_z85_decode(key, text))
        return AM_FAIL(AM_EFORMAT, "%s: not z85 text", what);
    return AM_OK;
}

am_status zctx_public_of(const unsigned char sec[ZCTX_KEY_LEN], unsigned char pub[ZCTX_KEY_LEN])
{
    char s[ZCTX_Z85_LEN + 1], p[ZCTX_Z85_LEN + 1];
    zctx_key_z85(sec, s);
    if (!zctx_has_curve() || zmq_curve_public(p, s) != 0)
        return AM_FAIL(AM_ENOTSUP, "this libzmq has no CURVE security (zmq_has(\"curve\") is 0)");
    return zctx_z85_key(p, pub, "public key");
}

void zctx_key_z85(const unsigned char key[ZCTX_KEY_LEN], char *out)
{
    zmq_z85_encode(out, key, ZCTX_KEY_LEN);
}

am_status zctx_files_reserve(uint64_t need, const char *who)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return AM_FAIL(AM_EIO, "%s: getrlimit(RLIMIT_NOFILE): %s", who, strerror(errno));
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
        return AM_OK;
    if (rl.rlim_cur == RLIM_INFINITY)
        return AM_OK;
    struct rlimit want = rl;
    want.rlim_cur = (rlim_t)need;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        want.rlim_max = (rlim_t)need; /* allowed to root (CAP_SYS_RESOURCE) only */
    if (setrlimit(RLIMIT_NOFILE, &want) == 0)
        return AM_OK;
    return AM_FAIL(AM_EINVAL,
                   "%s needs about %llu open files; the limit is %llu (hard %llu) and cannot be "
                   "raised: run `ulimit -n %llu` first, or use fewer agents",
                   who, (unsigned long long)need, (unsigned long long)rl.rlim_cur,
                   rl.rlim_max == RLIM_INFINITY ? 0ull : (unsigned long long)rl.rlim_max,
                   (unsigned long long)need);
}

void zctx_files_raise(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}
