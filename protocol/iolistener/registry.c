/*
 * registry.c - the words instances say (HELLO, LOAD) and the choice of
 * the instance that takes the next client (see sps_handoff.h).
 */
/* System. */
#include <limits.h>
#include <stddef.h>
#include <string.h>

/* This program. */
#include "lsnr.h"

/* The most words a packet of ours has, plus one to notice an extra word. */
#define MAX_WORDS 6
/* Bounds that no real count reaches; they keep sums far from overflow. */
#define MAX_COUNT 1000000000LL

struct words {
    const char *start[MAX_WORDS];
    size_t len[MAX_WORDS];
    size_t n;
};

const char *lsnr_proto_word(enum lsnr_proto proto)
{
    return proto == LSNR_POP3 ? "pop3" : "imap";
}

const char *lsnr_proto_type(enum lsnr_proto proto)
{
    return proto == LSNR_POP3 ? "POP3SRV" : "IMAP4SRV";
}

/*
 * Splits on single spaces. Returns -1 for an empty word (leading,
 * trailing or doubled space) or more than MAX_WORDS words.
 */
static int split(const char *text, struct words *w)
{
    w->n = 0;
    const char *p = text;
    for (;;) {
        const char *sp = strchr(p, ' ');
        size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
        if (len == 0 || w->n == MAX_WORDS)
            return -1;
        w->start[w->n] = p;
        w->len[w->n] = len;
        w->n++;
        if (sp == NULL)
            return 0;
        p = sp + 1;
    }
}

static bool word_is(const struct words *w, size_t i, const char *s)
{
    return w->len[i] == strlen(s) && memcmp(w->start[i], s, w->len[i]) == 0;
}

/* Decimal digits only (no sign, no blanks), at most `max`. */
static int word_number(const struct words *w, size_t i, long long min, long long max,
                       long long *v_r)
{
    if (w->len[i] > 12)
        return -1;
    long long v = 0;
    for (size_t k = 0; k < w->len[i]; k++) {
        char c = w->start[i][k];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    if (v < min || v > max)
        return -1;
    *v_r = v;
    return 0;
}

int lsnr_parse_hello(const char *text, struct lsnr_hello *hello_r, const char **error_r)
{
    struct words w;
    if (split(text, &w) != 0 || w.n != 5 || !word_is(&w, 0, "HELLO")) {
        *error_r = "expected HELLO <protocol> <process id> <instance> <pid>";
        return -1;
    }
    if (word_is(&w, 1, "pop3"))
        hello_r->proto = LSNR_POP3;
    else if (word_is(&w, 1, "imap"))
        hello_r->proto = LSNR_IMAP;
    else {
        *error_r = "unknown protocol (pop3 or imap)";
        return -1;
    }
    long long id, instance, pid;
    if (word_number(&w, 2, 1, INT_MAX, &id) != 0) {
        *error_r = "invalid process id";
        return -1;
    }
    if (word_number(&w, 3, 1, 99, &instance) != 0) {
        *error_r = "invalid instance number (1-99)";
        return -1;
    }
    if (word_number(&w, 4, 1, INT_MAX, &pid) != 0) {
        *error_r = "invalid pid";
        return -1;
    }
    hello_r->process_id = id;
    hello_r->instance = (int)instance;
    hello_r->pid = (long)pid;
    return 0;
}

int lsnr_parse_load(const char *text, long long *clients_r, long long *max_r, const char **error_r)
{
    struct words w;
    if (split(text, &w) != 0 || w.n != 3 || !word_is(&w, 0, "LOAD")) {
        *error_r = "expected LOAD <clients> <max clients>";
        return -1;
    }
    if (word_number(&w, 1, 0, MAX_COUNT, clients_r) != 0 ||
        word_number(&w, 2, 0, MAX_COUNT, max_r) != 0) {
        *error_r = "invalid client count";
        return -1;
    }
    return 0;
}

struct lsnr_inst *lsnr_choose(struct lsnr_inst *list, enum lsnr_proto proto, int64_t now_ms,
                              struct lsnr_choice_why *why_r)
{
    memset(why_r, 0, sizeof(*why_r));
    struct lsnr_inst *best = NULL;
    long long best_clients = 0;
    for (struct lsnr_inst *i = list; i != NULL; i = i->next) {
        if (!i->registered || i->hello.proto != proto)
            continue;
        why_r->registered++;
        long long clients = i->load + i->sent;
        if (i->max >= 0 && clients >= i->max) {
            why_r->at_max++;
            continue;
        }
        if (i->tried) {
            why_r->full++;
            continue;
        }
        if (now_ms - i->last_heard > LSNR_SILENCE_MS) {
            why_r->silent++;
            continue;
        }
        if (best == NULL || clients < best_clients ||
            (clients == best_clients && i->last_seq < best->last_seq)) {
            best = i;
            best_clients = clients;
        }
    }
    return best;
}
