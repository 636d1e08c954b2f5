/*
 * A UDP load source and echo endpoint for relay benchmarks.
 *
 *   blaster send --target IP:PORT [--size 160] [--rate 50000] [--clients 16] [--seconds 5] [--cpu A,B]
 *                [--stun-token UFRAG]
 *   blaster echo --listen IP:PORT [--cpu N]
 *   blaster flows --target IP:PORT --stun-token UFRAG --count N
 *
 * send: K client sockets send N-byte datagrams round-robin at a fixed total rate; each carries
 * a sequence number and its send time (CLOCK_MONOTONIC ns). A receiver thread reads replies on
 * all sockets and records round-trip times in 1 us buckets. Prints one line: sent, received,
 * loss, achieved send and receive rates, latency p50/p99/max.
 * With --stun-token, each client socket first sends one STUN binding request whose USERNAME
 * starts with that routing token, so a Parley relay creates its flow (the C forwarder just
 * forwards it); replies to it are drained before the load starts.
 * echo: stands in for a transceiver, returning every datagram to its sender unchanged.
 * flows: fills a relay's flow table: one binding request from each of N source addresses
 * 127.1.0.1, 127.1.0.2, ... (loopback answers for all of 127/8; IP_PKTINFO picks the source).
 * Both use recvmmsg/sendmmsg in batches of 32. IPv4 only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define SLOT 2048
#define MAX_CLIENTS 1024
#define BUCKETS 200000   /* 1 us each: up to 200 ms */

static int sockets[MAX_CLIENTS], clients = 16, size = 160;
static double rate = 50000, seconds = 5;
static struct sockaddr_in target;
static _Atomic int sending_done;
static uint64_t received, histogram[BUCKETS + 1];
static volatile sig_atomic_t stopping;
static const char *stun_token;

