/*
 * ofc_config.c - reading etc/ofcmail.conf with libconfuse.
 *
 * libconfuse does the lexing and the key lookup; this file adds what it
 * lacks: messages that name the file, the line and the key, validation
 * of every value while the parser still knows the line, and the
 * resolution of relative directories against the installation root.
 */
/* System. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Libraries. */
#include <confuse.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_log.h"
#include "ofc_mem.h"

#define OFC_CONFIG_FILE "etc/ofcmail.conf"
#define NODE_NAME_MAX   30
#define SID_MAX         30

/*
 * libconfuse's lexer is one global flex scanner, and cfg_free() of a root
 * section tears it down, so two threads must never be inside libconfuse
 * at once. The same lock protects load_error, which is how the error
 * callback (it has no user pointer) hands its message back to us.
 */
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

struct load_ctx {
    const char *file; /* as the caller named it, for messages */
    char *error;      /* first message; later ones are consequences */
};
static struct load_ctx *load_ctx;

static int parse_port(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result);

static cfg_opt_t port_opts[] = {
    CFG_INT_CB("pop3", 1110, CFGF_NONE, parse_port),
    CFG_INT_CB("pop3s", 1995, CFGF_NONE, parse_port),
    CFG_INT_CB("imap", 1143, CFGF_NONE, parse_port),
    CFG_INT_CB("imaps", 1993, CFGF_NONE, parse_port),
    CFG_INT_CB("lmtp", 1024, CFGF_NONE, parse_port),
    CFG_INT_CB("smtp", 1025, CFGF_NONE, parse_port),
    CFG_END(),
};

static cfg_opt_t tls_opts[] = {
    CFG_STR("certificate", "", CFGF_NONE),
    CFG_STR("key", "", CFGF_NONE),
    CFG_STR("ca", "", CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t root_opts[] = {
    /* "" means "not given": home then comes from $OFC_HOME or the executable. */
    CFG_STR("home", "", CFGF_NONE),         CFG_STR("node", "ESNODE", CFGF_NONE),
    CFG_STR("sid", "ofcmail", CFGF_NONE),   CFG_STR("connect", "", CFGF_NONE),
    CFG_STR("bin_dir", "bin", CFGF_NONE),   CFG_STR("log_dir", "log", CFGF_NONE),
    CFG_STR("var_dir", "var", CFGF_NONE),   CFG_STR("user", "ofcmail", CFGF_NONE),
    CFG_STR("pg_bindir", "", CFGF_NONE),    CFG_STR("log_level", "info", CFGF_NONE),
    CFG_STR("time_zone", "UTC", CFGF_NONE), CFG_SEC("ports", port_opts, CFGF_NONE),
    CFG_SEC("tls", tls_opts, CFGF_NONE),    CFG_END(),
};

/* ---- errors and validation ------------------------------------------ */

static void on_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
{
    if (load_ctx == NULL || load_ctx->error != NULL)
        return;

    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    /*
     * Sections do not inherit the file name from the root (libconfuse
     * copies it only when a section is created, before parsing starts),
     * so the name comes from our context; the line is always right.
     */
    if (cfg != NULL && cfg->line > 0)
        ofc_strbuf_printf(&sb, "%s:%d: ", load_ctx->file, cfg->line);
    else
        ofc_strbuf_printf(&sb, "%s: ", load_ctx->file);
    ofc_strbuf_vprintf(&sb, fmt, ap);
    load_ctx->error = ofc_strbuf_detach(&sb);
}

/* "node" for top-level keys, "ports.imap" inside a section. */
static char *key_name(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *section = cfg_name(cfg);
    if (section == NULL || strcmp(section, "root") == 0)
        return ofc_xstrdup(cfg_opt_name(opt));
    return ofc_xasprintf("%s.%s", section, cfg_opt_name(opt));
}

static int invalid_value(cfg_t *cfg, cfg_opt_t *opt, const char *value, const char *rule)
{
    char *key = key_name(cfg, opt);
    cfg_error(cfg, "invalid value for '%s': %s (%s)", key, value, rule);
    free(key);
    return -1;
}

static int parse_port(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    char *end;

    errno = 0;
    long n = strtol(value, &end, 10);
    /* Digits only: strtol would also take " 25", "+25" and "0x19". */
    if (!isdigit((unsigned char)value[0]) || *end != '\0' || errno == ERANGE)
        return invalid_value(cfg, opt, value, "1-65535");
    *(long *)result = n;
    return 0;
}

static int validate_port(cfg_t *cfg, cfg_opt_t *opt)
{
    long n = cfg_opt_getnint(opt, 0);
    if (n < 1 || n > 65535) {
        char value[32];
        (void)snprintf(value, sizeof(value), "%ld", n);
        return invalid_value(cfg, opt, value, "1-65535");
    }
    return 0;
}

static bool is_word_char(char c)
{
    return isascii((unsigned char)c) && (isalnum((unsigned char)c) || c == '_');
}

/* ^[A-Za-z][A-Za-z0-9_]{0,29}$: node names end up in file names and SQL identifiers. */
static bool node_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > NODE_NAME_MAX || !isascii((unsigned char)s[0]) ||
        !isalpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        if (!is_word_char(s[i]))
            return false;
    }
    return true;
}

