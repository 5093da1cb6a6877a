/*
 * NAME
 *      ofcuto - the sendmail mailer of ofcmail
 *
 * SYNOPSIS
 *      ofcuto - oracle_home oracle_sid -f config_file - $g $a $b $f $x ( rcpt ... )
 *      ofcuto [-c config] [-f|-r sender] [--] rcpt ...
 *
 * DESCRIPTION
 *      sendmail runs ofcuto as the `ofcmail` mailer (Mofcmail in sendmail.cf,
 *      see docs/sendmail.md) once per message. ofcuto reads the message on
 *      standard input (any octets, CRLF or LF line ends, kept exactly as
 *      given) and stores it with its envelope in the node's gateway_in queue
 *      in one transaction, which is one statement; the inbound gateway
 *      (ofcgwind, SMTP_IN) takes it from there (and stores the message with
 *      CRLF line ends, as IMAP and POP3 clients receive it).
 *
 *      The first form is the argument vector of the Installation Guide's
 *      Mofcmail definition: oracle_home becomes $OFC_HOME, oracle_sid the
 *      node's SID, config_file is read when it names an existing file
 *      (relative names under <home>/etc; the guide's "unx.cfg" usually does
 *      not exist and then <home>/etc/ofcmail.conf applies). $g is the
 *      envelope sender ("MAILER-DAEMON", sendmail's name for the null
 *      sender of its bounces, is taken as <>), $a $b $f $x are taken for
 *      the log, and the recipients ($u, repeated by F=m) stand between "("
 *      and ")". The second form is the plain modern one. With F=r sendmail
 *      also inserts "-r sender" right after the program name; both forms
 *      accept it.
 *
 *      A recipient "user.ofcmail" (the guide's sendmail aliases) is taken
 *      as "user". A recipient without a domain or in a domain of this
 *      node's directory must name a directory object of that domain (the
 *      bare ones: the domain of the node's SMTP_IN gateway); the others are
 *      passed on for the Postman to route.
 *
 * DIAGNOSTICS
 *      Exit status from sysexits.h, which sendmail understands:
 *      0 (EX_OK) the message is committed to gateway_in;
 *      64 (EX_USAGE) bad arguments;
 *      65 (EX_DATAERR) empty message, a header section that does not start
 *         with a header field or holds a NUL octet, a malformed sender;
 *      67 (EX_NOUSER) no recipient is known (nothing stored; when only
 *         some are unknown the message is stored and the Postman returns a
 *         non-delivery report for those);
 *      73 (EX_CANTCREAT) the message is larger than MaxMessageSize;
 *      75 (EX_TEMPFAIL) the database cannot be reached or fails: sendmail
 *         keeps the message and tries again;
 *      78 (EX_CONFIG) the configuration cannot be read.
 *      One line on standard error says why (sendmail quotes it in its
 *      report), and one line per message goes to <log_dir>/<SID>/ofcuto.log.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

/* libofc */
#include "ofc_addr.h"
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"

/*
 * What ofcuto will hold in memory at most, whatever the database says:
 * PostgreSQL's bytea stops at 1 GB, and a mailer that reads an endless
 * stream must stop somewhere. MaxMessageSize (gateway_setting) is the
 * policy below it.
 */
#define OFCUTO_HARD_MAX (512UL * 1024 * 1024)

#define OFCMAIL_SUFFIX ".ofcmail"

struct args {
    bool guide_form;
    const char *config;
    const char *home;
    const char *sid;
    const char *sender;
    const char *full_name;
    const char **rcpts;
    size_t nrcpts;
};

static void usage(FILE *out)
{
    (void)fprintf(out,
                  "usage: ofcuto [-c config] [-f|-r sender] [--] recipient ...\n"
                  "       ofcuto - oracle_home oracle_sid -f config_file - $g $a $b $f $x ( $u )\n"
                  "Stores the message on standard input in the node's gateway_in queue.\n");
}

