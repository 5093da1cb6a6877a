/*
 * session.c - who is logged in, where, and what they may do.
 *
 * A session is a database connection, the node that database belongs to,
 * a domain (the top domain of the node unless one is named) and an
 * account. The account is found by name, without regard to case, in the
 * session's domain, or else as an administrator: an account with a grant
 * on that domain or on one above it (ADMIN of "com" logs in to
 * "acme.com"). Every refused login looks the same from outside: the same
 * message, after the same delay, whether the name or the password was
 * wrong, so that neither can be probed.
 *
 * The statements connect and whoami live here too.
 */
/* System. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_tty.h"
#include "ofc_password.h"
#include "ofc_time.h"

/* This program. */
#include "oomgr.h"

#define REFUSED "invalid username or password"

/*
 * Checked against when the account does not exist, so that a wrong name
 * costs the same hashing time as a wrong password. (yescrypt of a random
 * string; no password matches it that anyone knows.)
 */
#define DUMMY_HASH "$y$j9T$PObYKtT/tKL/Yqrh$TbOThY1anJA9UFlBqHp13Ig5ZlEjZubno/QzJb9Y7S."

void oomgr_login_clear(struct oomgr_login *login)
{
    OFC_FREE(login->user);
    ofc_tty_forget(&login->password);
    ofc_tty_forget(&login->service);
    OFC_FREE(login->domain);
}

/* A heap copy of text[0..len), or NULL when empty. */
static char *part(const char *text, size_t len)
{
    return len > 0 ? ofc_xstrndup(text, len) : NULL;
}

int oomgr_login_parse_cmdline(const char *text, struct oomgr_login *login, char **error_r)
{
    memset(login, 0, sizeof(*login));
    size_t n = strcspn(text, "/@");
    if (n == 0) {
        *error_r = ofc_xstrdup("the login names no user (USER[/PASSWORD][@CONNECT][/DOMAIN])");
        return -1;
    }
    login->user = ofc_xstrndup(text, n);
    const char *p = text + n;
    if (*p == '/') {
        p++;
        n = strcspn(p, "/@");
        login->password = part(p, n);
        p += n;
    }
    if (*p == '@') {
        p++;
        /* A connect string may hold slashes (socket paths): the domain follows the last. */
        const char *slash = strrchr(p, '/');
        if (slash != NULL) {
            login->service = part(p, (size_t)(slash - p));
            login->domain = part(slash + 1, strlen(slash + 1));
        } else {
            login->service = part(p, strlen(p));
        }
    } else if (*p == '/') {
        p++;
        login->domain = part(p, strlen(p));
    }
    return 0;
}

int oomgr_login_parse_slashes(const char *text, struct oomgr_login *login, char **error_r)
{
    memset(login, 0, sizeof(*login));
    size_t n = strcspn(text, "/");
    if (n == 0) {
        *error_r = ofc_xstrdup("the login names no user (USER[/PASSWORD[/SERVICE[/DOMAIN]]])");
        return -1;
    }
    login->user = ofc_xstrndup(text, n);
    const char *p = text + n;
    if (*p != '/')
        return 0;
    p++;
    n = strcspn(p, "/");
    login->password = part(p, n);
    p += n;
    if (*p != '/')
        return 0;
    p++;
    const char *slash = strrchr(p, '/');
    if (slash != NULL) {
        login->service = part(p, (size_t)(slash - p));
        login->domain = part(slash + 1, strlen(slash + 1));
    } else if (strpbrk(p, "=:") == NULL) {
        /*
         * USER/PASSWORD/acme.com: a connect string has '=' (key=value) or
         * ':' (a URI); a bare name is the domain administrators mean.
         */
        login->domain = part(p, strlen(p));
    } else {
        login->service = part(p, strlen(p));
    }
    return 0;
}

char *oomgr_service_conninfo(const struct oomgr *om, const char *service, const char *current)
{
    if (service == NULL || service[0] == '\0')
        return ofc_xstrdup(current != NULL ? current : "");
    /* key=value pairs or a postgresql:// URI: a connect string already. */
    if (strpbrk(service, "=:") != NULL)
        return ofc_xstrdup(service);
    /*
     * The guide's <service_name> was the node's TNS alias: the SID or the
     * node's name mean this node's own database.
     */
    const struct ofc_config *cfg = om->cfg;
    if (cfg != NULL && ((cfg->sid != NULL && strcasecmp(service, cfg->sid) == 0) ||
                        (cfg->node != NULL && strcasecmp(service, cfg->node) == 0)))
        return ofc_xstrdup(om->default_conninfo);
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_puts(&sb, "service=");
    ofc_conninfo_append_value(&sb, service);
    return ofc_strbuf_detach(&sb);
}

