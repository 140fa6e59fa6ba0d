/* airmeta replay: decode a SigMF capture (host/round/replay.c does the work). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/commands.h"
#include "core/escape.h"
#include "phy/ota_rx.h"
#include "phy/sigmf.h"
#include "round/replay.h"
#include "util/cli.h"

/* --out is not one of the capture's own files (the same file by any name: device and inode):
 * the payloads would have replaced its samples or its metadata, the recording lost, exit 0. */
static am_status out_not_capture(const char *cap, const char *out)
{
    struct stat so, sc;
    char base[4096], p[4096 + 16];
    if (!out || stat(out, &so) != 0 || phy_sigmf_base(cap, base, sizeof base) != AM_OK)
        return AM_OK; /* a new file; a capture path the reader refuses itself */
    static const char *const ext[2] = {".sigmf-data", ".sigmf-meta"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s%s", base, ext[i]);
        if (stat(p, &sc) == 0 && sc.st_dev == so.st_dev && sc.st_ino == so.st_ino)
            return AM_FAIL(AM_EINVAL, "--out %s is the capture's own %s: the payloads would "
                                      "replace it",
                           out, p);
    }
    return AM_OK;
}

int cmd_replay(int argc, char **argv)
{
    const char *out = NULL;
    int json = 0, quiet = 0;
    float threshold = 0.0f;
    unsigned chunk = 65536, gain_pool = REPLAY_GAIN_POOL_CAPTURE;
    const cli_opt opts[] = {
        {"--out", CLI_STR, &out, "write the recovered payloads here (little-endian float32, "
                                 "burst after burst)", 1, 0, NULL},
        {"--json", CLI_FLAG, &json, "one JSON line per burst on stdout", 1, 0, NULL},
        {"--quiet", CLI_FLAG, &quiet, "no per-burst lines (errors still go to stderr)", 1, 0, NULL},
        {"--threshold", CLI_FLOAT, &threshold, "detection threshold (0 = receiver default)", 0,
         0.99, NULL},
        {"--gain-pool", CLI_UINT, &gain_pool, "receiver's estimate of G pooled over W "
         "neighbouring bins where noisy (0 = per bin, phy/ota_rx.h; default: the capture's "
         "airmeta:gain_pool, absent = 0)", 0, PHY_OTA_RX_GAIN_POOL_MAX, NULL},
        {"--chunk", CLI_UINT, &chunk, "samples read per step (does not change the result)", 1,
         1 << 24, NULL},
    };
    const cli_cmd cmd = {
        "airmeta replay",
        "CAPTURE.sigmf-meta [--out V.f32] [--json]",
        "Decodes every airmeta burst of a SigMF capture (docs/air-interface.md §7: cf32_le or "
        "ci16_le, one\n"
        "channel, airmeta:* keys) with the streaming receiver: detection, timing, CFO, composite\n"
        "gain, equalisation. Each burst's recovered payload (airmeta:payload_len reals, the "
        "active\n"
        "agents' average) is appended to --out as little-endian float32. --json prints per burst\n"
        "{\"burst\", \"start\" (sample), \"cfo\" (subcarrier spacings), \"snr_db\", \"n0\",\n"
        "\"active_mean\", \"metric\", \"payload_len\"}.\n\n"
        "exit status: 0 bursts decoded; 1 no burst found (--out is not written); 2 bad usage;\n"
        "3 malformed capture (missing/ill-typed keys, NaN/Inf samples or samples so large\n"
        "that a burst decodes to NaN/Inf, short data file, ...);\n"
        "4 file missing or I/O error; 7 unsupported capture (datatype, channels, versions).",
        opts,
        sizeof opts / sizeof opts[0],
        1,
        1};
    const char *pos[1];
    size_t npos = 0;
    am_status s = cli_parse(&cmd, argc, argv, pos, &npos);
    if (s == AM_ENOTFOUND)
        return 0;
    if (s != AM_OK || (s = out_not_capture(pos[0], out)) != AM_OK)
        return cli_fail("replay", s);
    replay_opts o = {.out = out,
                     .json = json ? stdout : NULL,
                     .text = json || quiet ? NULL : stdout,
                     .threshold = threshold,
                     .gain_pool = gain_pool,
                     .chunk = chunk};
    replay_result res;
    s = replay_capture(pos[0], &o, &res);
    if (s == AM_ENOTFOUND && res.samples > 0) {
        fprintf(stderr, "airmeta replay: %s\n", am_last_error());
        return 1;
    }
    if (s != AM_OK)
        return cli_fail("replay", s);
    if (!json && !quiet)
        printf("%" PRIu64 " burst(s) in %" PRIu64 " samples%s%s\n", res.bursts, res.samples,
               out ? ", payloads written to " : "", out ? AM_ESC(out) : "");
    return 0;
}
