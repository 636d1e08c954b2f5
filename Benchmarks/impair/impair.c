/*
 * impair: a userspace UDP and TCP impairment proxy, the netem this kernel lacks.
 *
 *   impair [--udp LISTEN=TARGET]... [--tcp LISTEN=TARGET]... [--delay MS] [--jitter MS]
 *          [--loss PCT] [--reorder PCT] [--reorder-gap MS] [--seed N] [--no-handshake]
 *          [--max-queue PACKETS] [--idle SECONDS] [--realtime]
 *
 * Every datagram or chunk is held for DELAY ms plus a uniform sample in [-JITTER, +JITTER]
 * in each direction on its own, so a round trip costs 2 * DELAY.
 *
 * UDP: each client address gets its own upstream socket connected to TARGET, so the server
 * sees one flow per client and its replies go back to the right client from LISTEN. Loss
 * drops a datagram with probability LOSS% in each direction. Jitter never reorders on its own
 * (a datagram is never released before the one ahead of it in its flow and direction);
 * REORDER% of datagrams are held REORDER-GAP ms (default 25, more than one 20 ms audio frame)
 * past their slot, so the ones behind them overtake.
 *
 * TCP: a byte stream, delayed chunk by chunk in order; loss and reorder do not apply. The
 * kernel completes the client's handshake with this process at once, so by default the first
 * bytes toward TARGET are also held until 3 * DELAY after the accept: what a fresh connection
 * costs on a real path (SYN, SYN-ACK, then data), so a request on a new connection sees
 * 2 round trips. --no-handshake turns that off. End of stream and resets propagate.
 *
 * Bounds: at most --max-queue datagrams in flight (default 100000; beyond that they are
 * dropped and counted), 4096 UDP flows (idle ones closed after --idle seconds, default 120),
 * 1024 TCP connections, 4 MiB queued per TCP direction (then the source is not read).
 * SIGTERM or SIGINT: everything is closed and counters go to stderr. Single-threaded:
 * epoll plus one timerfd armed at the earliest due packet, timer slack 1 us. --realtime asks
 * for SCHED_FIFO. IPv4.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_MAPS 16
#define MAX_FLOWS 4096
#define MAX_CONNS 1024
#define TCP_QUEUE_LIMIT (4u << 20)
#define CHUNK 65536
#define LATE_BUCKETS 10001 /* 10 us each, up to 100 ms */

enum { TAG_UDP_LISTEN = 1, TAG_UDP_FLOW, TAG_TCP_LISTEN, TAG_TCP_SIDE, TAG_TIMER, TAG_SIGNAL };
enum { EV_UDP = 1, EV_TCP };

struct map { int fd; struct sockaddr_in listen, target; };

struct packet {
    size_t len;
    unsigned char data[];
};

struct flow {
    int used, map, fd;
    uint32_t gen;
    struct sockaddr_in client;
    uint64_t last_active, clamp[2];
};

struct chunk {
    struct chunk *next;
    uint64_t due;
    size_t len, off;
    int eof;
    unsigned char data[];
};

struct direction {
    struct chunk *head, *tail;
    size_t queued;
    uint64_t clamp;
    int read_done, write_done, in_heap, blocked;
};

struct conn {
    int used, fd[2], connecting;
    uint32_t gen;
    uint64_t accepted_at;
    struct direction dir[2]; /* 0: client -> target, 1: target -> client */
    unsigned interest[2];
};

struct event {
    uint64_t due, seq;
    int type, dir, slot;
    uint32_t gen;
    struct packet *packet;
};

