/*
 * wsload: a single-threaded epoll WebSocket load client for bench/run.py.
 *
 * SHA-1, base64, framing and masking are below; the one library is OpenSSL's
 * libssl, for --tls (wss): the same loop over non-blocking SSL_read/SSL_write.
 *
 * Modes (one JSON line on stdout at the end; errors on stderr, exit != 0):
 *   echo       N connections, each keeps exactly one message of S bytes in
 *              flight (text of printable ASCII, or --binary), every frame
 *              masked with a fresh random key, every echoed byte verified.
 *              Counts round trips and per-message latency in a window that
 *              starts --warmup seconds after every connection is open.
 *   handshake  P parallel slots, each in a loop: connect, upgrade (with
 *              Sec-WebSocket-Protocol: echo, checks 101 and the Accept key),
 *              one masked echo, Close, wait for the server's Close or EOF,
 *              close. Counts completed cycles per second in the window.
 *   idle       opens K connections (P handshakes at a time), holds them for
 *              --hold seconds, reports server RSS (VmRSS of --pids) before the
 *              first connect and with all K open.
 *   drop       one connection: upgrade, one echo, then an abortive close
 *              (SO_LINGER 0, so the server sees a reset). Used to put a server
 *              in its "warm" state.
 *   broadcast  N receiving connections and one publisher (opened last, on
 *              --port). The publisher sends text messages of S bytes that
 *              start with "<seq> <send time>" (hex, this client's monotonic
 *              clock) and the server sends each to every connection on the
 *              path. Receivers check every byte, the order and the gaps, and
 *              count deliveries/s and publish-to-delivery latency in the
 *              window. Closed loop by default: at most --window publications
 *              not yet delivered to all N (one older than 1 s counts as lost);
 *              --rate R publishes R per second instead (an offered load).
 *              --port2 Q puts every odd receiver on port Q (another process).
 *   chat       the broadcast machinery against examples/chat_server.py's protocol
 *              (PerfectExamples/Perfect-Chat-Demo): --conns N clients on
 *              /chat (subprotocol "chat") each join with {"email",
 *              "displayName", "avatar"}; the last one posts, the same object
 *              with "message": "#<seq>:<send time>" (hex). Every other client
 *              must receive exactly {"user": "P", "message": "P: #<seq>:<time>",
 *              "avatar": "a"} (Python's json.dumps); the poster never gets its
 *              own post back, and the Bot's "Joined" lines are checked and
 *              skipped. Posting starts once all N-1 receivers are known to be
 *              joined (each has heard a Bot line; the poster joins again until
 *              they all have). Counts deliveries/s, posts/s and latency.
 *
 * --json sends JSON documents of exactly S bytes instead of random ASCII (text
 * that compresses like an API's). --deflate offers permessage-deflate
 * (RFC 7692, with zlib) and fails unless the server accepts it: messages go
 * out compressed (RSV1, level 1 to spare the client's core) and replies are
 * inflated before every byte is verified, honouring the server's
 * *_no_context_takeover answers.
 *
 * --tls speaks TLS (wss) on every connection: a full handshake per connection
 * (no session resumption), no certificate verification (the benchmark's
 * certificate is a throwaway one, made at run time), and the JSON line names
 * the negotiated protocol and cipher. Every frame is still masked and every
 * echoed byte verified, after decryption.
 *
 * With --pids a,b,c the client also samples the CPU time of those processes
 * (all threads, /proc/PID/task/TID/schedstat) and its own over the window.
 *
 * Every mode has a hard time limit (--timeout, default from the other
 * durations): past it the client prints an error and exits with status 3.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zlib.h>

/* ------------------------------------------------------------------ utils */

static const char *g_mode_name = "?";

static void die(const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "wsload: error: %s\n", msg);
    /* A JSON line too, so the orchestrator can show the reason. */
    printf("{\"mode\":\"%s\",\"ok\":false,\"error\":\"", g_mode_name);
    for (const char *p = msg; *p; p++) {
        if (*p == '"' || *p == '\\')
            putchar('\\');
        putchar((unsigned char)*p >= 0x20 ? *p : ' ');
    }
    printf("\"}\n");
    fflush(stdout);
    exit(1);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "wsload: error: hard time limit reached\n";
    ssize_t r = write(2, m, sizeof m - 1);
    (void)r;
    _exit(3);
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_self_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static inline uint64_t rnd(void) /* xorshift64* */
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1Dull;
}

/* ------------------------------------------------------------ SHA-1, b64 */

typedef struct {
    uint32_t h[5];
    uint64_t len;
    uint8_t buf[64];
    size_t n;
} sha1_ctx;

#define ROL(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

static void sha1_block(sha1_ctx *c, const uint8_t *p)
{
    uint32_t w[80], a = c->h[0], b = c->h[1], d = c->h[3], e = c->h[4], cc = c->h[2];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & cc) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ cc ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & cc) | (b & d) | (cc & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ cc ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = ROL(a, 5) + f + e + k + w[i];
        e = d;
        d = cc;
        cc = ROL(b, 30);
        b = a;
        a = t;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
}

