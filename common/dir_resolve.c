/*
 * dir_resolve.c - expanding an address to the accounts and external
 * addresses it reaches.
 *
 * Approach. The Postman calls this for every message, so the number of
 * round trips matters more than anything else. Expansion is breadth first,
 * one level per statement ("dir_resolve_level", prepared once per
 * connection): the statement takes every address still to look up and
 * every object still to expand at this level as arrays, looks the
 * addresses up, and returns in the same result the members of everything
 * it found or was given (alias targets, list members, the accounts of
 * locations, organizations and roles) together with each member's class,
 * address and home node. Accounts therefore never need a statement of
 * their own: a person costs one statement, a list of a thousand persons
 * too, an alias of an alias two. The number of statements is the depth of
 * nesting, never the number of addresses.
 *
 * A recursive CTE could do the whole expansion in one statement, but it
 * walks paths, not objects: lists that share sublists multiply rows, and a
 * loop can only be cut per path. Here the graph is built in memory, one
 * node per object or address (which also collapses duplicates), and a
 * depth-first search over it afterwards names every loop exactly.
 */
/* System. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "dir_object.h"
#include "dir_resolve.h"
#include "dir_util.h"
#include "ofc_addr.h"
#include "ofc_db.h"
#include "ofc_pgarray.h"
#include "ofc_mem.h"

/* The suffix sendmail's aliases add for the ofcmail mailer ("user1.ofcmail"). */
#define OFCMAIL_SUFFIX     ".ofcmail"
#define OFCMAIL_SUFFIX_LEN (sizeof(OFCMAIL_SUFFIX) - 1)

#define LEVEL_STMT "dir_resolve_level"
/*
 * $1 local parts and $2 domains (NULL: a bare name) to look up; $3 objects
 * to expand; $4/$5 the context domain of bare names (id, or fqdn when the
 * id is 0). Local parts are lowered by the server, as name_key is, so that
 * non-ASCII names compare the same way on both sides. Rows: 'K' (ref = 1-based index of the
 * address; fqdn NULL when the domain is not ours, object NULL when the name is unknown there) and
 * 'E' (ref = parent object; a member object with its class, name, domain
 * and home node, or a member address in addr).
 */
static const char level_sql[] =
    "WITH ctx AS (SELECT coalesce((SELECT fqdn FROM ofc.domain WHERE id = $4::int),"
    "   lower($5::text)) AS fqdn),"
    " keys AS (SELECT k.i, lower(k.local) AS name_key, k.fqdn"
    "   FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(local, fqdn, i)),"
    " found AS (SELECT keys.i, d.fqdn, o.id AS object_id FROM keys"
    "   LEFT JOIN ofc.domain d ON d.fqdn = coalesce(keys.fqdn, (SELECT fqdn FROM ctx))"
    "   LEFT JOIN ofc.dir_object o ON o.domain_id = d.id AND o.name_key = keys.name_key"
    "    AND o.class NOT IN ('PUBLIC_TEMPLATE', 'PRIVATE_TEMPLATE')),"
    " objs AS (SELECT x.id FROM unnest($3::bigint[]) AS x(id)"
    "   UNION SELECT object_id FROM found WHERE object_id IS NOT NULL),"
    " edges AS ("
    "   SELECT al.object_id AS parent, al.target_object_id AS child,"
    "    al.target_address AS addr FROM ofc.alias al WHERE al.object_id IN (SELECT id FROM objs)"
    "   UNION ALL SELECT m.dl_id, m.member_object_id, NULL FROM ofc.dl_member m"
    "    WHERE m.dl_id IN (SELECT id FROM objs) AND m.member_object_id IS NOT NULL"
    "   UNION ALL SELECT m.dl_id, NULL, m.member_address FROM ofc.dl_member m"
    "    WHERE m.dl_id IN (SELECT id FROM objs) AND m.member_address IS NOT NULL"
    "   UNION ALL SELECT a.location_id, a.object_id, NULL FROM ofc.account a"
    "    WHERE a.location_id IN (SELECT id FROM objs)"
    "   UNION ALL SELECT a.organization_id, a.object_id, NULL FROM ofc.account a"
    "    WHERE a.organization_id IN (SELECT id FROM objs)"
    "   UNION ALL SELECT r.role_id, r.account_id, NULL FROM ofc.role_assignment r"
    "    WHERE r.role_id IN (SELECT id FROM objs))"
    " SELECT 'K' AS kind, f.i AS ref, f.fqdn, f.object_id, o.class, o.name,"
    "   ac.home_node_id, NULL::text AS addr"
    "  FROM found f LEFT JOIN ofc.dir_object o ON o.id = f.object_id"
    "  LEFT JOIN ofc.account ac ON ac.object_id = f.object_id"
    " UNION ALL"
    " SELECT 'E', e.parent, d.fqdn, e.child, o.class, o.name, ac.home_node_id, e.addr"
    "  FROM edges e LEFT JOIN ofc.dir_object o ON o.id = e.child"
    "  LEFT JOIN ofc.domain d ON d.id = o.domain_id"
    "  LEFT JOIN ofc.account ac ON ac.object_id = e.child"
    " ORDER BY 1 DESC, 2, 6, 8";

