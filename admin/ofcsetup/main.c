/*
 * NAME
 *      ofcsetup - the ofcmail Configuration Assistant
 *
 * SYNOPSIS
 *      ofcsetup [-c CONFIG] [--connect=CONNINFO] COMMAND [options]
 *
 *      ofcsetup create-node [--node=ESNODE] [--node-description=TEXT]
 *              [--domain=com] [--domain-description=TEXT]
 *              [--community=COMMUNITY1] [--community-description=TEXT]
 *              [--time-zone=UTC] [--admin-password=PW] [--orapost-password=PW]
 *              [--demo-user=NAME [--demo-password=PW]]
 *      ofcsetup upgrade
 *      ofcsetup status
 *      ofcsetup drop-node [--yes]
 *      ofcsetup start-db | stop-db
 *      ofcsetup cert generate|store|show [options]   (see cert.c)
 *      ofcsetup --help | --version
 *
 * DESCRIPTION
 *      ofcsetup creates, upgrades, describes and removes an ofcmail node:
 *      one PostgreSQL database plus the processes that serve it.
 *
 *      Without a connect string (neither --connect nor `connect` in the
 *      configuration file) the node lives in an embedded private
 *      PostgreSQL cluster under <var_dir>/<SID>/ that listens on a unix
 *      socket only; ofcsetup creates, starts and stops it. With one, the
 *      node lives in schema "ofc" of that existing database.
 *
 *      create-node applies the schema migrations and creates the node, its
 *      community, its top domain, the ADMIN and ORAPOST accounts (and a
 *      demo user on request) and one registered instance of every process
 *      type, all in one transaction. Re-running it applies new migrations
 *      and changes nothing else. There is no default password: ADMIN's
 *      comes from --admin-password, $OFC_ADMIN_PASSWORD, or a prompt on
 *      the terminal; ORAPOST's from --orapost-password or
 *      $OFC_ORAPOST_PASSWORD, else ORAPOST cannot log in until one is set;
 *      the demo user's from --demo-password or $OFC_DEMO_PASSWORD.
 *
 *      upgrade applies pending migrations only. status shows the schema
 *      version, node, domains, accounts, processes and database size.
 *      drop-node removes the node (the embedded cluster, or schema ofc)
 *      after the node name is typed on the terminal, or with --yes.
 *      start-db and stop-db start and stop the embedded cluster. cert
 *      makes, installs and shows the protocols' TLS certificates.
 *
 *      Started as root, ofcsetup creates the unprivileged run user (config
 *      `user`, default ofcmail) if needed, gives it the node's var and log
 *      directories and becomes it before doing anything else.
 *
 *      Steps are logged to <log_dir>/<SID>/ofcsetup.log. Passwords are
 *      never printed or logged.
 *
 * DIAGNOSTICS
 *      Every failure is one line "ofcsetup: ..." on standard error.
 *      Exit status 0 on success, 1 on failure (nothing half-created),
 *      2 on a usage error, and for status 3 when there is no node.
 */
/* System. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "ofc_cluster.h"
#include "ofc_config.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_privs.h"

/* This program. */
#include "cert.h"
#include "ofcsetup.h"

#ifndef OFC_VERSION
/* libofc gets the version from CMake; this program's target does not (yet). */
#define OFC_VERSION "0.1.0"
#endif

/* Options after the first few are command options; each has a bit to check it is allowed. */
enum opt_id {
    OPT_CONNECT = 256,
    OPT_HELP,
    OPT_VERSION,
    OPT_YES,
    OPT_NODE,
    OPT_NODE_DESCRIPTION,
    OPT_DOMAIN,
    OPT_DOMAIN_DESCRIPTION,
    OPT_COMMUNITY,
    OPT_COMMUNITY_DESCRIPTION,
    OPT_TIME_ZONE,
    OPT_ADMIN_PASSWORD,
    OPT_ORAPOST_PASSWORD,
    OPT_DEMO_USER,
    OPT_DEMO_PASSWORD,
    OPT_LAST,
};
#define OPT_BIT(id) (1u << ((id)-OPT_YES))

