#ifndef PARLEY_CSRTP_H
#define PARLEY_CSRTP_H
#include <srtp2/srtp.h>

/*
 * Room srtp_protect and srtp_protect_rtcp may need after the packet (the SRTCP index adds
 * 4 bytes to the RTP trailer), as one constant Swift can import.
 */
static const int PARLEY_SRTP_MAX_PROTECT_OVERHEAD = SRTP_MAX_TRAILER_LEN + 4;

#endif