enum node_kind {
    NODE_KEY,      /* an address or bare name still to look up */
    NODE_RESOLVED, /* an address that named an object (its one edge) */
    NODE_OBJECT,   /* a directory object */
    NODE_EXTERNAL, /* an address of another domain */
    NODE_UNKNOWN,  /* reaches nobody: reason */
};

struct node {
    enum node_kind kind;
    enum dir_class class; /* NODE_OBJECT */
    long long object_id;
    long long home_node_id;
    char *display;  /* the address as shown in results */
    char *local;    /* NODE_KEY: the local part to look up (suffix stripped) */
    char *fqdn;     /* NODE_KEY: its domain, NULL for a bare name */
    char *reason;   /* NODE_UNKNOWN */
    int depth;      /* levels of expansion from the input */
    size_t input;   /* first input that reached the node */
    bool expanded;  /* NODE_OBJECT: its members are in edges */
    bool expanding; /* its members are accepted from the current statement */
    size_t *edges;
    size_t nedges, capedges;
    int color; /* loop search: 0 unseen, 1 on the path, 2 done */
};

struct slot {
    char *key; /* NULL: empty */
    size_t node;
};

struct graph {
    struct node *nodes;
    size_t n, cap;
    struct slot *slots; /* open addressing, linear probing; size a power of 2 */
    size_t nslots, used;
    int max_depth;
};

const char *dir_rcpt_kind_name(enum dir_rcpt_kind kind)
{
    switch (kind) {
    case DIR_RCPT_ACCOUNT:
        return "ACCOUNT";
    case DIR_RCPT_EXTERNAL:
        return "EXTERNAL";
    case DIR_RCPT_UNKNOWN:
        return "UNKNOWN";
    case DIR_RCPT_LOOP:
        return "LOOP";
    }
    return "UNKNOWN";
}

/* ---- the graph -------------------------------------------------------- */

