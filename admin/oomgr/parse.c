/*
 * parse.c - from the tokens of a statement to a checked struct oomgr_stmt.
 *
 *   statement := verb [object] { key "=" value | word } ";"
 *   value     := word | "quoted string"
 *
 * The statement table says which keys a statement takes; everything the
 * table can say is checked here, once, so that handlers see only arguments
 * that exist, appear once and have the right shape. A bare word is a flag
 * ("force") when the table declares one of that name, else it fills the
 * next positional key ("startup process postman" = type=postman).
 */
/* System. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

void oomgr_stmt_free(struct oomgr_stmt **st)
{
    if (*st == NULL)
        return;
    for (size_t i = 0; i < (*st)->nargs; i++) {
        free((*st)->args[i].key);
        if ((*st)->args[i].value != NULL) {
            /* Secrets (passwords) must not linger in freed memory. */
            explicit_bzero((*st)->args[i].value, strlen((*st)->args[i].value));
            free((*st)->args[i].value);
        }
        free((*st)->args[i].hash);
    }
    free((*st)->args);
    OFC_FREE(*st);
}

static const struct oomgr_key *find_key(const struct oomgr_stmt_def *def, const char *name)
{
    for (const struct oomgr_key *k = def->keys; k != NULL && k->name != NULL; k++)
        if (!(k->flags & OOMGR_KEY_ANY) && strcasecmp(k->name, name) == 0)
            return k;
    return NULL;
}

static const struct oomgr_key *any_key(const struct oomgr_stmt_def *def)
{
    for (const struct oomgr_key *k = def->keys; k != NULL && k->name != NULL; k++)
        if (k->flags & OOMGR_KEY_ANY)
            return k;
    return NULL;
}

/* "startup process" */
static char *stmt_name(const struct oomgr_stmt_def *def)
{
    return def->object != NULL ? ofc_xasprintf("%s %s", def->verb, def->object)
                               : ofc_xstrdup(def->verb);
}

/* "type, instance, wait" */
static char *key_list(const struct oomgr_stmt_def *def)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_init(&sb);
    for (const struct oomgr_key *k = def->keys; k != NULL && k->name != NULL; k++) {
        if (k->flags & OOMGR_KEY_ANY)
            continue;
        if (sb.len > 0)
            ofc_strbuf_puts(&sb, ", ");
        ofc_strbuf_puts(&sb, k->name);
    }
    if (sb.len == 0)
        ofc_strbuf_puts(&sb, "nothing");
    return ofc_strbuf_detach(&sb);
}

static void add_arg(struct oomgr_stmt *st, const char *key, const char *value, int line,
                    const struct oomgr_key *spec)
{
    st->args = ofc_xrealloc(st->args, (st->nargs + 1) * sizeof(*st->args));
    st->args[st->nargs].key = ofc_xstrdup(key);
    st->args[st->nargs].value = value != NULL ? ofc_xstrdup(value) : NULL;
    st->args[st->nargs].hash = NULL;
    st->args[st->nargs].line = line;
    st->args[st->nargs].spec = spec;
    st->nargs++;
}

static const struct oomgr_arg *find_arg(const struct oomgr_stmt *st, const char *key)
{
    for (size_t i = 0; i < st->nargs; i++)
        if (strcasecmp(st->args[i].key, key) == 0)
            return &st->args[i];
    return NULL;
}

/* Checks a value against its key's shape. Returns 0 or -1 with *error_r. */
static int check_value(const struct oomgr_key *k, const char *value, char **error_r)
{
    if (k->flags & OOMGR_KEY_INT) {
        char *end = NULL;
        errno = 0;
        long long n = strtoll(value, &end, 10);
        if (value[0] == '\0' || *end != '\0' || errno != 0 || n < k->min || n > k->max) {
            *error_r = ofc_xasprintf("%s must be a number from %lld to %lld, not '%s'", k->name,
                                     k->min, k->max, value);
            return -1;
        }
    }
    if (k->choices != NULL) {
        const char *c = k->choices;
        while (*c != '\0') {
            size_t n = strcspn(c, "|");
            if (strlen(value) == n && strncasecmp(c, value, n) == 0)
                return 0;
            c += n;
            if (*c == '|')
                c++;
        }
        char *list = ofc_xstrdup(k->choices);
        for (char *p = list; *p != '\0'; p++)
            if (*p == '|')
                *p = '/';
        *error_r = ofc_xasprintf("%s must be %s, not '%s'", k->name, list, value);
        free(list);
        return -1;
    }
    return 0;
}

