#!/usr/bin/env python3
"""An independent implementation of docs/air-interface.md (version 2), written from the document
alone (no airmeta source read), checked against airmeta's own outputs:

  tx     §1-§3, §8.1: one burst (liquid-dsp preamble via ctypes, pilots, complex and real mapping,
         calibration blocks, precoding, CP) against phy_ota_tx_execute, sample by sample;
  ctrl   §9.2-§9.4: header, GO and CAL packed here and decoded by airmeta, and the reverse;
  cal    §8.2 sub-bands, §8.4 update and interpolation against phy/cal;
  floor  §5.4 floor recomputed from the captures' truth (captures/*.truth.*).

usage: air_interface.py SPEC_DRIVER AIRMETA    (exit 0 all passed, 1 a mismatch)
"""
import ctypes
import ctypes.util
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np

DRIVER, AIRMETA = sys.argv[1], sys.argv[2]
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TMP = tempfile.mkdtemp(prefix="am_spec_")
FAILS = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILS.append(what)


def run(*args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL: %s: %s" % (" ".join(map(str, args[:2])), r.stderr.strip()))
    return r.stdout


# ---------------------------------------------------------------- §1: liquid-dsp via ctypes
_liq = ctypes.CDLL(ctypes.util.find_library("liquid") or "libliquid.so")
_liq.ofdmframegen_create.restype = ctypes.c_void_p
_liq.ofdmframegen_create.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_char_p]
for _f in ("ofdmframegen_write_S0a", "ofdmframegen_write_S0b", "ofdmframegen_write_S1"):
    getattr(_liq, _f).argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_liq.ofdmframegen_destroy.argtypes = [ctypes.c_void_p]


def default_sctype(M):
    p = ctypes.create_string_buffer(M)
    _liq.ofdmframe_init_default_sctype(ctypes.c_uint(M), p)
    return np.frombuffer(p.raw, dtype=np.uint8).copy()


class Frame:
    """§1 numerology and the §2 preamble's frequency-domain values."""

    def __init__(self, M, cp):
        self.M, self.cp = M, cp
        self.sctype = default_sctype(M)
        self.used = np.nonzero(self.sctype != 0)[0]  # increasing bin index
        self.data = np.nonzero(self.sctype == 2)[0]
        self.pilot = np.nonzero(self.sctype == 1)[0]
        self.M_used, self.M_data = len(self.used), len(self.data)
        q = _liq.ofdmframegen_create(M, cp, 0, self.sctype.tobytes())
        self.X = {}
        for name in ("S0a", "S0b", "S1"):
            y = np.zeros(M + cp, dtype=np.complex64)
            getattr(_liq, "ofdmframegen_write_" + name)(q, y.ctypes.data)
            x = y[cp:].astype(np.complex128)  # the last M samples
            X = math.sqrt(self.M_used) / M * np.fft.fft(x)
            X[self.sctype == 0] = 0
            self.X[name] = X
        _liq.ofdmframegen_destroy(q)

    def modulate(self, X):
        """§1 x[t] = (1/sqrt(M_used)) sum_i X[i] e^{+j 2 pi i t / M}, then the cyclic prefix."""
        x = np.fft.ifft(X) * self.M / math.sqrt(self.M_used)
        return np.concatenate([x[self.M - self.cp:], x])


