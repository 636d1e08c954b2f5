/*
 * A UDP (and ICE-TCP) load source and echo endpoint for relay benchmarks.
 *
 *   blaster send --target IP:PORT [--size 160] [--rate 50000] [--clients 16] [--seconds 5] [--cpu A,B]
 *                [--bind IP[:PORT]] [--token UFRAG]
 *   blaster tcp-send --target IP:PORT --token UFRAG [--size 160] [--rate 50000] [--clients 16] [--seconds 5]
 *                [--cpu A,B]
 *   blaster flows --target IP:PORT --token UFRAG --count N [--bind IP] [--cpu N]
 *   blaster echo --listen IP:PORT [--encap] [--cpu N]
 *
 * send: K client sockets send N-byte datagrams round-robin at a fixed total rate; each carries
 * a sequence number and its send time (CLOCK_MONOTONIC ns). A receiver thread reads replies on
 * all sockets (epoll) and records round-trip times in 1 us buckets. Under SCHED_FIFO the sending
 * thread runs one priority below the receiver. Prints one line: sent,
 * received, loss, achieved send and receive rates, latency p50/p99/max.
 * --bind: client i binds IP:PORT+i (IP:0, the default, takes ephemeral ports), so repeated runs
 * with a fixed PORT reuse the same client addresses.
 * --token: before the load, every client socket sends a STUN Binding request whose USERNAME is
 * "UFRAG:cN" (the first datagram a relay accepts from an unknown client, docs/relay.md) and
 * waits for it to come back, so every client has an established flow when timing starts.
 * flows: opens N client sockets (ports 20000-29999 of consecutive IPs from --bind), sends each
 * one such Binding request, counts the echoes and closes the sockets, 500 at a time: it fills
 * a relay's flow table with N distinct clients without holding N descriptors open.
 * tcp-send: the same load over ICE-TCP (RFC 6544 passive side, RFC 4571 framing: a 2-byte
 * big-endian length before each frame). K TCP connections (TCP_NODELAY, ephemeral ports) each
 * send one framed Binding request with USERNAME "UFRAG:cN", as --token does, and wait for its
 * framed echo; then N-byte frames with a sequence number and send time go round-robin over the
 * connections at the fixed total rate, one send() each (one segment, as a client writes each
 * packet). A receiver thread (epoll) reassembles frames from each connection's byte stream and
 * records round-trip times; the summary line is the same as send's. A send the kernel blocks
 * on (a full send buffer) holds the pace back; one that fails or blocks for a second leaves
 * its connection unusable (broken framing), and every frame due on it counts as lost.
 * echo: stands in for a transceiver, returning every datagram to its sender unchanged. With
 * --encap it returns only datagrams that start with the 8-byte IPv4 header of
 * docs/relay-encapsulation.md (marker 0xFA, version 1, family 4, the transport bit either
 * way) and drops the rest: the header names the client, and for an ICE-TCP client carries the
 * TCP mark, so the unchanged datagram is the encapsulated reply to that client.
 * The UDP modes use recvmmsg/sendmmsg in batches of 32. IPv4 only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define SLOT 2048
#define MAX_CLIENTS 1024
#define BUCKETS 200000   /* 1 us each: up to 200 ms */
#define MAX_FLOW_CHUNK 1024
#define FLOWS_PER_IP 10000
#define STREAM_BUFFER 16384   /* per TCP connection: reassembly of frames from the byte stream */

static int sockets[MAX_CLIENTS], clients = 16, size = 160, encap, flow_count;
static double rate = 50000, seconds = 5;
static struct sockaddr_in target, bind_address = {.sin_family = AF_INET};
static const char *token;
static _Atomic int sending_done;
static uint64_t received, histogram[BUCKETS + 1];
static volatile sig_atomic_t stopping;

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

static int is_stun_request(const uint8_t *datagram, size_t length) {
    return length >= 20 && datagram[0] == 0 && datagram[1] == 1 && datagram[4] == 0x21 && datagram[5] == 0x12 &&
           datagram[6] == 0xA4 && datagram[7] == 0x42;
}

/* An epoll set over every client socket, each tagged with its index. */
static int poll_clients(void) {
    int poller = epoll_create1(0);
    for (int i = 0; i < clients; i++) {
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(poller, EPOLL_CTL_ADD, sockets[i], &event);
    }
    return poller;
}