/* Finds the definition from the first words. Returns the index of the first argument token. */
static int find_definition(const struct oomgr_token *tokens, size_t ntokens,
                           const struct oomgr_stmt_def **def_r, char **error_r, int *line_r)
{
    if (tokens[0].kind != OOMGR_TOK_WORD) {
        *error_r = ofc_xasprintf("a statement begins with a keyword, not %s",
                                 tokens[0].kind == OOMGR_TOK_EQUALS ? "'='" : "a quoted string");
        *line_r = tokens[0].line;
        return -1;
    }
    bool verb_known = false;
    const char *verb = tokens[0].text;
    /* A verb without objects (whoami, help): every other token is an argument. */
    const struct oomgr_stmt_def *def = oomgr_stmt_find(verb, NULL, &verb_known);
    if (def != NULL) {
        *def_r = def;
        return 1;
    }
    if (!verb_known) {
        *error_r = ofc_xasprintf("unknown statement '%s' (help; lists the statements)", verb);
        *line_r = tokens[0].line;
        return -1;
    }
    char *objects = oomgr_stmt_objects(verb);
    if (ntokens < 2 || tokens[1].kind != OOMGR_TOK_WORD ||
        (ntokens > 2 && tokens[2].kind == OOMGR_TOK_EQUALS)) {
        *error_r = ofc_xasprintf("%s of what? (%s)", verb, objects);
        *line_r = tokens[ntokens < 2 ? 0 : 1].line;
        free(objects);
        return -1;
    }
    def = oomgr_stmt_find(verb, tokens[1].text, &verb_known);
    if (def == NULL) {
        *error_r = ofc_xasprintf("unknown object '%s' for %s (%s)", tokens[1].text, verb, objects);
        *line_r = tokens[1].line;
        free(objects);
        return -1;
    }
    free(objects);
    *def_r = def;
    return 2;
}

int oomgr_parse(const struct oomgr_token *tokens, size_t ntokens, struct oomgr_stmt **st_r,
                char **error_r, int *line_r)
{
    *st_r = NULL;
    const struct oomgr_stmt_def *def = NULL;
    int first = find_definition(tokens, ntokens, &def, error_r, line_r);
    if (first < 0)
        return -1;

    struct oomgr_stmt *st = ofc_xcalloc(1, sizeof(*st));
    st->def = def;
    st->line = tokens[0].line;
    char *name = stmt_name(def);
    const struct oomgr_key *any = any_key(def);

    for (size_t i = (size_t)first; i < ntokens; i++) {
        const struct oomgr_token *t = &tokens[i];
        *line_r = t->line;
        if (t->kind == OOMGR_TOK_EQUALS) {
            *error_r = ofc_xstrdup("'=' without a keyword before it");
            goto fail;
        }
        bool keyed = i + 1 < ntokens && tokens[i + 1].kind == OOMGR_TOK_EQUALS;
        if (keyed) {
            if (t->kind != OOMGR_TOK_WORD) {
                *error_r = ofc_xstrdup("a keyword cannot be quoted");
                goto fail;
            }
            if (i + 2 >= ntokens || tokens[i + 2].kind == OOMGR_TOK_EQUALS) {
                *error_r = ofc_xasprintf("missing value after '%s='", t->text);
                goto fail;
            }
            const char *value = tokens[i + 2].text;
            const struct oomgr_key *k = find_key(def, t->text);
            if (k == NULL && any == NULL) {
                char *keys = key_list(def);
                *error_r = ofc_xasprintf("unknown keyword '%s' for %s (it takes: %s)", t->text,
                                         name, keys);
                free(keys);
                goto fail;
            }
            if (k != NULL && (k->flags & OOMGR_KEY_FLAG)) {
                *error_r = ofc_xasprintf("%s takes no value: write just '%s'", k->name, k->name);
                goto fail;
            }
            const char *key = k != NULL ? k->name : t->text;
            if (find_arg(st, key) != NULL) {
                *error_r = ofc_xasprintf("%s given twice", key);
                goto fail;
            }
            if (k != NULL && check_value(k, value, error_r) < 0)
                goto fail;
            add_arg(st, key, value, t->line, k != NULL ? k : any);
            i += 2;
            continue;
        }
        /* A bare word or string: a flag, else the next positional key. */
        const struct oomgr_key *k = t->kind == OOMGR_TOK_WORD ? find_key(def, t->text) : NULL;
        if (k != NULL && (k->flags & OOMGR_KEY_FLAG)) {
            if (find_arg(st, k->name) != NULL) {
                *error_r = ofc_xasprintf("%s given twice", k->name);
                goto fail;
            }
            add_arg(st, k->name, NULL, t->line, k);
            continue;
        }
        k = NULL;
        for (const struct oomgr_key *p = def->keys; p != NULL && p->name != NULL; p++)
            if ((p->flags & OOMGR_KEY_POSITIONAL) && find_arg(st, p->name) == NULL) {
                k = p;
                break;
            }
        if (k == NULL) {
            *error_r = ofc_xasprintf("unexpected '%s' in %s", t->text, name);
            goto fail;
        }
        if (check_value(k, t->text, error_r) < 0)
            goto fail;
        add_arg(st, k->name, t->text, t->line, k);
    }

    for (const struct oomgr_key *k = def->keys; k != NULL && k->name != NULL; k++) {
        if (!(k->flags & OOMGR_KEY_REQUIRED) || find_arg(st, k->name) != NULL)
            continue;
        *line_r = st->line;
        if (k->flags & OOMGR_KEY_POSITIONAL)
            *error_r = ofc_xasprintf("%s: missing %s", name, k->name);
        else
            *error_r = ofc_xasprintf("%s: missing %s=", name, k->name);
        goto fail;
    }
    free(name);
    *st_r = st;
    return 0;
fail:
    free(name);
    oomgr_stmt_free(&st);
    return -1;
}

