/*
 * mailboxes.c - the commands on mailboxes as names: LIST, LSUB, CREATE,
 * DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS, NAMESPACE, GETQUOTA,
 * GETQUOTAROOT (RFC 3501 §6.3, RFC 2342, RFC 3348, RFC 5258 basics,
 * RFC 6154, RFC 9208).
 *
 * Every command that needs the database is one job with one transaction
 * (store_folder.h does the SQL); the job builds the untagged responses
 * after the commit, brings a selected mailbox up to date
 * (imap_view_sync) and the loop thread sends the tagged reply.
 *
 * Hierarchy: the delimiter is '/'. A name with inferiors but no mailbox
 * row of its own (DELETE of "a" while "a/b" exists, or a level made by
 * nobody) is listed as \Noselect; DELETE of a mailbox with inferiors
 * therefore removes it and its messages and leaves the inferiors, which
 * is the RFC 3501 §6.3.4 outcome without a \Noselect state to store.
 */
/* System. */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "store_folder.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "imap4.h"

#define TEMP_FAILURE "[UNAVAILABLE] temporary failure, please try again later"

/* The longest mailbox name we create (mailbox.name's CHECK, in octets). */
#define NAME_MAX_OCTETS 1024

enum mkind {
    MK_LIST,
    MK_LSUB,
    MK_CREATE,
    MK_DELETE,
    MK_RENAME,
    MK_SUBSCRIBE,
    MK_UNSUBSCRIBE,
    MK_STATUS,
    MK_GETQUOTA,
    MK_GETQUOTAROOT,
};

/* LIST-EXTENDED (RFC 5258) selection and return options we honour. */
enum {
    LS_SUBSCRIBED = 1,  /* selection: subscribed names only */
    LS_SPECIAL_USE = 2, /* selection: mailboxes with a special use only (RFC 6154) */
    LR_SUBSCRIBED = 4,  /* return \Subscribed */
};

/* STATUS items (RFC 3501 §6.3.10, RFC 7162 HIGHESTMODSEQ, RFC 8438 SIZE, RFC 9051 DELETED). */
enum sitem {
    SI_MESSAGES,
    SI_RECENT,
    SI_UIDNEXT,
    SI_UIDVALIDITY,
    SI_UNSEEN,
    SI_HIGHESTMODSEQ,
    SI_SIZE,
    SI_DELETED
};
static const char *const sitem_names[] = {"MESSAGES", "RECENT",        "UIDNEXT", "UIDVALIDITY",
                                          "UNSEEN",   "HIGHESTMODSEQ", "SIZE",    "DELETED"};
#define NSITEMS (sizeof(sitem_names) / sizeof(sitem_names[0]))

struct mjob {
    struct imap_session *s;
    struct imap_cmd *cmd;
    enum mkind kind;
    char *name, *name2; /* UTF-8 */
    /* LIST / LSUB */
    char **patterns; /* reference + pattern, UTF-8 */
    size_t npatterns;
    unsigned opts;
    struct store_folder *folders;
    size_t nfolders;
    char **subs;
    size_t nsubs;
    /* CREATE (USE (...)) */
    const char *use;
    /* STATUS */
    enum sitem items[NSITEMS * 2];
    size_t nitems;
    struct store_folder_status st;
    /* GETQUOTA(ROOT) */
    long long quota, used;
    /* Outcome. */
    int found;
    enum store_folder_rename_result rename;
    long long mailbox_id;
    const char *status; /* "OK", "NO" */
    char *text;         /* heap: the tagged text */
    char *error;        /* heap: a database failure, logged */
    char *log;          /* heap: an info line */
    bool unselect;      /* the selected mailbox was deleted */
};

/* --- Names ----------------------------------------------------------------------- */

/* The first level of name is INBOX in some case: spell it "INBOX". */
static void normalise_inbox(char *name)
{
    if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
        memcpy(name, "INBOX", 5);
}

char *imap_mailbox_name(const struct imap_session *s, const struct imap_arg *arg)
{
    if (arg == NULL || arg->type == IMAP_ARG_LIST || arg->type == IMAP_ARG_SECTION)
        return NULL;
    const char *raw = imap_arg_astring(arg);
    if (raw == NULL || strlen(raw) != arg->len)
        return NULL;
    char *name = NULL;
    bool eight_bit = false;
    for (const unsigned char *p = (const unsigned char *)raw; *p != '\0'; p++)
        if (*p >= 0x80)
            eight_bit = true;
    if (eight_bit)
        name = s->utf8_accept ? ofc_xstrdup(raw) : NULL;
    else
        name = imap_mutf7_decode(raw);
    if (name != NULL)
        normalise_inbox(name);
    return name;
}

/*
 * Can name be created? NULL when it can, else the reason. Empty levels,
 * control characters and the LIST wildcards are refused: a mailbox
 * called "a*" could never be listed by itself.
 */