/* True 0.5 s after the sender finished: replies still in flight have had their time. */
static int drained(uint64_t *drain_until) {
    if (atomic_load(&sending_done) && !*drain_until) *drain_until = now_ns() + 500000000u;
    return *drain_until && now_ns() > *drain_until;
}

static void *receive_replies(void *argument) {
    pin((int)(intptr_t)argument);
    static uint8_t slots[BATCH][SLOT];
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    struct epoll_event events[64];
    int poller = poll_clients();
    uint64_t drain_until = 0;
    while (!drained(&drain_until)) {
        int ready = epoll_wait(poller, events, 64, 100);
        for (int e = 0; e < ready; e++) {
            for (int i = 0; i < BATCH; i++) {
                vectors[i] = (struct iovec){slots[i], SLOT};
                messages[i].msg_hdr = (struct msghdr){.msg_iov = &vectors[i], .msg_iovlen = 1};
            }
            int count = recvmmsg(sockets[events[e].data.u32], messages, BATCH, MSG_DONTWAIT, NULL);
            uint64_t arrival = now_ns();
            for (int i = 0; i < count; i++) {
                if (messages[i].msg_len < 16 || is_stun_request(slots[i], messages[i].msg_len)) continue;
                uint64_t sent_at;
                memcpy(&sent_at, slots[i] + 8, 8);
                uint64_t micros = (arrival - sent_at) / 1000;
                histogram[micros < BUCKETS ? micros : BUCKETS]++;
                received++;
            }
        }
    }
    close(poller);
    return NULL;
}

/* A STUN Binding request (RFC 8489 §5, §6) carrying only USERNAME "token:cN" (§14.3). */
static size_t binding_request(uint8_t *out, int client) {
    char username[600];
    int length = snprintf(username, sizeof username, "%s:c%d", token, client);
    size_t padded = ((size_t)length + 3) & ~(size_t)3;
    size_t body = 4 + padded;
    out[0] = 0x00, out[1] = 0x01, out[2] = (uint8_t)(body >> 8), out[3] = (uint8_t)body;
    out[4] = 0x21, out[5] = 0x12, out[6] = 0xA4, out[7] = 0x42;
    for (int i = 8; i < 20; i++) out[i] = (uint8_t)rand();
    out[20] = 0x00, out[21] = 0x06, out[22] = (uint8_t)(length >> 8), out[23] = (uint8_t)length;
    memset(out + 24, 0, padded);
    memcpy(out + 24, username, (size_t)length);
    return 20 + body;
}

/* Sends a Binding request from each of `count` sockets (client numbers from `first`) until its
 * echo comes back, up to four tries a second apart. Returns how many came back. */