static uint64_t hash_key(const char *s)
{
    /* FNV-1a: keys are our own (ids, lower-cased addresses), not hostile. */
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct slot *find_slot(struct slot *slots, size_t nslots, const char *key)
{
    size_t i = (size_t)hash_key(key) & (nslots - 1);
    while (slots[i].key != NULL && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (nslots - 1);
    return &slots[i];
}

static void grow_slots(struct graph *g)
{
    size_t nslots = g->nslots == 0 ? 64 : g->nslots * 2;
    struct slot *slots = ofc_xcalloc(nslots, sizeof(*slots));
    for (size_t i = 0; i < g->nslots; i++)
        if (g->slots[i].key != NULL)
            *find_slot(slots, nslots, g->slots[i].key) = g->slots[i];
    free(g->slots);
    g->slots = slots;
    g->nslots = nslots;
}

/* The node under key, or (size_t)-1. */
static size_t lookup(const struct graph *g, const char *key)
{
    if (g->nslots == 0)
        return (size_t)-1;
    const struct slot *s = find_slot(g->slots, g->nslots, key);
    return s->key != NULL ? s->node : (size_t)-1;
}

/*
 * A new node under key (taken over), reached first from input at depth.
 * Returns its index; *created_r tells whether it is new (else key was
 * freed and the existing node is returned).
 */
static size_t add_node(struct graph *g, char *key, enum node_kind kind, int depth, size_t input,
                       bool *created_r)
{
    size_t existing = lookup(g, key);
    if (existing != (size_t)-1) {
        free(key);
        *created_r = false;
        return existing;
    }
    if ((g->used + 1) * 2 > g->nslots)
        grow_slots(g);
    if (g->n == g->cap) {
        g->cap = g->cap == 0 ? 16 : g->cap * 2;
        g->nodes = ofc_xrealloc(g->nodes, g->cap * sizeof(*g->nodes));
    }
    struct slot *s = find_slot(g->slots, g->nslots, key);
    s->key = key;
    s->node = g->n;
    g->used++;
    struct node *node = &g->nodes[g->n];
    memset(node, 0, sizeof(*node));
    node->kind = kind;
    node->depth = depth;
    node->input = input;
    *created_r = true;
    return g->n++;
}

static void add_edge(struct graph *g, size_t from, size_t to)
{
    struct node *node = &g->nodes[from];
    if (node->nedges == node->capedges) {
        node->capedges = node->capedges == 0 ? 4 : node->capedges * 2;
        node->edges = ofc_xrealloc(node->edges, node->capedges * sizeof(*node->edges));
    }
    node->edges[node->nedges++] = to;
}

static void graph_free(struct graph *g)
{
    for (size_t i = 0; i < g->n; i++) {
        struct node *node = &g->nodes[i];
        free(node->display);
        free(node->local);
        free(node->fqdn);
        free(node->reason);
        free(node->edges);
    }
    for (size_t i = 0; i < g->nslots; i++)
        free(g->slots[i].key);
    free(g->nodes);
    free(g->slots);
    memset(g, 0, sizeof(*g));
}

static void set_unknown(struct node *node, char *reason)
{
    node->kind = NODE_UNKNOWN;
    free(node->reason);
    node->reason = reason;
}

/*
 * The node of an address (input or member), new ones pending lookup. A
 * malformed address becomes an UNKNOWN node under its raw text.
 */
static size_t address_node(struct graph *g, const char *text, bool allow_bare, int depth,
                           size_t input)
{
    struct ofc_addr addr;
    const char *why;
    bool created;
    if (ofc_addr_parse_mailbox(text, strlen(text), allow_bare, &addr, &why) < 0) {
        size_t i = add_node(g, ofc_xasprintf("x:%s", text), NODE_UNKNOWN, depth, input, &created);
        if (created) {
            g->nodes[i].display = ofc_xstrdup(text);
            g->nodes[i].reason = ofc_xasprintf("invalid address: %s", why);
        }
        return i;
    }
    char *key = ofc_addr_key(&addr);
    size_t i = add_node(g, ofc_xasprintf("%c:%s", addr.domain != NULL ? 'a' : 'b', key), NODE_KEY,
                        depth, input, &created);
    free(key);
    if (created) {
        struct node *node = &g->nodes[i];
        node->display = ofc_addr_format(&addr);
        size_t len = strlen(addr.local);
        /* "user1.ofcmail" is user1: strip the suffix, never the whole name. */
        if (len > OFCMAIL_SUFFIX_LEN &&
            strcasecmp(addr.local + len - OFCMAIL_SUFFIX_LEN, OFCMAIL_SUFFIX) == 0)
            len -= OFCMAIL_SUFFIX_LEN;
        node->local = ofc_xstrndup(addr.local, len);
        node->fqdn = addr.domain != NULL ? ofc_xstrdup(addr.domain) : NULL;
    }
    ofc_addr_clear(&addr);
    return i;
}

static bool class_expands(enum dir_class class)
{
    return class == DIR_CLASS_ALIAS || class == DIR_CLASS_DL || dir_class_is_group(class);
}

/*
 * The node of an object from a result row (columns 3-6: id, class, name,
 * home node; column 2 its domain), new or known.
 */
static size_t object_node(struct graph *g, const PGresult *res, int row, int depth, size_t input)
{
    long long id = ofc_db_value_ll(res, row, 3, 0);
    bool created;
    size_t i = add_node(g, ofc_xasprintf("o:%lld", id), NODE_OBJECT, depth, input, &created);
    if (created) {
        struct node *node = &g->nodes[i];
        const char *name = ofc_db_value(res, row, 5);
        const char *fqdn = ofc_db_value(res, row, 2);
        node->object_id = id;
        node->class = DIR_CLASS_ANY;
        if (ofc_db_value(res, row, 4) != NULL)
            (void)dir_class_parse(ofc_db_value(res, row, 4), &node->class);
        node->home_node_id = ofc_db_value_ll(res, row, 6, 0);
        node->display =
            ofc_xasprintf("%s@%s", name != NULL ? name : "?", fqdn != NULL ? fqdn : "?");
    }
    return i;
}

/* Marks an object whose members the current statement brings. */
static void maybe_expand(struct graph *g, size_t i)
{
    struct node *node = &g->nodes[i];
    if (node->kind == NODE_OBJECT && class_expands(node->class) && !node->expanded &&
        node->depth < g->max_depth)
        node->expanding = true;
}

/* ---- one level -------------------------------------------------------- */

/*
 * Runs one statement for every pending address and every object to
 * expand. Returns 1 when there was work, 0 when the graph is complete, -1
 * with *error_r.
 */
static int run_level(struct ofc_db *db, const struct dir_resolve_context *ctx, struct graph *g,
                     char **error_r)
{
    size_t nkeys = 0, nobjs = 0;
    size_t *key_nodes = ofc_xcalloc(g->n + 1, sizeof(*key_nodes));
    const char **locals = ofc_xcalloc(g->n + 1, sizeof(*locals));
    const char **fqdns = ofc_xcalloc(g->n + 1, sizeof(*fqdns));
    long long *objs = ofc_xcalloc(g->n + 1, sizeof(*objs));
    for (size_t i = 0; i < g->n; i++) {
        struct node *node = &g->nodes[i];
        if (node->kind == NODE_KEY) {
            key_nodes[nkeys] = i;
            locals[nkeys] = node->local;
            fqdns[nkeys++] = node->fqdn;
        } else {
            maybe_expand(g, i);
            if (node->expanding)
                objs[nobjs++] = node->object_id;
        }
    }
    int rc = 0;
    if (nkeys == 0 && nobjs == 0)
        goto out;

    struct dir_params p = DIR_PARAMS_INIT;
    (void)dir_params_take(&p, ofc_pg_text_array(locals, nkeys));
    (void)dir_params_take(&p, ofc_pg_text_array(fqdns, nkeys));
    (void)dir_params_take(&p, ofc_pg_id_array(objs, nobjs));
    (void)dir_params_add_ll(&p, ctx->domain_id);
    (void)dir_params_add(&p, ctx->domain_fqdn);
    PGresult *res = NULL;
    if (ofc_db_prepare(db, LEVEL_STMT, level_sql, 5) == 0)
        res = ofc_db_exec_prepared(db, LEVEL_STMT, p.n, dir_params_values(&p));
    dir_params_free(&p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "resolve the addresses");
        rc = -1;
        goto out;
    }

    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        const char *kind = ofc_db_value(res, r, 0);
        long long ref = ofc_db_value_ll(res, r, 1, 0);
        if (kind[0] == 'K') {
            if (ref < 1 || (size_t)ref > nkeys)
                continue;
            size_t k = key_nodes[ref - 1];
            if (ofc_db_value(res, r, 2) == NULL) {
                if (g->nodes[k].fqdn == NULL) {
                    set_unknown(
                        &g->nodes[k],
                        ofc_xstrdup("unknown address: no domain to look a bare name up in"));
                } else {
                    g->nodes[k].kind = NODE_EXTERNAL;
                }
            } else if (ofc_db_value(res, r, 3) == NULL) {
                set_unknown(&g->nodes[k],
                            ofc_xasprintf("unknown address: no '%s' in %s", g->nodes[k].local,
                                          ofc_db_value(res, r, 2)));
            } else {
                size_t o = object_node(g, res, r, g->nodes[k].depth, g->nodes[k].input);
                g->nodes[k].kind = NODE_RESOLVED;
                add_edge(g, k, o);
                maybe_expand(g, o);
            }
            continue;
        }
        char *pkey = ofc_xasprintf("o:%lld", ref);
        size_t parent = lookup(g, pkey);
        free(pkey);
        if (parent == (size_t)-1 || !g->nodes[parent].expanding)
            continue;
        int depth = g->nodes[parent].depth + 1;
        size_t input = g->nodes[parent].input;
        size_t child;
        if (ofc_db_value(res, r, 3) != NULL)
            child = object_node(g, res, r, depth, input);
        else if (ofc_db_value(res, r, 7) != NULL)
            child = address_node(g, ofc_db_value(res, r, 7), false, depth, input);
        else
            continue;
        add_edge(g, parent, child);
    }
    PQclear(res);
    for (size_t i = 0; i < g->n; i++) {
        if (g->nodes[i].expanding) {
            g->nodes[i].expanding = false;
            g->nodes[i].expanded = true;
        }
    }
    rc = 1;
out:
    free(key_nodes);
    free(locals);
    free(fqdns);
    free(objs);
    return rc;
}