/* A STUN binding request (RFC 8489 §5) with USERNAME "token:blaster"; returns its length. */
static int binding_request(uint8_t *out, uint32_t transaction) {
    char username[300];
    int length = snprintf(username, sizeof username, "%s:blaster", stun_token);
    int padded = (length + 3) & ~3;
    memset(out, 0, (size_t)(24 + padded));
    out[1] = 0x01;                                   /* binding request */
    out[2] = (uint8_t)((4 + padded) >> 8);
    out[3] = (uint8_t)(4 + padded);
    uint32_t cookie = htonl(0x2112A442);
    memcpy(out + 4, &cookie, 4);
    memcpy(out + 8, &transaction, 4);
    out[21] = 0x06;                                  /* USERNAME */
    out[22] = (uint8_t)(length >> 8);
    out[23] = (uint8_t)length;
    memcpy(out + 24, username, (size_t)length);
    return 24 + padded;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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

static int udp_socket(const struct sockaddr_in *address) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int buffer = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    if (address && bind(fd, (const struct sockaddr *)address, sizeof *address) != 0) {
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

static void *receive_replies(void *argument) {
    pin((int)(intptr_t)argument);
    static uint8_t slots[BATCH][SLOT];
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    struct pollfd polls[MAX_CLIENTS];
    for (int i = 0; i < clients; i++) polls[i] = (struct pollfd){.fd = sockets[i], .events = POLLIN};
    uint64_t drain_until = 0;
    for (;;) {
        if (atomic_load(&sending_done) && !drain_until) drain_until = now_ns() + 500000000u;
        if (drain_until && now_ns() > drain_until) break;
        if (poll(polls, (nfds_t)clients, 100) <= 0) continue;
        for (int c = 0; c < clients; c++) {
            if (!(polls[c].revents & POLLIN)) continue;
            for (int i = 0; i < BATCH; i++) {
                vectors[i] = (struct iovec){slots[i], SLOT};
                messages[i].msg_hdr = (struct msghdr){.msg_iov = &vectors[i], .msg_iovlen = 1};
            }
            int count = recvmmsg(sockets[c], messages, BATCH, MSG_DONTWAIT, NULL);
            uint64_t arrival = now_ns();
            for (int i = 0; i < count; i++) {
                if (messages[i].msg_len < 16) continue;
                uint64_t sent_at;
                memcpy(&sent_at, slots[i] + 8, 8);
                uint64_t micros = (arrival - sent_at) / 1000;
                histogram[micros < BUCKETS ? micros : BUCKETS]++;
                received++;
            }
        }
    }
    return NULL;
}

static uint64_t percentile(double fraction) {
    uint64_t wanted = (uint64_t)(fraction * (double)received), seen = 0;
    for (uint64_t micros = 0; micros <= BUCKETS; micros++) {
        seen += histogram[micros];
        if (seen > wanted) return micros;
    }
    return BUCKETS;
}

static int send_load(int cpus[2]) {
    for (int i = 0; i < clients; i++) {
        struct sockaddr_in any = {.sin_family = AF_INET};
        sockets[i] = udp_socket(&any);
    }
    if (stun_token) {
        uint8_t request[400], reply[SLOT];
        for (int i = 0; i < clients; i++) {
            int length = binding_request(request, (uint32_t)i);
            sendto(sockets[i], request, (size_t)length, 0, (struct sockaddr *)&target, sizeof target);
        }
        struct timespec settle = {0, 300000000};
        nanosleep(&settle, NULL);
        for (int i = 0; i < clients; i++)
            while (recv(sockets[i], reply, sizeof reply, MSG_DONTWAIT) > 0) {}
    }
    pthread_t receiver;
    pthread_create(&receiver, NULL, receive_replies, (void *)(intptr_t)cpus[1]);
    pin(cpus[0]);
    static uint8_t payloads[BATCH][SLOT];
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    uint64_t start = now_ns(), sent = 0, sequence = 0, duration = (uint64_t)(seconds * 1e9);
    int next_client = 0;
    for (;;) {
        uint64_t elapsed = now_ns() - start;
        if (elapsed >= duration) break;
        uint64_t due = (uint64_t)((double)elapsed * rate / 1e9) - sent;
        if (due == 0) {
            struct timespec pause = {0, 50000};
            nanosleep(&pause, NULL);
            continue;
        }
        int batch = due < BATCH ? (int)due : BATCH;
        uint64_t stamp = now_ns();
        for (int i = 0; i < batch; i++) {
            sequence++;
            memcpy(payloads[i], &sequence, 8);
            memcpy(payloads[i] + 8, &stamp, 8);
            vectors[i] = (struct iovec){payloads[i], (size_t)size};
            messages[i].msg_hdr = (struct msghdr){.msg_name = &target, .msg_namelen = sizeof target,
                                                  .msg_iov = &vectors[i], .msg_iovlen = 1};
        }
        int written = sendmmsg(sockets[next_client], messages, (unsigned)batch, 0);
        sent += (uint64_t)batch;   /* a refused send counts as lost, as the pace must hold */
        (void)written;
        next_client = (next_client + 1) % clients;
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    atomic_store(&sending_done, 1);
    pthread_join(receiver, NULL);
    printf("sent %llu received %llu loss %.3f%% send_pps %.0f recv_pps %.0f p50_us %llu p99_us %llu max_us %llu\n",
           (unsigned long long)sent, (unsigned long long)received,
           sent ? 100.0 * (double)(sent - (received < sent ? received : sent)) / (double)sent : 0.0,
           (double)sent / elapsed, (double)received / elapsed,
           (unsigned long long)percentile(0.50), (unsigned long long)percentile(0.99),
           (unsigned long long)percentile(0.999999));
    return 0;
}

/* One binding request from each of `count` loopback source addresses, paced a little so the
 * receiving relay's queues keep up. */
static int fill_flows(long count) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int on = 1;
    setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &on, sizeof on);
    uint8_t request[400];
    char control[CMSG_SPACE(sizeof(struct in_pktinfo))];
    long sent = 0;
    for (long i = 0; i < count; i++) {
        int length = binding_request(request, (uint32_t)i);
        struct iovec vector = {request, (size_t)length};
        struct msghdr message = {.msg_name = &target, .msg_namelen = sizeof target, .msg_iov = &vector,
                                 .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = IPPROTO_IP;
        header->cmsg_type = IP_PKTINFO;
        header->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo info = {.ipi_spec_dst.s_addr = htonl(0x7F010001u + (uint32_t)i)};
        memcpy(CMSG_DATA(header), &info, sizeof info);
        if (sendmsg(fd, &message, 0) > 0) sent++;
        if (i % 1000 == 999) {
            struct timespec pause = {0, 2000000};
            nanosleep(&pause, NULL);
        }
    }
    printf("flows requested %ld\n", sent);
    close(fd);
    return sent == count ? 0 : 1;
}

static void stop(int signal_number) {
    (void)signal_number;
    stopping = 1;
}

static int echo(const struct sockaddr_in *address, int cpu) {
    pin(cpu);
    int fd = udp_socket(address);
    struct timeval tick = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    struct sigaction action = {.sa_handler = stop};
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    static uint8_t slots[BATCH][SLOT];
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    struct sockaddr_in sources[BATCH];
    uint64_t echoed = 0;
    while (!stopping) {
        for (int i = 0; i < BATCH; i++) {
            vectors[i] = (struct iovec){slots[i], SLOT};
            messages[i].msg_hdr = (struct msghdr){.msg_name = &sources[i], .msg_namelen = sizeof sources[i],
                                                  .msg_iov = &vectors[i], .msg_iovlen = 1};
        }
        int count = recvmmsg(fd, messages, BATCH, MSG_WAITFORONE, NULL);
        if (count <= 0) continue;
        for (int i = 0; i < count; i++) vectors[i].iov_len = messages[i].msg_len;
        int sent = sendmmsg(fd, messages, (unsigned)count, 0);
        echoed += sent > 0 ? (uint64_t)sent : 0;
    }
    printf("echoed %llu\n", (unsigned long long)echoed);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) goto usage;
    struct sockaddr_in listen_address;
    int have_address = 0, cpus[2] = {-1, -1};
    long count = 0;
    for (int i = 2; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(argv[i], "--target")) have_address = parse_address(value, &target) == 0, i++;
        else if (!strcmp(argv[i], "--listen")) have_address = parse_address(value, &listen_address) == 0, i++;
        else if (!strcmp(argv[i], "--size")) size = atoi(value), i++;
        else if (!strcmp(argv[i], "--rate")) rate = atof(value), i++;
        else if (!strcmp(argv[i], "--clients")) clients = atoi(value), i++;
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(value), i++;
        else if (!strcmp(argv[i], "--stun-token")) stun_token = value, i++;
        else if (!strcmp(argv[i], "--count")) count = atol(value), i++;
        else if (!strcmp(argv[i], "--cpu")) { if (sscanf(value, "%d,%d", &cpus[0], &cpus[1]) < 1) goto usage; i++; }
        else goto usage;
    }
    if (!have_address || size < 16 || size > SLOT || clients < 1 || clients > MAX_CLIENTS || rate <= 0) goto usage;
    if (!strcmp(argv[1], "send")) return send_load(cpus);
    if (!strcmp(argv[1], "echo")) return echo(&listen_address, cpus[0]);
    if (!strcmp(argv[1], "flows") && stun_token && count > 0) return fill_flows(count);
usage:
    fprintf(stderr, "usage: blaster send --target IP:PORT [--size 16-2048] [--rate PPS] [--clients 1-1024] [--seconds S] [--cpu A,B]\n"
                    "       blaster echo --listen IP:PORT [--cpu N]\n"
                    "       blaster flows --target IP:PORT --stun-token UFRAG --count N\n");
    return 2;
}
