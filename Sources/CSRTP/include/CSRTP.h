#ifndef PARLEY_CSRTP_H
#define PARLEY_CSRTP_H
#include <srtp2/srtp.h>
#endif