/* ---- results ---------------------------------------------------------- */

struct rcpts {
    struct dir_rcpt *v;
    size_t n, cap;
};

static void add_rcpt(struct rcpts *out, enum dir_rcpt_kind kind, const struct node *node,
                     char *reason)
{
    if (out->n == out->cap) {
        out->cap = out->cap == 0 ? 8 : out->cap * 2;
        out->v = ofc_xrealloc(out->v, out->cap * sizeof(*out->v));
    }
    struct dir_rcpt *r = &out->v[out->n++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    if (kind == DIR_RCPT_ACCOUNT) {
        r->account_id = node->object_id;
        r->home_node_id = node->home_node_id;
    }
    r->address = ofc_xstrdup(node->display != NULL ? node->display : "");
    r->reason = reason;
    r->input = node->input;
}

/*
 * Reports the loop closed by an edge from the top of the path back to
 * path[from]: "list loop: a@x -> b@x -> a@x". Addresses that only named
 * the next object are left out of the path; they are the same thing.
 */
static void report_loop(struct graph *g, const size_t *path, size_t depth, size_t from,
                        struct rcpts *out)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    bool list = false;
    for (size_t i = from; i < depth; i++) {
        const struct node *node = &g->nodes[path[i]];
        if (node->kind != NODE_OBJECT)
            continue;
        list = list || node->class == DIR_CLASS_DL;
        ofc_strbuf_printf(&sb, "%s -> ", node->display);
    }
    size_t first = from;
    while (first < depth && g->nodes[path[first]].kind != NODE_OBJECT)
        first++;
    const struct node *closing = &g->nodes[path[first < depth ? first : from]];
    ofc_strbuf_puts(&sb, closing->display);
    char *reason = ofc_xasprintf("%s loop: %s", list ? "list" : "alias", sb.data);
    ofc_strbuf_free(&sb);
    add_rcpt(out, DIR_RCPT_LOOP, closing, reason);
}

