/*
 * node_create.c - ofcsetup create-node.
 *
 * A node is made in one transaction together with the migrations: the
 * node row, its community, its top domain and subscription, the ADMIN and
 * ORAPOST accounts (and a demo user when asked), and one registered
 * instance of every process type the Guardian manages. Either all of it
 * commits or none of it: a failure leaves no schema and no rows behind.
 *
 * Running it again on a database that already has a local node applies
 * any new migrations and changes nothing else, so an installation script
 * may call it every time.
 */
/* System. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "dir_account.h"
#include "ofc_cluster.h"
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_password.h"

/* This program. */
#include "ofcsetup.h"

#define DEFAULT_NODE_DESCRIPTION "ofcmail node"
#define DEFAULT_DOMAIN           "com"
#define DEFAULT_COMMUNITY        "COMMUNITY1"
#define NODE_NAME_MAX            30
#define COMMUNITY_NAME_MAX       64
#define DOMAIN_MAX               253
#define DOMAIN_LABEL_MAX         63

/* Everything the transaction needs, and what it found. */
struct create_ctx {
    /* In. */
    const char *node;
    const char *node_description;
    const char *domain;
    const char *domain_description;
    const char *community;
    const char *community_description;
    const char *time_zone;
    const char *node_conninfo; /* no password; "" for the embedded cluster */
    const char *demo_user;
    char *admin_hash;   /* NULL when we already saw a node and asked for nothing */
    char *orapost_hash; /* NULL: ORAPOST cannot log in until a password is set */
    char *demo_hash;
    /* Out. */
    struct migrate_result mig;
    char *existing_node; /* the local node that was already there */
    long processes;      /* process instances registered */
};

/* ---- checking the command line --------------------------------------- */