static const char *name_invalid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0)
        return "empty mailbox name";
    if (len > NAME_MAX_OCTETS)
        return "mailbox name too long";
    if (name[0] == '/' || name[len - 1] == '/' || strstr(name, "//") != NULL)
        return "empty hierarchy level in mailbox name";
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return "control character in mailbox name";
        if (*p == '*' || *p == '%')
            return "wildcard in mailbox name";
    }
    return NULL;
}

/* --- Jobs --------------------------------------------------------------------------- */

static void mjob_free(struct mjob *j)
{
    free(j->name);
    free(j->name2);
    for (size_t i = 0; i < j->npatterns; i++)
        free(j->patterns[i]);
    free(j->patterns);
    store_folder_list_free(&j->folders, j->nfolders);
    store_folder_names_free(&j->subs, j->nsubs);
    free(j->text);
    free(j->error);
    free(j->log);
    if (j->cmd != NULL) {
        imap_cmd_free(j->cmd);
        free(j->cmd);
    }
    free(j);
}

static struct mjob *mjob_new(struct imap_session *s, struct imap_cmd *cmd, enum mkind kind)
{
    struct mjob *j = ofc_xcalloc(1, sizeof(*j));
    j->s = s;
    j->cmd = cmd;
    j->kind = kind;
    j->status = "OK";
    return j;
}

/* Answers at once (loop thread) and frees the job. */
static void mjob_reply(struct mjob *j, const char *status, const char *text)
{
    imap_tagged(j->s, j->cmd->tag, status, "%s", text);
    mjob_free(j);
}

static void set_reply(struct mjob *j, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_reply(struct mjob *j, const char *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(j->text);
    j->text = ofc_xvasprintf(fmt, ap);
    va_end(ap);
    j->status = status;
}

/* The transaction of each command: reads and changes only the database. */
static int mjob_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct mjob *j = ctx;
    long long acct = j->s->account_id;
    store_folder_list_free(&j->folders, j->nfolders);
    j->nfolders = 0;
    store_folder_names_free(&j->subs, j->nsubs);
    j->nsubs = 0;
    j->found = 0;
    j->mailbox_id = 0;
    switch (j->kind) {
    case MK_LIST:
    case MK_LSUB:
        if (j->kind == MK_LIST &&
            store_folder_list(db, acct, &j->folders, &j->nfolders, error_r) != 0)
            return OFC_DB_ERROR;
        if (store_folder_subscriptions(db, acct, &j->subs, &j->nsubs, error_r) != 0)
            return OFC_DB_ERROR;
        break;
    case MK_CREATE:
        j->found = store_folder_create(db, acct, j->name, j->use, &j->mailbox_id, error_r);
        break;
    case MK_DELETE:
        j->found = store_folder_delete(db, acct, j->name, &j->mailbox_id, error_r);
        break;
    case MK_RENAME:
        j->found =
            store_folder_rename(db, acct, j->name, j->name2, &j->rename, &j->mailbox_id, error_r);
        break;
    case MK_SUBSCRIBE:
    case MK_UNSUBSCRIBE:
        j->found = store_folder_subscribe(db, acct, j->name, j->kind == MK_SUBSCRIBE, error_r);
        break;
    case MK_STATUS:
        j->found = store_folder_status(db, acct, j->name, &j->st, error_r);
        break;
    case MK_GETQUOTAROOT:
        j->found = store_folder_status(db, acct, j->name, &j->st, error_r);
        if (j->found <= 0)
            break;
        /* fall through */
    case MK_GETQUOTA:
        if (store_folder_quota(db, acct, &j->quota, &j->used, error_r) < 0)
            return OFC_DB_ERROR;
        break;
    }
    return j->found < 0 ? OFC_DB_ERROR : OFC_DB_OK;
}

/* --- LIST and LSUB --------------------------------------------------------------------- */

/*
 * Does name match pattern ('*' any run of octets, '%' any run without
 * '/')? The first level INBOX matches in any case ("inb*" finds it, RFC
 * 3501 §5.1). Dynamic programming over the pattern, so that patterns
 * full of wildcards cost O(|pattern| * |name|), not exponential
 * backtracking.
 */
static bool pattern_match(const char *pattern, const char *name)
{
    size_t n = strlen(name);
    size_t ci = strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/') ? 5 : 0;
    /* ok[k]: pattern so far matches name[0..k). */
    bool *ok = ofc_xcalloc(n + 1, sizeof(*ok));
    ok[0] = true;
    for (const char *p = pattern; *p != '\0'; p++) {
        if (*p == '*' || *p == '%') {
            for (size_t k = 1; k <= n; k++)
                if (!ok[k] && ok[k - 1] && (*p == '*' || name[k - 1] != '/'))
                    ok[k] = true;
        } else {
            for (size_t k = n; k > 0; k--)
                ok[k] = ok[k - 1] &&
                        (k <= ci ? toupper((unsigned char)name[k - 1]) == toupper((unsigned char)*p)
                                 : name[k - 1] == *p);
            ok[0] = false;
        }
    }
    bool match = ok[n];
    free(ok);
    return match;
}