void oomgr_session_free(struct oomgr_session **s)
{
    if (*s == NULL)
        return;
    ofc_db_free(&(*s)->db);
    ofc_tty_forget(&(*s)->conninfo);
    free((*s)->node_name);
    free((*s)->fqdn);
    free((*s)->login);
    OFC_FREE(*s);
}

/* Sleeps until deadline (CLOCK_MONOTONIC milliseconds), through signals. */
static void sleep_until(long long deadline)
{
    for (;;) {
        long long left = deadline - ofc_now_ms();
        if (left <= 0)
            return;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        if (nanosleep(&ts, NULL) == 0)
            return;
        if (errno != EINTR)
            return;
    }
}

/* The local node, and the session's domain. Returns 0 or -1 with *error_r. */
static int find_node_and_domain(struct oomgr_session *s, const char *domain, char **error_r)
{
    struct ofc_db *db = s->db;
    PGresult *res = ofc_db_query(db, "SELECT id, name FROM node WHERE is_local", 0, NULL);
    if (res == NULL) {
        if (strcmp(ofc_db_sqlstate(db), "42P01") == 0)
            *error_r = ofc_xstrdup("this database holds no ofcmail node (ofcsetup create-node)");
        else
            *error_r = ofc_xasprintf("cannot read the node: %s", ofc_db_error(db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *error_r = ofc_xstrdup("this database holds no ofcmail node (ofcsetup create-node)");
        return -1;
    }
    s->node_id = ofc_db_value_ll(res, 0, 0, 0);
    s->node_name = ofc_xstrdup(ofc_db_value(res, 0, 1));
    PQclear(res);

    char node_id[24];
    (void)oomgr_lltoa(node_id, sizeof(node_id), s->node_id);
    if (domain != NULL) {
        /* The guide writes "<.qualified_domain>": a leading dot is harmless. */
        const char *name = domain[0] == '.' ? domain + 1 : domain;
        const char *const p[] = {name};
        res = ofc_db_query(db, "SELECT id, fqdn FROM domain WHERE fqdn = lower(rtrim($1, '.'))", 1,
                           p);
    } else {
        /* The top domain of this node: the one whose directory it holds. */
        const char *const p[] = {node_id};
        res = ofc_db_query(db,
                           "SELECT id, fqdn FROM domain WHERE parent_id IS NULL"
                           " ORDER BY (confignode_id = $1::integer) DESC, id LIMIT 1",
                           1, p);
    }
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the domains: %s", ofc_db_error(db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *error_r = domain != NULL ? ofc_xasprintf("unknown domain '%s'", domain)
                                  : ofc_xstrdup("this node has no domain");
        return -1;
    }
    s->domain_id = ofc_db_value_ll(res, 0, 0, 0);
    s->fqdn = ofc_xstrdup(ofc_db_value(res, 0, 1));
    PQclear(res);
    return 0;
}

/*
 * The account that user names in the session's domain: its own, else that
 * of an administrator of the domain or of one above it (the nearest).
 * Returns 1 and fills s->account_id, s->login and *hash_r (heap, may be
 * NULL); 0 when there is none that may log in; -1 on a database error.
 */
static int find_account(struct oomgr_session *s, const char *user, char **hash_r, char **error_r)
{
    char domain_id[24];
    const char *const p[] = {oomgr_lltoa(domain_id, sizeof(domain_id), s->domain_id), user};
    PGresult *res = ofc_db_query(
        s->db,
        "WITH RECURSIVE up (id, parent_id, depth) AS ("
        "    SELECT id, parent_id, 0 FROM domain WHERE id = $1::integer"
        "  UNION ALL"
        "    SELECT d.id, d.parent_id, up.depth + 1 FROM domain d JOIN up ON d.id = up.parent_id"
        ")"
        " SELECT o.id, o.name, a.password_hash"
        "   FROM dir_object o JOIN account a ON a.object_id = o.id"
        "   LEFT JOIN LATERAL (SELECT min(up.depth) AS depth FROM admin_grant g"
        "                       JOIN up ON up.id = g.domain_id"
        "                      WHERE g.account_id = o.id) grant_ ON true"
        "  WHERE o.name_key = lower($2) AND NOT a.disabled"
        "    AND (o.domain_id = $1::integer OR grant_.depth IS NOT NULL)"
        "  ORDER BY (o.domain_id = $1::integer) DESC, grant_.depth NULLS LAST, o.id"
        "  LIMIT 1",
        2, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the directory: %s", ofc_db_error(s->db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    s->account_id = ofc_db_value_ll(res, 0, 0, 0);
    s->login = ofc_xstrdup(ofc_db_value(res, 0, 1));
    const char *hash = ofc_db_value(res, 0, 2);
    *hash_r = hash != NULL ? ofc_xstrdup(hash) : NULL;
    PQclear(res);
    return 1;
}

int oomgr_session_open(const struct oomgr_login *login, const char *default_conninfo,
                       struct oomgr_session **session_r, char **error_r)
{
    long long started = ofc_now_ms();
    const char *conninfo =
        login->service != NULL && login->service[0] != '\0' ? login->service : default_conninfo;
    struct oomgr_session *s = ofc_xcalloc(1, sizeof(*s));
    char *hash = NULL;
    char *error = NULL;

    *session_r = NULL;
    s->conninfo = ofc_xstrdup(conninfo);
    s->db = ofc_db_new(conninfo, "oomgr");
    if (ofc_db_connect(s->db, &error) < 0) {
        /* libpq's message, which never repeats the password. */
        *error_r = ofc_xasprintf("cannot connect to the database: %s", error);
        free(error);
        goto fail;
    }
    if (find_node_and_domain(s, login->domain, error_r) < 0)
        goto fail;
    int found = login->user != NULL ? find_account(s, login->user, &hash, error_r) : 0;
    if (found < 0)
        goto fail;
    /* Hash even when there is nothing to compare with: the same work either way. */
    bool match = ofc_password_verify(login->password != NULL ? login->password : "",
                                     found == 1 && hash != NULL ? hash : DUMMY_HASH);
    bool ok = found == 1 && hash != NULL && login->password != NULL && login->password[0] != '\0' &&
              match;
    ofc_tty_forget(&hash);
    if (!ok) {
        sleep_until(started + OOMGR_LOGIN_DELAY_MS);
        *error_r = ofc_xstrdup(REFUSED);
        goto fail;
    }
    *session_r = s;
    return 0;
fail:
    oomgr_session_free(&s);
    return -1;
}

int oomgr_session_check(struct oomgr_session *s, enum oomgr_priv priv, bool *ok_r, char **error_r)
{
    char account[24], id[24];
    PGresult *res = NULL;

    *ok_r = priv <= OOMGR_PRIV_LOGIN;
    if (priv <= OOMGR_PRIV_LOGIN)
        return 0;
    (void)oomgr_lltoa(account, sizeof(account), s->account_id);
    if (priv == OOMGR_PRIV_NODE) {
        /* A top domain this node holds the directory of, or subscribes to. */
        const char *const p[] = {account, oomgr_lltoa(id, sizeof(id), s->node_id)};
        res = ofc_db_query(s->db,
                           "SELECT EXISTS (SELECT 1 FROM admin_grant g"
                           "  JOIN domain d ON d.id = g.domain_id"
                           " WHERE g.account_id = $1::bigint AND d.parent_id IS NULL"
                           "   AND (d.confignode_id = $2::integer OR EXISTS"
                           "        (SELECT 1 FROM subscription s"
                           "          WHERE s.domain_id = d.id AND s.node_id = $2::integer)))",
                           2, p);
    } else {
        const char *const p[] = {account, oomgr_lltoa(id, sizeof(id), s->domain_id)};
        res = ofc_db_query(
            s->db,
            "WITH RECURSIVE up (id, parent_id) AS ("
            "    SELECT id, parent_id FROM domain WHERE id = $2::integer"
            "  UNION ALL"
            "    SELECT d.id, d.parent_id FROM domain d JOIN up ON d.id = up.parent_id"
            ")"
            " SELECT EXISTS (SELECT 1 FROM admin_grant g JOIN up ON up.id = g.domain_id"
            "                 WHERE g.account_id = $1::bigint)",
            2, p);
    }
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot check the privileges: %s", ofc_db_error(s->db));
        return -1;
    }
    const char *v = ofc_db_value(res, 0, 0);
    *ok_r = v != NULL && v[0] == 't';
    PQclear(res);
    return 0;
}

/* ---- statements ---------------------------------------------------------- */

static char *upper_dup(const char *s)
{
    char *u = ofc_xstrdup(s);
    for (char *p = u; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return u;
}

static int run_whoami(struct oomgr_call *call, char **error_r)
{
    (void)error_r;
    const struct oomgr_session *s = call->om->session;
    char *domain = upper_dup(s->fqdn);
    oomgr_out(call, "Login: %s Node: %s Domain: %s", s->login, s->node_name, domain);
    free(domain);
    return 0;
}

static void set_part(char **field, const char *value)
{
    if (value == NULL)
        return;
    ofc_tty_forget(field);
    *field = value[0] != '\0' ? ofc_xstrdup(value) : NULL;
}

static int run_connect(struct oomgr_call *call, char **error_r)
{
    struct oomgr *om = call->om;
    const struct oomgr_stmt *st = call->st;
    struct oomgr_login login;
    struct oomgr_session *s = NULL;
    const char *text = oomgr_arg(st, "login");

    memset(&login, 0, sizeof(login));
    if (text != NULL && oomgr_login_parse_slashes(text, &login, error_r) < 0)
        return -1;
    /* Keywords override the parts of the slash form. */
    set_part(&login.user, oomgr_arg(st, "user"));
    set_part(&login.password, oomgr_arg(st, "password"));
    set_part(&login.service, oomgr_arg(st, "service"));
    set_part(&login.domain, oomgr_arg(st, "domain"));
    if (login.user == NULL) {
        *error_r = ofc_xstrdup("connect: missing USER (connect USER/PASSWORD[/SERVICE[/DOMAIN]])");
        goto fail;
    }
    if (login.password == NULL) {
        /* As at start-up: the environment, else the terminal. */
        const char *env = getenv("OFC_OOMGR_PASSWORD");
        if (env != NULL && env[0] != '\0') {
            login.password = ofc_xstrdup(env);
        } else if (isatty(STDIN_FILENO) == 1) {
            login.password = ofc_tty_ask("Password: ", false, error_r);
            if (login.password == NULL)
                goto fail;
        } else {
            *error_r = ofc_xstrdup("connect: missing password (USER/PASSWORD, or "
                                   "$OFC_OOMGR_PASSWORD)");
            goto fail;
        }
    }
    const char *current = om->session != NULL ? om->session->conninfo : om->default_conninfo;
    if (login.service != NULL) {
        char *conninfo = oomgr_service_conninfo(om, login.service, current);
        ofc_tty_forget(&login.service);
        login.service = conninfo;
    }
    if (oomgr_session_open(&login, current, &s, error_r) < 0) {
        oomgr_log(om, "connect refused for %s (domain %s)", login.user,
                  login.domain != NULL ? login.domain : "default");
        goto fail;
    }
    oomgr_session_free(&om->session);
    om->session = s;
    call->db = s->db;
    oomgr_out(call, "Connected.");
    oomgr_log(om, "%s connected (domain %s, node %s)", s->login, s->fqdn, s->node_name);
    oomgr_login_clear(&login);
    return 0;
fail:
    oomgr_login_clear(&login);
    return -1;
}

static const struct oomgr_key connect_keys[] = {
    {"login", OOMGR_KEY_POSITIONAL | OOMGR_KEY_SECRET, 0, 0, NULL,
     "USER[/PASSWORD[/SERVICE[/DOMAIN]]]; a SERVICE holding '/' needs the /DOMAIN"},
    {"user", 0, 0, 0, NULL, "the account (ADMIN)"},
    {"password", OOMGR_KEY_SECRET, 0, 0, NULL, "asked for at the terminal when missing"},
    {"service", OOMGR_KEY_SECRET, 0, 0, NULL,
     "a libpq connect string; empty: the current database"},
    {"domain", 0, 0, 0, NULL, "qualified domain name; empty: the node's top domain"},
    {NULL, 0, 0, 0, NULL, NULL},
};

const struct oomgr_stmt_def oomgr_session_stmts[] = {
    {"connect", NULL, OOMGR_PRIV_NONE, OOMGR_STMT_EOL, connect_keys, run_connect, NULL,
     "connect USER[/PASSWORD[/SERVICE[/DOMAIN]]] | connect user=U [password=P] [service=S] "
     "[domain=D];",
     "Logs in again: another account, database or domain (';' optional)."},
    {"whoami", NULL, OOMGR_PRIV_LOGIN, OOMGR_STMT_EOL, NULL, run_whoami, NULL, "whoami;",
     "Shows the login, the node and the domain of the session (';' optional)."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