static void sha1(const uint8_t *data, size_t len, uint8_t out[20])
{
    sha1_ctx c = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
    c.len = (uint64_t)len * 8;
    while (len >= 64) {
        sha1_block(&c, data);
        data += 64;
        len -= 64;
    }
    uint8_t tail[128] = {0};
    memcpy(tail, data, len);
    tail[len] = 0x80;
    size_t tl = len + 1 + 8 <= 64 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        tail[tl - 1 - i] = (uint8_t)(c.len >> (8 * i));
    sha1_block(&c, tail);
    if (tl == 128)
        sha1_block(&c, tail + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(c.h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c.h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c.h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c.h[i];
    }
}

static void b64(const uint8_t *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    char *o = out;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = t[v >> 18];
        *o++ = t[(v >> 12) & 63];
        *o++ = t[(v >> 6) & 63];
        *o++ = t[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *o++ = t[v >> 18];
        *o++ = t[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *o++ = t[v >> 18];
        *o++ = t[(v >> 12) & 63];
        *o++ = t[(v >> 6) & 63];
        *o++ = '=';
    }
    *o = 0;
}

static void self_test(void)
{
    /* RFC 6455 section 1.3 example. */
    const char *k = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t d[20];
    char out[32];
    sha1((const uint8_t *)k, strlen(k), d);
    b64(d, 20, out);
    if (strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0)
        die("SHA-1/base64 self-test failed: %s", out);
}

/* ---------------------------------------------------------------- options */

enum { M_ECHO, M_HANDSHAKE, M_IDLE, M_DROP, M_BROADCAST, M_CHAT };

/* Modes with receivers and a publisher (broadcast; chat, whose publisher posts). */
#define PUBSUB (O.mode == M_BROADCAST || O.mode == M_CHAT)

static struct {
    int mode;
    const char *host;
    int port;
    const char *path;
    const char *proto;
    int conns;
    size_t size;
    int binary;
    double warmup, duration, hold, timeout;
    int parallel;
    int pids[64];
    int npids;
    int tls;
    int port2;
    double rate;
    int window;
    int json, deflate;
} O = {M_ECHO, "127.0.0.1", 0, "/echo", "echo", 1, 32, 0, 1.0, 2.5, 5.0, 0, 64, {0}, 0, 0,
       0, 0, 4, 0, 0};

static void usage(void)
{
    fprintf(stderr,
            "usage: wsload MODE --port P [options]\n"
            "  MODE: echo | handshake | idle | drop | broadcast | chat\n"
            "  --json --deflate (echo: JSON text, permessage-deflate)\n"
            "  --port2 Q --rate R --window W (broadcast; chat: --rate, --window)\n"
            "  --host 127.0.0.1 --path /echo --proto echo (empty: none)\n"
            "  --conns N (echo: connections; idle: connections to hold)\n"
            "  --size S --binary --warmup SEC --duration SEC --tls (wss)\n"
            "  --parallel P (handshake: slots; echo/idle: handshakes at a time)\n"
            "  --hold SEC (idle) --timeout SEC (hard limit) --seed N\n"
            "  --pids a,b,... (server processes to sample CPU and RSS of)\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "echo"))
        O.mode = M_ECHO;
    else if (!strcmp(argv[1], "handshake"))
        O.mode = M_HANDSHAKE;
    else if (!strcmp(argv[1], "idle"))
        O.mode = M_IDLE;
    else if (!strcmp(argv[1], "drop"))
        O.mode = M_DROP;
    else if (!strcmp(argv[1], "broadcast"))
        O.mode = M_BROADCAST;
    else if (!strcmp(argv[1], "chat"))
        O.mode = M_CHAT;
    else
        usage();
    g_mode_name = argv[1];
    uint64_t seed = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--binary")) {
            O.binary = 1;
            continue;
        }
        if (!strcmp(a, "--tls")) {
            O.tls = 1;
            continue;
        }
        if (!strcmp(a, "--json")) {
            O.json = 1;
            continue;
        }
        if (!strcmp(a, "--deflate")) {
            O.deflate = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--host"))
            O.host = v;
        else if (!strcmp(a, "--port"))
            O.port = atoi(v);
        else if (!strcmp(a, "--path"))
            O.path = v;
        else if (!strcmp(a, "--proto"))
            O.proto = v;
        else if (!strcmp(a, "--conns"))
            O.conns = atoi(v);
        else if (!strcmp(a, "--size"))
            O.size = (size_t)strtoull(v, NULL, 10);
        else if (!strcmp(a, "--warmup"))
            O.warmup = atof(v);
        else if (!strcmp(a, "--duration"))
            O.duration = atof(v);
        else if (!strcmp(a, "--hold"))
            O.hold = atof(v);
        else if (!strcmp(a, "--timeout"))
            O.timeout = atof(v);
        else if (!strcmp(a, "--parallel"))
            O.parallel = atoi(v);
        else if (!strcmp(a, "--port2"))
            O.port2 = atoi(v);
        else if (!strcmp(a, "--rate"))
            O.rate = atof(v);
        else if (!strcmp(a, "--window"))
            O.window = atoi(v);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--pids")) {
            char *s = strdup(v), *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t && O.npids < 64; t = strtok_r(NULL, ",", &save))
                O.pids[O.npids++] = atoi(t);
            free(s);
        } else
            usage();
    }
    if (O.port <= 0 || O.port > 65535)
        die("--port is required");
    if (O.conns < 1 || O.parallel < 1 || O.size > (1u << 30))
        die("bad --conns/--parallel/--size");
    if (O.mode == M_DROP)
        O.conns = 1;
    if (O.mode == M_BROADCAST && (O.size < 34 || O.size > 65535 || O.binary || O.tls || O.deflate))
        die("broadcast: text messages of 34..65535 bytes, no --binary/--tls/--deflate");
    if (O.mode == M_CHAT && (O.conns < 2 || O.port2 || O.binary || O.tls || O.deflate))
        die("chat: --conns of 2 or more (one posts), no --port2/--binary/--tls/--deflate");
    if (O.mode == M_CHAT) {
        O.conns--; /* receivers; the poster is the extra slot, as in broadcast */
        if (!strcmp(O.path, "/echo"))
            O.path = "/chat"; /* examples/chat_server.py's route and subprotocol */
        if (!strcmp(O.proto, "echo"))
            O.proto = "chat";
    }
    if (O.window < 1 || O.port2 < 0 || O.port2 > 65535 || O.rate < 0)
        die("bad --window/--port2/--rate");
    if (O.deflate && O.tls)
        die("--deflate with --tls is not supported");
    g_rng = seed ? seed : 1;
    for (int i = 0; i < 8; i++)
        rnd();
    if (O.timeout <= 0) {
        double t = 30.0;
        if (O.mode == M_ECHO || O.mode == M_HANDSHAKE || PUBSUB)
            t += O.warmup + O.duration;
        if (O.mode == M_IDLE)
            t += O.hold + O.conns / 500.0;
        O.timeout = t;
    }
}

/* ------------------------------------------------------- server sampling */

static uint64_t server_cpu_ns(void)
{
    uint64_t total = 0;
    for (int i = 0; i < O.npids; i++) {
        char p[64];
        snprintf(p, sizeof p, "/proc/%d/task", O.pids[i]);
        DIR *d = opendir(p);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char f[320];
            snprintf(f, sizeof f, "/proc/%d/task/%s/schedstat", O.pids[i], e->d_name);
            FILE *fp = fopen(f, "r");
            if (!fp)
                continue;
            unsigned long long ns = 0;
            if (fscanf(fp, "%llu", &ns) == 1)
                total += ns;
            fclose(fp);
        }
        closedir(d);
    }
    return total;
}

/* Whole-machine CPU from /proc/stat (all cores, in seconds): busy and steal. */
static void machine_cpu(double *busy, double *steal)
{
    unsigned long long v[8] = {0};
    FILE *fp = fopen("/proc/stat", "r");
    if (fp) {
        if (fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) != 8)
            memset(v, 0, sizeof v);
        fclose(fp);
    }
    double hz = (double)sysconf(_SC_CLK_TCK);
    *busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
    *steal = (double)v[7] / hz;
}

static long server_rss_kib(void)
{
    long total = 0;
    for (int i = 0; i < O.npids; i++) {
        char p[64], line[256];
        snprintf(p, sizeof p, "/proc/%d/status", O.pids[i]);
        FILE *fp = fopen(p, "r");
        if (!fp)
            continue;
        while (fgets(line, sizeof line, fp))
            if (!strncmp(line, "VmRSS:", 6))
                total += atol(line + 6);
        fclose(fp);
    }
    return total;
}

/* ------------------------------------------------------------ connections */

enum { S_FREE, S_CONNECTING, S_TLS_HANDSHAKE, S_UPGRADING, S_OPEN, S_CLOSING };

