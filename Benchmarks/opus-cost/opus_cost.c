/*
 * libopus alone doing what one full-voice echo call asks of it each 20 ms: decode one caller
 * packet (encoded as `parley loadgen` encodes its tone: 48 kHz mono, VOIP, 32 kb/s, in-band
 * FEC for 10 % loss) at the transceiver's 24 kHz, then encode the 480 decoded samples with the
 * transceiver's encoder settings (24 kHz mono, VOIP, 32 kb/s, FEC for 10 % loss, complexity
 * COMPLEXITY). SESSIONS decoder/encoder pairs are used in turn, as a transceiver walks its
 * calls, so codec state is as cold as it is in a busy server. This is the floor a full-voice
 * call's CPU is compared against: everything above it is Parley's own work.
 *
 *   opus_cost SESSIONS FRAMES COMPLEXITY    prints one JSON line
 */
#include <math.h>
#include <opus/opus.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { CALLER_RATE = 48000, CALLER_FRAME = 960, SERVER_RATE = 24000, SERVER_FRAME = 480, LOOP = 50 };

static double thread_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static OpusEncoder *encoder(int rate, int complexity) {
    int status = OPUS_OK;
    OpusEncoder *made = opus_encoder_create(rate, 1, OPUS_APPLICATION_VOIP, &status);
    if (!made || status != OPUS_OK) return NULL;
    opus_encoder_ctl(made, OPUS_SET_BITRATE(32000));
    opus_encoder_ctl(made, OPUS_SET_INBAND_FEC(1));
    opus_encoder_ctl(made, OPUS_SET_PACKET_LOSS_PERC(10));
    opus_encoder_ctl(made, OPUS_SET_COMPLEXITY(complexity));
    return made;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: opus_cost SESSIONS FRAMES COMPLEXITY\n");
        return 2;
    }
    int sessions = atoi(argv[1]), frames = atoi(argv[2]), complexity = atoi(argv[3]);
    if (sessions < 1 || frames < 1 || complexity < 0 || complexity > 10) return 2;

    /* One second of a 440 Hz tone at about -12 dBFS, as the load generator sends (after a
     * second of warm-up so the loop point matches a continuous stream). */
    unsigned char packets[LOOP][1500];
    int lengths[LOOP];
    OpusEncoder *caller = encoder(CALLER_RATE, 10);
    if (!caller) return 1;
    opus_int16 pcm[CALLER_FRAME];
    for (int frame = 0; frame < 2 * LOOP; frame++) {
        for (int i = 0; i < CALLER_FRAME; i++) {
            long sample = (long)frame * CALLER_FRAME + i;
            pcm[i] = (opus_int16)(8000.0 * sin(2 * M_PI * 440.0 * (double)(sample % CALLER_RATE) / CALLER_RATE));
        }
        int length = opus_encode(caller, pcm, CALLER_FRAME, packets[frame % LOOP], sizeof packets[0]);
        if (length <= 0) return 1;
        lengths[frame % LOOP] = length;
    }

    OpusDecoder **decoders = calloc((size_t)sessions, sizeof *decoders);
    OpusEncoder **encoders = calloc((size_t)sessions, sizeof *encoders);
    if (!decoders || !encoders) return 1;
    for (int index = 0; index < sessions; index++) {
        int status = OPUS_OK;
        decoders[index] = opus_decoder_create(SERVER_RATE, 1, &status);
        encoders[index] = encoder(SERVER_RATE, complexity);
        if (!decoders[index] || status != OPUS_OK || !encoders[index]) return 1;
    }

    opus_int16 decoded[SERVER_FRAME];
    unsigned char out[4000];
    long bytes = 0;
    double start = thread_seconds();
    for (int frame = 0; frame < frames; frame++) {
        int index = frame % sessions;
        int packet = (frame / sessions) % LOOP;
        if (opus_decode(decoders[index], packets[packet], lengths[packet], decoded, SERVER_FRAME, 0) != SERVER_FRAME) return 1;
        int length = opus_encode(encoders[index], decoded, SERVER_FRAME, out, sizeof out);
        if (length <= 0) return 1;
        bytes += length;
    }
    double seconds = thread_seconds() - start;
    double per_frame_us = seconds / frames * 1e6;
    /* A call carries 50 frames a second each way: its share of one core, in percent. */
    printf("{\"sessions\": %d, \"frames\": %d, \"complexity\": %d, \"microsecondsPerFrame\": %.2f, "
           "\"cpuPercentPerCall\": %.4f, \"bytesOut\": %ld}\n",
           sessions, frames, complexity, per_frame_us, per_frame_us * 50 / 1e6 * 100, bytes);
    return 0;
}
