/* host/radio/file: what only the `file` radio has: the airmeta burst parameters written into the
 * SigMF recordings it makes (docs/air-interface.md §7), set per round by the orchestrator. */
#ifndef AM_HOST_RADIO_FILE_H
#define AM_HOST_RADIO_FILE_H

#include "phy/sigmf.h"
#include "radio/radio.h"

/* Replaces the §7 fields (fft_size, cp_len, payload_len, scale, rho, g_th, agents, round,
 * sctype, description/hw) of the recordings started from now on; sample_rate and frequency stay
 * the radio's. AM_EINVAL if r is not a file radio or a field is invalid (checked as the writer
 * would). A stream recording already open keeps the fields it started with. */
am_status radio_file_set_meta(radio *r, const phy_sigmf_info *info);

/* The .sigmf-meta path of the last recording the TX side completed ("" if none yet). */
const char *radio_file_last_recording(const radio *r);

#endif
