#define _GNU_SOURCE
#include "CParleyLinux.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <sys/socket.h>

_Static_assert(sizeof(parley_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr size");
_Static_assert(offsetof(parley_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len), "mmsghdr layout");

int parley_recvmmsg(int fd, parley_mmsghdr *vector, unsigned int vlen, int flags) {
    return recvmmsg(fd, (struct mmsghdr *)vector, vlen, flags, NULL);
}

int parley_sendmmsg(int fd, parley_mmsghdr *vector, unsigned int vlen, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)vector, vlen, flags);
}

int parley_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int parley_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return -1;
    }
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            cpus[count++] = cpu;
        }
    }
    return count;
}

int parley_so_reuseport(void) { return SO_REUSEPORT; }

int parley_msg_trunc(void) { return MSG_TRUNC; }

int parley_msg_dontwait(void) { return MSG_DONTWAIT; }