/* One line on stderr (sendmail quotes it) and in the log, then exit. */
__attribute__((noreturn, format(printf, 2, 3))) static void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = ofc_xvasprintf(fmt, ap);
    va_end(ap);
    (void)fprintf(stderr, "ofcuto: %s\n", msg);
    ofc_log(status == EX_TEMPFAIL ? OFC_LOG_WARN : OFC_LOG_ERROR, "%s (exit %d)", msg, status);
    free(msg);
    exit(status);
}

static bool is_sender_flag(const char *a)
{
    return strcmp(a, "-r") == 0 || strcmp(a, "-f") == 0;
}

static bool is_guide_start(const char *a)
{
    return strcmp(a, "-") == 0 || strncmp(a, "-/", 2) == 0;
}

/* The guide's vector: "-" home sid "-f" config "-" $g $a $b $f $x "(" $u... ")". */
static int parse_guide(int argc, char **argv, int i, struct args *a)
{
    a->guide_form = true;
    if (strcmp(argv[i], "-") == 0) {
        if (++i >= argc)
            return -1;
        a->home = argv[i++];
    } else {
        a->home = argv[i++] + 1; /* "-$ORACLE_HOME" glued, as in the Mlocal variant */
    }
    if (i >= argc)
        return -1;
    a->sid = argv[i++];
    if (i < argc && strcmp(argv[i], "-f") == 0 && i + 1 < argc) {
        a->config = argv[i + 1];
        i += 2;
    } else if (i < argc && strncmp(argv[i], "-f", 2) == 0) {
        a->config = argv[i++] + 2;
    }
    const char *g = NULL;
    if (i < argc && strcmp(argv[i], "-") == 0 && i + 1 < argc) {
        g = argv[i + 1];
        i += 2;
    } else if (i < argc && argv[i][0] == '-' && strcmp(argv[i], "(") != 0) {
        g = argv[i++] + 1;
    }
    /* $a $b $f $x: dates and names, up to the parenthesis. */
    int k = 0;
    for (; i < argc && strcmp(argv[i], "(") != 0; i++, k++)
        if (k == 3)
            a->full_name = argv[i];
    if (i >= argc)
        return -1; /* no "(": where would the recipients be? */
    i++;
    a->rcpts = ofc_xcalloc((size_t)argc, sizeof(*a->rcpts));
    for (; i < argc && strcmp(argv[i], ")") != 0; i++)
        if (argv[i][0] != '\0')
            a->rcpts[a->nrcpts++] = argv[i];
    if (a->sender == NULL)
        a->sender = g;
    return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    int i = 1;
    /* F=r (or F=f) inserts "-r sender" before the A= arguments. */
    if (argc > i + 2 && is_sender_flag(argv[i]) && is_guide_start(argv[i + 2])) {
        a->sender = argv[i + 1];
        i += 2;
    }
    if (i < argc && is_guide_start(argv[i]))
        return parse_guide(argc, argv, i, a);
    a->rcpts = ofc_xcalloc((size_t)argc, sizeof(*a->rcpts));
    for (; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--") == 0) {
            i++;
            break;
        }
        if (o[0] != '-' || o[1] == '\0')
            break;
        if (strcmp(o, "-c") == 0 || is_sender_flag(o)) {
            if (i + 1 >= argc)
                return -1;
            if (strcmp(o, "-c") == 0)
                a->config = argv[++i];
            else
                a->sender = argv[++i];
        } else if (strncmp(o, "-c", 2) == 0) {
            a->config = o + 2;
        } else if (strncmp(o, "-f", 2) == 0 || strncmp(o, "-r", 2) == 0) {
            a->sender = o + 2;
        } else {
            return -1;
        }
    }
    for (; i < argc; i++)
        a->rcpts[a->nrcpts++] = argv[i];
    return 0;
}

/* Reads standard input whole, up to limit + 1 octets (so "too large" is visible). */
static char *read_stdin(size_t limit, size_t *len_r)
{
    size_t cap = 64 * 1024, len = 0;
    char *buf = ofc_xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap > limit)
                break;
            cap *= 2;
            buf = ofc_xrealloc(buf, cap);
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die(EX_IOERR, "cannot read the message: %s", strerror(errno));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *len_r = len;
    return buf;
}