static struct map udp_maps[MAX_MAPS], tcp_maps[MAX_MAPS];
static int udp_map_count, tcp_map_count;
static struct flow flows[MAX_FLOWS];
static struct conn conns[MAX_CONNS];
static struct event *heap;
static size_t heap_count, heap_capacity;
static uint64_t next_seq, delay_ns, jitter_ns, reorder_gap_ns = 25000000, idle_ns = 120000000000ull;
static double loss_fraction, reorder_fraction;
static size_t max_queue = 100000, udp_in_flight;
static int handshake = 1, epoll_fd, timer_fd;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull, timer_armed_at;
static uint64_t late[LATE_BUCKETS];
static uint64_t count_in[2], count_out[2], count_lost[2], count_reordered[2], count_overflow, count_send_failed;
static uint64_t count_flows, count_conns, tcp_bytes[2];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: reproducible with --seed. */
static double uniform(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

static uint64_t sample_delay(void) {
    double jitter = jitter_ns ? (uniform() * 2 - 1) * (double)jitter_ns : 0;
    double total = (double)delay_ns + jitter;
    return total > 0 ? (uint64_t)total : 0;
}

static int parse_address(const char *text, size_t length, struct sockaddr_in *out) {
    char host[64];
    const char *colon = memrchr(text, ':', length);
    if (!colon || (size_t)(colon - text) >= sizeof host) return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end != text + length || port < 0 || port > 65535) return -1;
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static int parse_mapping(const char *text, struct map *out) {
    const char *equals = strchr(text, '=');
    if (!equals) return -1;
    if (parse_address(text, (size_t)(equals - text), &out->listen) != 0) return -1;
    return parse_address(equals + 1, strlen(equals + 1), &out->target);
}

static const char *show(const struct sockaddr_in *address) {
    static char text[2][32];
    static int which;
    which ^= 1;
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &address->sin_addr, host, sizeof host);
    snprintf(text[which], sizeof text[which], "%s:%u", host, ntohs(address->sin_port));
    return text[which];
}

static void watch(int fd, unsigned events, int tag, int slot, int side) {
    struct epoll_event event = { .events = events,
        .data.u64 = (uint64_t)tag << 32 | (uint64_t)(uint32_t)(slot << 1 | side) };
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) perror("epoll_ctl add");
}

/* Min-heap by (due, seq): equal due times keep arrival order. */
static int earlier(const struct event *a, const struct event *b) {
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static int heap_push(struct event event) {
    if (heap_count == heap_capacity) {
        size_t capacity = heap_capacity ? heap_capacity * 2 : 1024;
        struct event *grown = realloc(heap, capacity * sizeof *grown);
        if (!grown) return -1;
        heap = grown;
        heap_capacity = capacity;
    }
    event.seq = next_seq++;
    size_t at = heap_count++;
    while (at > 0 && earlier(&event, &heap[(at - 1) / 2])) {
        heap[at] = heap[(at - 1) / 2];
        at = (at - 1) / 2;
    }
    heap[at] = event;
    return 0;
}

static struct event heap_pop(void) {
    struct event top = heap[0], last = heap[--heap_count];
    size_t at = 0;
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= heap_count) break;
        if (child + 1 < heap_count && earlier(&heap[child + 1], &heap[child])) child++;
        if (!earlier(&heap[child], &last)) break;
        heap[at] = heap[child];
        at = child;
    }
    if (heap_count) heap[at] = last;
    return top;
}

static void arm_timer(void) {
    uint64_t due = heap_count ? heap[0].due : 0;
    if (due == timer_armed_at) return;
    timer_armed_at = due;
    struct itimerspec spec = { 0 };
    if (due) {
        spec.it_value.tv_sec = (time_t)(due / 1000000000u);
        spec.it_value.tv_nsec = (long)(due % 1000000000u);
    }
    timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

static void record_lateness(uint64_t due, uint64_t now) {
    uint64_t bucket = now > due ? (now - due) / 10000 : 0;
    late[bucket < LATE_BUCKETS - 1 ? bucket : LATE_BUCKETS - 1]++;
}

/* ---- UDP ---- */

static int nonblocking_socket(int type) {
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) perror("socket");
    return fd;
}

static void close_flow(int slot) {
    struct flow *flow = &flows[slot];
    close(flow->fd);
    flow->used = 0;
    flow->gen++;
}