#define CREATE_OPTIONS                                                                             \
    (OPT_BIT(OPT_NODE) | OPT_BIT(OPT_NODE_DESCRIPTION) | OPT_BIT(OPT_DOMAIN) |                     \
     OPT_BIT(OPT_DOMAIN_DESCRIPTION) | OPT_BIT(OPT_COMMUNITY) |                                    \
     OPT_BIT(OPT_COMMUNITY_DESCRIPTION) | OPT_BIT(OPT_TIME_ZONE) | OPT_BIT(OPT_ADMIN_PASSWORD) |   \
     OPT_BIT(OPT_ORAPOST_PASSWORD) | OPT_BIT(OPT_DEMO_USER) | OPT_BIT(OPT_DEMO_PASSWORD))

static const struct option long_options[] = {
    {"connect", required_argument, NULL, OPT_CONNECT},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"yes", no_argument, NULL, OPT_YES},
    {"node", required_argument, NULL, OPT_NODE},
    {"node-description", required_argument, NULL, OPT_NODE_DESCRIPTION},
    {"domain", required_argument, NULL, OPT_DOMAIN},
    {"domain-description", required_argument, NULL, OPT_DOMAIN_DESCRIPTION},
    {"community", required_argument, NULL, OPT_COMMUNITY},
    {"community-description", required_argument, NULL, OPT_COMMUNITY_DESCRIPTION},
    {"time-zone", required_argument, NULL, OPT_TIME_ZONE},
    {"admin-password", required_argument, NULL, OPT_ADMIN_PASSWORD},
    {"orapost-password", required_argument, NULL, OPT_ORAPOST_PASSWORD},
    {"demo-user", required_argument, NULL, OPT_DEMO_USER},
    {"demo-password", required_argument, NULL, OPT_DEMO_PASSWORD},
    {NULL, 0, NULL, 0},
};

static const struct command {
    const char *name;
    int (*run)(struct setup *s);
    unsigned options; /* OPT_BIT()s allowed besides -c and --connect */
    bool writes;      /* changes things: logs its steps to ofcsetup.log */
} commands[] = {
    {"create-node", cmd_create_node, CREATE_OPTIONS, true},
    {"upgrade", cmd_upgrade, 0, true},
    {"status", cmd_status, 0, false},
    {"drop-node", cmd_drop_node, OPT_BIT(OPT_YES), true},
    {"start-db", cmd_start_db, 0, true},
    {"stop-db", cmd_stop_db, 0, true},
};

static void usage(FILE *fp)
{
    (void)fprintf(
        fp,
        "Usage: ofcsetup [-c CONFIG] [--connect=CONNINFO] COMMAND [options]\n"
        "\n"
        "The ofcmail Configuration Assistant.\n"
        "\n"
        "Commands:\n"
        "  create-node   create the node (and the embedded cluster unless --connect)\n"
        "      --node=NAME                 node name (default: the configuration's, ESNODE)\n"
        "      --node-description=TEXT     default \"ofcmail node\"\n"
        "      --domain=FQDN               first (top) domain, default com\n"
        "      --domain-description=TEXT\n"
        "      --community=NAME            default COMMUNITY1\n"
        "      --community-description=TEXT\n"
        "      --time-zone=ZONE            IANA name, default UTC\n"
        "      --admin-password=PW         else $OFC_ADMIN_PASSWORD, else a prompt\n"
        "      --orapost-password=PW       else $OFC_ORAPOST_PASSWORD, else no login\n"
        "      --demo-user=NAME            also create this user\n"
        "      --demo-password=PW          else $OFC_DEMO_PASSWORD (required with --demo-user)\n"
        "  upgrade       apply pending schema migrations\n"
        "  status        show the node (exit 1: database unreachable, 3: no node)\n"
        "  drop-node     remove the node and everything it holds\n"
        "      --yes                       do not ask for confirmation\n"
        "  start-db      start the embedded cluster\n"
        "  stop-db       stop the embedded cluster\n"
        "  cert generate|store|show    TLS certificates (see ofcsetup cert --help)\n"
        "\n"
        "Options:\n"
        "  -c CONFIG            configuration file (default $OFC_CONFIG, <home>/etc/ofcmail.conf)\n"
        "  --connect=CONNINFO   use this existing database instead of the embedded cluster\n"
        "  --help               show this help\n"
        "  --version            show the version\n");
}