/* ^[A-Za-z0-9_]{1,30}$: the SID names directories under log/ and var/. */
static bool sid_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > SID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_word_char(s[i]))
            return false;
    }
    return true;
}

/* An IANA name such as "Europe/Paris" or "Etc/GMT+1"; enough to stop typos and "../". */
static bool time_zone_ok(const char *s)
{
    if (s[0] == '\0' || s[0] == '/' || strstr(s, "..") != NULL)
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        if (!is_word_char(*p) && strchr("/+-", *p) == NULL)
            return false;
    }
    return true;
}

static int validate_node(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    if (!node_name_ok(v))
        return invalid_value(cfg, opt, v, "a letter, then up to 29 letters, digits or '_'");
    return 0;
}

static int validate_sid(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    if (!sid_ok(v))
        return invalid_value(cfg, opt, v, "1 to 30 letters, digits or '_'");
    return 0;
}

static int validate_level(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    enum ofc_log_level level;
    if (ofc_log_level_parse(v, &level) < 0)
        return invalid_value(cfg, opt, v, "error, warn, info, debug or trace");
    return 0;
}

static int validate_nonempty(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    if (v[0] == '\0')
        return invalid_value(cfg, opt, "\"\"", "must not be empty");
    return 0;
}

static int validate_home(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    /* Relative to what? The daemons' working directory is not the admin's. */
    if (v[0] != '/')
        return invalid_value(cfg, opt, v[0] == '\0' ? "\"\"" : v, "must be an absolute path");
    return 0;
}

static int validate_time_zone(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    if (!time_zone_ok(v))
        return invalid_value(cfg, opt, v[0] == '\0' ? "\"\"" : v,
                             "an IANA time zone name such as Europe/Paris");
    return 0;
}

static void set_validators(cfg_t *cfg)
{
    static const struct {
        const char *name;
        cfg_validate_callback_t func;
    } validators[] = {
        {"home", validate_home},
        {"node", validate_node},
        {"sid", validate_sid},
        {"bin_dir", validate_nonempty},
        {"log_dir", validate_nonempty},
        {"var_dir", validate_nonempty},
        {"user", validate_nonempty},
        {"log_level", validate_level},
        {"time_zone", validate_time_zone},
        {"ports|pop3", validate_port},
        {"ports|pop3s", validate_port},
        {"ports|imap", validate_port},
        {"ports|imaps", validate_port},
        {"ports|lmtp", validate_port},
        {"ports|smtp", validate_port},
    };
    for (size_t i = 0; i < sizeof(validators) / sizeof(validators[0]); i++)
        (void)cfg_set_validate_func(cfg, validators[i].name, validators[i].func);
}

/* ---- home and paths -------------------------------------------------- */

static void strip_trailing_slashes(char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
}

/* The running executable's path, from /proc/self/exe. NULL with errno set. */
static char *self_exe(void)
{
    size_t size = 256;
    for (;;) {
        char *buf = ofc_xmalloc(size);
        ssize_t n = readlink("/proc/self/exe", buf, size);
        if (n < 0) {
            int err = errno;
            free(buf);
            errno = err;
            return NULL;
        }
        if ((size_t)n < size) {
            buf[n] = '\0';
            return buf;
        }
        /* Possibly truncated: readlink does not say, so try a larger buffer. */
        free(buf);
        size *= 2;
    }
}

/* Drops the last path component ("/a/b/c" -> "/a/b", "/a" -> "/"). */
static void dirname_in_place(char *path)
{
    strip_trailing_slashes(path);
    char *slash = strrchr(path, '/');
    if (slash == NULL)
        strcpy(path, ".");
    else if (slash == path)
        path[1] = '\0';
    else
        *slash = '\0';
}