typedef struct {
    int fd;
    SSL *ssl; /* --tls only */
    int state;
    int evmask;
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    uint8_t *in;
    size_t in_len, in_cap;
    char accept[32];
    const uint8_t *expect; /* the payload sent, for verification */
    size_t got;            /* bytes of the current echo verified so far */
    uint64_t t_send;       /* when the current message was sent */
    uint64_t t_start;      /* handshake mode: when the cycle started */
    int64_t last_seq;      /* broadcast: the last sequence number received */
    int joined;            /* chat: this receiver has heard the Bot, so is joined */
    uint64_t t_join;       /* chat: when the poster last sent its join */
    z_stream *zdef, *zinf; /* --deflate: this connection's compressors */
    int srv_nct, cli_nct;  /* the server's *_no_context_takeover answers */
    int zmsg;              /* the message being received is compressed */
    uint8_t *zin;          /* its compressed bytes so far */
    size_t zin_len, zin_cap;
} conn;

static int g_ep;
static conn *g_conns;
static int g_nconns;
static struct sockaddr_in g_addr;
static uint8_t *g_pool;
static size_t g_pool_len;
static char g_req[1024];
static int g_req_keypos;
static SSL_CTX *g_tls;
static char g_tls_error[256]; /* OpenSSL's reason for the last TLS failure */
static char g_tls_version[32], g_tls_cipher[64];

/* Counters. */
static uint64_t g_count;       /* round trips (echo) or cycles (handshake) */
static int g_open;             /* connections upgraded */
static int g_pending;          /* connections connecting or upgrading */
static int g_started;          /* connections ever started */
static int g_proto_echo;       /* upgrades that answered Sec-WebSocket-Protocol: echo */
static int g_measuring;        /* inside the window */
static int g_stop_cycles;      /* handshake mode: stop starting new cycles */

/* Broadcast mode: publications in flight, by sequence number modulo RING. */
#define RING 8192
static uint32_t g_ring_got[RING];   /* receivers that got it */
static uint64_t g_ring_t[RING];     /* when it was published */
static int64_t g_next_seq, g_done_seq;
static uint64_t g_published, g_lost_pubs, g_missed, g_behind;
static uint64_t g_next_due;
static int g_joined;  /* chat: receivers known to be joined */
static uint64_t g_bot; /* chat: the Bot's lines received */
static struct sockaddr_in g_addr2;
static uint8_t *g_zbuf; /* --deflate: scratch for one (de)compressed message */
static size_t g_zbuf_cap;

#define HIST_US 1000000
static uint32_t *g_hist; /* 1 us buckets up to 1 s, then one overflow bucket */
static uint64_t g_hist_n;

static void hist_add(uint64_t ns)
{
    uint64_t us = ns / 1000;
    g_hist[us < HIST_US ? us : HIST_US]++;
    g_hist_n++;
}

static double hist_pct(double p)
{
    if (!g_hist_n)
        return 0;
    uint64_t want = (uint64_t)(p * (double)g_hist_n + 0.5);
    if (want < 1)
        want = 1;
    uint64_t acc = 0;
    for (int i = 0; i <= HIST_US; i++) {
        acc += g_hist[i];
        if (acc >= want)
            return i + 0.5;
    }
    return HIST_US;
}

static void set_events(conn *c, int ev)
{
    if (c->evmask == ev)
        return;
    struct epoll_event e = {.events = (uint32_t)ev, .data.u32 = (uint32_t)(c - g_conns)};
    if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
        die("epoll_ctl: %s", strerror(errno));
    c->evmask = ev;
}

static void out_reserve(conn *c, size_t n)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n <= c->out_cap)
        return;
    if (c->out_off) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = realloc(c->out, cap);
        if (!c->out)
            die("out of memory");
        c->out_cap = cap;
    }
}

static void in_reserve(conn *c, size_t need)
{
    if (need <= c->in_cap)
        return;
    size_t cap = c->in_cap ? c->in_cap : 256;
    while (cap < need)
        cap *= 2;
    c->in = realloc(c->in, cap);
    if (!c->in)
        die("out of memory");
    c->in_cap = cap;
}

static void mask_copy(uint8_t *dst, const uint8_t *src, size_t n, uint32_t key)
{
    uint8_t k[4];
    memcpy(k, &key, 4);
    uint64_t k64 = (uint64_t)key | ((uint64_t)key << 32);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k64;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ k[i & 3];
}

/* Append one masked client frame to the output buffer. */
static void put_frame(conn *c, int opcode, const uint8_t *payload, size_t n)
{
    out_reserve(c, n + 14);
    uint8_t *h = c->out + c->out_len;
    size_t hl = 2;
    h[0] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        h[1] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    uint32_t key = (uint32_t)(rnd() >> 16);
    memcpy(h + hl, &key, 4);
    hl += 4;
    mask_copy(h + hl, payload, n, key);
    c->out_len += hl + n;
}

/* ------------------------------------------------------------- TLS and I/O */