/*
 * Depth-first search from every input: an edge to a node on the current
 * path closes a loop. Iterative, so that a long chain cannot exhaust the
 * stack.
 */
static void find_loops(struct graph *g, size_t ninputs, const size_t *inputs, struct rcpts *out)
{
    size_t *path = ofc_xcalloc(g->n + 1, sizeof(*path));
    size_t *next = ofc_xcalloc(g->n + 1, sizeof(*next));
    for (size_t in = 0; in < ninputs; in++) {
        if (g->nodes[inputs[in]].color != 0)
            continue;
        size_t depth = 0;
        path[depth] = inputs[in];
        next[depth++] = 0;
        g->nodes[inputs[in]].color = 1;
        while (depth > 0) {
            struct node *top = &g->nodes[path[depth - 1]];
            if (next[depth - 1] == top->nedges) {
                top->color = 2;
                depth--;
                continue;
            }
            size_t to = top->edges[next[depth - 1]++];
            if (g->nodes[to].color == 1) {
                size_t from = 0;
                while (path[from] != to)
                    from++;
                report_loop(g, path, depth, from, out);
            } else if (g->nodes[to].color == 0) {
                g->nodes[to].color = 1;
                path[depth] = to;
                next[depth++] = 0;
            }
        }
    }
    free(path);
    free(next);
}