static char *default_home(char **error_r)
{
    const char *env = getenv("OFC_HOME");
    char *home;

    if (env != NULL && env[0] != '\0') {
        if (env[0] == '/') {
            home = ofc_xstrdup(env);
        } else {
            char *cwd = getcwd(NULL, 0);
            if (cwd == NULL) {
                *error_r =
                    ofc_xasprintf("cannot resolve OFC_HOME=%s: getcwd: %s", env, strerror(errno));
                return NULL;
            }
            home = ofc_xasprintf("%s/%s", cwd, env);
            free(cwd);
        }
    } else {
        home = self_exe();
        if (home == NULL) {
            *error_r = ofc_xasprintf("cannot find the installation: readlink /proc/self/exe: "
                                     "%s (set OFC_HOME)",
                                     strerror(errno));
            return NULL;
        }
        /* <home>/bin/<program>: two levels up. */
        dirname_in_place(home);
        dirname_in_place(home);
    }
    strip_trailing_slashes(home);
    return home;
}

static char *resolve(const char *home, const char *path)
{
    if (path[0] == '\0' || path[0] == '/')
        return ofc_xstrdup(path);
    return ofc_xasprintf("%s/%s", home, path);
}

/* ---- loading --------------------------------------------------------- */

/*
 * Runs libconfuse on `file` (already opened as fp) and copies the values
 * into a new config. Called with parse_lock held.
 */
static int parse_file(const char *file, FILE *fp, struct ofc_config *c, char **error_r)
{
    struct load_ctx ctx = {.file = file, .error = NULL};
    cfg_t *cfg = cfg_init(root_opts, CFGF_NONE);

    if (cfg == NULL) {
        *error_r = ofc_xasprintf("%s: cannot initialise the parser", file);
        return -1;
    }
    load_ctx = &ctx;
    (void)cfg_set_error_function(cfg, on_cfg_error);
    set_validators(cfg);
    if (fp != NULL) {
        /* libconfuse frees cfg->filename; it is only used for its own messages. */
        free(cfg->filename);
        cfg->filename = ofc_xstrdup(file);
        int rc = cfg_parse_fp(cfg, fp);
        if (rc != CFG_SUCCESS) {
            load_ctx = NULL;
            *error_r = ctx.error != NULL ? ctx.error : ofc_xasprintf("%s: parse error", file);
            (void)cfg_free(cfg);
            return -1;
        }
    }
    load_ctx = NULL;
    free(ctx.error);

    c->home = ofc_xstrdup(cfg_getstr(cfg, "home"));
    c->node = ofc_xstrdup(cfg_getstr(cfg, "node"));
    c->sid = ofc_xstrdup(cfg_getstr(cfg, "sid"));
    c->connect = ofc_xstrdup(cfg_getstr(cfg, "connect"));
    c->bin_dir = ofc_xstrdup(cfg_getstr(cfg, "bin_dir"));
    c->log_dir = ofc_xstrdup(cfg_getstr(cfg, "log_dir"));
    c->var_dir = ofc_xstrdup(cfg_getstr(cfg, "var_dir"));
    c->user = ofc_xstrdup(cfg_getstr(cfg, "user"));
    c->pg_bindir = ofc_xstrdup(cfg_getstr(cfg, "pg_bindir"));
    c->log_level = ofc_xstrdup(cfg_getstr(cfg, "log_level"));
    c->time_zone = ofc_xstrdup(cfg_getstr(cfg, "time_zone"));

    cfg_t *ports = cfg_getsec(cfg, "ports");
    c->pop3_port = (int)cfg_getint(ports, "pop3");
    c->pop3s_port = (int)cfg_getint(ports, "pop3s");
    c->imap_port = (int)cfg_getint(ports, "imap");
    c->imaps_port = (int)cfg_getint(ports, "imaps");
    c->lmtp_port = (int)cfg_getint(ports, "lmtp");
    c->smtp_port = (int)cfg_getint(ports, "smtp");

    cfg_t *tls = cfg_getsec(cfg, "tls");
    c->tls_certificate = ofc_xstrdup(cfg_getstr(tls, "certificate"));
    c->tls_key = ofc_xstrdup(cfg_getstr(tls, "key"));
    c->tls_ca = ofc_xstrdup(cfg_getstr(tls, "ca"));

    (void)cfg_free(cfg);
    return 0;
}

/* Replaces *field with its resolution against home. */
static void resolve_field(const char *home, char **field)
{
    char *resolved = resolve(home, *field);
    free(*field);
    *field = resolved;
}