/*
 * The header section must start with a header field and hold no NUL:
 * anything else is not a message (RFC 5322 §2.2), and a NUL cannot be
 * stored in the text columns the analysis fills.
 */
static const char *check_message(const char *raw, size_t len)
{
    if (len == 0)
        return "empty message";
    size_t i = 0;
    while (i < len && raw[i] > ' ' && raw[i] < 127 && raw[i] != ':')
        i++;
    if (i == 0 || i >= len || raw[i] != ':')
        return "the message does not start with a header field";
    for (size_t k = 0; k < len; k++) {
        if (raw[k] == '\0')
            return "NUL octet in the header section";
        /* An empty line ends the header section. */
        if (raw[k] == '\n' && k + 1 < len &&
            (raw[k + 1] == '\n' || (raw[k + 1] == '\r' && k + 2 < len && raw[k + 2] == '\n')))
            break;
    }
    return NULL;
}

/*
 * "<>" and "" are the null reverse-path, and so is a bare "MAILER-DAEMON":
 * sendmail hands its own bounces (DSNs) to a local mailer with $g set to
 * that name ($n), and a bounce must keep its null sender so that nothing
 * ever answers it. Anything else must parse.
 */
static char *normalize_sender(const char *in)
{
    if (in == NULL || in[0] == '\0' || strcmp(in, "<>") == 0 ||
        strcasecmp(in, "MAILER-DAEMON") == 0)
        return ofc_xstrdup("");
    struct ofc_addr addr;
    const char *why = NULL;
    if (ofc_addr_parse_mailbox(in, strlen(in), true, &addr, &why) < 0)
        die(EX_DATAERR, "malformed sender address '%s': %s", in, why);
    char *out = ofc_addr_format(&addr);
    ofc_addr_clear(&addr);
    return out;
}

/*
 * Splits a recipient into the lookup key's local part (suffix ".ofcmail"
 * removed, lower case) and domain (NULL when bare), and the address to
 * queue (the suffix removed too). Returns -1 for a malformed address.
 */
