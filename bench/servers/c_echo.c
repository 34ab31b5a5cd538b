/*
 * c_echo: a minimal single-threaded epoll WebSocket echo server in C.
 *
 * The loopback ceiling of the machine with bench/wsload (perf-anchors.md's
 * "C ceiling"): it is there to show how much headroom the client has, not as
 * a peer. It answers the upgrade (Sec-WebSocket-Accept, subprotocol "echo"
 * when offered), unmasks client frames and echoes data frames frame by frame,
 * answers Ping and Close. It validates nothing else (no UTF-8 check).
 *
 * usage: c_echo --port P [--host 127.0.0.1]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROL(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6;
        uint32_t t = ROL(a, 5) + f + e + k + w[i];
        e = d, d = c, c = ROL(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

/* base64(sha1(key + GUID)) into out (29 bytes with the NUL). */
static void accept_key(const char *key, size_t klen, char *out)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t msg[192] = {0}, dig[21] = {0};
    size_t n = klen + sizeof guid - 1;
    if (n > 119)
        n = 119, klen = 119 - (sizeof guid - 1);
    memcpy(msg, key, klen);
    memcpy(msg + klen, guid, sizeof guid - 1);
    msg[n] = 0x80;
    size_t blocks = n + 9 <= 64 ? 1 : n + 9 <= 128 ? 2 : 3;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
        msg[blocks * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    for (size_t b = 0; b < blocks; b++)
        sha1_block(h, msg + 64 * b);
    for (int i = 0; i < 20; i++)
        dig[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
    char *o = out;
    for (int i = 0; i < 21; i += 3) {
        uint32_t v = (uint32_t)dig[i] << 16 | (uint32_t)dig[i + 1] << 8 | dig[i + 2];
        *o++ = t[v >> 18];
        *o++ = t[(v >> 12) & 63];
        *o++ = t[(v >> 6) & 63];
        *o++ = t[v & 63];
    }
    out[27] = '=';
    out[28] = 0;
}

typedef struct {
    int fd;
    int ws;      /* upgraded */
    int closing; /* close after the output drains */
    int evmask;
    uint8_t *in, *out;
    size_t in_len, in_cap, out_off, out_len, out_cap;
} conn;

static int g_ep;

static void reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    *buf = realloc(*buf, c);
    if (!*buf) {
        perror("realloc");
        exit(1);
    }
    *cap = c;
}

static void drop(conn *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void set_events(conn *c, int ev)
{
    if (c->evmask == ev)
        return;
    struct epoll_event e = {.events = (uint32_t)ev, .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &e);
    c->evmask = ev;
}

/* Returns 0 if the connection was dropped. */
static int flush(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            set_events(c, EPOLLIN | EPOLLOUT);
            return 1;
        } else {
            drop(c);
            return 0;
        }
    }
    c->out_off = c->out_len = 0;
    if (c->closing) {
        drop(c);
        return 0;
    }
    set_events(c, EPOLLIN);
    return 1;
}

static void put(conn *c, int op, const uint8_t *p, size_t n, int fin)
{
    reserve(&c->out, &c->out_cap, c->out_len + n + 10);
    uint8_t *h = c->out + c->out_len;
    size_t hl = 2;
    h[0] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (n < 126) {
        h[1] = (uint8_t)n;
    } else if (n < 65536) {
        h[1] = 126, h[2] = (uint8_t)(n >> 8), h[3] = (uint8_t)n, hl = 4;
    } else {
        h[1] = 127, hl = 10;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    memcpy(h + hl, p, n);
    c->out_len += hl + n;
}

static int handle_http(conn *c)
{
    uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return c->in_len < 16384;
    size_t hlen = (size_t)(end - c->in) + 4;
    const char *key = NULL, *proto_echo = NULL;
    size_t klen = 0;
    char *p = (char *)c->in;
    *end = 0;
    for (char *line = strstr(p, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (!strncasecmp(line, "Sec-WebSocket-Key:", 18)) {
            key = line + 18;
            while (*key == ' ')
                key++;
            const char *e = strstr(key, "\r\n");
            klen = e ? (size_t)(e - key) : strlen(key);
        } else if (!strncasecmp(line, "Sec-WebSocket-Protocol:", 23)) {
            const char *e = strstr(line, "\r\n");
            size_t l = e ? (size_t)(e - line) : strlen(line);
            if (memmem(line + 23, l - 23, "echo", 4))
                proto_echo = "Sec-WebSocket-Protocol: echo\r\n";
        }
    }
    if (!key)
        return 0;
    char acc[32], resp[256];
    accept_key(key, klen, acc);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                     acc, proto_echo ? proto_echo : "");
    reserve(&c->out, &c->out_cap, c->out_len + (size_t)n);
    memcpy(c->out + c->out_len, resp, (size_t)n);
    c->out_len += (size_t)n;
    memmove(c->in, c->in + hlen, c->in_len - hlen);
    c->in_len -= hlen;
    c->ws = 1;
    return 1;
}

/* Returns 0 to drop the connection. */
static int handle_frames(conn *c)
{
    size_t pos = 0;
    while (c->in_len - pos >= 2 && !c->closing) {
        uint8_t *f = c->in + pos;
        size_t avail = c->in_len - pos, hl = 2;
        uint64_t len = f[1] & 127;
        if (!(f[1] & 0x80))
            return 0; /* client frames must be masked */
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)f[2] << 8 | f[3], hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | f[2 + i];
            hl = 10;
            if (len > (1ull << 30))
                return 0;
        }
        if (avail < hl + 4 + len) {
            reserve(&c->in, &c->in_cap, hl + 4 + (size_t)len);
            break;
        }
        uint8_t *m = f + hl, *pl = f + hl + 4;
        uint32_t k32;
        memcpy(&k32, m, 4);
        uint64_t k64 = (uint64_t)k32 | (uint64_t)k32 << 32;
        size_t i = 0;
        for (; i + 8 <= len; i += 8) {
            uint64_t v;
            memcpy(&v, pl + i, 8);
            v ^= k64;
            memcpy(pl + i, &v, 8);
        }
        for (; i < len; i++)
            pl[i] ^= m[i & 3];
        int op = f[0] & 15, fin = f[0] >> 7;
        if (op <= 2)
            put(c, op, pl, (size_t)len, fin);
        else if (op == 9)
            put(c, 10, pl, (size_t)len, 1);
        else if (op == 8) {
            put(c, 8, pl, len >= 2 ? 2 : 0, 1);
            c->closing = 1;
        }
        pos += hl + 4 + (size_t)len;
    }
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
    return 1;
}

static void on_readable(conn *c)
{
    reserve(&c->in, &c->in_cap, c->in_len + 4096);
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop(c);
        return;
    }
    c->in_len += (size_t)n;
    if (!c->ws && !handle_http(c)) {
        drop(c);
        return;
    }
    if (c->ws && !handle_frames(c)) {
        drop(c);
        return;
    }
    if (c->out_len)
        flush(c);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--host"))
            host = argv[i + 1];
    }
    if (port <= 0) {
        fprintf(stderr, "usage: c_echo --port P [--host 127.0.0.1]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) {
        perror("c_echo: bind/listen");
        return 1;
    }
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, ls, &le);
    static struct epoll_event evs[1024];
    for (;;) {
        int n = epoll_wait(g_ep, evs, 1024, -1);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    nc->evmask = EPOLLIN;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                if (!flush(c))
                    continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
        }
    }
}