static void tls_init(void)
{
    g_tls = SSL_CTX_new(TLS_client_method());
    if (!g_tls)
        die("SSL_CTX_new failed");
    /* The benchmark's certificate is made at run time: nothing to verify it
     * against, and verifying would only measure the client. */
    SSL_CTX_set_verify(g_tls, SSL_VERIFY_NONE, NULL);
    /* The output buffer may be moved (realloc, memmove) between a write that
     * wanted to wait and its retry, and partial writes keep it simple. */
    SSL_CTX_set_mode(g_tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Servers close TCP after the WebSocket Close without a close_notify:
     * that is an end of stream here, not an error. */
    SSL_CTX_set_options(g_tls, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

/* Map a failed SSL_* call to the socket convention: -1 with errno EAGAIN
 * (try again when *want is ready), 0 for the end of the stream, or -1 with
 * another errno (g_tls_error says why for TLS-level errors). */
static ssize_t tls_result(conn *c, int r, int *want)
{
    int e = SSL_get_error(c->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want = EPOLLIN;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want = EPOLLOUT;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            errno = ECONNRESET;
        snprintf(g_tls_error, sizeof g_tls_error, "%s", strerror(errno));
        return -1;
    default:
        ERR_error_string_n(ERR_get_error(), g_tls_error, sizeof g_tls_error);
        errno = EPROTO;
        return -1;
    }
}

static ssize_t io_send(conn *c, const uint8_t *buf, size_t n)
{
    if (!c->ssl)
        return send(c->fd, buf, n, MSG_NOSIGNAL);
    ERR_clear_error();
    int r = SSL_write(c->ssl, buf, n > (1u << 30) ? (1 << 30) : (int)n);
    int want = 0;
    return r > 0 ? r : tls_result(c, r, &want);
}

/* *want says which event a TLS read waits for (a read may need to write). */
static ssize_t io_recv(conn *c, uint8_t *buf, size_t n, int *want)
{
    *want = EPOLLIN;
    if (!c->ssl)
        return recv(c->fd, buf, n, 0);
    ERR_clear_error();
    int r = SSL_read(c->ssl, buf, n > (1u << 30) ? (1 << 30) : (int)n);
    return r > 0 ? r : tls_result(c, r, want);
}

static const char *io_error(conn *c)
{
    return c->ssl && errno == EPROTO ? g_tls_error : strerror(errno);
}

static void conn_free(conn *c, int abortive)
{
    if (c->ssl) {
        /* No close_notify: the WebSocket Close already ended the session. */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        if (abortive) {
            struct linger l = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        close(c->fd); /* also removes it from the epoll set */
    }
    if (c->state == S_CONNECTING || c->state == S_TLS_HANDSHAKE || c->state == S_UPGRADING)
        g_pending--;
    if (c->state == S_OPEN || c->state == S_CLOSING)
        g_open--;
    c->fd = -1;
    c->state = S_FREE;
    c->out_off = c->out_len = c->in_len = 0;
    c->got = 0;
    c->expect = NULL;
    if (c->zdef) {
        deflateEnd(c->zdef);
        free(c->zdef);
        c->zdef = NULL;
    }
    if (c->zinf) {
        inflateEnd(c->zinf);
        free(c->zinf);
        c->zinf = NULL;
    }
    c->zin_len = 0;
    c->zmsg = 0;
}

/* Returns 0 when the connection was freed (or failed and died). */
static int flush(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = io_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, EPOLLIN | EPOLLOUT);
            return 1;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (c->state == S_CLOSING) { /* the server may close first */
            conn_free(c, 0);
            return 0;
        }
        die("send on connection %d: %s", (int)(c - g_conns), io_error(c));
    }
    c->out_off = c->out_len = 0;
    set_events(c, EPOLLIN);
    return 1;
}

static void conn_start(conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (raise RLIMIT_NOFILE?)", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int idx = (int)(c - g_conns);
    const struct sockaddr_in *to =
        O.port2 && O.mode == M_BROADCAST && idx < O.conns && (idx & 1) ? &g_addr2 : &g_addr;
    c->last_seq = -1;
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS)
        die("connect to %s:%d: %s", O.host, O.port, strerror(errno));
    c->fd = fd;
    if (g_tls) {
        c->ssl = SSL_new(g_tls);
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1)
            die("SSL_new/SSL_set_fd failed");
        SSL_set_connect_state(c->ssl);
    }
    c->state = S_CONNECTING;
    c->evmask = EPOLLOUT;
    c->t_start = now_ns();
    g_pending++;
    g_started++;
    struct epoll_event e = {.events = EPOLLOUT, .data.u32 = (uint32_t)(c - g_conns)};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &e) < 0)
        die("epoll_ctl add: %s", strerror(errno));

    /* Upgrade request with a fresh key; remember the expected accept. */
    uint8_t raw[16], dig[20];
    char key[32], cat[128];
    for (int i = 0; i < 16; i++)
        raw[i] = (uint8_t)rnd();
    b64(raw, 16, key);
    memcpy(g_req + g_req_keypos, key, 24);
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    sha1((const uint8_t *)cat, strlen(cat), dig);
    b64(dig, 20, c->accept);
    size_t n = strlen(g_req);
    out_reserve(c, n);
    memcpy(c->out + c->out_len, g_req, n);
    c->out_len += n;
}

#define JSON_DOCS 64

/* zlib's raw deflate of one whole message, without the final 00 00 ff ff
 * (RFC 7692 section 7.2.1); the result is in g_zbuf. */
static size_t deflate_message(conn *c, const uint8_t *p, size_t n)
{
    z_stream *z = c->zdef;
    z->next_in = (Bytef *)p;
    z->avail_in = (uInt)n;
    z->next_out = g_zbuf;
    z->avail_out = (uInt)g_zbuf_cap;
    if (deflate(z, Z_SYNC_FLUSH) != Z_OK || z->avail_in != 0 || z->avail_out == 0)
        die("deflate failed");
    size_t out = g_zbuf_cap - z->avail_out;
    if (out < 4 || memcmp(g_zbuf + out - 4, "\x00\x00\xff\xff", 4) != 0)
        die("deflate output without its sync marker");
    if (c->cli_nct)
        deflateReset(z);
    return out - 4;
}

static void send_message(conn *c)
{
    size_t off = O.json ? (size_t)(rnd() % JSON_DOCS) * O.size
                        : (size_t)(rnd() % (g_pool_len - O.size + 1));
    c->expect = g_pool + off;
    c->got = 0;
    if (c->zdef) {
        size_t n = deflate_message(c, c->expect, O.size);
        put_frame(c, 0x40 | (O.binary ? 2 : 1), g_zbuf, n); /* RSV1: compressed */
    } else {
        put_frame(c, O.binary ? 2 : 1, c->expect, O.size);
    }
    c->t_send = now_ns();
}

/* Inflate the compressed message gathered in c->zin into g_zbuf; its size. */
static size_t inflate_message(conn *c)
{
    if (c->zin_len + 4 > c->zin_cap) {
        c->zin_cap = (c->zin_len + 4) * 2;
        c->zin = realloc(c->zin, c->zin_cap);
        if (!c->zin)
            die("out of memory");
    }
    memcpy(c->zin + c->zin_len, "\x00\x00\xff\xff", 4);
    z_stream *z = c->zinf;
    z->next_in = c->zin;
    z->avail_in = (uInt)(c->zin_len + 4);
    z->next_out = g_zbuf;
    z->avail_out = (uInt)g_zbuf_cap;
    int r = inflate(z, Z_SYNC_FLUSH);
    if ((r != Z_OK && r != Z_BUF_ERROR) || z->avail_in != 0)
        die("inflate of a reply failed (zlib %d: %s)", r, z->msg ? z->msg : "-");
    if (c->srv_nct)
        inflateReset(z);
    c->zin_len = 0;
    return g_zbuf_cap - z->avail_out;
}

/* Broadcast mode: the publication `seq` sent at `t`, as its receivers must see it. */
static void publication(uint8_t *out, int64_t seq, uint64_t t)
{
    char head[40];
    int n = snprintf(head, sizeof head, "%016llx %016llx ", (unsigned long long)seq,
                     (unsigned long long)t);
    memcpy(out, head, (size_t)n);
    for (size_t i = (size_t)n; i < O.size; i++)
        out[i] = (uint8_t)('a' + (seq + (int64_t)i) % 26);
}

/* Chat mode: the names in examples/chat_server.py's JSON. Receiver i is "r<i>";
 * the poster is "P". The server answers with json.dumps's default separators. */
#define CHAT_POSTER_EMAIL "poster@bench.invalid"
#define CHAT_DELIVERY "{\"user\": \"P\", \"message\": \"P: #%016llx:%016llx\", \"avatar\": \"a\"}"
#define CHAT_BOT_HEAD "{\"user\": \"Bot\", \"message\": \"Bot: "
#define CHAT_BOT_TAIL " Joined\", \"avatar\": \"http://en.gravatar.com/avatar/0\"}"