static void collect(struct graph *g, size_t ninputs, const size_t *inputs, struct rcpts *out)
{
    for (size_t i = 0; i < g->n; i++) {
        const struct node *node = &g->nodes[i];
        switch (node->kind) {
        case NODE_OBJECT:
            if (dir_class_is_account(node->class))
                add_rcpt(out, DIR_RCPT_ACCOUNT, node, NULL);
            else if (!dir_class_is_addressable(node->class))
                add_rcpt(out, DIR_RCPT_UNKNOWN, node, ofc_xstrdup("not an address"));
            else if (!node->expanded)
                add_rcpt(out, DIR_RCPT_UNKNOWN, node,
                         ofc_xasprintf("not expanded: nested deeper than %d levels", g->max_depth));
            break;
        case NODE_EXTERNAL:
            add_rcpt(out, DIR_RCPT_EXTERNAL, node, NULL);
            break;
        case NODE_UNKNOWN:
            add_rcpt(out, DIR_RCPT_UNKNOWN, node,
                     ofc_xstrdup(node->reason != NULL ? node->reason : "unknown address"));
            break;
        case NODE_KEY:
            add_rcpt(out, DIR_RCPT_UNKNOWN, node, ofc_xstrdup("not looked up"));
            break;
        case NODE_RESOLVED:
            break;
        }
    }
    find_loops(g, ninputs, inputs, out);
}

int dir_resolve(struct ofc_db *db, const struct dir_resolve_context *ctx,
                const char *const *addresses, size_t count, struct dir_rcpt **rcpts_r,
                size_t *nrcpts_r, char **error_r)
{
    static const struct dir_resolve_context no_context = {0};
    struct graph g;
    if (ctx == NULL)
        ctx = &no_context;
    memset(&g, 0, sizeof(g));
    g.max_depth = ctx->max_depth > 0 ? ctx->max_depth : DIR_RESOLVE_DEFAULT_DEPTH;
    *rcpts_r = NULL;
    *nrcpts_r = 0;

    size_t *inputs = ofc_xcalloc(count + 1, sizeof(*inputs));
    for (size_t i = 0; i < count; i++)
        inputs[i] = address_node(&g, addresses[i] != NULL ? addresses[i] : "", true, 0, i);
    int rc;
    while ((rc = run_level(db, ctx, &g, error_r)) > 0)
        ;
    if (rc == 0) {
        struct rcpts out = {NULL, 0, 0};
        collect(&g, count, inputs, &out);
        *rcpts_r = out.v;
        *nrcpts_r = out.n;
    }
    free(inputs);
    graph_free(&g);
    return rc;
}

int dir_resolve_one(struct ofc_db *db, const struct dir_resolve_context *ctx, const char *address,
                    struct dir_rcpt **rcpts_r, size_t *nrcpts_r, char **error_r)
{
    const char *const addresses[] = {address};
    return dir_resolve(db, ctx, addresses, 1, rcpts_r, nrcpts_r, error_r);
}

void dir_rcpts_free(struct dir_rcpt **rcpts, size_t count)
{
    if (*rcpts == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        free((*rcpts)[i].address);
        free((*rcpts)[i].reason);
    }
    OFC_FREE(*rcpts);
}
