/*
 * NAME
 *      iolistener - accept POP3 and IMAP clients and hand them to the
 *      protocol servers (IOLISTENER)
 *
 * SYNOPSIS
 *      iolistener [-c config] [-f] [instance=N] [connect=conninfo]
 *
 * DESCRIPTION
 *      Binds the node's POP3, POP3S, IMAP and IMAPS ports (ports { } of
 *      ofcmail.conf) on ListenAddress with Backlog, and the registration
 *      socket <var_dir>/<SID>/sps/iolistener.sock where POP3SRV and
 *      IMAP4SRV instances say HELLO and report their LOAD. Each accepted
 *      client goes, with its descriptor (SCM_RIGHTS), to the instance of
 *      the port's protocol with the fewest clients that is below its
 *      maximum, trying the next when one's socket is full. When every
 *      instance that could take it has a full socket the client waits
 *      (first come, first served; at most 5 s). When none can take it the
 *      client gets a refusal in its protocol's words (nothing on an
 *      implicit-TLS port) and is closed. See sps_handoff.h for the
 *      protocol.
 *
 *      Ports below 1024: started by root, iolistener becomes the run user
 *      at once keeping only cap_net_bind_service; started by the Guardian
 *      it needs that file capability (setcap) or a lower
 *      net.ipv4.ip_unprivileged_port_start. Every capability is dropped
 *      once the ports are bound.
 *
 *      The accept loop runs in a thread of its own (libevent); the main
 *      thread keeps the lifecycle (heartbeat, refresh, SIGTERM). SIGTERM
 *      closes the ports and the registration socket; clients handed over
 *      stay with their instances, which register again with the next
 *      listener.
 *
 * DIAGNOSTICS
 *      As every ofcmail process (ofc_proc); exit 1 when no port can be
 *      bound. Log <node>_lsnrNN.log: a line per client (address, port,
 *      the instance that took it, or why it was refused; refusals at most
 *      one line per protocol every 10 s, with a count of the others).
 */
/* System. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_proc.h"

/* protocol. */
#include "sps_handoff.h"

/* This program. */
#include "lsnr.h"

#define DEFAULT_BACKLOG 511

struct state {
    struct lsnr_port ports[LSNR_NPORTS]; /* until the loop takes them */
    struct lsnr *loop;
    char *address;
    long long backlog;
};

/* Root started us: main() became the run user before the lifecycle began. */
static bool started_as_root;

static long long backlog_param(struct ofc_proc *proc)
{
    long long b = ofc_proc_param_int(proc, "Backlog", DEFAULT_BACKLOG);
    return b < 1 || b > 65535 ? DEFAULT_BACKLOG : b;
}

static const char *address_param(struct ofc_proc *proc)
{
    const char *a = ofc_proc_param(proc, "ListenAddress", "*");
    return a[0] == '\0' ? "*" : a;
}

static int lsnr_init(struct ofc_proc *proc)
{
    struct state *st = ofc_xcalloc(1, sizeof(*st));
    ofc_proc_set_userdata(proc, st);
    const struct ofc_config *cfg = ofc_proc_config(proc);
    lsnr_ports_init(st->ports, cfg);
    if (geteuid() == 0) {
        ofc_error("refusing to run as root");
        return -1;
    }
    if (started_as_root)
        ofc_info("started by root: running as user %s, with cap_net_bind_service until the "
                 "ports are bound",
                 cfg->user);
    st->address = ofc_xstrdup(address_param(proc));
    st->backlog = backlog_param(proc);

    char *error = NULL;
    int bound = lsnr_ports_bind(st->ports, st->address, (int)st->backlog, &error);
    if (bound < 0) {
        ofc_error("%s", error);
        free(error);
        return -1;
    }
    if (bound == 0) {
        ofc_error("no port could be bound on %s (pop3 %d, pop3s %d, imap %d, imaps %d): "
                  "nothing to listen on",
                  st->address, cfg->pop3_port, cfg->pop3s_port, cfg->imap_port, cfg->imaps_port);
        return -1;
    }
    bool had_caps = false;
    if (lsnr_caps_drop_all(&had_caps, &error) != 0) {
        ofc_error("%s", error);
        free(error);
        return -1;
    }
    if (had_caps)
        ofc_info("ports bound: every capability dropped");

    char *path = sps_handoff_path(cfg);
    int reg_fd = lsnr_registration_open(path, &error);
    if (reg_fd < 0) {
        ofc_error("%s", error);
        free(error);
        free(path);
        return -1;
    }
    st->loop = lsnr_start(st->ports, reg_fd, path);
    if (st->loop != NULL)
        ofc_info("%d of %d ports bound; protocol servers register at %s", bound, LSNR_NPORTS, path);
    free(path);
    return st->loop != NULL ? 0 : -1;
}

