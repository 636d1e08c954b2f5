/*
 * The relay's ceiling: a plain UDP forwarder that never looks inside a datagram.
 *
 *   forwarder --listen IP:PORT --to IP:PORT [--reply-listen IP:PORT] [--encap] [--cpu A,B]
 *
 * One thread moves datagrams from the public socket (--listen) to the fixed internal address
 * (--to), sending from the internal socket (--reply-listen, default an ephemeral port).
 * A second thread moves datagrams arriving on the internal socket back out of the public
 * socket: to the last client seen, or, with --encap, to the client address carried in the
 * 8-byte IPv4 header of docs/relay-encapsulation.md (added toward --to, stripped on return),
 * which is the relay's own framing without its flow table or token check.
 * Both loops use recvmmsg/sendmmsg in batches of 32. IPv4 only. Stops on SIGINT/SIGTERM and
 * prints its counters.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define SLOT 2048
#define HEADER 8
#define MARKER 0xFA

static struct sockaddr_in target;
static int public_fd, internal_fd, encap;
static _Atomic uint64_t last_client;   /* address << 16 | port, network order values */
static _Atomic uint64_t forwarded_in, forwarded_out, dropped;
static volatile sig_atomic_t stopping;

static int parse_address(const char *text, struct sockaddr_in *out) {
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host) return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static int bound_socket(const struct sockaddr_in *address) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int size = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    struct timeval tick = {0, 200000};   /* wake to notice a stop signal */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    if (bind(fd, (const struct sockaddr *)address, sizeof *address) != 0) {
        perror("bind");
        exit(1);
    }
    return fd;
}

static void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
}

/* Public socket -> internal socket, to the fixed target. */
static void *inbound(void *argument) {
    pin((int)(intptr_t)argument);
    static uint8_t slots[BATCH][SLOT];
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH][2];
    struct sockaddr_in sources[BATCH];
    uint8_t headers[BATCH][HEADER];
    while (!stopping) {
        for (int i = 0; i < BATCH; i++) {
            vectors[i][0] = (struct iovec){slots[i], SLOT};
            messages[i].msg_hdr = (struct msghdr){.msg_name = &sources[i], .msg_namelen = sizeof sources[i],
                                                  .msg_iov = vectors[i], .msg_iovlen = 1};
        }
        int count = recvmmsg(public_fd, messages, BATCH, MSG_WAITFORONE, NULL);
        if (count <= 0) continue;
        for (int i = 0; i < count; i++) {
            size_t length = messages[i].msg_len;
            if (encap) {
                headers[i][0] = MARKER;
                headers[i][1] = 0x14;
                memcpy(&headers[i][2], &sources[i].sin_port, 2);
                memcpy(&headers[i][4], &sources[i].sin_addr, 4);
                vectors[i][0] = (struct iovec){headers[i], HEADER};
                vectors[i][1] = (struct iovec){slots[i], length};
                messages[i].msg_hdr.msg_iovlen = 2;
            } else {
                vectors[i][0].iov_len = length;
            }
            messages[i].msg_hdr.msg_name = &target;
            messages[i].msg_hdr.msg_namelen = sizeof target;
        }
        if (!encap) {
            struct sockaddr_in *last = &sources[count - 1];
            atomic_store(&last_client, (uint64_t)last->sin_addr.s_addr << 16 | last->sin_port);
        }
        int sent = sendmmsg(internal_fd, messages, (unsigned)count, 0);
        atomic_fetch_add(&forwarded_in, sent > 0 ? (uint64_t)sent : 0);
        atomic_fetch_add(&dropped, (uint64_t)(count - (sent > 0 ? sent : 0)));
    }
    return NULL;
}

/* Internal socket -> public socket, to the last client or the encapsulated one. */
static void *outbound(void *argument) {
    pin((int)(intptr_t)argument);
    static uint8_t slots[BATCH][SLOT];
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    struct sockaddr_in destinations[BATCH];
    while (!stopping) {
        for (int i = 0; i < BATCH; i++) {
            vectors[i] = (struct iovec){slots[i], SLOT};
            messages[i].msg_hdr = (struct msghdr){.msg_iov = &vectors[i], .msg_iovlen = 1};
        }
        int count = recvmmsg(internal_fd, messages, BATCH, MSG_WAITFORONE, NULL);
        if (count <= 0) continue;
        int kept = 0;
        uint64_t last = atomic_load(&last_client);
        for (int i = 0; i < count; i++) {
            size_t length = messages[i].msg_len;
            struct sockaddr_in *to = &destinations[kept];
            memset(to, 0, sizeof *to);
            to->sin_family = AF_INET;
            uint8_t *start = slots[i];
            if (encap) {
                if (length < HEADER || start[0] != MARKER || start[1] != 0x14) continue;
                memcpy(&to->sin_port, &start[2], 2);
                memcpy(&to->sin_addr, &start[4], 4);
                start += HEADER;
                length -= HEADER;
            } else {
                if (last == 0) continue;
                to->sin_addr.s_addr = (uint32_t)(last >> 16);
                to->sin_port = (uint16_t)last;
            }
            vectors[kept] = (struct iovec){start, length};
            messages[kept].msg_hdr = (struct msghdr){.msg_name = to, .msg_namelen = sizeof *to,
                                                     .msg_iov = &vectors[kept], .msg_iovlen = 1};
            kept++;
        }
        int sent = kept ? sendmmsg(public_fd, messages, (unsigned)kept, 0) : 0;
        atomic_fetch_add(&forwarded_out, sent > 0 ? (uint64_t)sent : 0);
        atomic_fetch_add(&dropped, (uint64_t)(count - (sent > 0 ? sent : 0)));
    }
    return NULL;
}

static void stop(int signal_number) {
    (void)signal_number;
    stopping = 1;
}

int main(int argc, char **argv) {
    struct sockaddr_in listen_address, reply_address = {.sin_family = AF_INET};
    int have_listen = 0, have_target = 0, cpus[2] = {-1, -1};
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(argv[i], "--listen")) have_listen = parse_address(value, &listen_address) == 0, i++;
        else if (!strcmp(argv[i], "--to")) have_target = parse_address(value, &target) == 0, i++;
        else if (!strcmp(argv[i], "--reply-listen")) { if (parse_address(value, &reply_address)) goto usage; i++; }
        else if (!strcmp(argv[i], "--encap")) encap = 1;
        else if (!strcmp(argv[i], "--cpu")) { if (sscanf(value, "%d,%d", &cpus[0], &cpus[1]) < 1) goto usage; i++; }
        else goto usage;
    }
    if (!have_listen || !have_target) goto usage;
    public_fd = bound_socket(&listen_address);
    internal_fd = bound_socket(&reply_address);
    struct sigaction action = {.sa_handler = stop};
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    pthread_t threads[2];
    pthread_create(&threads[0], NULL, inbound, (void *)(intptr_t)cpus[0]);
    pthread_create(&threads[1], NULL, outbound, (void *)(intptr_t)(cpus[1] >= 0 ? cpus[1] : cpus[0]));
    pthread_join(threads[0], NULL);
    pthread_join(threads[1], NULL);
    printf("forwarded in %llu out %llu dropped %llu\n", (unsigned long long)forwarded_in,
           (unsigned long long)forwarded_out, (unsigned long long)dropped);
    return 0;
usage:
    fprintf(stderr, "usage: forwarder --listen IP:PORT --to IP:PORT [--reply-listen IP:PORT] [--encap] [--cpu A[,B]]\n");
    return 2;
}