static int establish(const int *fds, int count, int first) {
    static uint8_t request[1024], reply[SLOT];
    char answered[MAX_FLOW_CHUNK] = {0};
    int confirmed = 0;
    struct pollfd polls[MAX_FLOW_CHUNK];
    for (int attempt = 0; attempt < 4 && confirmed < count; attempt++) {
        for (int i = 0; i < count; i++) {
            if (answered[i]) continue;
            size_t length = binding_request(request, first + i);
            sendto(fds[i], request, length, 0, (const struct sockaddr *)&target, sizeof target);
            if (i % 64 == 63) usleep(200);   /* pace: new flows cost a token check each */
        }
        uint64_t deadline = now_ns() + 1000000000u;
        while (confirmed < count && now_ns() < deadline) {
            int waiting = 0;
            for (int i = 0; i < count; i++) {
                if (!answered[i]) polls[waiting++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
            }
            if (poll(polls, (nfds_t)waiting, 100) <= 0) continue;
            for (int p = 0, i = 0; p < waiting; p++) {
                while (answered[i]) i++;
                if (polls[p].revents & POLLIN) {
                    while (recv(fds[i], reply, sizeof reply, MSG_DONTWAIT) > 0) {
                        if (!answered[i]) answered[i] = 1, confirmed++;
                    }
                }
                i++;
            }
        }
    }
    return confirmed;
}

/* Client i of `send`: --bind IP:PORT+i, or IP:0 (ephemeral) when no port is given. */
static int client_socket(int index) {
    struct sockaddr_in address = bind_address;
    if (bind_address.sin_port) address.sin_port = htons((uint16_t)(ntohs(bind_address.sin_port) + index));
    return udp_socket(&address);
}

/* The next unused filler address for `flows`: ports 20000-29999 on --bind's IP, then on the
 * next IP, and so on; a port someone else holds (a wildcard bind) is skipped. Distinct fixed
 * addresses, as a closed ephemeral port comes back and would hit an existing flow. */
static int filler_socket(int *cursor) {
    for (;;) {
        int index = (*cursor)++;
        struct sockaddr_in address = bind_address;
        address.sin_addr.s_addr = htonl(ntohl(bind_address.sin_addr.s_addr) + (uint32_t)(index / FLOWS_PER_IP));
        address.sin_port = htons((uint16_t)(20000 + index % FLOWS_PER_IP));
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (bind(fd, (const struct sockaddr *)&address, sizeof address) == 0) return fd;
        close(fd);
        if (errno != EADDRINUSE) {
            perror("bind");
            exit(1);
        }
    }
}

static uint64_t percentile(double fraction) {
    uint64_t wanted = (uint64_t)(fraction * (double)received), seen = 0;
    for (uint64_t micros = 0; micros <= BUCKETS; micros++) {
        seen += histogram[micros];
        if (seen > wanted) return micros;
    }
    return BUCKETS;
}

/* The one-line summary of send and tcp-send. */
static void print_summary(uint64_t sent, double elapsed) {
    printf("sent %llu received %llu loss %.3f%% send_pps %.0f recv_pps %.0f p50_us %llu p99_us %llu max_us %llu\n",
           (unsigned long long)sent, (unsigned long long)received,
           sent ? 100.0 * (double)(sent - (received < sent ? received : sent)) / (double)sent : 0.0,
           (double)sent / elapsed, (double)received / elapsed,
           (unsigned long long)percentile(0.50), (unsigned long long)percentile(0.99),
           (unsigned long long)percentile(0.999999));
}

/* Under SCHED_FIFO (chrt) the sender drops one priority below the receiver (and an echo
 * endpoint started at the same priority), so a sender that cannot keep up never starves them. */
static void lower_sender_priority(void) {
    int policy;
    struct sched_param priority;
    if (pthread_getschedparam(pthread_self(), &policy, &priority) == 0 && policy == SCHED_FIFO && priority.sched_priority > 1) {
        priority.sched_priority--;
        pthread_setschedparam(pthread_self(), policy, &priority);
    }
}

static int send_load(int cpus[2]) {
    for (int i = 0; i < clients; i++) sockets[i] = client_socket(i);
    if (token) {
        int confirmed = establish(sockets, clients, 0);
        if (confirmed < clients) {
            fprintf(stderr, "blaster: only %d of %d clients got their Binding request back\n", confirmed, clients);
            return 1;
        }
    }
    pthread_t receiver;
    pthread_create(&receiver, NULL, receive_replies, (void *)(intptr_t)cpus[1]);
    pin(cpus[0]);
    lower_sender_priority();
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
    print_summary(sent, elapsed);
    return 0;
}

/* One TCP connection's bytes read and not yet taken as frames. */
struct stream {
    size_t filled;
    uint8_t bytes[STREAM_BUFFER];
};

/* Takes the complete RFC 4571 frames at the front of `stream`, recording the round trip of
 * each load frame (sequence number, send time), and keeps the incomplete rest. -1 on a frame
 * longer than any this tool sends. */
static int take_frames(struct stream *stream, uint64_t arrival) {
    size_t offset = 0;
    while (stream->filled - offset >= 2) {
        size_t length = (size_t)stream->bytes[offset] << 8 | stream->bytes[offset + 1];
        if (length > SLOT) return -1;
        if (stream->filled - offset < 2 + length) break;
        const uint8_t *frame = stream->bytes + offset + 2;
        offset += 2 + length;
        if (length < 16 || is_stun_request(frame, length)) continue;
        uint64_t sent_at;
        memcpy(&sent_at, frame + 8, 8);
        uint64_t micros = (arrival - sent_at) / 1000;
        histogram[micros < BUCKETS ? micros : BUCKETS]++;
        received++;
    }
    memmove(stream->bytes, stream->bytes + offset, stream->filled - offset);
    stream->filled -= offset;
    return 0;
}

static void *receive_frames(void *argument) {
    pin((int)(intptr_t)argument);
    struct stream *streams = calloc((size_t)clients, sizeof *streams);
    struct epoll_event events[64];
    int poller = poll_clients();
    uint64_t drain_until = 0;
    while (!drained(&drain_until)) {
        int ready = epoll_wait(poller, events, 64, 100);
        for (int e = 0; e < ready; e++) {
            int client = (int)events[e].data.u32;
            struct stream *stream = &streams[client];
            ssize_t count = recv(sockets[client], stream->bytes + stream->filled, STREAM_BUFFER - stream->filled, MSG_DONTWAIT);
            if (count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR)) {
                fprintf(stderr, "blaster: connection of client %d ended\n", client);
                epoll_ctl(poller, EPOLL_CTL_DEL, sockets[client], NULL);
                continue;
            }
            if (count < 0) continue;
            stream->filled += (size_t)count;
            if (take_frames(stream, now_ns()) != 0) {
                fprintf(stderr, "blaster: client %d: a frame longer than %d bytes\n", client, SLOT);
                epoll_ctl(poller, EPOLL_CTL_DEL, sockets[client], NULL);
            }
        }
    }
    close(poller);
    free(streams);
    return NULL;
}