/* ^[A-Z][A-Z0-9_]{0,29}$ after upper-casing, as the node table requires. */
static bool node_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > NODE_NAME_MAX || !(s[0] >= 'A' && s[0] <= 'Z'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* ^[A-Za-z][A-Za-z0-9_.-]{0,63}$, as the community table requires. */
static bool community_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > COMMUNITY_NAME_MAX || !isascii((unsigned char)s[0]) ||
        !isalpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isascii(c) || !(isalnum(c) || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/*
 * Dot-separated labels of 1 to 63 bytes, 253 in all, without white space,
 * control characters or the characters that delimit addresses. IDN
 * domains stay as they are (UTF-8 or A-labels), like everywhere else.
 */
static bool domain_ok(const char *s)
{
    size_t len = strlen(s), label = 0;
    if (len == 0 || len > DOMAIN_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (c <= 0x20 || c == 0x7f || strchr("@<>,;:\"\\/()[]", c) != NULL)
            return false;
        if (++label > DOMAIN_LABEL_MAX)
            return false;
    }
    return label > 0;
}

static char *upper_dup(const char *s)
{
    char *u = ofc_xstrdup(s);
    for (char *p = u; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
    return u;
}

static char *lower_dup(const char *s)
{
    char *l = ofc_xstrdup(s);
    for (char *p = l; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return l;
}

/*
 * A password from its option or, failing that, its environment variable.
 * *password_r is a heap copy or NULL when neither is set. An empty one is
 * refused. Returns 0, or -1 after printing why.
 */
static int password_from(const char *option, const char *flag_value, const char *env_name,
                         const char *whose, char **password_r)
{
    *password_r = NULL;
    const char *value = flag_value;
    const char *source = option;
    if (value == NULL) {
        value = getenv(env_name);
        source = env_name;
    }
    if (value == NULL)
        return 0;
    if (value[0] == '\0') {
        setup_error("empty %s password (from %s): passwords must not be empty", whose, source);
        return -1;
    }
    *password_r = ofc_xstrdup(value);
    return 0;
}

/* Hashes a password into *hash_r (NULL password: NULL hash). Prints the failure. */
static int hash_or_null(const char *password, const char *whose, char **hash_r)
{
    char *error = NULL;
    *hash_r = NULL;
    if (password == NULL)
        return 0;
    if (ofc_password_hash(password, hash_r, &error) < 0) {
        setup_error("cannot hash the %s password: %s", whose, error);
        free(error);
        return -1;
    }
    return 0;
}

/*
 * Collects the three passwords (flags, environment, terminal) and hashes
 * them. Returns an exit status: 0 when all is well.
 */
static int gather_passwords(struct setup *s, struct create_ctx *c)
{
    char *admin = NULL, *orapost = NULL, *demo = NULL, *error = NULL;
    int status = SETUP_EXIT_USAGE;

    if (password_from("--admin-password", s->opt.admin_password, "OFC_ADMIN_PASSWORD", "ADMIN",
                      &admin) < 0 ||
        password_from("--orapost-password", s->opt.orapost_password, "OFC_ORAPOST_PASSWORD",
                      "ORAPOST", &orapost) < 0 ||
        password_from("--demo-password", s->opt.demo_password, "OFC_DEMO_PASSWORD", "demo user",
                      &demo) < 0)
        goto out;
    if (admin == NULL) {
        if (!setup_have_terminal()) {
            setup_error("no ADMIN password given: use --admin-password, OFC_ADMIN_PASSWORD, "
                        "or run on a terminal");
            goto out;
        }
        if (prompt_new_password("ADMIN", &admin, &error) < 0) {
            setup_error("%s", error);
            free(error);
            goto out;
        }
    }
    if (c->demo_user != NULL && demo == NULL) {
        setup_error("no password for the demo user %s: use --demo-password or OFC_DEMO_PASSWORD",
                    c->demo_user);
        goto out;
    }
    status = SETUP_EXIT_FAILURE;
    if (hash_or_null(admin, "ADMIN", &c->admin_hash) < 0 ||
        hash_or_null(orapost, "ORAPOST", &c->orapost_hash) < 0 ||
        hash_or_null(c->demo_user != NULL ? demo : NULL, "demo user", &c->demo_hash) < 0)
        goto out;
    status = SETUP_EXIT_OK;
out:
    setup_forget(&admin);
    setup_forget(&orapost);
    setup_forget(&demo);
    return status;
}

/* ---- the transaction -------------------------------------------------- */

/* Runs a statement that returns one id; -1 (with *error_r) on failure. */
static long long insert_id(struct ofc_db *db, const char *what, const char *sql, int n,
                           const char *const *params, char **error_r)
{
    PGresult *res = ofc_db_query(db, sql, n, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot create %s: %s", what, ofc_db_error(db));
        return -1;
    }
    long long id = ofc_db_value_ll(res, 0, 0, -1);
    PQclear(res);
    if (id < 0)
        *error_r = ofc_xasprintf("cannot create %s: no id returned", what);
    return id;
}

static int exec_or(struct ofc_db *db, const char *what, const char *sql, int n,
                   const char *const *params, char **error_r)
{
    if (ofc_db_exec(db, sql, n, params) == 0)
        return 0;
    *error_r = ofc_xasprintf("cannot create %s: %s", what, ofc_db_error(db));
    return -1;
}

static int create_account(struct ofc_db *db, const char *name, const char *description,
                          long long domain_id, long long node_id, const char *hash, long long *id_r,
                          char **error_r)
{
    struct dir_account_new acct = {
        .class = DIR_ACCOUNT_PERSON,
        .domain_id = domain_id,
        .name = name,
        .description = description,
        .home_node_id = node_id,
        .password_hash = hash,
        .quota_bytes = -1,
    };
    return dir_account_create(db, &acct, id_r, error_r);
}

static int create_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct create_ctx *c = ctx;
    char node_id[24], community_id[24], domain_id[24], admin_id[24];
    long long id, node_num, domain_num;

    OFC_FREE(c->existing_node);
    c->processes = 0;
    if (migrate_run(db, &c->mig, error_r) < 0)
        return OFC_DB_ERROR;

    if (setup_local_node(db, &c->existing_node, error_r) < 0)
        return OFC_DB_ERROR;
    if (c->existing_node != NULL)
        return OFC_DB_OK; /* commit the migrations, touch nothing else */
    if (c->admin_hash == NULL) {
        /* We saw a node before the transaction; someone dropped it meanwhile. */
        *error_r = ofc_xstrdup("the node was dropped while ofcsetup ran; run it again");
        return OFC_DB_ERROR;
    }

    const char *const tz[] = {c->time_zone};
    if (ofc_db_exec(db, "SELECT now() AT TIME ZONE $1", 1, tz) < 0) {
        *error_r = ofc_xasprintf("invalid time zone %s: %s", c->time_zone, ofc_db_error(db));
        return OFC_DB_ERROR;
    }

    const char *const node[] = {c->node, c->node_description, c->node_conninfo, c->time_zone};
    id = insert_id(db, "the node",
                   "INSERT INTO ofc.node (name, description, conninfo, time_zone, is_local)"
                   " VALUES ($1, $2, $3, $4, true) RETURNING id",
                   4, node, error_r);
    if (id < 0)
        return OFC_DB_ERROR;
    node_num = id;
    (void)snprintf(node_id, sizeof(node_id), "%lld", id);

    const char *const community[] = {c->community, c->community_description};
    id = insert_id(db, "the community",
                   "INSERT INTO ofc.community (name, description) VALUES ($1, $2) RETURNING id", 2,
                   community, error_r);
    if (id < 0)
        return OFC_DB_ERROR;
    (void)snprintf(community_id, sizeof(community_id), "%lld", id);
    const char *const member[] = {community_id, node_id};
    if (exec_or(db, "the community membership",
                "INSERT INTO ofc.community_node (community_id, node_id) VALUES ($1, $2)", 2, member,
                error_r) < 0)
        return OFC_DB_ERROR;

    const char *const domain[] = {c->domain, node_id, c->domain_description};
    id = insert_id(db, "the domain",
                   "INSERT INTO ofc.domain (parent_id, fqdn, confignode_id, description)"
                   " VALUES (NULL, $1, $2, $3) RETURNING id",
                   3, domain, error_r);
    if (id < 0)
        return OFC_DB_ERROR;
    domain_num = id;
    (void)snprintf(domain_id, sizeof(domain_id), "%lld", id);
    const char *const subscription[] = {domain_id, node_id};
    if (exec_or(db, "the domain subscription",
                "INSERT INTO ofc.subscription (domain_id, node_id) VALUES ($1, $2)", 2,
                subscription, error_r) < 0)
        return OFC_DB_ERROR;

    if (create_account(db, "ADMIN", "Administrator", domain_num, node_num, c->admin_hash, &id,
                       error_r) < 0)
        return OFC_DB_ERROR;
    (void)snprintf(admin_id, sizeof(admin_id), "%lld", id);
    const char *const grant[] = {admin_id, domain_id};
    if (exec_or(db, "the ADMIN grant",
                "INSERT INTO ofc.admin_grant (account_id, domain_id) VALUES ($1, $2)", 2, grant,
                error_r) < 0)
        return OFC_DB_ERROR;
    if (create_account(db, "ORAPOST", "Postmaster: receives the Monitor's reports", domain_num,
                       node_num, c->orapost_hash, NULL, error_r) < 0)
        return OFC_DB_ERROR;
    if (c->demo_user != NULL && create_account(db, c->demo_user, "Demo user", domain_num, node_num,
                                               c->demo_hash, NULL, error_r) < 0)
        return OFC_DB_ERROR;

    /*
     * Gateways serve a domain: SMTP_IN and SMTP are registered as
     * SMTP_IN.<domain> and SMTP.<domain>. The SMTP gateway with its
     * catch-all route gives external mail a way out (010_gateway_out.sql).
     */
    const char *const proc[] = {node_id, domain_id};
    if (exec_or(db, "the outbound SMTP gateway",
                "SELECT ofc.gateway_smtp_default($1::integer, $2::integer)", 2, proc, error_r) < 0)
        return OFC_DB_ERROR;
    PGresult *res = ofc_db_query(db,
                                 "INSERT INTO ofc.process (node_id, type, instance, desired_state,"
                                 " domain_id) SELECT $1, name, 1, 'STOPPED',"
                                 " CASE WHEN name IN ('SMTP_IN', 'SMTP') THEN $2::integer END"
                                 " FROM ofc.process_type WHERE managed ORDER BY name",
                                 2, proc);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot register the processes: %s", ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    c->processes = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return OFC_DB_OK;
}

/* ---- the command ------------------------------------------------------ */

static void print_summary(const struct setup *s, const struct create_ctx *c)
{
    char *domain_upper = upper_dup(c->domain);
    (void)printf("created node %s (%s), time zone %s, schema version %d\n", c->node,
                 c->node_description, c->time_zone, c->mig.version);
    (void)printf("  domain:      %s (top domain), community %s\n", domain_upper, c->community);
    (void)printf("  accounts:    ADMIN@%s (administers %s), ORAPOST@%s%s", c->domain, domain_upper,
                 c->domain,
                 c->orapost_hash == NULL ? " (no password: cannot log in until one is set)" : "");
    if (c->demo_user != NULL)
        (void)printf(", %s@%s", c->demo_user, c->domain);
    (void)printf("\n  processes:   %ld registered, STOPPED\n", c->processes);
    (void)printf("  connect:     %s\n", s->conninfo_public);
    if (s->embedded) {
        (void)printf("  data:        %s (embedded PostgreSQL cluster, running)\n",
                     ofc_cluster_data_dir(s->cluster));
        (void)printf("  socket:      %s (unix socket only, no TCP)\n",
                     ofc_cluster_socket_dir(s->cluster));
        (void)printf("  server log:  %s\n", ofc_cluster_log_file(s->cluster));
    }
    free(domain_upper);
}

int cmd_create_node(struct setup *s)
{
    struct create_ctx c = {0};
    struct ofc_db *db = NULL;
    char *node = upper_dup(s->opt.node != NULL ? s->opt.node : s->cfg->node);
    char *domain = lower_dup(s->opt.domain != NULL ? s->opt.domain : DEFAULT_DOMAIN);
    const char *why = NULL;
    char *error = NULL;
    int status = SETUP_EXIT_USAGE;
    bool have_passwords = false;

    c.node = node;
    c.domain = domain;
    c.node_description =
        s->opt.node_description != NULL ? s->opt.node_description : DEFAULT_NODE_DESCRIPTION;
    c.domain_description = s->opt.domain_description != NULL ? s->opt.domain_description : "";
    c.community = s->opt.community != NULL ? s->opt.community : DEFAULT_COMMUNITY;
    c.community_description =
        s->opt.community_description != NULL ? s->opt.community_description : "";
    /* The configuration's time_zone is validated and defaults to UTC. */
    c.time_zone = s->opt.time_zone != NULL ? s->opt.time_zone : s->cfg->time_zone;
    c.node_conninfo = s->embedded ? "" : s->conninfo_public;
    c.demo_user = s->opt.demo_user;

    if (!node_name_ok(node)) {
        setup_error("invalid node name %s: a letter, then up to 29 letters, digits or '_'", node);
        goto out;
    }
    if (!domain_ok(domain)) {
        setup_error("invalid domain %s: dot-separated labels of 1 to 63 characters, "
                    "no spaces or @<>,;:\"\\/()[]",
                    domain);
        goto out;
    }
    if (!community_name_ok(c.community)) {
        setup_error("invalid community name %s: a letter, then up to 63 letters, digits, "
                    "'_', '.' or '-'",
                    c.community);
        goto out;
    }
    if (c.time_zone[0] == '\0') {
        setup_error("empty time zone");
        goto out;
    }
    if (c.demo_user != NULL) {
        if (!dir_account_name_valid(c.demo_user, &why)) {
            setup_error("invalid demo user name %s: %s", c.demo_user, why);
            goto out;
        }
        if (strcasecmp(c.demo_user, "ADMIN") == 0 || strcasecmp(c.demo_user, "ORAPOST") == 0) {
            setup_error("the demo user cannot be called %s: that account is made anyway",
                        c.demo_user);
            goto out;
        }
    } else if (s->opt.demo_password != NULL) {
        setup_error("--demo-password needs --demo-user");
        goto out;
    }

    /*
     * Passwords are needed only for a new node. Without an embedded
     * cluster there cannot be one yet: ask before creating the cluster, so
     * that a missing password does not leave a fresh cluster behind.
     */
    if (s->embedded && !ofc_cluster_exists(s->cluster)) {
        status = gather_passwords(s, &c);
        if (status != SETUP_EXIT_OK)
            goto out;
        have_passwords = true;
    }
    status = SETUP_EXIT_FAILURE;
    if (s->embedded && setup_bring_up_embedded(s, true) < 0)
        goto out;
    db = setup_connect(s);
    if (db == NULL)
        goto out;
    if (!have_passwords) {
        char *existing = NULL;
        if (setup_local_node(db, &existing, &error) < 0) {
            setup_error("cannot look for an existing node: %s", error);
            goto out;
        }
        if (existing == NULL) {
            status = gather_passwords(s, &c);
            if (status != SETUP_EXIT_OK)
                goto out;
            status = SETUP_EXIT_FAILURE;
        }
        free(existing);
    }

    int rc = ofc_db_transaction(db, false, 3, create_tx, &c, &error);
    if (rc != OFC_DB_OK) {
        setup_error("%s; nothing was changed", error != NULL ? error : "create-node failed");
        goto out;
    }
    if (c.mig.applied_count > 0)
        ofc_info("schema at version %d (applied: %s)", c.mig.version, c.mig.applied);
    if (c.existing_node != NULL) {
        ofc_info("node %s already exists; nothing else changed", c.existing_node);
        if (c.mig.applied_count > 0)
            (void)printf("schema upgraded to version %d (applied: %s)\n", c.mig.version,
                         c.mig.applied);
        (void)printf("node %s already exists (schema version %d); nothing else changed\n",
                     c.existing_node, c.mig.version);
    } else {
        ofc_info("created node %s with domain %s, community %s, accounts ADMIN, ORAPOST%s%s, "
                 "%ld processes; connect: %s",
                 c.node, c.domain, c.community, c.demo_user != NULL ? " and " : "",
                 c.demo_user != NULL ? c.demo_user : "", c.processes, s->conninfo_public);
        print_summary(s, &c);
    }
    status = SETUP_EXIT_OK;
out:
    ofc_db_free(&db);
    free(error);
    free(node);
    free(domain);
    free(c.existing_node);
    free(c.admin_hash);
    free(c.orapost_hash);
    free(c.demo_hash);
    migrate_result_clear(&c.mig);
    return status;
}
