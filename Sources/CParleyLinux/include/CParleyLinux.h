#ifndef PARLEY_CPARLEYLINUX_H
#define PARLEY_CPARLEYLINUX_H
#include <sys/socket.h>
#include <netinet/in.h>
#endif