/* Reads exactly `length` bytes from a blocking TCP socket before `deadline`; -1 on a close,
 * an error or the deadline. */
static int read_exactly(int fd, uint8_t *out, size_t length, uint64_t deadline) {
    size_t have = 0;
    while (have < length) {
        uint64_t now = now_ns();
        if (now >= deadline) return -1;
        struct pollfd readable = {.fd = fd, .events = POLLIN};
        if (poll(&readable, 1, (int)((deadline - now) / 1000000u) + 1) <= 0) continue;
        ssize_t count = recv(fd, out + have, length - have, 0);
        if (count <= 0) return -1;
        have += (size_t)count;
    }
    return 0;
}

/* Connects client `index` of tcp-send and has the relay admit it: a framed Binding request
 * with its routing token out, the framed echo back (RFC 4571 §2). Returns the socket, or -1. */
static int tcp_client(int index) {
    static uint8_t frame[2 + 1024], reply[2 + SLOT];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct timeval patience = {1, 0};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
    if (connect(fd, (const struct sockaddr *)&target, sizeof target) != 0) {
        fprintf(stderr, "blaster: client %d: connect: %s\n", index, strerror(errno));
        close(fd);
        return -1;
    }
    size_t length = binding_request(frame + 2, index);
    frame[0] = (uint8_t)(length >> 8), frame[1] = (uint8_t)length;
    uint64_t deadline = now_ns() + 2000000000u;
    if (send(fd, frame, 2 + length, MSG_NOSIGNAL) != (ssize_t)(2 + length) || read_exactly(fd, reply, 2, deadline) != 0) {
        fprintf(stderr, "blaster: client %d: no framed echo of its Binding request\n", index);
        close(fd);
        return -1;
    }
    size_t echoed = (size_t)reply[0] << 8 | reply[1];
    if (echoed > SLOT || read_exactly(fd, reply + 2, echoed, deadline) != 0 || echoed != length ||
        memcmp(reply + 2, frame + 2, length) != 0) {
        fprintf(stderr, "blaster: client %d: the echo is not its Binding request\n", index);
        close(fd);
        return -1;
    }
    return fd;
}

static int tcp_send_load(int cpus[2]) {
    for (int i = 0; i < clients; i++) {
        sockets[i] = tcp_client(i);
        if (sockets[i] < 0) {
            fprintf(stderr, "blaster: only %d of %d clients got their Binding request back\n", i, clients);
            return 1;
        }
    }
    pthread_t receiver;
    pthread_create(&receiver, NULL, receive_frames, (void *)(intptr_t)cpus[1]);
    pin(cpus[0]);
    lower_sender_priority();
    static uint8_t frame[2 + SLOT];
    char broken[MAX_CLIENTS] = {0};
    frame[0] = (uint8_t)(size >> 8), frame[1] = (uint8_t)size;
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
        for (uint64_t i = 0; i < due && i < BATCH; i++) {
            uint64_t stamp = now_ns();
            sequence++;
            memcpy(frame + 2, &sequence, 8);
            memcpy(frame + 10, &stamp, 8);
            /* Blocking, up to a second: a part of a frame (timeout) or an error breaks the
             * connection's framing, so it gets nothing more and its share counts as lost. */
            if (!broken[next_client] && send(sockets[next_client], frame, 2 + (size_t)size, MSG_NOSIGNAL) != 2 + size) {
                fprintf(stderr, "blaster: client %d: send failed, its frames count as lost\n", next_client);
                broken[next_client] = 1;
            }
            sent++;
            next_client = (next_client + 1) % clients;
        }
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    atomic_store(&sending_done, 1);
    pthread_join(receiver, NULL);
    print_summary(sent, elapsed);
    return 0;
}