/* Keeps a copy of a password option and wipes it from argv (and so from ps). */
static char *take_secret(char *arg)
{
    char *copy = ofc_xstrdup(arg);
    explicit_bzero(arg, strlen(arg));
    return copy;
}

static const char *option_name(int id)
{
    for (const struct option *o = long_options; o->name != NULL; o++)
        if (o->val == id)
            return o->name;
    return "?";
}

/*
 * Parses argv into s->opt and *cmd_r. Returns -1 to exit with *status_r
 * (help, version, usage errors), 0 to go on.
 */
static int parse_args(int argc, char **argv, struct setup *s, const struct command **cmd_r,
                      int *status_r)
{
    unsigned seen = 0;
    bool help = false, version = false;
    int c;

    *cmd_r = NULL;
    /* Our messages, one line each; the leading ':' makes a missing value return ':'. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:", long_options, NULL)) != -1) {
        if (c >= OPT_YES && c < OPT_LAST)
            seen |= OPT_BIT(c);
        switch (c) {
        case 'c':
            s->opt.config_path = optarg;
            break;
        case OPT_CONNECT:
            s->opt.connect = optarg;
            break;
        case OPT_HELP:
            help = true;
            break;
        case OPT_VERSION:
            version = true;
            break;
        case OPT_YES:
            s->opt.yes = true;
            break;
        case OPT_NODE:
            s->opt.node = optarg;
            break;
        case OPT_NODE_DESCRIPTION:
            s->opt.node_description = optarg;
            break;
        case OPT_DOMAIN:
            s->opt.domain = optarg;
            break;
        case OPT_DOMAIN_DESCRIPTION:
            s->opt.domain_description = optarg;
            break;
        case OPT_COMMUNITY:
            s->opt.community = optarg;
            break;
        case OPT_COMMUNITY_DESCRIPTION:
            s->opt.community_description = optarg;
            break;
        case OPT_TIME_ZONE:
            s->opt.time_zone = optarg;
            break;
        case OPT_ADMIN_PASSWORD:
            setup_forget(&s->opt.admin_password);
            s->opt.admin_password = take_secret(optarg);
            break;
        case OPT_ORAPOST_PASSWORD:
            setup_forget(&s->opt.orapost_password);
            s->opt.orapost_password = take_secret(optarg);
            break;
        case OPT_DEMO_USER:
            s->opt.demo_user = optarg;
            break;
        case OPT_DEMO_PASSWORD:
            setup_forget(&s->opt.demo_password);
            s->opt.demo_password = take_secret(optarg);
            break;
        case ':':
            setup_error("option %s needs a value (see ofcsetup --help)", argv[optind - 1]);
            *status_r = SETUP_EXIT_USAGE;
            return -1;
        default:
            if (optopt != 0 && optopt < 256)
                setup_error("unknown option -%c (see ofcsetup --help)", optopt);
            else
                setup_error("unknown option %s (see ofcsetup --help)", argv[optind - 1]);
            *status_r = SETUP_EXIT_USAGE;
            return -1;
        }
    }
    if (help) {
        usage(stdout);
        *status_r = SETUP_EXIT_OK;
        return -1;
    }
    if (version) {
        (void)printf("ofcsetup (ofcmail) %s, schema version %d\n", OFC_VERSION,
                     migrate_newest_known());
        *status_r = SETUP_EXIT_OK;
        return -1;
    }
    *status_r = SETUP_EXIT_USAGE;
    if (optind >= argc) {
        setup_error("no command given (see ofcsetup --help)");
        return -1;
    }
    if (optind + 1 < argc) {
        setup_error("unexpected argument %s (see ofcsetup --help)", argv[optind + 1]);
        return -1;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            *cmd_r = &commands[i];
    if (*cmd_r == NULL) {
        setup_error("unknown command %s (see ofcsetup --help)", argv[optind]);
        return -1;
    }
    unsigned extra = seen & ~(*cmd_r)->options;
    if (extra != 0) {
        for (int id = OPT_YES; id < OPT_LAST; id++) {
            if (extra & OPT_BIT(id)) {
                setup_error("option --%s does not apply to %s", option_name(id), (*cmd_r)->name);
                break;
            }
        }
        return -1;
    }
    if (s->opt.demo_password != NULL && s->opt.demo_user == NULL) {
        setup_error("--demo-password needs --demo-user");
        return -1;
    }
    return 0;
}

/*
 * Whether the command word is "cert", which parses its own options
 * (cert.c). Before it only -c CONFIG and --connect[=]CONNINFO take values.
 */
static bool is_cert_command(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return i + 1 < argc && strcmp(argv[i + 1], "cert") == 0;
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--connect") == 0) {
            i++;
            continue;
        }
        if (argv[i][0] != '-')
            return strcmp(argv[i], "cert") == 0;
    }
    return false;
}

