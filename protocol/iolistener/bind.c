/*
 * bind.c - the sockets iolistener listens on: the four client ports and
 * the registration socket of the protocol server instances.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_fs.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "lsnr.h"

void lsnr_ports_init(struct lsnr_port ports[LSNR_NPORTS], const struct ofc_config *cfg)
{
    ports[0] = (struct lsnr_port){"pop3", LSNR_POP3, false, cfg->pop3_port, -1};
    ports[1] = (struct lsnr_port){"pop3s", LSNR_POP3, true, cfg->pop3s_port, -1};
    ports[2] = (struct lsnr_port){"imap", LSNR_IMAP, false, cfg->imap_port, -1};
    ports[3] = (struct lsnr_port){"imaps", LSNR_IMAP, true, cfg->imaps_port, -1};
}

/*
 * socket, SO_REUSEADDR (a restarted listener must not wait for TIME_WAIT
 * connections of its predecessor), bind, listen. v6only: -1 leaves the
 * system default. Returns the descriptor, or -1 with errno.
 */
static int listen_on(const struct sockaddr *sa, socklen_t salen, int v6only, int backlog)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (v6only >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0) ||
        bind(fd, sa, salen) != 0 || listen(fd, backlog) != 0) {
        int saved = errno;
        (void)close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* '*': IPv6 any taking IPv4 as well; IPv4 any where the kernel has no IPv6. */
static int listen_any(int port, int backlog, bool *v4_only_r)
{
    struct sockaddr_in6 sin6 = {
        .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_ANY_INIT};
    int fd = listen_on((const struct sockaddr *)&sin6, sizeof(sin6), 0, backlog);
    if (fd >= 0 || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL && errno != EPROTONOSUPPORT))
        return fd;
    *v4_only_r = true;
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_ANY)};
    return listen_on((const struct sockaddr *)&sin, sizeof(sin), -1, backlog);
}

/* A numeric address ("192.0.2.1", "::1", "[::1]", "fe80::1%eth0") as a socket address. */
static int resolve_literal(const char *address, struct sockaddr_storage *ss, socklen_t *len_r,
                           char **error_r)
{
    char *host = ofc_xstrdup(address);
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, "0", &hints, &ai);
    free(host);
    if (rc != 0 || ai == NULL || ai->ai_addrlen > sizeof(*ss)) {
        *error_r = ofc_xasprintf("ListenAddress '%s' is neither * nor an IP address%s%s", address,
                                 rc != 0 ? ": " : "", rc != 0 ? gai_strerror(rc) : "");
        if (ai != NULL)
            freeaddrinfo(ai);
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len_r = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

int lsnr_ports_bind(struct lsnr_port ports[LSNR_NPORTS], const char *address, int backlog,
                    char **error_r)
{
    bool any = strcmp(address, "*") == 0;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    if (!any && resolve_literal(address, &ss, &sslen, error_r) != 0)
        return -1;
    int bound = 0;
    bool v4_only = false;
    for (int i = 0; i < LSNR_NPORTS; i++) {
        struct lsnr_port *p = &ports[i];
        if (any) {
            p->fd = listen_any(p->port, backlog, &v4_only);
        } else {
            set_port(&ss, p->port);
            p->fd = listen_on((const struct sockaddr *)&ss, sslen, -1, backlog);
        }
        if (p->fd < 0) {
            const char *hint = errno == EACCES && p->port < 1024
                                   ? " (a port below 1024 needs cap_net_bind_service: see "
                                     "iolistener(8))"
                                   : "";
            ofc_error("cannot listen for %s on %s port %d: %s%s", p->name, address, p->port,
                      strerror(errno), hint);
            continue;
        }
        ofc_info("listening for %s%s on %s port %d", p->name, p->tls ? " (implicit TLS)" : "",
                 any ? (v4_only ? "every IPv4 address" : "every IPv6 and IPv4 address") : address,
                 p->port);
        bound++;
    }
    if (any && v4_only)
        ofc_warn("IPv6 is not available: listening on IPv4 only");
    return bound;
}

/* 0: nobody answers at path (stale or absent); 1: a listener does. */
static int someone_listens(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    (void)close(fd);
    return rc == 0 ? 1 : 0;
}

int lsnr_registration_open(const char *path, char **error_r)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t plen = strlen(path);
    if (plen >= sizeof(sun.sun_path)) {
        *error_r = ofc_xasprintf("registration socket path %s is too long (at most %zu octets)",
                                 path, sizeof(sun.sun_path) - 1);
        return -1;
    }
    memcpy(sun.sun_path, path, plen + 1);

    char *dir = ofc_xstrndup(path, (size_t)(strrchr(path, '/') - path));
    int rc = ofc_mkdir_p(dir, 0750, 0750, error_r);
    /* An existing directory keeps its mode otherwise; the socket's privacy depends on it. */
    if (rc == 0 && chmod(dir, 0750) != 0) {
        *error_r = ofc_xasprintf("cannot set the mode of %s: %s", dir, strerror(errno));
        rc = -1;
    }
    free(dir);
    if (rc != 0)
        return -1;

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *error_r = ofc_xasprintf("%s exists and is not a socket", path);
            return -1;
        }
        if (someone_listens(&sun)) {
            *error_r = ofc_xasprintf("another iolistener answers on %s", path);
            return -1;
        }
        /* Left by a listener that was killed: bind would fail with EADDRINUSE. */
        if (unlink(path) != 0) {
            *error_r =
                ofc_xasprintf("cannot remove the stale socket %s: %s", path, strerror(errno));
            return -1;
        }
        ofc_info("removed the stale registration socket %s", path);
    }

    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error_r = ofc_xasprintf("cannot create the registration socket: %s", strerror(errno));
        return -1;
    }
    /* No moment in which others could connect: the mode is right from the start. */
    mode_t old = umask(0117);
    rc = bind(fd, (const struct sockaddr *)&sun, sizeof(sun));
    int saved = errno;
    (void)umask(old);
    errno = saved;
    if (rc != 0 || chmod(path, 0660) != 0 || listen(fd, 64) != 0) {
        *error_r = ofc_xasprintf("cannot listen on %s: %s", path, strerror(errno));
        (void)close(fd);
        if (rc == 0)
            (void)unlink(path);
        return -1;
    }
    return fd;
}