static int open_flows(void) {
    int fds[500], made = 0, confirmed = 0, cursor = 0;
    while (made < flow_count) {
        int chunk = flow_count - made < 500 ? flow_count - made : 500;
        for (int i = 0; i < chunk; i++) fds[i] = filler_socket(&cursor);
        confirmed += establish(fds, chunk, 1000000 + made);
        for (int i = 0; i < chunk; i++) close(fds[i]);
        made += chunk;
    }
    printf("flows requested %d confirmed %d\n", flow_count, confirmed);
    return confirmed == flow_count ? 0 : 1;
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
        int kept = 0;
        for (int i = 0; i < count; i++) {
            /* 0x14: version 1, family 4; bit 0x08 (an ICE-TCP client) may be set or not. */
            if (encap && (messages[i].msg_len < 8 || slots[i][0] != 0xFA || (slots[i][1] & ~0x08) != 0x14)) continue;
            vectors[i].iov_len = messages[i].msg_len;
            if (kept != i) messages[kept].msg_hdr = messages[i].msg_hdr;
            kept++;
        }
        int sent = kept ? sendmmsg(fd, messages, (unsigned)kept, 0) : 0;
        echoed += sent > 0 ? (uint64_t)sent : 0;
    }
    printf("echoed %llu\n", (unsigned long long)echoed);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) goto usage;
    struct sockaddr_in listen_address;
    int have_address = 0, cpus[2] = {-1, -1};
    for (int i = 2; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(argv[i], "--target")) have_address = parse_address(value, &target) == 0, i++;
        else if (!strcmp(argv[i], "--listen")) have_address = parse_address(value, &listen_address) == 0, i++;
        else if (!strcmp(argv[i], "--size")) size = atoi(value), i++;
        else if (!strcmp(argv[i], "--rate")) rate = atof(value), i++;
        else if (!strcmp(argv[i], "--clients")) clients = atoi(value), i++;
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(value), i++;
        else if (!strcmp(argv[i], "--bind")) {
            char text[64];
            snprintf(text, sizeof text, strchr(value, ':') ? "%s" : "%s:0", value);
            if (parse_address(text, &bind_address)) goto usage;
            i++;
        }
        else if (!strcmp(argv[i], "--token")) token = value, i++;
        else if (!strcmp(argv[i], "--count")) flow_count = atoi(value), i++;
        else if (!strcmp(argv[i], "--encap")) encap = 1;
        else if (!strcmp(argv[i], "--cpu")) { if (sscanf(value, "%d,%d", &cpus[0], &cpus[1]) < 1) goto usage; i++; }
        else goto usage;
    }
    if (!have_address || size < 16 || size > SLOT || clients < 1 || clients > MAX_CLIENTS || rate <= 0) goto usage;
    if (token && strlen(token) > 500) goto usage;
    if (!strcmp(argv[1], "send")) return send_load(cpus);
    if (!strcmp(argv[1], "tcp-send")) {
        if (!token || bind_address.sin_addr.s_addr || bind_address.sin_port) goto usage;
        return tcp_send_load(cpus);
    }
    if (!strcmp(argv[1], "flows")) {
        if (!token || flow_count < 1) goto usage;
        pin(cpus[0]);
        return open_flows();
    }
    if (!strcmp(argv[1], "echo")) return echo(&listen_address, cpus[0]);
usage:
    fprintf(stderr, "usage: blaster send --target IP:PORT [--size 16-2048] [--rate PPS] [--clients 1-1024] [--seconds S] [--cpu A,B]\n"
                    "                    [--bind IP[:PORT]] [--token UFRAG]\n"
                    "       blaster tcp-send --target IP:PORT --token UFRAG [--size 16-2048] [--rate FPS] [--clients 1-1024]\n"
                    "                        [--seconds S] [--cpu A,B]\n"
                    "       blaster flows --target IP:PORT --token UFRAG --count N [--bind IP] [--cpu N]\n"
                    "       blaster echo --listen IP:PORT [--encap] [--cpu N]\n");
    return 2;
}