def cal_layout(n_used, S):
    """§8.1: P = min(S, floor(M_used / 8)), Nc = ceil(S / P)."""
    if S == 0:
        return 0, 0
    P = min(S, n_used // 8)
    return P, -(-S // P)


def burst(fr, v, eta, mapping, S=0, slot=0, p=None):
    """§2, §3.1, §3.3, §8.1, §4: the burst of payload v (float32 values)."""
    M = fr.M
    L = len(v)
    v = v.astype(np.float64)
    if mapping == "complex":
        n = -(-L // 2)
        w = np.zeros(2 * n)
        w[:L] = v
        c = (w[0::2] + 1j * w[1::2]) / eta
    else:
        c = v / eta + 0j
    N = -(-len(c) // fr.M_data)
    P, Nc = cal_layout(fr.M_used, S)
    blocks = [fr.X["S0a"], fr.X["S0b"], fr.X["S1"]]
    for b in range(Nc):
        X = np.zeros(M, dtype=complex)
        if b == slot // P:
            u = np.arange(fr.M_used)
            own = fr.used[u % P == slot % P]
            X[own] = math.sqrt(P) * fr.X["S1"][own]
        blocks.append(X)
    cc = np.zeros(N * fr.M_data, dtype=complex)
    cc[:len(c)] = c
    for s in range(N):
        X = np.zeros(M, dtype=complex)
        X[fr.pilot] = 1
        X[fr.data] = cc[s * fr.M_data:(s + 1) * fr.M_data]
        blocks.append(X)
    pp = np.ones(M) if p is None else p.astype(np.complex128)
    out = [fr.modulate(X * pp * (fr.sctype != 0)) for X in blocks]
    return np.concatenate(out), N, Nc


def check_preamble(fr):
    M, cp = fr.M, fr.cp
    even = fr.used[fr.used % 2 == 0]
    odd = fr.used[fr.used % 2 == 1]
    a, b, s1 = fr.X["S0a"], fr.X["S0b"], fr.X["S1"]
    want = fr.M_used / len(even)
    ok = (np.max(np.abs(a[odd])) < 1e-5 and np.max(np.abs(np.abs(a[even]) ** 2 - want)) < 1e-4
          and np.max(np.abs(np.abs(s1[fr.used]) - 1)) < 1e-5)
    i = np.arange(M)
    ok = ok and np.max(np.abs(b - a * np.exp(2j * np.pi * i * (M + cp) / M))) < 1e-5
    check(ok, "§2 preamble M=%d cp=%d: S0 on even bins |X|^2=%.4f, |S1|=1, S0b = S0a e^{j2pi i(M+cp)/M}"
          % (M, cp, want))


def check_tx():
    rng = np.random.default_rng(7)
    cases = [  # M, cp, L, mapping, S, slot, precoded
        (256, 32, 4096, "complex", 0, 0, False),
        (256, 32, 1001, "complex", 0, 0, True),
        (256, 32, 1001, "real", 0, 0, True),
        (64, 8, 77, "real", 0, 0, False),
        (256, 32, 500, "complex", 10, 7, True),
        (256, 32, 500, "real", 30, 27, True),  # P = 25: two blocks, slot 27 in C_1
        (1024, 128, 3000, "complex", 3, 2, True),
        (64, 16, 33, "complex", 7, 6, False),  # P = min(7, 50/8 = 6): Nc = 2
    ]
    seen = set()
    for M, cp, L, mapping, S, slot, pre in cases:
        fr = Frame(M, cp)
        if (M, cp) not in seen:
            seen.add((M, cp))
            check_preamble(fr)
        v = rng.standard_normal(L).astype(np.float32)
        eta = np.float32(1.7)
        p = None
        if pre:
            p = (rng.standard_normal(M) + 1j * rng.standard_normal(M)).astype(np.complex64)
            p[rng.random(M) < 0.05] = 0  # erased bins
        vf, pf, of = (os.path.join(TMP, n) for n in ("v.f32", "p.c64", "out.c64"))
        v.tofile(vf)
        if pre:
            p.tofile(pf)
        run(DRIVER, "tx", M, cp, L, mapping, S, slot, repr(float(eta)), vf, pf if pre else "-", of)
        got = np.fromfile(of, dtype=np.complex64).astype(np.complex128)
        x, N, Nc = burst(fr, v, float(eta), mapping, S, slot, p)
        n_len = (3 + Nc + N) * (M + cp)
        rel = (np.linalg.norm(got - x) / np.linalg.norm(x)) if len(got) == len(x) else float("inf")
        check(len(got) == n_len and len(x) == n_len and rel < 1e-6,
              "§2/§3/§8.1 burst M=%d cp=%d L=%d %s S=%d slot=%d%s: %d samples (N=%d, Nc=%d), "
              "relative difference %.2e (bound 1e-6)"
              % (M, cp, L, mapping, S, slot, " precoded" if pre else "", len(got), N, Nc, rel))
    # §2's example: M = 256, cp = 32, L = 4096: N = 12, 15 blocks, 4320 samples
    fr = Frame(256, 32)
    x, N, Nc = burst(fr, np.zeros(4096, np.float32), 1.0, "complex")
    check(N == 12 and len(x) == 4320, "§2 example: N=%d, %d samples" % (N, len(x)))
    # §3.3: airmeta's real burst of v is its complex burst of v[0], 0, v[1], 0, ... "sample for
    # sample"; this side's two bursts agree to rounding
    v = rng.standard_normal(300).astype(np.float32)
    w = np.zeros(600, np.float32)
    w[0::2] = v
    xr = burst(fr, v, 1.3, "real")[0]
    xc = burst(fr, w, 1.3, "complex")[0]
    vf, wf, rf, cf = (os.path.join(TMP, n) for n in ("v.f32", "w.f32", "r.c64", "c.c64"))
    v.tofile(vf)
    w.tofile(wf)
    run(DRIVER, "tx", 256, 32, 300, "real", 0, 0, 1.3, vf, "-", rf)
    run(DRIVER, "tx", 256, 32, 600, "complex", 0, 0, 1.3, wf, "-", cf)
    gr, gc = np.fromfile(rf, dtype=np.complex64), np.fromfile(cf, dtype=np.complex64)
    check(len(xr) == len(xc) and np.max(np.abs(xr - xc)) < 1e-12 * np.max(np.abs(xc))
          and len(gr) == len(gc) == len(xr) and np.array_equal(gr, gc),
          "§3.3 real burst of v == complex burst of v interleaved with zeros (airmeta: bit for bit)")


# ---------------------------------------------------------------- §9 control plane
SERVER, CHAN = 0xFFFFFFFF, 0xFFFFFFFE


def header(typ, rnd, sender, payload):
    h = struct.pack("<4sHHIIIII", b"AMCT", 3, typ, rnd, sender, len(payload),
                    zlib.crc32(payload), 0)
    return h + struct.pack("<I", zlib.crc32(h)) + payload


def parse(msg):
    magic, ver, typ, rnd, sender, n, crc, res, hcrc = struct.unpack("<4sHHIIIIII", msg[:32])
    assert magic == b"AMCT" and ver == 3 and res == 0, "header"
    assert hcrc == zlib.crc32(msg[:28]) and n == len(msg) - 32 and crc == zlib.crc32(msg[32:]), "crc"
    return typ, rnd, sender, msg[32:]


def go_payload(eta, rho, g_th, slot, slots, beacon, tx):
    return struct.pack("<fffHHqq", eta, rho, g_th, slot, slots, beacon, tx)


def cal_payload(heard, mu, snr, E):
    return struct.pack("<IIff", heard, len(E), mu, snr) + b"".join(
        struct.pack("<ff", e.real, e.imag) for e in E)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def check_ctrl():
    check(zlib.crc32(b"123456789") == 0xCBF43926, "§9.2 CRC-32 check value 0xCBF43926")
    f = os.path.join(TMP, "msg.bin")
    # airmeta encodes, this side parses
    run(DRIVER, "go-encode", 12, hex(SERVER), 1.25, 0.5, 0.1, 3, 10, 1000000, 1250000, f)
    msg = open(f, "rb").read()
    typ, rnd, snd, pl = parse(msg)
    want = go_payload(1.25, 0.5, f32(0.1), 3, 10, 1000000, 1250000)
    check(typ == 5 and rnd == 12 and snd == SERVER and len(pl) == 32 and pl == want
          and msg == header(5, 12, SERVER, want),
          "§9.2/§9.4 GO encoded by airmeta (%d bytes) == packed from the text" % len(msg))
    E = [complex(f32(0.9 + 0.1 * q), f32(-0.05 * q)) for q in range(8)]
    np.array(E, dtype=np.complex64).tofile(os.path.join(TMP, "E.c64"))
    run(DRIVER, "cal-encode", 41, hex(SERVER), 1, 0.25, 17.5, os.path.join(TMP, "E.c64"), f)
    msg = open(f, "rb").read()
    typ, rnd, snd, pl = parse(msg)
    want = cal_payload(1, 0.25, 17.5, E)
    check(typ == 11 and rnd == 41 and len(pl) == 16 + 8 * 8 and msg == header(11, 41, SERVER, want),
          "§9.2/§9.4 CAL encoded by airmeta (%d bytes) == packed from the text" % len(msg))

    # this side packs, airmeta decodes
    def dec(m):
        open(f, "wb").write(m)
        return run(DRIVER, "decode", f).split()

    out = dec(header(5, 7, SERVER, go_payload(0.75, 2.0, 0.0, 4, 5, 123, 2 ** 62)))
    check(out == ["ok", "GO", "7", str(SERVER), "0.75", "2", "0", "4", "5", "123", str(2 ** 62)],
          "§9.4 GO packed from the text decoded by airmeta: " + " ".join(out))
    out = dec(header(5, 0, SERVER, struct.pack("<fffIqq", 1, 1, 0.1, 0, 5, 9)))
    check(out[:2] == ["ok", "GO"] and out[7:9] == ["0", "0"],
          "§9.4 a version-1 GO (u32 0 at offset 12) is a valid version-2 GO")
    out = dec(header(11, 9, SERVER, cal_payload(0, 1.0, -3.0, E)))
    vals = np.array([float(x) for x in out[8:]])
    want = np.array([[e.real, e.imag] for e in E]).ravel()
    check(out[:8] == ["ok", "CAL", "9", str(SERVER), "0", "8", "1", "-3"]
          and len(vals) == 16 and np.all(vals.astype(np.float32) == want.astype(np.float32)),
          "§9.4 CAL packed from the text decoded by airmeta")
    # §9.2 / §9.4 refusals the text names
    bad = [
        ("cal_slot >= cal_slots", header(5, 1, SERVER, go_payload(1, 1, 0, 5, 5, 1, 2)), "payload"),
        ("cal_slots > 4096", header(5, 1, SERVER, go_payload(1, 1, 0, 0, 4097, 1, 2)), "payload"),
        ("cal_slot without slots", header(5, 1, SERVER, go_payload(1, 1, 0, 1, 0, 1, 2)), "payload"),
        ("beacon_tick >= tx_tick", header(5, 1, SERVER, go_payload(1, 1, 0, 0, 0, 5, 5)), "payload"),
        ("tx_tick > 2^62", header(5, 1, SERVER, go_payload(1, 1, 0, 0, 0, 5, 2 ** 62 + 1)), "payload"),
        ("eta = 0", header(5, 1, SERVER, go_payload(0, 1, 0, 0, 0, 1, 2)), "payload"),
        ("CAL mu = 0", header(11, 1, SERVER, cal_payload(1, 0.0, 0, E)), "payload"),
        ("CAL mu > 1", header(11, 1, SERVER, cal_payload(1, 1.5, 0, E)), "payload"),
        ("CAL heard = 2", header(11, 1, SERVER, cal_payload(2, 0.5, 0, E)), "payload"),
        ("CAL q = 7", header(11, 1, SERVER, cal_payload(1, 0.5, 0, E[:7])), "payload"),
        ("CAL E NaN", header(11, 1, SERVER, cal_payload(1, 0.5, 0, E[:7] + [complex(float("nan"), 0)])), "payload"),
    ]
    m = header(5, 1, SERVER, go_payload(1, 1, 0, 0, 0, 1, 2))
    bad += [
        ("bad magic", b"AMCU" + m[4:], "magic"),
        ("version 2", m[:4] + b"\x02\x00" + m[6:], "version"),
        ("header crc", m[:28] + struct.pack("<I", zlib.crc32(m[:28]) ^ 1) + m[32:], "hcrc"),
        ("payload crc", m[:-1] + bytes([m[-1] ^ 1]), "crc"),
        ("trailing byte", m + b"\x00", "size"),
        ("truncated", m[:31], "truncated"),
    ]
    for what, mm, reason in bad:
        out = dec(mm)
        check(out[0] == "refused" and reason in out[1].lower(),
              "§9.2/§9.4 refused: %s (%s)" % (what, " ".join(out)))


# ---------------------------------------------------------------- §8.2 sub-bands, §8.4 update
def groups(fr, Q=8):
    signed = np.where(fr.used < fr.M // 2, fr.used, fr.used - fr.M)
    order = np.argsort(signed, kind="stable")
    sizes = [fr.M_used // Q + (1 if q < fr.M_used % Q else 0) for q in range(Q)]
    g = np.full(fr.M, -1)
    centre = []
    k = 0
    for q in range(Q):
        idx = fr.used[order[k:k + sizes[q]]]
        g[idx] = q
        centre.append(np.mean(signed[order[k:k + sizes[q]]]))
        k += sizes[q]
    return g, np.array(centre), sizes


def check_cal():
    fr = Frame(256, 32)
    g, centre, sizes = groups(fr)
    signed = np.where(np.arange(256) < 128, np.arange(256), np.arange(256) - 256)
    check(sizes == [26, 26, 26, 26, 25, 25, 25, 25] and signed[g == 0].min() == -102
          and signed[g == 0].max() == -77, "§8.2 sub-bands at M=256: %s, first -102..-77" % sizes)
    rng = np.random.default_rng(3)
    A = (np.exp(rng.uniform(-0.5, 0.5, 8)) * np.exp(1j * rng.uniform(-3, 3, 8))).astype(np.complex64)
    E = (np.exp(rng.uniform(-1.2, 1.2, 8)) * np.exp(1j * rng.uniform(-3.1, 3.1, 8))).astype(np.complex64)
    E[2] = -1.0 + 0.001j
    E[5] = np.complex64(20.0)  # drives |A| to the clip
    for mu in (1.0, 0.3):
        fa, fe, fo = (os.path.join(TMP, n) for n in ("A.c64", "E.c64", "o.c64"))
        A.tofile(fa)
        E.tofile(fe)
        run(DRIVER, "cal-update", mu, fa, fe, fo)
        got = np.fromfile(fo, dtype=np.complex64).astype(complex)
        want = A.astype(complex) * np.exp(-mu * np.log(E.astype(complex)))
        mag = np.clip(np.abs(want), 0.25, 4.0)
        want = mag * np.exp(1j * np.angle(want))
        err = np.max(np.abs(got - want) / np.abs(want))
        check(err < 1e-5, "§8.4 A <- A E^(-mu), |A| in [1/4, 4], mu=%g: max relative error %.1e" % (mu, err))
    fo = os.path.join(TMP, "a.c64")
    A.tofile(os.path.join(TMP, "A.c64"))
    run(DRIVER, "cal-interp", 256, os.path.join(TMP, "A.c64"), fo)
    got = np.fromfile(fo, dtype=np.complex64).astype(complex)
    want = np.zeros(256, dtype=complex)
    s = signed[fr.used]
    want[fr.used] = (np.interp(s, centre, A.real.astype(float))
                     + 1j * np.interp(s, centre, A.imag.astype(float)))
    err = np.max(np.abs(got - want))
    check(err < 1e-5 and np.all(got[fr.sctype == 0] == 0),
          "§8.4 a(i) linear in signed index between the centres, held outside: max error %.1e" % err)


# ---------------------------------------------------------------- §5.4 floor from the captures
def check_floor():
    for name in ("one_clean", "ten_20db_multipath", "ten_5db_cfo", "two_bursts"):
        base = os.path.join(SRC, "captures", name)
        t = json.load(open(base + ".truth.json"))
        truth = np.fromfile(base + ".truth.f32", dtype="<f4").astype(float)
        L, eta, rho = t["payload_len"], t["eta"], t["rho"]
        N0 = rho / 10 ** (t["snr_db"] / 10)
        for b, bu in enumerate(t["bursts"]):
            n = np.array(bu["active"], dtype=float)
            tr = truth[b * L:(b + 1) * L]
            on = n > 0
            noise = eta ** 2 * N0 / (2 * n[on] ** 2 * rho)
            floor = 10 * math.log10(noise.sum() / np.sum(tr[on] ** 2))
            check(abs(floor - bu["floor_db"]) < 1e-6,
                  "§5.4 floor %s burst %d: %.4f dB from the text, %.4f dB stored"
                  % (name, b, floor, bu["floor_db"]))


check_tx()
check_ctrl()
check_cal()
check_floor()
print("%d mismatches" % len(FAILS))
sys.exit(1 if FAILS else 0)