static int open_flow(int map, const struct sockaddr_in *client, uint64_t now) {
    int slot = -1;
    for (int index = 0; index < MAX_FLOWS; index++) {
        if (!flows[index].used) { slot = index; break; }
    }
    if (slot < 0) return -1;
    int fd = nonblocking_socket(SOCK_DGRAM);
    if (fd < 0) return -1;
    int buffer = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    if (connect(fd, (const struct sockaddr *)&udp_maps[map].target, sizeof udp_maps[map].target) != 0) {
        perror("connect (udp target)");
        close(fd);
        return -1;
    }
    struct flow *flow = &flows[slot];
    flow->used = 1;
    flow->map = map;
    flow->fd = fd;
    flow->client = *client;
    flow->last_active = now;
    flow->clamp[0] = flow->clamp[1] = 0;
    count_flows++;
    watch(fd, EPOLLIN, TAG_UDP_FLOW, slot, 0);
    return slot;
}

/* Direction 0: client -> target, 1: target -> client. */
static void schedule_datagram(int slot, int dir, const unsigned char *data, size_t len, uint64_t now) {
    struct flow *flow = &flows[slot];
    count_in[dir]++;
    flow->last_active = now;
    if (loss_fraction > 0 && uniform() < loss_fraction) { count_lost[dir]++; return; }
    if (udp_in_flight >= max_queue) { count_overflow++; return; }
    uint64_t due = now + sample_delay();
    if (due < flow->clamp[dir]) due = flow->clamp[dir];
    if (reorder_fraction > 0 && uniform() < reorder_fraction) {
        due += reorder_gap_ns;
        count_reordered[dir]++;
    } else {
        flow->clamp[dir] = due;
    }
    struct packet *packet = malloc(sizeof *packet + len);
    if (!packet) { count_overflow++; return; }
    packet->len = len;
    memcpy(packet->data, data, len);
    struct event event = { .due = due, .type = EV_UDP, .dir = dir, .slot = slot, .gen = flow->gen, .packet = packet };
    if (heap_push(event) != 0) { free(packet); count_overflow++; return; }
    udp_in_flight++;
}

static void release_datagram(const struct event *event, uint64_t now) {
    struct flow *flow = &flows[event->slot];
    udp_in_flight--;
    if (flow->used && flow->gen == event->gen) {
        ssize_t sent = event->dir == 0
            ? send(flow->fd, event->packet->data, event->packet->len, 0)
            : sendto(udp_maps[flow->map].fd, event->packet->data, event->packet->len, 0,
                     (const struct sockaddr *)&flow->client, sizeof flow->client);
        if (sent < 0) count_send_failed++; else count_out[event->dir]++;
        record_lateness(event->due, now);
    }
    free(event->packet);
}

static void read_udp_listen(int map, uint64_t now) {
    static unsigned char buffer[65536];
    for (;;) {
        struct sockaddr_in client;
        socklen_t size = sizeof client;
        ssize_t len = recvfrom(udp_maps[map].fd, buffer, sizeof buffer, 0, (struct sockaddr *)&client, &size);
        if (len < 0) return;
        int slot = -1;
        for (int index = 0; index < MAX_FLOWS; index++) {
            struct flow *flow = &flows[index];
            if (flow->used && flow->map == map && flow->client.sin_port == client.sin_port
                && flow->client.sin_addr.s_addr == client.sin_addr.s_addr) { slot = index; break; }
        }
        if (slot < 0 && (slot = open_flow(map, &client, now)) < 0) { count_overflow++; continue; }
        schedule_datagram(slot, 0, buffer, (size_t)len, now);
    }
}

static void read_udp_flow(int slot, uint64_t now) {
    static unsigned char buffer[65536];
    for (;;) {
        ssize_t len = recv(flows[slot].fd, buffer, sizeof buffer, 0);
        if (len < 0) return; /* EAGAIN, or ICMP port unreachable reported: keep the flow */
        schedule_datagram(slot, 1, buffer, (size_t)len, now);
    }
}