static bool any_match(const struct mjob *j, const char *name)
{
    for (size_t i = 0; i < j->npatterns; i++)
        if (pattern_match(j->patterns[i], name))
            return true;
    return false;
}

/* A name to list with what we know of it. */
struct entry {
    const char *name;
    const char *special_use;
    bool real;       /* LIST: a mailbox row; LSUB: subscribed */
    bool children;   /* some name below it */
    bool subscribed; /* LIST */
};

/* INBOX first, then byte order: a total order, so bsearch agrees with qsort. */
static int entry_cmp(const void *a, const void *b)
{
    const char *x = ((const struct entry *)a)->name, *y = ((const struct entry *)b)->name;
    bool xi = strcmp(x, "INBOX") == 0, yi = strcmp(y, "INBOX") == 0;
    if (xi != yi)
        return xi ? -1 : 1;
    return strcmp(x, y);
}

static struct entry *entry_find(struct entry *e, size_t n, const char *name)
{
    struct entry key = {.name = name};
    return bsearch(&key, e, n, sizeof(*e), entry_cmp);
}

static bool names_has(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/*
 * The names and every superior level of them, sorted and unique; a real
 * entry wins over a level implied by an inferior. Levels point into
 * `store` (heap copies the caller frees with it).
 */
static struct entry *entries_build(const char *const *names, const char *const *uses, size_t n,
                                   char ***store_r, size_t *nstore_r, size_t *n_r)
{
    size_t cap = n, count = 0, nstore = 0;
    for (size_t i = 0; i < n; i++)
        for (const char *p = names[i]; *p != '\0'; p++)
            if (*p == '/')
                cap++;
    struct entry *e = ofc_xcalloc(cap + 1, sizeof(*e));
    char **store = ofc_xcalloc(cap + 1, sizeof(*store));
    for (size_t i = 0; i < n; i++) {
        e[count++] = (struct entry){
            .name = names[i], .special_use = uses != NULL ? uses[i] : NULL, .real = true};
        for (const char *p = names[i]; *p != '\0'; p++)
            if (*p == '/') {
                store[nstore] = ofc_xstrndup(names[i], (size_t)(p - names[i]));
                e[count++] = (struct entry){.name = store[nstore++]};
            }
    }
    qsort(e, count, sizeof(*e), entry_cmp);
    size_t out = 0;
    for (size_t i = 0; i < count; i++) {
        if (out > 0 && strcmp(e[out - 1].name, e[i].name) == 0) {
            if (e[i].real)
                e[out - 1] = e[i];
            continue;
        }
        e[out++] = e[i];
    }
    /* Every entry's parent is an entry too: mark it. */
    for (size_t i = 0; i < out; i++) {
        const char *slash = strrchr(e[i].name, '/');
        if (slash == NULL)
            continue;
        char *parent = ofc_xstrndup(e[i].name, (size_t)(slash - e[i].name));
        struct entry *p = entry_find(e, out, parent);
        if (p != NULL)
            p->children = true;
        free(parent);
    }
    *store_r = store;
    *nstore_r = nstore;
    *n_r = out;
    return e;
}

static void write_list_line(struct evbuffer *out, const char *what, const char *attrs,
                            const char *name)
{
    imap_out_printf(out, "* %s (%s) \"/\" ", what, attrs);
    imap_write_mailbox(out, name);
    imap_out_printf(out, "\r\n");
}

static void list_output(struct mjob *j, struct evbuffer *out)
{
    bool subscribed_only = (j->opts & LS_SUBSCRIBED) != 0;
    size_t n = subscribed_only ? j->nsubs : j->nfolders;
    const char **names = ofc_xcalloc(n + 1, sizeof(*names));
    const char **uses = ofc_xcalloc(n + 1, sizeof(*uses));
    for (size_t i = 0; i < n; i++) {
        names[i] = subscribed_only ? j->subs[i] : j->folders[i].name;
        uses[i] = subscribed_only ? NULL : j->folders[i].special_use;
    }
    char **store = NULL;
    size_t nstore = 0, ne = 0;
    struct entry *e = entries_build(names, uses, n, &store, &nstore, &ne);
    /* Folder facts for the subscribed selection. */
    struct entry *folders = NULL;
    size_t nf = 0, nfstore = 0;
    char **fstore = NULL;
    if (subscribed_only) {
        const char **fn = ofc_xcalloc(j->nfolders + 1, sizeof(*fn));
        const char **fu = ofc_xcalloc(j->nfolders + 1, sizeof(*fu));
        for (size_t i = 0; i < j->nfolders; i++) {
            fn[i] = j->folders[i].name;
            fu[i] = j->folders[i].special_use;
        }
        folders = entries_build(fn, fu, j->nfolders, &fstore, &nfstore, &nf);
        free(fn);
        free(fu);
    }
    struct ofc_strbuf attrs = OFC_STRBUF_INIT;
    for (size_t i = 0; i < ne; i++) {
        struct entry *x = &e[i];
        if (subscribed_only && !x->real)
            continue; /* (RECURSIVEMATCH's CHILDINFO is not offered) */
        if (!any_match(j, x->name))
            continue;
        const struct entry *facts = x;
        if (subscribed_only) {
            facts = entry_find(folders, nf, x->name);
            if (facts == NULL) {
                write_list_line(out, "LIST", "\\Subscribed \\NonExistent", x->name);
                continue;
            }
        }
        if ((j->opts & LS_SPECIAL_USE) != 0 && (facts->special_use == NULL || !facts->real))
            continue;
        ofc_strbuf_reset(&attrs);
        ofc_strbuf_puts(&attrs, facts->children ? "\\HasChildren" : "\\HasNoChildren");
        if (!facts->real)
            ofc_strbuf_puts(&attrs, " \\Noselect");
        if (facts->real && facts->special_use != NULL)
            ofc_strbuf_printf(&attrs, " %s", facts->special_use);
        if (subscribed_only ||
            ((j->opts & LR_SUBSCRIBED) != 0 && names_has(j->subs, j->nsubs, x->name)))
            ofc_strbuf_puts(&attrs, " \\Subscribed");
        write_list_line(out, "LIST", attrs.data, x->name);
    }
    ofc_strbuf_free(&attrs);
    for (size_t i = 0; i < nstore; i++)
        free(store[i]);
    free(store);
    for (size_t i = 0; i < nfstore; i++)
        free(fstore[i]);
    free(fstore);
    free(folders);
    free(e);
    free(names);
    free(uses);
}

/*
 * LSUB (RFC 3501 §6.3.9): the subscribed names that match, whether the
 * mailbox exists or not; and a level above a subscribed name that the
 * pattern matches while it does not match the subscribed name itself
 * ("%" for "foo/bar") as \Noselect.
 */
static void lsub_output(struct mjob *j, struct evbuffer *out)
{
    char **store = NULL;
    size_t nstore = 0, ne = 0;
    struct entry *e =
        entries_build((const char *const *)j->subs, NULL, j->nsubs, &store, &nstore, &ne);
    for (size_t i = 0; i < ne; i++) {
        if (!any_match(j, e[i].name))
            continue;
        if (e[i].real) {
            write_list_line(out, "LSUB", "", e[i].name);
            continue;
        }
        size_t len = strlen(e[i].name);
        for (size_t k = 0; k < j->nsubs; k++)
            if (strncmp(j->subs[k], e[i].name, len) == 0 && j->subs[k][len] == '/' &&
                !any_match(j, j->subs[k])) {
                write_list_line(out, "LSUB", "\\Noselect", e[i].name);
                break;
            }
    }
    for (size_t i = 0; i < nstore; i++)
        free(store[i]);
    free(store);
    free(e);
}

/* --- The job ------------------------------------------------------------------------------ */

static void write_status(struct mjob *j, struct evbuffer *out)
{
    imap_out_printf(out, "* STATUS ");
    imap_write_mailbox(out, j->name);
    imap_out_printf(out, " (");
    for (size_t i = 0; i < j->nitems; i++) {
        long long v = 0;
        switch (j->items[i]) {
        case SI_MESSAGES:
            v = j->st.messages;
            break;
        case SI_RECENT:
            v = j->st.recent;
            break;
        case SI_UIDNEXT:
            v = j->st.uidnext;
            break;
        case SI_UIDVALIDITY:
            v = j->st.uidvalidity;
            break;
        case SI_UNSEEN:
            v = j->st.unseen;
            break;
        case SI_HIGHESTMODSEQ:
            v = j->st.highestmodseq;
            break;
        case SI_SIZE:
            v = j->st.size;
            break;
        case SI_DELETED:
            v = j->st.deleted;
            break;
        }
        imap_out_printf(out, "%s%s %lld", i > 0 ? " " : "", sitem_names[j->items[i]], v);
    }
    imap_out_printf(out, ")\r\n");
}

/* "* QUOTA "" (STORAGE used limit)": KiB, used rounded up; no quota, no resource. */
static void write_quota(struct mjob *j, struct evbuffer *out)
{
    if (j->quota >= 0)
        imap_out_printf(out, "* QUOTA \"\" (STORAGE %lld %lld)\r\n", (j->used + 1023) / 1024,
                        j->quota / 1024);
    else
        imap_out_printf(out, "* QUOTA \"\" ()\r\n");
}

/* After the commit: the responses and the tagged text of each command. */
static void mjob_answer(struct mjob *j, struct evbuffer *out)
{
    const char *user = j->s->user != NULL ? j->s->user : "?";
    switch (j->kind) {
    case MK_LIST:
        list_output(j, out);
        set_reply(j, "OK", "LIST completed");
        break;
    case MK_LSUB:
        lsub_output(j, out);
        set_reply(j, "OK", "LSUB completed");
        break;
    case MK_CREATE:
        if (j->found == 0) {
            set_reply(j, "NO", "[ALREADYEXISTS] mailbox already exists");
        } else {
            set_reply(j, "OK", "CREATE completed");
            j->log = ofc_xasprintf("%s created mailbox %s", user, j->name);
        }
        break;
    case MK_DELETE:
        if (j->found == 0) {
            set_reply(j, "NO", "[NONEXISTENT] no such mailbox");
        } else {
            set_reply(j, "OK", "DELETE completed");
            j->log = ofc_xasprintf("%s deleted mailbox %s", user, j->name);
            if (j->s->view != NULL && j->s->view->mailbox_id == j->mailbox_id)
                j->unselect = true;
        }
        break;
    case MK_RENAME:
        switch (j->rename) {
        case STORE_RENAMED:
            set_reply(j, "OK", "RENAME completed");
            j->log = ofc_xasprintf("%s renamed mailbox %s to %s", user, j->name, j->name2);
            /* The selected mailbox (or one of its superiors) moved: its name follows. */
            if (j->s->view != NULL && strcmp(j->name, "INBOX") != 0) {
                size_t len = strlen(j->name);
                const char *vn = j->s->view->name;
                if (vn != NULL && strncmp(vn, j->name, len) == 0 &&
                    (vn[len] == '\0' || vn[len] == '/')) {
                    char *nn = ofc_xasprintf("%s%s", j->name2, vn + len);
                    free(j->s->view->name);
                    j->s->view->name = nn;
                }
            }
            break;
        case STORE_RENAME_NO_SOURCE:
            set_reply(j, "NO", "[NONEXISTENT] no such mailbox");
            break;
        case STORE_RENAME_EXISTS:
            set_reply(j, "NO", "[ALREADYEXISTS] mailbox already exists");
            break;
        case STORE_RENAME_INTO_ITSELF:
            set_reply(j, "NO", "[CANNOT] cannot move a mailbox into itself");
            break;
        case STORE_RENAME_TOO_LONG:
            set_reply(j, "NO", "[CANNOT] a new mailbox name would be too long");
            break;
        }
        break;
    case MK_SUBSCRIBE:
        set_reply(j, "OK", "SUBSCRIBE completed");
        break;
    case MK_UNSUBSCRIBE:
        set_reply(j, "OK", "UNSUBSCRIBE completed");
        break;
    case MK_STATUS:
        if (j->found == 0) {
            set_reply(j, "NO", "[NONEXISTENT] no such mailbox");
        } else {
            write_status(j, out);
            set_reply(j, "OK", "STATUS completed");
        }
        break;
    case MK_GETQUOTAROOT:
        if (j->found == 0) {
            set_reply(j, "NO", "[NONEXISTENT] no such mailbox");
        } else {
            imap_out_printf(out, "* QUOTAROOT ");
            imap_write_mailbox(out, j->name);
            imap_out_printf(out, " \"\"\r\n");
            write_quota(j, out);
            set_reply(j, "OK", "GETQUOTAROOT completed");
        }
        break;
    case MK_GETQUOTA:
        write_quota(j, out);
        set_reply(j, "OK", "GETQUOTA completed");
        break;
    }
}

static bool read_only_kind(enum mkind kind)
{
    return kind == MK_LIST || kind == MK_LSUB || kind == MK_STATUS || kind == MK_GETQUOTA ||
           kind == MK_GETQUOTAROOT;
}

static void mjob_fn(struct sps_job *job)
{
    struct mjob *j = job->arg;
    char *error = NULL;
    /*
     * The commands that only read need no transaction of their own: STATUS
     * is one statement, and BEGIN and COMMIT would be two of its three
     * round trips; LIST's mailboxes and subscriptions need no common
     * snapshot (a SUBSCRIBE in between is as if it came before or after).
     */
    int rc = read_only_kind(j->kind) ? mjob_tx(job->db, j, &error) : OFC_DB_ERROR;
    /* The transaction also reconnects and tries again when the session was lost. */
    if (!read_only_kind(j->kind) || (rc != OFC_DB_OK && !ofc_db_connected(job->db))) {
        OFC_FREE(error);
        rc = ofc_db_transaction(job->db, false, 5, mjob_tx, j, &error);
    }
    if (rc != OFC_DB_OK) {
        j->error = error != NULL ? error : ofc_xstrdup("unknown error");
        set_reply(j, "NO", TEMP_FAILURE);
        return;
    }
    mjob_answer(j, job->out);
    /*
     * The selected mailbox may have changed, by this command (RENAME
     * INBOX expunges) or by others: tell the client before the tagged
     * reply, as every command may (RFC 3501 §7).
     */
    if (j->s->view != NULL && !j->unselect) {
        char *verror = NULL;
        /* This command's own change (RENAME INBOX expunges) is announced now. */
        if (!read_only_kind(j->kind))
            imap_view_changed(j->s);
        if (imap_view_sync(j->s, job, true, &verror) != 0)
            j->error = verror != NULL ? verror : ofc_xstrdup("cannot update the selected mailbox");
    }
}

/* The deleted mailbox was selected: back to the authenticated state. */
static void drop_view(struct sps_client *c, struct imap_session *s)
{
    sps_client_watch_mailbox(c, 0, NULL);
    if (s->view != NULL) {
        free(s->view->name);
        free(s->view->uids);
        free(s->view);
        s->view = NULL;
    }
    s->state = IMAP_AUTHENTICATED;
}

static void mjob_done(struct sps_client *c, void *state, void *arg)
{
    struct imap_session *s = state;
    struct mjob *j = arg;
    if (j->error != NULL)
        ofc_error("%s: %s of %s failed: %s", sps_client_id(c), j->cmd->name,
                  s->user != NULL ? s->user : "?", j->error);
    if (sps_client_closed(c)) {
        mjob_free(j);
        return;
    }
    if (j->log != NULL)
        ofc_info("%s: %s", sps_client_id(c), j->log);
    if (j->unselect)
        drop_view(c, s);
    imap_tagged(s, j->cmd->tag, j->status, "%s", j->text != NULL ? j->text : "done");
    mjob_free(j);
}

static void mjob_run(struct mjob *j)
{
    sps_client_run(j->s->c, mjob_fn, mjob_done, j);
}

/* --- Handlers ---------------------------------------------------------------------------- */

/* A list of astrings as UTF-8 text for LIST; mutf7 decoded when valid. */
static char *pattern_text(const struct imap_session *s, const struct imap_arg *arg)
{
    char *t = imap_mailbox_name(s, arg);
    if (t != NULL)
        return t;
    const char *raw = imap_arg_astring(arg);
    return raw != NULL ? ofc_xstrdup(raw) : NULL;
}

/* Parses LIST's option lists (RFC 5258). Returns 0 or -1 (BAD). */
static int list_options(const struct imap_arg *list, bool selection, unsigned *opts)
{
    for (size_t i = 0; i < list->n; i++) {
        const struct imap_arg *o = &list->list[i];
        if (selection && imap_arg_is(o, "SUBSCRIBED"))
            *opts |= LS_SUBSCRIBED | LR_SUBSCRIBED;
        else if (selection && imap_arg_is(o, "SPECIAL-USE"))
            *opts |= LS_SPECIAL_USE;
        else if (selection && (imap_arg_is(o, "REMOTE") || imap_arg_is(o, "RECURSIVEMATCH")))
            continue;
        else if (!selection && imap_arg_is(o, "SUBSCRIBED"))
            *opts |= LR_SUBSCRIBED;
        else if (!selection && (imap_arg_is(o, "CHILDREN") || imap_arg_is(o, "SPECIAL-USE")))
            continue; /* always returned */
        else
            return -1;
    }
    return 0;
}

static void list_common(struct imap_session *s, struct imap_cmd *cmd, enum mkind kind)
{
    struct mjob *j = mjob_new(s, cmd, kind);
    size_t i = 0;
    if (kind == MK_LIST && cmd->nargs > 0 && cmd->args[0].type == IMAP_ARG_LIST) {
        if (list_options(&cmd->args[0], true, &j->opts) != 0) {
            mjob_reply(j, "BAD", "unknown LIST selection option");
            return;
        }
        i++;
    }
    if (cmd->nargs < i + 2) {
        mjob_reply(j, "BAD", "expected reference and mailbox pattern");
        return;
    }
    const struct imap_arg *ref = &cmd->args[i], *pat = &cmd->args[i + 1];
    if (kind == MK_LIST && cmd->nargs == i + 4 && imap_arg_is(&cmd->args[i + 2], "RETURN") &&
        cmd->args[i + 3].type == IMAP_ARG_LIST) {
        if (list_options(&cmd->args[i + 3], false, &j->opts) != 0) {
            mjob_reply(j, "BAD", "unknown LIST return option");
            return;
        }
    } else if (cmd->nargs != i + 2) {
        {
            mjob_reply(j, "BAD", "unexpected arguments");
            return;
        }
    }
    char *reference = pattern_text(s, ref);
    if (reference == NULL || ref->type == IMAP_ARG_LIST) {
        free(reference);
        mjob_reply(j, "BAD", "invalid reference name");
        return;
    }
    const struct imap_arg *pats = pat->type == IMAP_ARG_LIST ? pat->list : pat;
    size_t npats = pat->type == IMAP_ARG_LIST ? pat->n : 1;
    if (npats == 0) {
        free(reference);
        {
            mjob_reply(j, "BAD", "empty pattern list");
            return;
        }
    }
    /* LIST "" "": the delimiter and the root of the reference (RFC 3501 §6.3.8). */
    const char *p0 = imap_arg_astring(&pats[0]);
    if (kind == MK_LIST && pat->type != IMAP_ARG_LIST && p0 != NULL && p0[0] == '\0') {
        const char *slash = strchr(reference, '/');
        char *root = slash != NULL ? ofc_xstrndup(reference, (size_t)(slash - reference + 1))
                                   : ofc_xstrdup("");
        struct evbuffer *buf = evbuffer_new();
        if (buf != NULL) {
            imap_out_printf(buf, "* LIST (\\Noselect) \"/\" ");
            if (root[0] == '\0')
                imap_out_printf(buf, "\"\"");
            else
                imap_write_mailbox(buf, root);
            imap_out_printf(buf, "\r\n");
            sps_client_write_buffer(s->c, buf);
            evbuffer_free(buf);
        }
        free(root);
        free(reference);
        {
            mjob_reply(j, "OK", "LIST completed");
            return;
        }
    }
    j->patterns = ofc_xcalloc(npats, sizeof(*j->patterns));
    for (size_t k = 0; k < npats; k++) {
        char *p = pattern_text(s, &pats[k]);
        if (p == NULL) {
            free(reference);
            {
                mjob_reply(j, "BAD", "invalid mailbox pattern");
                return;
            }
        }
        j->patterns[j->npatterns++] = ofc_xasprintf("%s%s", reference, p);
        normalise_inbox(j->patterns[j->npatterns - 1]);
        free(p);
    }
    free(reference);
    mjob_run(j);
}

void imap_cmd_list(struct imap_session *s, struct imap_cmd *cmd)
{
    list_common(s, cmd, MK_LIST);
}

void imap_cmd_lsub(struct imap_session *s, struct imap_cmd *cmd)
{
    list_common(s, cmd, MK_LSUB);
}

/* RFC 6154 special uses a client may give a mailbox. */
static const char *special_use_known(const struct imap_arg *a)
{
    static const char *const uses[] = {"\\All",  "\\Archive", "\\Drafts", "\\Flagged",
                                       "\\Junk", "\\Sent",    "\\Trash"};
    for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
        if (imap_arg_is(a, uses[i]))
            return uses[i];
    return NULL;
}

void imap_cmd_create(struct imap_session *s, struct imap_cmd *cmd)
{
    struct mjob *j = mjob_new(s, cmd, MK_CREATE);
    if (cmd->nargs < 1 || cmd->nargs > 2) {
        mjob_reply(j, "BAD", "expected a mailbox name");
        return;
    }
    /* CREATE-SPECIAL-USE (RFC 6154 §3): CREATE name (USE (\Sent)). */
    if (cmd->nargs == 2) {
        const struct imap_arg *o = &cmd->args[1];
        if (o->type != IMAP_ARG_LIST || o->n != 2 || !imap_arg_is(&o->list[0], "USE") ||
            o->list[1].type != IMAP_ARG_LIST || o->list[1].n > 1) {
            mjob_reply(j, "BAD", "unknown CREATE parameter");
            return;
        }
        if (o->list[1].n == 1) {
            j->use = special_use_known(&o->list[1].list[0]);
            if (j->use == NULL) {
                mjob_reply(j, "NO", "[USEATTR] unsupported special use");
                return;
            }
        }
    }
    j->name = imap_mailbox_name(s, &cmd->args[0]);
    if (j->name == NULL) {
        mjob_reply(j, "NO", "[CANNOT] invalid mailbox name");
        return;
    }
    /* A trailing delimiter declares the intent to create inferiors (§6.3.3). */
    size_t len = strlen(j->name);
    if (len > 1 && j->name[len - 1] == '/')
        j->name[len - 1] = '\0';
    if (strcmp(j->name, "INBOX") == 0) {
        mjob_reply(j, "NO", "[ALREADYEXISTS] INBOX always exists");
        return;
    }
    const char *why = name_invalid(j->name);
    if (why != NULL) {
        char *text =
            ofc_xasprintf("%s %s", strlen(j->name) > NAME_MAX_OCTETS ? "[LIMIT]" : "[CANNOT]", why);
        mjob_reply(j, "NO", text);
        free(text);
        return;
    }
    mjob_run(j);
}

void imap_cmd_delete(struct imap_session *s, struct imap_cmd *cmd)
{
    struct mjob *j = mjob_new(s, cmd, MK_DELETE);
    if (cmd->nargs != 1) {
        mjob_reply(j, "BAD", "expected a mailbox name");
        return;
    }
    j->name = imap_mailbox_name(s, &cmd->args[0]);
    if (j->name == NULL) {
        mjob_reply(j, "NO", "[NONEXISTENT] no such mailbox");
        return;
    }
    if (strcmp(j->name, "INBOX") == 0) {
        mjob_reply(j, "NO", "[CANNOT] INBOX cannot be deleted");
        return;
    }
    mjob_run(j);
}

void imap_cmd_rename(struct imap_session *s, struct imap_cmd *cmd)
{
    struct mjob *j = mjob_new(s, cmd, MK_RENAME);
    if (cmd->nargs != 2) {
        mjob_reply(j, "BAD", "expected two mailbox names");
        return;
    }
    j->name = imap_mailbox_name(s, &cmd->args[0]);
    if (j->name == NULL) {
        mjob_reply(j, "NO", "[NONEXISTENT] no such mailbox");
        return;
    }
    j->name2 = imap_mailbox_name(s, &cmd->args[1]);
    if (j->name2 == NULL) {
        mjob_reply(j, "NO", "[CANNOT] invalid mailbox name");
        return;
    }
    const char *why = name_invalid(j->name2);
    if (why != NULL) {
        mjob_reply(j, "NO", "[CANNOT] invalid new mailbox name");
        return;
    }
    mjob_run(j);
}

static void subscribe_common(struct imap_session *s, struct imap_cmd *cmd, enum mkind kind)
{
    struct mjob *j = mjob_new(s, cmd, kind);
    if (cmd->nargs != 1) {
        mjob_reply(j, "BAD", "expected a mailbox name");
        return;
    }
    j->name = imap_mailbox_name(s, &cmd->args[0]);
    /* Names are kept even for mailboxes that do not exist (§6.3.6), but only valid ones. */
    if (j->name == NULL || name_invalid(j->name) != NULL) {
        mjob_reply(j, "NO", "[CANNOT] invalid mailbox name");
        return;
    }
    mjob_run(j);
}

void imap_cmd_subscribe(struct imap_session *s, struct imap_cmd *cmd)
{
    subscribe_common(s, cmd, MK_SUBSCRIBE);
}

void imap_cmd_unsubscribe(struct imap_session *s, struct imap_cmd *cmd)
{
    subscribe_common(s, cmd, MK_UNSUBSCRIBE);
}

void imap_cmd_status(struct imap_session *s, struct imap_cmd *cmd)
{
    struct mjob *j = mjob_new(s, cmd, MK_STATUS);
    if (cmd->nargs != 2 || cmd->args[1].type != IMAP_ARG_LIST || cmd->args[1].n == 0) {
        mjob_reply(j, "BAD", "expected a mailbox name and a list of status items");
        return;
    }
    const struct imap_arg *list = &cmd->args[1];
    for (size_t i = 0; i < list->n; i++) {
        size_t k = 0;
        while (k < NSITEMS && !imap_arg_is(&list->list[i], sitem_names[k]))
            k++;
        if (k == NSITEMS || list->list[i].type != IMAP_ARG_ATOM) {
            mjob_reply(j, "BAD", "unknown status item");
            return;
        }
        if (j->nitems < sizeof(j->items) / sizeof(j->items[0]))
            j->items[j->nitems++] = (enum sitem)k;
        /* STATUS HIGHESTMODSEQ is a CONDSTORE enabling command (RFC 7162 §3.1). */
        if (k == SI_HIGHESTMODSEQ)
            s->condstore = true;
    }
    j->name = imap_mailbox_name(s, &cmd->args[0]);
    if (j->name == NULL) {
        mjob_reply(j, "NO", "[NONEXISTENT] no such mailbox");
        return;
    }
    mjob_run(j);
}

void imap_cmd_namespace(struct imap_session *s, struct imap_cmd *cmd)
{
    /* One personal namespace without prefix; no other users', no shared ones. */
    if (cmd->nargs != 0) {
        imap_tagged(s, cmd->tag, "BAD", "NAMESPACE takes no arguments");
    } else {
        imap_untagged(s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
        imap_tagged(s, cmd->tag, "OK", "NAMESPACE completed");
    }
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_getquota(struct imap_session *s, struct imap_cmd *cmd)
{
    struct mjob *j = mjob_new(s, cmd, MK_GETQUOTA);
    if (cmd->nargs != 1) {
        mjob_reply(j, "BAD", "expected a quota root");
        return;
    }
    /* The account is the one quota root, "" (RFC 9208 §4.2). */
    const char *root = imap_arg_astring(&cmd->args[0]);
    if (root == NULL || root[0] != '\0') {
        mjob_reply(j, "NO", "[NONEXISTENT] no such quota root");
        return;
    }
    mjob_run(j);
}

void imap_cmd_getquotaroot(struct imap_session *s, struct imap_cmd *cmd)
{
    struct mjob *j = mjob_new(s, cmd, MK_GETQUOTAROOT);
    if (cmd->nargs != 1) {
        mjob_reply(j, "BAD", "expected a mailbox name");
        return;
    }
    j->name = imap_mailbox_name(s, &cmd->args[0]);
    if (j->name == NULL) {
        mjob_reply(j, "NO", "[NONEXISTENT] no such mailbox");
        return;
    }
    mjob_run(j);
}