/* Config, connect string, cluster handle. Returns an exit status. */
static int prepare(struct setup *s)
{
    char *error = NULL;

    if (ofc_config_load(s->opt.config_path, &s->cfg, &error) < 0) {
        setup_error("%s", error);
        free(error);
        return SETUP_EXIT_FAILURE;
    }
    if (s->opt.connect != NULL) {
        free(s->cfg->connect);
        s->cfg->connect = ofc_xstrdup(s->opt.connect);
    }
    s->embedded = ofc_config_is_embedded(s->cfg);
    if (s->embedded) {
        s->cluster = ofc_cluster_new(s->cfg);
        s->conninfo = ofc_cluster_conninfo(s->cluster, OFC_CLUSTER_DATABASE);
        s->conninfo_public = ofc_xstrdup(s->conninfo);
        return SETUP_EXIT_OK;
    }
    s->conninfo = ofc_xstrdup(s->cfg->connect);
    if (conninfo_without_password(s->conninfo, &s->conninfo_public, &error) < 0) {
        setup_error("invalid connect string%s: %s",
                    s->opt.connect != NULL ? "" : " in the configuration", error);
        free(error);
        return s->opt.connect != NULL ? SETUP_EXIT_USAGE : SETUP_EXIT_FAILURE;
    }
    return SETUP_EXIT_OK;
}

int main(int argc, char **argv)
{
    struct setup s;
    const struct command *cmd = NULL;
    char *error = NULL;
    int status;

    memset(&s, 0, sizeof(s));
    /* Until ofcsetup.log is open, library progress lines would land on stderr. */
    ofc_log_set_level(OFC_LOG_WARN);

    if (is_cert_command(argc, argv)) {
        status = cert_main(argc, argv);
        goto out;
    }

    if (parse_args(argc, argv, &s, &cmd, &status) < 0)
        goto out;
    status = prepare(&s);
    if (status != SETUP_EXIT_OK)
        goto out;
    if (ofc_privs_become_run_user(s.cfg, &error) < 0) {
        setup_error("%s", error);
        free(error);
        status = SETUP_EXIT_FAILURE;
        goto out;
    }
    if (cmd->writes) {
        if (setup_log_open(s.cfg, &error) < 0) {
            setup_warn("%s; going on without ofcsetup.log", error);
            free(error);
        } else {
            ofc_info("ofcsetup %s: %s", cmd->name,
                     s.embedded ? "embedded cluster" : s.conninfo_public);
        }
    }
    status = cmd->run(&s);
    if (setup_log_is_open())
        ofc_info("ofcsetup %s: exit %d", cmd->name, status);
out:
    setup_forget(&s.opt.admin_password);
    setup_forget(&s.opt.orapost_password);
    setup_forget(&s.opt.demo_password);
    setup_forget(&s.conninfo); /* may hold a password */
    free(s.conninfo_public);
    ofc_cluster_free(&s.cluster);
    ofc_config_free(&s.cfg);
    ofc_log_close();
    return status;
}