static void expire_flows(uint64_t now) {
    for (int index = 0; index < MAX_FLOWS; index++) {
        if (flows[index].used && now - flows[index].last_active > idle_ns) close_flow(index);
    }
}

/* ---- TCP ---- */

static void free_chunks(struct direction *direction) {
    while (direction->head) {
        struct chunk *next = direction->head->next;
        free(direction->head);
        direction->head = next;
    }
    direction->tail = NULL;
    direction->queued = 0;
}

static void close_conn(int slot) {
    struct conn *conn = &conns[slot];
    for (int side = 0; side < 2; side++) {
        if (conn->fd[side] >= 0) close(conn->fd[side]);
        free_chunks(&conn->dir[side]);
    }
    conn->used = 0;
    conn->gen++;
}

/* What each socket waits for: readable while its outgoing direction has room, writable while
 * its incoming direction is blocked or the upstream connect is in progress. */
static void update_interest(int slot) {
    struct conn *conn = &conns[slot];
    for (int side = 0; side < 2; side++) {
        struct direction *out = &conn->dir[side], *in = &conn->dir[side ^ 1];
        unsigned events = 0;
        if (!out->read_done && out->queued < TCP_QUEUE_LIMIT && !(side == 1 && conn->connecting)) events |= EPOLLIN;
        if (in->blocked || (side == 1 && conn->connecting)) events |= EPOLLOUT;
        if (events == conn->interest[side]) continue;
        conn->interest[side] = events;
        struct epoll_event event = { .events = events,
            .data.u64 = (uint64_t)TAG_TCP_SIDE << 32 | (uint64_t)(uint32_t)(slot << 1 | side) };
        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, conn->fd[side], &event);
    }
}

static void schedule_direction(int slot, int dir) {
    struct conn *conn = &conns[slot];
    struct direction *direction = &conn->dir[dir];
    if (!direction->head || direction->in_heap || direction->blocked) return;
    struct event event = { .due = direction->head->due, .type = EV_TCP, .dir = dir, .slot = slot, .gen = conn->gen };
    if (heap_push(event) == 0) direction->in_heap = 1;
}

/* Writes every due chunk of `dir` to its destination; returns -1 when the connection closed. */
static int flush_direction(int slot, int dir, uint64_t now) {
    struct conn *conn = &conns[slot];
    struct direction *direction = &conn->dir[dir];
    int destination = conn->fd[dir ^ 1];
    direction->blocked = 0;
    if (dir == 0 && conn->connecting) return 0;
    while (direction->head && direction->head->due <= now) {
        struct chunk *chunk = direction->head;
        if (chunk->eof) {
            shutdown(destination, SHUT_WR);
            direction->write_done = 1;
        } else {
            ssize_t sent = send(destination, chunk->data + chunk->off, chunk->len - chunk->off, MSG_NOSIGNAL);
            if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { direction->blocked = 1; break; }
            if (sent < 0) { close_conn(slot); return -1; }
            if (chunk->off == 0) record_lateness(chunk->due, now);
            chunk->off += (size_t)sent;
            tcp_bytes[dir] += (uint64_t)sent;
            direction->queued -= (size_t)sent;
            if (chunk->off < chunk->len) { direction->blocked = 1; break; }
        }
        direction->head = chunk->next;
        if (!direction->head) direction->tail = NULL;
        free(chunk);
    }
    if (conn->dir[0].write_done && conn->dir[1].write_done) { close_conn(slot); return -1; }
    schedule_direction(slot, dir);
    update_interest(slot);
    return 0;
}

