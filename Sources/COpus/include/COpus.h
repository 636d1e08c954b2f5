#ifndef PARLEY_COPUS_H
#define PARLEY_COPUS_H
#include <opus/opus.h>

/*
 * Wrappers for the variadic opus_encoder_ctl requests Swift cannot call.
 * Each returns OPUS_OK or a negative libopus error code.
 */

/* OPUS_SET_BITRATE: target bits per second. */
int parley_opus_encoder_set_bitrate(OpusEncoder *encoder, opus_int32 bits_per_second);
/* OPUS_SET_INBAND_FEC: 1 to add in-band forward error correction (RFC 6716 §2.1.7). */
int parley_opus_encoder_set_inband_fec(OpusEncoder *encoder, opus_int32 enabled);
/* OPUS_SET_PACKET_LOSS_PERC: expected loss in percent, which sizes the FEC data. */
int parley_opus_encoder_set_packet_loss_perc(OpusEncoder *encoder, opus_int32 percent);

/// OPUS_SET_COMPLEXITY: 0 (cheapest) to 10 (best quality per bit).
int parley_opus_encoder_set_complexity(OpusEncoder *encoder, opus_int32 complexity);

/// OPUS_RESET_STATE: forget all history, as after a fresh create.
int parley_opus_encoder_reset(OpusEncoder *encoder);

#endif