const char *oomgr_arg(const struct oomgr_stmt *st, const char *key)
{
    const struct oomgr_arg *a = find_arg(st, key);
    return a != NULL ? a->value : NULL;
}

int oomgr_arg_line(const struct oomgr_stmt *st, const char *key)
{
    const struct oomgr_arg *a = find_arg(st, key);
    return a != NULL ? a->line : st->line;
}

const char *oomgr_arg_hash(const struct oomgr_stmt *st, const char *key)
{
    const struct oomgr_arg *a = find_arg(st, key);
    return a != NULL ? a->hash : NULL;
}

bool oomgr_arg_given(const struct oomgr_stmt *st, const char *key)
{
    return find_arg(st, key) != NULL;
}

long long oomgr_arg_int(const struct oomgr_stmt *st, const char *key, long long dflt)
{
    const char *v = oomgr_arg(st, key);
    return v != NULL ? strtoll(v, NULL, 10) : dflt;
}

bool oomgr_stmt_has_secret(const struct oomgr_stmt *st)
{
    for (size_t i = 0; i < st->nargs; i++)
        if (st->args[i].spec != NULL && (st->args[i].spec->flags & OOMGR_KEY_SECRET))
            return true;
    return false;
}

/* Appends value, double-quoted with escapes when a bare word could not carry it. */
static void append_value(struct ofc_strbuf *sb, const char *value)
{
    bool quote = value[0] == '\0';
    for (const char *p = value; *p != '\0' && !quote; p++)
        quote = (unsigned char)*p <= ' ' || *p == '=' || *p == ';' || *p == '"' ||
                (*p == '-' && p[1] == '-');
    if (!quote) {
        ofc_strbuf_puts(sb, value);
        return;
    }
    ofc_strbuf_putc(sb, '"');
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            ofc_strbuf_putc(sb, '\\');
        if (*p == '\n')
            ofc_strbuf_puts(sb, "\\n");
        else if (*p == '\t')
            ofc_strbuf_puts(sb, "\\t");
        else
            ofc_strbuf_putc(sb, *p);
    }
    ofc_strbuf_putc(sb, '"');
}

char *oomgr_stmt_describe(const struct oomgr_stmt *st)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_init(&sb);
    ofc_strbuf_puts(&sb, st->def->verb);
    if (st->def->object != NULL) {
        ofc_strbuf_putc(&sb, ' ');
        ofc_strbuf_puts(&sb, st->def->object);
    }
    for (size_t i = 0; i < st->nargs; i++) {
        const struct oomgr_arg *a = &st->args[i];
        ofc_strbuf_putc(&sb, ' ');
        ofc_strbuf_puts(&sb, a->key);
        if (a->value == NULL)
            continue;
        ofc_strbuf_putc(&sb, '=');
        if (a->spec != NULL && (a->spec->flags & OOMGR_KEY_SECRET))
            ofc_strbuf_puts(&sb, "***");
        else
            append_value(&sb, a->value);
    }
    return ofc_strbuf_detach(&sb);
}

char *oomgr_like_pattern(const char *wildcard)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_init(&sb);
    for (const char *p = wildcard; *p != '\0'; p++) {
        if (*p == '*')
            ofc_strbuf_putc(&sb, '%');
        else if (*p == '?')
            ofc_strbuf_putc(&sb, '_');
        else {
            if (*p == '%' || *p == '_' || *p == '\\')
                ofc_strbuf_putc(&sb, '\\');
            ofc_strbuf_putc(&sb, *p);
        }
    }
    return ofc_strbuf_detach(&sb);
}

const char *oomgr_lltoa(char *buf, size_t size, long long n)
{
    /* 24 bytes hold every long long; the callers pass at least that. */
    (void)snprintf(buf, size, "%lld", n);
    return buf;
}