static void read_tcp_side(int slot, int side, uint64_t now) {
    static unsigned char buffer[CHUNK];
    struct conn *conn = &conns[slot];
    struct direction *direction = &conn->dir[side];
    while (!direction->read_done && direction->queued < TCP_QUEUE_LIMIT) {
        ssize_t len = recv(conn->fd[side], buffer, sizeof buffer, 0);
        if (len < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (len < 0) { close_conn(slot); return; }
        struct chunk *chunk = malloc(sizeof *chunk + (size_t)len);
        if (!chunk) { close_conn(slot); return; }
        uint64_t due = now + sample_delay();
        if (due < direction->clamp) due = direction->clamp;
        if (side == 0 && handshake && due < conn->accepted_at + 3 * delay_ns) due = conn->accepted_at + 3 * delay_ns;
        direction->clamp = due;
        *chunk = (struct chunk){ .due = due, .len = (size_t)len, .eof = len == 0 };
        memcpy(chunk->data, buffer, (size_t)len);
        if (direction->tail) direction->tail->next = chunk; else direction->head = chunk;
        direction->tail = chunk;
        direction->queued += (size_t)len;
        if (len == 0) direction->read_done = 1;
    }
    schedule_direction(slot, side);
    update_interest(slot);
}

static void accept_tcp(int map, uint64_t now) {
    for (;;) {
        int client = accept4(tcp_maps[map].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) return;
        int slot = -1;
        for (int index = 0; index < MAX_CONNS; index++) {
            if (!conns[index].used) { slot = index; break; }
        }
        int upstream = slot < 0 ? -1 : nonblocking_socket(SOCK_STREAM);
        if (upstream < 0) { close(client); count_overflow++; continue; }
        int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int result = connect(upstream, (const struct sockaddr *)&tcp_maps[map].target, sizeof tcp_maps[map].target);
        if (result != 0 && errno != EINPROGRESS) { close(client); close(upstream); continue; }
        struct conn *conn = &conns[slot];
        uint32_t gen = conn->gen;
        memset(conn, 0, sizeof *conn);
        *conn = (struct conn){ .used = 1, .fd = { client, upstream }, .connecting = result != 0, .gen = gen,
                               .accepted_at = now, .interest = { EPOLLIN, EPOLLOUT } };
        count_conns++;
        watch(client, EPOLLIN, TAG_TCP_SIDE, slot, 0);
        watch(upstream, EPOLLOUT, TAG_TCP_SIDE, slot, 1);
        update_interest(slot);
    }
}

static void tcp_side_ready(int slot, int side, unsigned events, uint64_t now) {
    struct conn *conn = &conns[slot];
    if (side == 1 && conn->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int error = 0;
        socklen_t size = sizeof error;
        getsockopt(conn->fd[1], SOL_SOCKET, SO_ERROR, &error, &size);
        if (error) { close_conn(slot); return; }
        conn->connecting = 0;
        if (flush_direction(slot, 0, now) != 0) return;
    }
    if (events & EPOLLERR) { close_conn(slot); return; }
    if ((events & EPOLLHUP) && conn->dir[side].read_done) {
        /* Both halves of this socket are shut: nothing more comes, and epoll would keep
         * reporting the hang-up while the other direction's delayed bytes wait. */
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, conn->fd[side], NULL);
        return;
    }
    if ((events & EPOLLOUT) && conn->dir[side ^ 1].blocked) {
        if (flush_direction(slot, side ^ 1, now) != 0) return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_tcp_side(slot, side, now);
}

/* ---- main ---- */

static int open_listener(struct map *map, int type) {
    map->fd = nonblocking_socket(type);
    if (map->fd < 0) return -1;
    int one = 1, buffer = 1 << 20;
    /* TCP only: for UDP, SO_REUSEADDR would let a second process share the port silently. */
    if (type == SOCK_STREAM) setsockopt(map->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    else setsockopt(map->fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    if (bind(map->fd, (const struct sockaddr *)&map->listen, sizeof map->listen) != 0) {
        fprintf(stderr, "impair: bind %s: %s\n", show(&map->listen), strerror(errno));
        return -1;
    }
    if (type == SOCK_STREAM && listen(map->fd, 128) != 0) { perror("listen"); return -1; }
    return 0;
}

static uint64_t late_percentile(double fraction) {
    uint64_t total = 0, seen = 0;
    for (int index = 0; index < LATE_BUCKETS; index++) total += late[index];
    if (!total) return 0;
    for (int index = 0; index < LATE_BUCKETS; index++) {
        seen += late[index];
        if ((double)seen >= fraction * (double)total) return (uint64_t)index * 10;
    }
    return (uint64_t)(LATE_BUCKETS - 1) * 10;
}

static void usage(void) {
    fprintf(stderr, "usage: impair [--udp LISTEN=TARGET]... [--tcp LISTEN=TARGET]... [--delay MS] [--jitter MS]\n"
                    "              [--loss PCT] [--reorder PCT] [--reorder-gap MS] [--seed N] [--no-handshake]\n"
                    "              [--max-queue PACKETS] [--idle SECONDS] [--realtime]\n"
                    "  LISTEN and TARGET are IPv4 IP:PORT; each direction is delayed DELAY ms (RTT = 2 x DELAY).\n");
    exit(2);
}

int main(int argc, char **argv) {
    int realtime = 0;
    for (int index = 1; index < argc; index++) {
        const char *flag = argv[index];
        if (!strcmp(flag, "--no-handshake")) { handshake = 0; continue; }
        if (!strcmp(flag, "--realtime")) { realtime = 1; continue; }
        if (index + 1 >= argc) usage();
        const char *value = argv[++index];
        if (!strcmp(flag, "--udp") || !strcmp(flag, "--tcp")) {
            int udp = flag[2] == 'u';
            int *count = udp ? &udp_map_count : &tcp_map_count;
            if (*count == MAX_MAPS || parse_mapping(value, &(udp ? udp_maps : tcp_maps)[*count]) != 0) {
                fprintf(stderr, "impair: bad mapping %s (want IP:PORT=IP:PORT)\n", value);
                return 2;
            }
            (*count)++;
        } else if (!strcmp(flag, "--delay")) delay_ns = (uint64_t)(atof(value) * 1e6);
        else if (!strcmp(flag, "--jitter")) jitter_ns = (uint64_t)(atof(value) * 1e6);
        else if (!strcmp(flag, "--loss")) loss_fraction = atof(value) / 100;
        else if (!strcmp(flag, "--reorder")) reorder_fraction = atof(value) / 100;
        else if (!strcmp(flag, "--reorder-gap")) reorder_gap_ns = (uint64_t)(atof(value) * 1e6);
        else if (!strcmp(flag, "--seed")) rng_state = strtoull(value, NULL, 10) * 0x9e3779b97f4a7c15ull | 1;
        else if (!strcmp(flag, "--max-queue")) max_queue = strtoull(value, NULL, 10);
        else if (!strcmp(flag, "--idle")) idle_ns = (uint64_t)(atof(value) * 1e9);
        else usage();
    }
    if (udp_map_count + tcp_map_count == 0) usage();
    prctl(PR_SET_TIMERSLACK, 1UL);
    if (realtime) {
        struct sched_param param = { .sched_priority = 10 };
        if (sched_setscheduler(0, SCHED_FIFO, &param) != 0) perror("impair: SCHED_FIFO");
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigprocmask(SIG_BLOCK, &signals, NULL);
    int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    for (int index = 0; index < MAX_CONNS; index++) conns[index].fd[0] = conns[index].fd[1] = -1;
    watch(signal_fd, EPOLLIN, TAG_SIGNAL, 0, 0);
    watch(timer_fd, EPOLLIN, TAG_TIMER, 0, 0);
    for (int index = 0; index < udp_map_count; index++) {
        if (open_listener(&udp_maps[index], SOCK_DGRAM) != 0) return 1;
        watch(udp_maps[index].fd, EPOLLIN, TAG_UDP_LISTEN, index, 0);
        fprintf(stderr, "impair: udp %s -> %s\n", show(&udp_maps[index].listen), show(&udp_maps[index].target));
    }
    for (int index = 0; index < tcp_map_count; index++) {
        if (open_listener(&tcp_maps[index], SOCK_STREAM) != 0) return 1;
        watch(tcp_maps[index].fd, EPOLLIN, TAG_TCP_LISTEN, index, 0);
        fprintf(stderr, "impair: tcp %s -> %s\n", show(&tcp_maps[index].listen), show(&tcp_maps[index].target));
    }
    fprintf(stderr, "impair: delay %.3f ms jitter %.3f ms loss %.2f%% reorder %.2f%% (gap %.1f ms)%s\n",
            (double)delay_ns / 1e6, (double)jitter_ns / 1e6, loss_fraction * 100, reorder_fraction * 100,
            (double)reorder_gap_ns / 1e6, handshake ? "" : " no-handshake");
    uint64_t next_expiry = now_ns() + 1000000000u;
    int running = 1;
    while (running) {
        struct epoll_event events[64];
        int ready = epoll_wait(epoll_fd, events, 64, 1000);
        uint64_t now = now_ns();
        for (int index = 0; index < ready; index++) {
            int tag = (int)(events[index].data.u64 >> 32);
            int slot = (int)((uint32_t)events[index].data.u64 >> 1), side = (int)(events[index].data.u64 & 1);
            switch (tag) {
            case TAG_UDP_LISTEN: read_udp_listen(slot, now); break;
            case TAG_UDP_FLOW: if (flows[slot].used) read_udp_flow(slot, now); break;
            case TAG_TCP_LISTEN: accept_tcp(slot, now); break;
            case TAG_TCP_SIDE: if (conns[slot].used) tcp_side_ready(slot, side, events[index].events, now); break;
            case TAG_TIMER: { uint64_t expirations; if (read(timer_fd, &expirations, sizeof expirations) < 0) break; timer_armed_at = 0; break; }
            case TAG_SIGNAL: running = 0; break;
            }
        }
        now = now_ns();
        while (heap_count && heap[0].due <= now) {
            struct event event = heap_pop();
            if (event.type == EV_UDP) {
                release_datagram(&event, now);
            } else if (conns[event.slot].used && conns[event.slot].gen == event.gen) {
                conns[event.slot].dir[event.dir].in_heap = 0;
                flush_direction(event.slot, event.dir, now);
            }
        }
        if (now >= next_expiry) {
            expire_flows(now);
            next_expiry = now + 1000000000u;
        }
        arm_timer();
    }
    while (heap_count) {
        struct event event = heap_pop();
        if (event.type == EV_UDP) free(event.packet);
    }
    free(heap);
    for (int index = 0; index < MAX_FLOWS; index++) if (flows[index].used) close_flow(index);
    for (int index = 0; index < MAX_CONNS; index++) if (conns[index].used) close_conn(index);
    for (int index = 0; index < udp_map_count; index++) close(udp_maps[index].fd);
    for (int index = 0; index < tcp_map_count; index++) close(tcp_maps[index].fd);
    close(timer_fd);
    close(signal_fd);
    close(epoll_fd);
    fprintf(stderr,
            "impair: udp flows %llu; to target in %llu out %llu lost %llu reordered %llu; "
            "to client in %llu out %llu lost %llu reordered %llu; overflow %llu send-failed %llu; "
            "tcp connections %llu bytes to target %llu to client %llu; "
            "release lateness p50 %llu us p99 %llu us max-bucket %llu us\n",
            (unsigned long long)count_flows, (unsigned long long)count_in[0], (unsigned long long)count_out[0],
            (unsigned long long)count_lost[0], (unsigned long long)count_reordered[0],
            (unsigned long long)count_in[1], (unsigned long long)count_out[1], (unsigned long long)count_lost[1],
            (unsigned long long)count_reordered[1], (unsigned long long)count_overflow,
            (unsigned long long)count_send_failed, (unsigned long long)count_conns,
            (unsigned long long)tcp_bytes[0], (unsigned long long)tcp_bytes[1],
            (unsigned long long)late_percentile(0.5), (unsigned long long)late_percentile(0.99),
            (unsigned long long)late_percentile(1.0));
    return 0;
}