/* Chat mode: join the room (the demo's join message, without "message"). */
static void chat_join(conn *c)
{
    char msg[160];
    int idx = (int)(c - g_conns);
    int n = idx == O.conns
                ? snprintf(msg, sizeof msg,
                           "{\"email\":\"" CHAT_POSTER_EMAIL "\",\"displayName\":\"P\","
                           "\"avatar\":\"a\"}")
                : snprintf(msg, sizeof msg,
                           "{\"email\":\"r%d@bench.invalid\",\"displayName\":\"r%d\","
                           "\"avatar\":\"a\"}",
                           idx, idx);
    put_frame(c, 1, (const uint8_t *)msg, (size_t)n);
    c->t_join = now_ns();
}

static void publish(void)
{
    conn *pub = &g_conns[O.conns];
    uint8_t msg[65536];
    int64_t seq = g_next_seq++;
    uint64_t t = now_ns();
    size_t len = O.size;
    if (O.mode == M_CHAT)
        len = (size_t)snprintf((char *)msg, sizeof msg,
                               "{\"email\":\"" CHAT_POSTER_EMAIL "\",\"displayName\":\"P\","
                               "\"avatar\":\"a\",\"message\":\"#%016llx:%016llx\"}",
                               (unsigned long long)seq, (unsigned long long)t);
    else
        publication(msg, seq, t);
    g_ring_got[seq % RING] = 0;
    g_ring_t[seq % RING] = t;
    put_frame(pub, 1, msg, len);
    g_published++;
    flush(pub);
}

/* Retire finished publications; publish what the loop or the rate allows. */
static void pub_tick(void)
{
    if (!PUBSUB || g_open < O.conns + 1 || (O.mode == M_CHAT && g_joined < O.conns))
        return;
    uint64_t now = now_ns();
    while (g_done_seq < g_next_seq) {
        uint32_t got = g_ring_got[g_done_seq % RING];
        if (got < (uint32_t)O.conns) {
            if (now - g_ring_t[g_done_seq % RING] < 1000000000ull)
                break;
            g_lost_pubs++;
        }
        g_done_seq++;
    }
    if (O.rate > 0) {
        if (!g_next_due)
            g_next_due = now;
        while (now >= g_next_due) {
            g_next_due += (uint64_t)(1e9 / O.rate);
            if (g_next_seq - g_done_seq >= RING - 1)
                g_behind++;
            else
                publish();
        }
    } else {
        while (g_next_seq - g_done_seq < O.window)
            publish();
    }
}

/* Chat mode: a text message of len bytes arrived on c: the Bot's "Joined" line
 * or a post. Returns the post's sequence number and send time in *seq and *t,
 * or 0 for a Bot line. */
static int chat_message(conn *c, const uint8_t *p, size_t len, unsigned long long *seq,
                        unsigned long long *t)
{
    size_t hl = sizeof CHAT_BOT_HEAD - 1, tl = sizeof CHAT_BOT_TAIL - 1;
    if (len > hl + tl && !memcmp(p, CHAT_BOT_HEAD, hl) &&
        !memcmp(p + len - tl, CHAT_BOT_TAIL, tl)) {
        if (c - g_conns < O.conns && !c->joined) {
            c->joined = 1; /* the room sent it something, so it is in the room */
            g_joined++;
        }
        g_bot++;
        return 0;
    }
    char got[160], want[160];
    if (len >= sizeof got)
        die("chat message of %zu bytes, neither a post nor a Bot join", len);
    memcpy(got, p, len);
    got[len] = 0;
    if (sscanf(got, "{\"user\": \"P\", \"message\": \"P: #%16llx:%16llx", seq, t) != 2)
        die("chat message that is neither a post nor a Bot join: %s", got);
    int n = snprintf(want, sizeof want, CHAT_DELIVERY, *seq, *t);
    if ((size_t)n != len || memcmp(want, p, len) != 0)
        die("chat post delivered as %.*s, want %s", (int)len, (const char *)p, want);
    if (c - g_conns == O.conns)
        die("the poster got its own post back (seq %llu)", *seq);
    return 1;
}

/* One broadcast message (or chat post) of len bytes arrived on c. */
static void on_delivery(conn *c, const uint8_t *p, size_t len)
{
    uint64_t t_recv = now_ns();
    if (O.mode == M_CHAT) {
        unsigned long long seq, t;
        if (!chat_message(c, p, len, &seq, &t))
            return;
        if ((int64_t)seq >= g_next_seq || (g_next_seq - (int64_t)seq < RING &&
                                          g_ring_t[seq % RING] != t))
            die("chat post differs from every one posted (seq %llu)", seq);
        if ((int64_t)seq <= c->last_seq)
            die("connection %d got seq %llu after %lld", (int)(c - g_conns), seq,
                (long long)c->last_seq);
        if (c->last_seq >= 0)
            g_missed += (uint64_t)((int64_t)seq - c->last_seq - 1);
        c->last_seq = (int64_t)seq;
        if (g_next_seq - (int64_t)seq < RING)
            g_ring_got[seq % RING]++;
        if (g_measuring) {
            g_count++;
            hist_add(t_recv - t);
        }
        return;
    }
    if (len != O.size)
        die("broadcast message of %zu bytes, published %zu", len, O.size);
    unsigned long long seq, t;
    if (sscanf((const char *)p, "%16llx %16llx ", &seq, &t) != 2)
        die("broadcast message without its header");
    uint8_t want[65536];
    publication(want, (int64_t)seq, t);
    if (memcmp(want, p, len) != 0 || (int64_t)seq >= g_next_seq)
        die("broadcast message differs from every one published (seq %llu)", seq);
    if ((int64_t)seq <= c->last_seq)
        die("connection %d got seq %llu after %lld", (int)(c - g_conns), seq,
            (long long)c->last_seq);
    if (c - g_conns == O.conns) { /* the publisher's own copy */
        c->last_seq = (int64_t)seq;
        return;
    }
    if (c->last_seq >= 0)
        g_missed += (uint64_t)((int64_t)seq - c->last_seq - 1);
    c->last_seq = (int64_t)seq;
    if (g_next_seq - (int64_t)seq < RING)
        g_ring_got[seq % RING]++;
    if (g_measuring) {
        g_count++;
        hist_add(t_recv - t);
    }
}

static void send_close(conn *c)
{
    static const uint8_t payload[] = {0x03, 0xE8, 'b', 'y', 'e'}; /* 1000 */
    put_frame(c, 8, payload, sizeof payload);
    c->state = S_CLOSING;
}

/* Mode hooks. */
static void on_open(conn *c)
{
    g_pending--;
    g_open++;
    c->state = S_OPEN;
    if (O.mode == M_CHAT)
        chat_join(c);
    else if (O.mode != M_IDLE && O.mode != M_BROADCAST)
        send_message(c);
}

/* A whole echo arrived and was verified. Returns 0 if c was freed. */
static int on_echo(conn *c)
{
    uint64_t t = now_ns();
    if (O.mode == M_ECHO) {
        if (g_measuring) {
            g_count++;
            hist_add(t - c->t_send);
        }
        send_message(c);
        return 1;
    }
    if (O.mode == M_DROP) {
        g_count++;
        conn_free(c, 1);
        return 0;
    }
    /* handshake */
    send_close(c);
    return 1;
}