static int split_rcpt(const char *in, char **queued_r, char **local_r, char **domain_r)
{
    struct ofc_addr addr;
    const char *why = NULL;
    if (ofc_addr_parse_mailbox(in, strlen(in), true, &addr, &why) < 0)
        return -1;
    size_t l = strlen(addr.local), s = strlen(OFCMAIL_SUFFIX);
    if (l > s && strcasecmp(addr.local + l - s, OFCMAIL_SUFFIX) == 0)
        addr.local[l - s] = '\0';
    *queued_r = ofc_addr_format(&addr);
    *local_r = ofc_xstrdup(addr.local);
    for (char *p = *local_r; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    *domain_r = addr.domain != NULL ? ofc_xstrdup(addr.domain) : NULL;
    ofc_addr_clear(&addr);
    return 0;
}

/*
 * The one statement: size policy, the unknown-user check and the insert.
 * A recipient is unknown when it is bare or in a domain of the directory
 * and no addressable object of that domain has its name (aliases and lists
 * count as known: the Postman expands them). The row is inserted only when
 * the size is allowed and at least one recipient is known.
 */
static const char STORE_SQL[] =
    "WITH lim AS (SELECT coalesce((SELECT value::bigint FROM gateway_setting"
    "               WHERE name = 'MaxMessageSize'), 52428800) AS max),"
    " dom AS (SELECT coalesce("
    "   (SELECT p.domain_id FROM process p JOIN node n ON n.id = p.node_id"
    "     WHERE n.is_local AND p.type = 'SMTP_IN' AND p.domain_id IS NOT NULL"
    "     ORDER BY p.instance LIMIT 1),"
    "   (SELECT d.id FROM domain d JOIN node n ON n.id = d.confignode_id"
    "     WHERE n.is_local AND d.parent_id IS NULL ORDER BY d.id LIMIT 1)) AS id),"
    " r AS (SELECT x.i, x.local, x.fqdn"
    "   FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS x(local, fqdn, i)),"
    " unknown AS (SELECT r.i FROM r LEFT JOIN domain d ON d.fqdn = r.fqdn"
    "   WHERE r.local IS NULL OR ((r.fqdn IS NULL OR d.id IS NOT NULL)"
    "     AND NOT EXISTS (SELECT 1 FROM dir_object o"
    "       WHERE o.domain_id = coalesce(d.id, (SELECT id FROM dom))"
    "         AND o.name_key = r.local"
    "         AND o.class NOT IN ('PUBLIC_TEMPLATE', 'PRIVATE_TEMPLATE')))),"
    " ins AS (INSERT INTO gateway_in (source, sender, recipients, raw, client)"
    "   SELECT 'OFCUTO', $1, $2::text[], $5::bytea, $6"
    "    WHERE octet_length($5::bytea) <= (SELECT max FROM lim)"
    "      AND (SELECT count(*) FROM unknown) < cardinality($2::text[])"
    "   RETURNING id)"
    " SELECT (SELECT id FROM ins), (SELECT max FROM lim),"
    "        ARRAY(SELECT i FROM unknown ORDER BY i)::text";

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EX_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            (void)printf("ofcuto %s\n", OFC_VERSION);
            return EX_OK;
        }
    }
    struct args a = {0};
    if (parse_args(argc, argv, &a) < 0 || a.nrcpts == 0) {
        usage(stderr);
        return EX_USAGE;
    }
    if (a.home != NULL && a.home[0] == '/' && setenv("OFC_HOME", a.home, 1) != 0)
        die(EX_OSERR, "cannot set OFC_HOME: %s", strerror(errno));

    /* The guide's config_file counts only when it exists (see DESCRIPTION). */
    char *config_path = NULL;
    if (a.config != NULL && a.config[0] != '\0' && strcmp(a.config, "-") != 0) {
        if (!a.guide_form || a.config[0] == '/')
            config_path = ofc_xstrdup(a.config);
        else if (a.home != NULL)
            config_path = ofc_xasprintf("%s/etc/%s", a.home, a.config);
        if (a.guide_form && config_path != NULL && access(config_path, F_OK) != 0)
            OFC_FREE(config_path);
    }
    struct ofc_config *cfg = NULL;
    char *error = NULL;
    if (ofc_config_load(config_path, &cfg, &error) < 0)
        die(EX_CONFIG, "%s", error);
    free(config_path);
    if (a.sid != NULL && a.sid[0] != '\0' && strcmp(a.sid, "-") != 0 &&
        strcmp(a.sid, cfg->sid) != 0) {
        free(cfg->sid);
        cfg->sid = ofc_xstrdup(a.sid);
    }
    enum ofc_log_level level = OFC_LOG_INFO;
    if (ofc_log_level_parse(cfg->log_level, &level) == 0)
        ofc_log_set_level(level);

    /*
     * sendmail runs the mailer as its DefaultUser unless the definition
     * says U=; when that user cannot write the log, the message must still
     * get through: lines then go to stderr, which sendmail shows.
     */
    char *log_dir = ofc_config_node_log_dir(cfg);
    char *log_name = ofc_log_file_name(NULL, "ofcuto", 0);
    if (ofc_log_open(log_dir, log_name, false, &error) < 0) {
        (void)fprintf(stderr, "ofcuto: warning: %s; logging to stderr\n", error);
        OFC_FREE(error);
        ofc_log_set_level(OFC_LOG_WARN);
    }
    free(log_dir);
    free(log_name);

    char *sender = normalize_sender(a.sender);
    size_t len = 0;
    char *raw = read_stdin(OFCUTO_HARD_MAX, &len);
    if (len > OFCUTO_HARD_MAX)
        die(EX_CANTCREAT, "message too large: more than %lu octets", OFCUTO_HARD_MAX);
    const char *why = check_message(raw, len);
    if (why != NULL)
        die(EX_DATAERR, "malformed message from <%s>: %s", sender, why);

    char **queued = ofc_xcalloc(a.nrcpts, sizeof(*queued));
    char **locals = ofc_xcalloc(a.nrcpts, sizeof(*locals));
    char **domains = ofc_xcalloc(a.nrcpts, sizeof(*domains));
    for (size_t i = 0; i < a.nrcpts; i++)
        if (split_rcpt(a.rcpts[i], &queued[i], &locals[i], &domains[i]) < 0)
            queued[i] = ofc_xstrdup(a.rcpts[i]); /* locals[i] NULL: unknown */
    char *rcpt_array = ofc_pg_text_array((const char *const *)queued, a.nrcpts);
    char *local_array = ofc_pg_text_array((const char *const *)locals, a.nrcpts);
    char *domain_array = ofc_pg_text_array((const char *const *)domains, a.nrcpts);
    char *client = ofc_xasprintf("ofcuto uid=%ld%s%s", (long)getuid(),
                                 a.full_name != NULL && a.full_name[0] != '\0' ? " name=" : "",
                                 a.full_name != NULL ? a.full_name : "");

    char *conninfo = ofc_config_conninfo(cfg);
    struct ofc_db *db = ofc_db_new(conninfo, "ofcuto");
    free(conninfo);
    if (ofc_db_connect(db, &error) < 0) {
        char *line = ofc_str_one_line(error);
        die(EX_TEMPFAIL, "cannot connect to the database: %s", line);
    }
    const char *params[6] = {sender, rcpt_array, local_array, domain_array, raw, client};
    const int lengths[6] = {0, 0, 0, 0, (int)len, 0};
    const int formats[6] = {0, 0, 0, 0, 1, 0};
    PGresult *res = ofc_db_query_bin(db, STORE_SQL, 6, params, lengths, formats, 0);
    if (res == NULL) {
        char *line = ofc_str_one_line(ofc_db_error(db));
        /* Data the server refuses (bad UTF-8 in an address) will not get better. */
        const char *state = ofc_db_sqlstate(db);
        die(strncmp(state, "22", 2) == 0 ? EX_DATAERR : EX_TEMPFAIL,
            "cannot store the message [%s]: %s", state, line);
    }
    long long id = ofc_db_value_ll(res, 0, 0, 0);
    long long max = ofc_db_value_ll(res, 0, 1, 0);
    char **unknown = NULL;
    size_t nunknown = 0;
    if (ofc_pg_text_array_parse(ofc_db_value(res, 0, 2), &unknown, &nunknown) < 0)
        die(EX_SOFTWARE, "unexpected answer from the database");
    PQclear(res);

    struct ofc_strbuf list = OFC_STRBUF_INIT;
    for (size_t i = 0; i < nunknown; i++) {
        long k = strtol(unknown[i], NULL, 10);
        if (k >= 1 && (size_t)k <= a.nrcpts)
            ofc_strbuf_printf(&list, "%s%s", i > 0 ? ", " : "", a.rcpts[k - 1]);
    }
    if (id <= 0) {
        if ((long long)len > max)
            die(EX_CANTCREAT, "message too large: %zu octets, the limit is %lld (MaxMessageSize)",
                len, max);
        die(EX_NOUSER, "user unknown: %s", list.data != NULL ? list.data : "");
    }
    ofc_info("stored gateway_in %lld from <%s> to %s (%zu octets)%s%s", id, sender, rcpt_array, len,
             nunknown > 0 ? "; unknown, left to the Postman: " : "", nunknown > 0 ? list.data : "");

    ofc_strbuf_free(&list);
    ofc_pg_text_array_free(&unknown, nunknown);
    ofc_db_free(&db);
    for (size_t i = 0; i < a.nrcpts; i++) {
        free(queued[i]);
        free(locals[i]);
        free(domains[i]);
    }
    free(queued);
    free(locals);
    free(domains);
    free(rcpt_array);
    free(local_array);
    free(domain_array);
    free(client);
    free(raw);
    free(sender);
    free(a.rcpts);
    ofc_config_free(&cfg);
    ofc_log_close();
    return EX_OK;
}