static int lsnr_work(struct ofc_proc *proc)
{
    /* The loop thread does the work; the lifecycle keeps the heartbeat, and watches it. */
    struct state *st = ofc_proc_userdata(proc);
    if (st != NULL && st->loop != NULL && lsnr_failed(st->loop))
        ofc_fatal("the accept loop has stopped; exiting so that the Guardian starts a new "
                  "listener");
    return 0;
}

static void lsnr_refresh(struct ofc_proc *proc)
{
    struct state *st = ofc_proc_userdata(proc);
    if (st == NULL || st->address == NULL)
        return;
    /* The sockets are bound once, maybe with privileges long gone. */
    const char *address = address_param(proc);
    if (strcmp(address, st->address) != 0)
        ofc_warn("ListenAddress is now %s (listening on %s): restart iolistener to apply it",
                 address, st->address);
    long long backlog = backlog_param(proc);
    if (backlog != st->backlog)
        ofc_warn("Backlog is now %lld (listening with %lld): restart iolistener to apply it",
                 backlog, st->backlog);
}

static void lsnr_cleanup(struct ofc_proc *proc)
{
    struct state *st = ofc_proc_userdata(proc);
    if (st == NULL)
        return;
    lsnr_stop(&st->loop);
    /* Ports bound before a failed start. */
    for (int k = 0; k < LSNR_NPORTS; k++)
        if (st->ports[k].fd >= 0)
            (void)close(st->ports[k].fd);
    free(st->address);
    free(st);
    ofc_proc_set_userdata(proc, NULL);
}

/*
 * Started by root (by hand): become the run user now, before the log file
 * and the database session are opened, so that nothing is created as
 * root, keeping only the capability to bind the ports. Returns -1 to go
 * on, or the exit status.
 */
static int leave_root(int argc, char **argv)
{
    if (geteuid() != 0)
        return -1;
    /* --help, --version and usage errors are ofc_proc_main's; they create nothing. */
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "-f") != 0 && strncmp(argv[i], "instance=", 9) != 0 &&
                 strncmp(argv[i], "connect=", 8) != 0)
            return -1;
    }
    struct ofc_config *cfg = NULL;
    char *error = NULL;
    if (ofc_config_load(path, &cfg, &error) != 0 || lsnr_caps_become_run_user(cfg, &error) != 0) {
        (void)fprintf(stderr, "iolistener: %s\n", error);
        free(error);
        ofc_config_free(&cfg);
        return 1;
    }
    ofc_config_free(&cfg);
    started_as_root = true;
    return -1;
}

int main(int argc, char **argv)
{
    const struct ofc_proc_def def = {
        .program = "iolistener",
        .type = "IOLISTENER",
        .log_base = "lsnr",
        .log_numbered = true,
        .summary = "Accepts POP3 and IMAP clients (plain and implicit TLS) and hands each to the\n"
                   "least busy POP3SRV or IMAP4SRV instance.",
        .init = lsnr_init,
        .work = lsnr_work,
        .refresh = lsnr_refresh,
        .cleanup = lsnr_cleanup,
    };
    int status = leave_root(argc, argv);
    if (status >= 0)
        return status;
    return ofc_proc_main(&def, argc, argv);
}