static int on_close_done(conn *c)
{
    if (O.mode == M_HANDSHAKE && c->state == S_CLOSING) {
        uint64_t t = now_ns();
        if (g_measuring) {
            g_count++;
            hist_add(t - c->t_start);
        }
        conn_free(c, 0);
        if (!g_stop_cycles)
            conn_start(c);
        return 0;
    }
    die("server closed connection %d unexpectedly (state %d, %d open)", (int)(c - g_conns),
        c->state, g_open);
    return 0;
}

static int parse_upgrade(conn *c)
{
    uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) {
        if (c->in_len > 16384)
            die("upgrade response headers too long");
        return 1;
    }
    size_t hlen = (size_t)(end - c->in) + 4;
    char *h = malloc(hlen + 1);
    memcpy(h, c->in, hlen);
    h[hlen] = 0;
    if (strncmp(h, "HTTP/1.1 101", 12) != 0) {
        char *nl = strstr(h, "\r\n");
        if (nl)
            *nl = 0;
        die("upgrade refused: \"%s\"", h);
    }
    int accept_ok = 0, deflate_ok = 0;
    for (char *line = strstr(h, "\r\n") + 2; *line && line < h + hlen; ) {
        char *nl = strstr(line, "\r\n");
        if (!nl || nl == line)
            break;
        *nl = 0;
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = 0;
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = strlen(v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                v[--vl] = 0;
            if (!strcasecmp(line, "Sec-WebSocket-Accept")) {
                if (strcmp(v, c->accept) != 0)
                    die("bad Sec-WebSocket-Accept: got %s, want %s", v, c->accept);
                accept_ok = 1;
            } else if (!strcasecmp(line, "Sec-WebSocket-Protocol")) {
                if (!O.proto[0] || strcmp(v, O.proto) != 0)
                    die("server chose subprotocol \"%s\", not offered", v);
                g_proto_echo++;
            } else if (!strcasecmp(line, "Sec-WebSocket-Extensions")) {
                if (!O.deflate || strncmp(v, "permessage-deflate", 18) != 0)
                    die("server chose extension \"%s\", not offered", v);
                deflate_ok = 1;
                c->srv_nct = strstr(v, "server_no_context_takeover") != NULL;
                c->cli_nct = strstr(v, "client_no_context_takeover") != NULL;
                if (strstr(v, "client_max_window_bits"))
                    die("server limited client_max_window_bits, not offered: %s", v);
            }
        }
        line = nl + 2;
    }
    free(h);
    if (!accept_ok)
        die("101 response without Sec-WebSocket-Accept");
    if (O.deflate && !deflate_ok)
        die("server did not accept permessage-deflate");
    if (O.deflate) {
        c->zdef = calloc(1, sizeof *c->zdef);
        c->zinf = calloc(1, sizeof *c->zinf);
        if (!c->zdef || !c->zinf ||
            deflateInit2(c->zdef, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
            inflateInit2(c->zinf, -15) != Z_OK)
            die("zlib init failed");
    }
    memmove(c->in, c->in + hlen, c->in_len - hlen);
    c->in_len -= hlen;
    on_open(c);
    return 1;
}

/* Parse every whole frame in the input buffer. Returns 0 if c was freed. */
static int parse_frames(conn *c)
{
    size_t pos = 0;
    int alive = 1;
    while (alive) {
        size_t avail = c->in_len - pos;
        if (avail < 2)
            break;
        const uint8_t *p = c->in + pos;
        int fin = p[0] >> 7, op = p[0] & 15;
        int rsv1 = 0;
        if (p[0] & 0x40 && c->zinf && c->got == 0 && c->zin_len == 0 && !c->zmsg &&
            ((p[0] & 15) == 1 || (p[0] & 15) == 2))
            rsv1 = 1; /* a compressed message starts */
        else if (p[0] & 0x70)
            die("server frame with RSV bits 0x%02x", p[0]);
        if (p[1] & 0x80)
            die("server frame is masked");
        uint64_t len = p[1] & 127;
        size_t hl = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)p[2] << 8 | p[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            hl = 10;
            if (len > (1ull << 31))
                die("server frame of %llu bytes", (unsigned long long)len);
        }
        if (avail < hl + len) {
            in_reserve(c, hl + (size_t)len);
            break;
        }
        const uint8_t *pl = p + hl;
        pos += hl + (size_t)len;
        if (op == 8) { /* Close */
            alive = on_close_done(c);
            break;
        } else if (op == 9) { /* Ping: answer */
            put_frame(c, 10, pl, (size_t)len);
            alive = flush(c);
        } else if (op == 10) { /* Pong: ignore */
        } else if (PUBSUB && (op == 0 || op == 1 || op == 2)) {
            if (op != 1 || !fin)
                die("broadcast arrived as opcode %d fin %d, want one text frame", op, fin);
            on_delivery(c, pl, (size_t)len);
        } else if ((op == 0 || op == 1 || op == 2) && (rsv1 || c->zmsg)) {
            if (!c->expect)
                die("unsolicited compressed frame");
            int want = rsv1 ? (O.binary ? 2 : 1) : 0;
            if (op != want)
                die("echo has opcode %d, want %d", op, want);
            c->zmsg = 1;
            if (c->zin_len + len + 4 > c->zin_cap) {
                c->zin_cap = (c->zin_len + (size_t)len + 4) * 2;
                c->zin = realloc(c->zin, c->zin_cap);
                if (!c->zin)
                    die("out of memory");
            }
            memcpy(c->zin + c->zin_len, pl, (size_t)len);
            c->zin_len += (size_t)len;
            if (fin) {
                c->zmsg = 0;
                size_t n = inflate_message(c);
                if (n != O.size || memcmp(g_zbuf, c->expect, n) != 0)
                    die("inflated echo differs from what was sent (connection %d, %zu bytes)",
                        (int)(c - g_conns), n);
                c->expect = NULL;
                alive = on_echo(c) && flush(c);
            }
        } else if (op == 0 || op == 1 || op == 2) {
            if (!c->expect)
                die("unsolicited data frame (opcode %d, %llu bytes)", op,
                    (unsigned long long)len);
            int want = c->got == 0 ? (O.binary ? 2 : 1) : 0;
            if (op != want)
                die("echo has opcode %d, want %d", op, want);
            if (c->got + len > O.size || memcmp(pl, c->expect + c->got, (size_t)len) != 0)
                die("echoed bytes differ from those sent (connection %d, offset %zu)",
                    (int)(c - g_conns), c->got);
            c->got += (size_t)len;
            if (fin) {
                if (c->got != O.size)
                    die("echo of %zu bytes, sent %zu", c->got, O.size);
                c->expect = NULL;
                alive = on_echo(c) && flush(c);
            }
        } else {
            die("server frame with opcode %d", op);
        }
    }
    if (!alive)
        return 0;
    if (pos) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
    return 1;
}