int ofc_config_load(const char *path, struct ofc_config **cfg_r, char **error_r)
{
    struct ofc_config *c = ofc_xcalloc(1, sizeof(*c));
    FILE *fp = NULL;

    *cfg_r = NULL;
    /* Not fatal yet: the file may name its home itself. */
    char *home_error = NULL;
    char *home = default_home(&home_error);

    /* An explicitly named file must exist; the default one may be absent. */
    const char *env = getenv("OFC_CONFIG");
    if (path != NULL) {
        c->path = ofc_xstrdup(path);
    } else if (env != NULL && env[0] != '\0') {
        c->path = ofc_xstrdup(env);
    } else if (home != NULL) {
        char *candidate = ofc_xasprintf("%s/%s", home, OFC_CONFIG_FILE);
        if (access(candidate, F_OK) == 0)
            c->path = candidate;
        else
            free(candidate);
    }
    if (c->path != NULL) {
        struct stat st;
        fp = fopen(c->path, "re");
        if (fp == NULL) {
            *error_r = ofc_xasprintf("%s: cannot open: %s", c->path, strerror(errno));
            goto fail;
        }
        if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
            *error_r = ofc_xasprintf("%s: is a directory", c->path);
            goto fail;
        }
    }

    pthread_mutex_lock(&parse_lock);
    int rc = parse_file(c->path != NULL ? c->path : "(defaults)", fp, c, error_r);
    pthread_mutex_unlock(&parse_lock);
    if (fp != NULL) {
        (void)fclose(fp);
        fp = NULL;
    }
    if (rc < 0)
        goto fail;

    /* The file's own `home` wins over the environment and the executable. */
    if (c->home[0] == '\0') {
        if (home == NULL) {
            *error_r = home_error;
            home_error = NULL;
            goto fail;
        }
        free(c->home);
        c->home = home;
    } else {
        free(home);
        strip_trailing_slashes(c->home);
    }
    home = NULL;
    free(home_error);

    for (char *p = c->node; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
    resolve_field(c->home, &c->bin_dir);
    resolve_field(c->home, &c->log_dir);
    resolve_field(c->home, &c->var_dir);
    resolve_field(c->home, &c->pg_bindir);
    resolve_field(c->home, &c->tls_certificate);
    resolve_field(c->home, &c->tls_key);
    resolve_field(c->home, &c->tls_ca);

    *cfg_r = c;
    return 0;

fail:
    if (fp != NULL)
        (void)fclose(fp);
    free(home);
    free(home_error);
    ofc_config_free(&c);
    return -1;
}

void ofc_config_free(struct ofc_config **cfg)
{
    struct ofc_config *c = *cfg;
    if (c == NULL)
        return;
    free(c->path);
    free(c->home);
    free(c->node);
    free(c->sid);
    free(c->connect);
    free(c->bin_dir);
    free(c->log_dir);
    free(c->var_dir);
    free(c->user);
    free(c->pg_bindir);
    free(c->log_level);
    free(c->time_zone);
    free(c->tls_certificate);
    free(c->tls_key);
    free(c->tls_ca);
    free(c);
    *cfg = NULL;
}

/* ---- derived values -------------------------------------------------- */

/*
 * Appends a conninfo value, single-quoted with '\' escapes when it is
 * empty or holds white space, a quote or a backslash (libpq's rules).
 */
void ofc_conninfo_append_value(struct ofc_strbuf *sb, const char *value)
{
    bool quote = value[0] == '\0';
    for (const char *p = value; *p != '\0' && !quote; p++)
        quote = isspace((unsigned char)*p) || *p == '\'' || *p == '\\';
    if (!quote) {
        ofc_strbuf_puts(sb, value);
        return;
    }
    ofc_strbuf_putc(sb, '\'');
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\'' || *p == '\\')
            ofc_strbuf_putc(sb, '\\');
        ofc_strbuf_putc(sb, *p);
    }
    ofc_strbuf_putc(sb, '\'');
}

char *ofc_config_conninfo(const struct ofc_config *cfg)
{
    if (!ofc_config_is_embedded(cfg))
        return ofc_xstrdup(cfg->connect);

    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    char *socket_dir = ofc_config_pgsocket_dir(cfg);
    ofc_strbuf_puts(&sb, "host=");
    ofc_conninfo_append_value(&sb, socket_dir);
    ofc_strbuf_puts(&sb, " port=5432 dbname=ofcmail user=ofcmail");
    free(socket_dir);
    return ofc_strbuf_detach(&sb);
}

char *ofc_config_node_var_dir(const struct ofc_config *cfg)
{
    return ofc_xasprintf("%s/%s", cfg->var_dir, cfg->sid);
}

char *ofc_config_node_log_dir(const struct ofc_config *cfg)
{
    return ofc_xasprintf("%s/%s", cfg->log_dir, cfg->sid);
}

char *ofc_config_pgdata_dir(const struct ofc_config *cfg)
{
    return ofc_xasprintf("%s/%s/pgdata", cfg->var_dir, cfg->sid);
}

char *ofc_config_pgsocket_dir(const struct ofc_config *cfg)
{
    return ofc_xasprintf("%s/%s/run", cfg->var_dir, cfg->sid);
}

bool ofc_config_is_embedded(const struct ofc_config *cfg)
{
    return cfg->connect[0] == '\0';
}
