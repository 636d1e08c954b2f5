/*
 * libsrtp2 as pkg-config finds it: scripts/install-deps.sh installs an OpenSSL-backed build
 * in /usr/local, and pkg-config is what hands its library directory to the linker.
 */
#include <srtp2/srtp.h>