/* Drive the TLS handshake; returns 1 once it is done and the upgrade is sent. */
static int tls_handshake(conn *c)
{
    ERR_clear_error();
    int r = SSL_connect(c->ssl);
    if (r <= 0) {
        int want = 0;
        if (tls_result(c, r, &want) < 0 && errno == EAGAIN) {
            set_events(c, want);
            return 0;
        }
        die("TLS handshake on connection %d: %s", (int)(c - g_conns),
            g_tls_error[0] ? g_tls_error : "connection closed by the server");
    }
    if (!g_tls_version[0]) {
        snprintf(g_tls_version, sizeof g_tls_version, "%s", SSL_get_version(c->ssl));
        snprintf(g_tls_cipher, sizeof g_tls_cipher, "%s", SSL_get_cipher_name(c->ssl));
    }
    c->state = S_UPGRADING;
    return flush(c);
}

static void on_event(conn *c, uint32_t ev)
{
    if (c->state == S_FREE)
        return;
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err)
            die("connect to %s:%d: %s", O.host, O.port, strerror(err));
        if (!(ev & EPOLLOUT))
            return;
        c->state = c->ssl ? S_TLS_HANDSHAKE : S_UPGRADING;
        if (!c->ssl && !flush(c))
            return;
    }
    if (c->state == S_TLS_HANDSHAKE && !tls_handshake(c))
        return;
    if (ev & EPOLLOUT && c->out_off < c->out_len && !flush(c))
        return;
    /* A TLS read may be waiting for EPOLLOUT, and decrypted bytes left inside
     * the SSL object wake no epoll: with TLS, always read until it would block. */
    if (!c->ssl && !(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    for (;;) {
        in_reserve(c, c->in_len + 4096);
        int want;
        ssize_t n = io_recv(c, c->in + c->in_len, c->in_cap - c->in_len, &want);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                if (want == EPOLLOUT)
                    set_events(c, EPOLLIN | EPOLLOUT);
                return;
            }
            if (c->state == S_CLOSING && errno == ECONNRESET) {
                on_close_done(c);
                return;
            }
            die("recv on connection %d: %s", (int)(c - g_conns), io_error(c));
        }
        if (n == 0) {
            on_close_done(c);
            return;
        }
        c->in_len += (size_t)n;
        if (c->state == S_UPGRADING) {
            if (!parse_upgrade(c))
                return;
            if (c->state == S_UPGRADING) {
                if (!c->ssl)
                    return; /* level-triggered epoll calls again */
                continue;
            }
            if (!flush(c))
                return;
        }
        if (!parse_frames(c) || !c->ssl)
            return;
    }
}

static void poll_once(int timeout_ms)
{
    static struct epoll_event evs[1024];
    int n = epoll_wait(g_ep, evs, 1024, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++)
        on_event(&g_conns[evs[i].data.u32], evs[i].events);
}

static int ms_until(uint64_t t);

/* How long epoll may wait (ms) before the next publication is due. */
static int pub_ms(int ms)
{
    if (!PUBSUB || O.rate <= 0 || !g_next_due)
        return PUBSUB && O.rate <= 0 ? (ms < 10 ? ms : 10) : ms;
    int due = ms_until(g_next_due);
    return due < ms ? due : ms;
}

static int ms_until(uint64_t t)
{
    uint64_t now = now_ns();
    if (t <= now)
        return 0;
    uint64_t ms = (t - now + 999999) / 1000000;
    return ms > 1000 ? 1000 : (int)ms;
}

