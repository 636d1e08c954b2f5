#ifndef PARLEY_CPARLEYLINUX_H
#define PARLEY_CPARLEYLINUX_H

#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <time.h>

/// The layout of glibc's `struct mmsghdr`, which Swift cannot see without _GNU_SOURCE.
/// shim.c checks at compile time that both layouts agree.
typedef struct {
    struct msghdr msg_hdr;
    unsigned int msg_len;
} parley_mmsghdr;

/// recvmmsg(2): receives up to `vlen` datagrams in one call; returns the count or -1 (errno).
int parley_recvmmsg(int fd, parley_mmsghdr *vector, unsigned int vlen, int flags);

/// sendmmsg(2): sends up to `vlen` datagrams in one call; returns the count sent or -1 (errno).
int parley_sendmmsg(int fd, parley_mmsghdr *vector, unsigned int vlen, int flags);

/// Pins the calling thread to one CPU (pthread_setaffinity_np); returns 0 or an errno value.
int parley_pin_current_thread(int cpu);

/// The CPUs this process may run on (sched_getaffinity), written in ascending order into
/// `cpus` (at most `capacity`); returns how many were written, or -1 (errno).
int parley_allowed_cpus(int *cpus, int capacity);

/// SO_REUSEPORT (Linux 3.9): several sockets bound to one port, datagrams spread by flow hash.
int parley_so_reuseport(void);

/// MSG_TRUNC as set in msg_flags when a datagram did not fit its buffer.
int parley_msg_trunc(void);

/// MSG_DONTWAIT for one non-blocking call.
int parley_msg_dontwait(void);

#endif
