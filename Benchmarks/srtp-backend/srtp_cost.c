/*
 * CPU per SRTP packet through whichever libsrtp2 the loader picks: protect on one session,
 * unprotect on its peer, AEAD_AES_128_GCM (RFC 7714) and AES_CM_128_HMAC_SHA1_80 (RFC 3711),
 * 80-byte Opus-sized payloads, across SESSIONS session pairs in turn (as a transceiver walks
 * its calls) so per-session state is as cold as it is in a busy server.
 *
 *   srtp_cost SESSIONS PACKETS    prints one JSON line per profile
 */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

typedef void (*policy_setter)(srtp_crypto_policy_t *);

static int measure(const char *name, policy_setter set, int sessions, int packets) {
    srtp_t *senders = calloc((size_t)sessions, sizeof(srtp_t));
    srtp_t *receivers = calloc((size_t)sessions, sizeof(srtp_t));
    if (!senders || !receivers) return 1;
    for (int index = 0; index < sessions; index++) {
        unsigned char key[SRTP_MAX_KEY_LEN];
        memset(key, index & 0xff, sizeof key);
        srtp_policy_t policy;
        memset(&policy, 0, sizeof policy);
        set(&policy.rtp);
        set(&policy.rtcp);
        policy.key = key;
        policy.window_size = 1024;
        policy.ssrc.type = ssrc_any_outbound;
        if (srtp_create(&senders[index], &policy) != srtp_err_status_ok) return 1;
        policy.ssrc.type = ssrc_any_inbound;
        if (srtp_create(&receivers[index], &policy) != srtp_err_status_ok) return 1;
    }
    unsigned char packet[12 + 80 + SRTP_MAX_TRAILER_LEN];
    double started = seconds_now();
    for (int count = 0; count < packets; count++) {
        int session = count % sessions;
        /* Sequence numbers wrap as a long call's do; libsrtp2 carries the rollover counter. */
        int sequence = (count / sessions) & 0xffff;
        memset(packet, 0x5a, sizeof packet);
        packet[0] = 0x80;
        packet[1] = 111;
        packet[2] = (unsigned char)(sequence >> 8);
        packet[3] = (unsigned char)sequence;
        memset(packet + 4, 0, 8);
        packet[11] = 1;
        int length = 12 + 80;
        if (srtp_protect(senders[session], packet, &length) != srtp_err_status_ok) return 1;
        if (srtp_unprotect(receivers[session], packet, &length) != srtp_err_status_ok) return 1;
    }
    double elapsed = seconds_now() - started;
    printf("{\"profile\": \"%s\", \"sessions\": %d, \"packets\": %d, \"microsecondsPerProtectAndUnprotect\": %.3f}\n",
           name, sessions, packets, elapsed / packets * 1e6);
    for (int index = 0; index < sessions; index++) {
        srtp_dealloc(senders[index]);
        srtp_dealloc(receivers[index]);
    }
    free(senders);
    free(receivers);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SESSIONS PACKETS\n", argv[0]);
        return 2;
    }
    int sessions = atoi(argv[1]), packets = atoi(argv[2]);
    if (sessions < 1 || packets < 1) {
        fprintf(stderr, "srtp_cost: SESSIONS and PACKETS must be positive\n");
        return 2;
    }
    if (srtp_init() != srtp_err_status_ok) return 1;
    if (measure("AEAD_AES_128_GCM", srtp_crypto_policy_set_aes_gcm_128_16_auth, sessions, packets)) return 1;
    if (measure("AES_CM_128_HMAC_SHA1_80", srtp_crypto_policy_set_rtp_default, sessions, packets)) return 1;
    return 0;
}