/* Open connections, at most O.parallel upgrading at a time, until all n are open. */
static void open_all(int n)
{
    int next = 0;
    while (g_open < n) {
        while (next < n && g_pending < O.parallel)
            conn_start(&g_conns[next++]);
        poll_once(100);
    }
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    self_test();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    struct itimerval itv = {{0, 0}, {(time_t)O.timeout, (long)((O.timeout - (time_t)O.timeout) * 1e6)}};
    setitimer(ITIMER_REAL, &itv, NULL);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    int slots = O.mode == M_HANDSHAKE ? O.parallel : O.conns + PUBSUB;
    if ((rlim_t)slots + 16 > rl.rlim_cur)
        die("%d connections need more file descriptors than RLIMIT_NOFILE %llu", slots,
            (unsigned long long)rl.rlim_cur);

    memset(&g_addr, 0, sizeof g_addr);
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)O.port);
    if (inet_pton(AF_INET, O.host, &g_addr.sin_addr) != 1)
        die("bad --host %s (an IPv4 address)", O.host);
    g_addr2 = g_addr;
    g_addr2.sin_port = htons((uint16_t)O.port2);

    snprintf(g_req, sizeof g_req,
             "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Version: 13\r\n%s%s%s%sSec-WebSocket-Key: ",
             O.path, O.host, O.port, O.proto[0] ? "Sec-WebSocket-Protocol: " : "", O.proto,
             O.proto[0] ? "\r\n" : "",
             O.deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "");
    g_req_keypos = (int)strlen(g_req);
    strcat(g_req, "XXXXXXXXXXXXXXXXXXXXXXXX\r\n\r\n");

    /* The payload pool: messages are random slices of it. */
    g_pool_len = (O.size * 2 > 131072 ? O.size * 2 : 131072) + O.size;
    if (O.json && g_pool_len < (size_t)JSON_DOCS * O.size)
        g_pool_len = (size_t)JSON_DOCS * O.size;
    g_pool = malloc(g_pool_len);
    g_hist = calloc(HIST_US + 1, sizeof *g_hist);
    g_conns = calloc((size_t)slots, sizeof *g_conns);
    if (!g_pool || !g_hist || !g_conns)
        die("out of memory");
    for (size_t i = 0; i < g_pool_len; i++) {
        uint8_t b = (uint8_t)(rnd() >> 24);
        g_pool[i] = O.binary ? b : (uint8_t)(0x20 + b % 95);
    }
    if (O.json) {
        /* JSON_DOCS documents of exactly O.size bytes: records like an API's,
         * then a "pad" string that makes up the size. */
        if (O.size < 64 || (size_t)JSON_DOCS * O.size > g_pool_len)
            die("--json needs --size of 64..%zu", g_pool_len / JSON_DOCS);
        static const char *names[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
        for (int d = 0; d < JSON_DOCS; d++) {
            char *doc = (char *)g_pool + (size_t)d * O.size;
            size_t n = (size_t)snprintf(doc, O.size, "{\"items\":[");
            for (int i = 0;; i++) {
                char rec[200];
                int k = snprintf(rec, sizeof rec,
                                 "%s{\"id\":%llu,\"user\":\"%s\",\"score\":%llu.%02llu,"
                                 "\"active\":%s,\"tags\":[\"ws\",\"t%llu\"]}",
                                 i ? "," : "", (unsigned long long)(rnd() % 100000),
                                 names[rnd() % 6], (unsigned long long)(rnd() % 1000),
                                 (unsigned long long)(rnd() % 100), rnd() & 1 ? "true" : "false",
                                 (unsigned long long)(rnd() % 50));
                if (n + (size_t)k + 12 > O.size)
                    break;
                memcpy(doc + n, rec, (size_t)k);
                n += (size_t)k;
            }
            memcpy(doc + n, "],\"pad\":\"", 10);
            n += 10;
            while (n < O.size - 2)
                doc[n++] = 'x';
            doc[n++] = '"';
            doc[n++] = '}';
        }
    }
    if (O.deflate) {
        g_zbuf_cap = O.size + O.size / 2 + 1024;
        g_zbuf = malloc(g_zbuf_cap);
        if (!g_zbuf)
            die("out of memory");
    }
    g_nconns = slots;
    for (int i = 0; i < slots; i++)
        g_conns[i].fd = -1;
    if (O.tls)
        tls_init();
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0)
        die("epoll_create1: %s", strerror(errno));

    uint64_t t0 = now_ns();
    double window = 0, cpu_srv = 0, cpu_cli = 0, cpu_other = 0, cpu_steal = 0;
    long rss_before = 0, rss_with = 0;

    if (O.mode == M_ECHO || O.mode == M_DROP || PUBSUB) {
        open_all(slots);
        /* A receiver whose join the server read after every other join hears
         * no Bot line: the poster joins again (the room keeps one entry per
         * email) until every receiver has heard one. */
        conn *poster = &g_conns[O.conns];
        while (O.mode == M_CHAT && g_joined < O.conns) {
            poll_once(20);
            if (g_joined < O.conns && now_ns() - poster->t_join > 200000000ull) {
                chat_join(poster);
                flush(poster);
            }
        }
        if (O.mode == M_DROP) {
            while (g_count < 1)
                poll_once(100);
            printf("{\"mode\":\"drop\",\"ok\":true,\"port\":%d,\"tls\":%s}\n", O.port,
                   O.tls ? "true" : "false");
            return 0;
        }
    } else if (O.mode == M_HANDSHAKE) {
        for (int i = 0; i < slots; i++)
            conn_start(&g_conns[i]);
    } else { /* idle */
        rss_before = server_rss_kib();
        open_all(O.conns);
    }
    double connect_s = (double)(now_ns() - t0) / 1e9;

    if (O.mode == M_ECHO || O.mode == M_HANDSHAKE || PUBSUB) {
        uint64_t w0 = now_ns() + (uint64_t)(O.warmup * 1e9);
        pub_tick();
        while (now_ns() < w0) {
            poll_once(pub_ms(ms_until(w0)));
            pub_tick();
        }
        uint64_t missed0 = g_missed, lost0 = g_lost_pubs, pubs0 = g_published;
        double mb0, ms0, mb1, ms1;
        machine_cpu(&mb0, &ms0);
        uint64_t s0 = server_cpu_ns(), c0 = cpu_self_ns();
        uint64_t ws = now_ns(), we = ws + (uint64_t)(O.duration * 1e9);
        g_count = 0;
        g_measuring = 1;
        while (now_ns() < we) {
            poll_once(pub_ms(ms_until(we)));
            pub_tick();
        }
        g_measuring = 0;
        g_missed -= missed0;
        g_lost_pubs -= lost0;
        g_published -= pubs0;
        uint64_t s1 = server_cpu_ns(), c1 = cpu_self_ns(), wend = now_ns();
        machine_cpu(&mb1, &ms1);
        window = (double)(wend - ws) / 1e9;
        cpu_srv = (double)(s1 - s0) / 1e9;
        cpu_cli = (double)(c1 - c0) / 1e9;
        cpu_other = (mb1 - mb0) - cpu_srv - cpu_cli;
        if (cpu_other < 0)
            cpu_other = 0;
        cpu_steal = ms1 - ms0;
    } else {
        uint64_t he = now_ns() + (uint64_t)(O.hold * 1e9);
        while (now_ns() < he)
            poll_once(ms_until(he));
        rss_with = server_rss_kib();
        if (g_open != O.conns)
            die("only %d of %d idle connections still open", g_open, O.conns);
    }

    double rate = window > 0 ? (double)g_count / window : 0;
    printf("{\"mode\":\"%s\",\"ok\":true,\"port\":%d,\"path\":\"%s\",\"conns\":%d,"
           "\"parallel\":%d,\"size\":%zu,\"binary\":%s,\"connect_s\":%.3f,"
           "\"subprotocol_echo\":%d,\"started\":%d,\"tls\":%s",
           g_mode_name, O.port, O.path, O.conns + (O.mode == M_CHAT), O.parallel, O.size, O.binary ? "true" : "false",
           connect_s, g_proto_echo, g_started, O.tls ? "true" : "false");
    if (O.tls)
        printf(",\"tls_version\":\"%s\",\"tls_cipher\":\"%s\"", g_tls_version, g_tls_cipher);
    if (O.mode == M_IDLE) {
        printf(",\"hold_s\":%.2f,\"rss_before_kib\":%ld,\"rss_with_kib\":%ld,"
               "\"rss_per_conn_kib\":%.2f",
               O.hold, rss_before, rss_with, (double)(rss_with - rss_before) / O.conns);
    } else {
        printf(",\"window_s\":%.3f,\"count\":%llu,\"rate\":%.1f,\"mib_s_each_way\":%.2f,"
               "\"p50_us\":%.1f,\"p99_us\":%.1f,\"server_cpu_s\":%.4f,\"client_cpu_s\":%.4f,"
               "\"server_cpu_share\":%.4f,\"client_cpu_share\":%.4f,\"server_us_per_op\":%.3f,"
               "\"other_cpu_share\":%.3f,\"steal_share\":%.3f",
               window, (unsigned long long)g_count, rate,
               O.mode == M_ECHO ? rate * (double)O.size / 1048576.0 : 0.0, hist_pct(0.50),
               hist_pct(0.99), cpu_srv, cpu_cli, cpu_srv / window, cpu_cli / window,
               g_count ? cpu_srv * 1e6 / (double)g_count : 0.0, cpu_other / window,
               cpu_steal / window);
    }
    if (O.mode == M_CHAT)
        printf(",\"clients\":%d,\"bot_lines\":%llu", O.conns + 1, (unsigned long long)g_bot);
    if (PUBSUB)
        printf(",\"receivers\":%d,\"port2\":%d,\"offered_rate\":%.1f,\"window\":%d,"
               "\"publishes_s\":%.1f,\"missed\":%llu,\"lost_publications\":%llu,"
               "\"behind\":%llu",
               O.conns, O.port2, O.rate, O.window, (double)g_published / window,
               (unsigned long long)g_missed, (unsigned long long)g_lost_pubs,
               (unsigned long long)g_behind);
    if (O.deflate || O.json)
        printf(",\"json\":%s,\"deflate\":%s", O.json ? "true" : "false",
               O.deflate ? "true" : "false");
    printf("}\n");
    fflush(stdout);
    return 0;
}
