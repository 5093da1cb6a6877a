/*
 * rules.h - what the Postman does for an account before delivering to it:
 * its server-side rules (account_rule), its auto-forward and its
 * vacation auto-reply (RFC 3834). Schema in 011_rules.sql. Everything
 * runs in the batch's transaction: replies and forwards are stored and
 * submitted with the delivery, or not at all.
 */
#ifndef POSTMAN_RULES_H
#define POSTMAN_RULES_H

#include <stdbool.h>
#include <stddef.h>

struct ofc_db;

/* The message being delivered, as the rules see it. */
struct rules_message {
    long long message_id;
    const char *sender; /* envelope; "" for the null reverse-path */
    long long size;
    const char *headers; /* the header section */
    size_t headers_len;
};

/* What becomes of the account's copy. Heap members: rules_outcome_free(). */
struct rules_outcome {
    bool keep;    /* deliver a pointer (false: discarded, or forwarded without a copy) */
    char *folder; /* NULL: INBOX */
    int flags;    /* mailbox_pointer.flags bits */
    char **keywords;
    size_t nkeywords;
    const char *disposition; /* billing when !keep: "DELIVERED" (discarded) or "FORWARDED" */
    char *reason;            /* billing reason when !keep, else NULL */
};

/*
 * Sets has_r[i] for the accounts among ids[0..n) that have enabled rules,
 * an auto-forward or an enabled auto-reply: one statement per batch, so
 * that accounts without any cost nothing more. Returns 0 or -1.
 */
int rules_which(struct ofc_db *db, const long long *ids, size_t n, bool *has_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Applies the rules, auto-forward and auto-reply of account_id to m,
 * storing and submitting forwards and replies; domain is the node's (for
 * Message-IDs). Fills *out. Returns 0, or -1 with *error_r.
 */
int rules_apply(struct ofc_db *db, const char *domain, long long account_id,
                const struct rules_message *m, struct rules_outcome *out, char **error_r)
    __attribute__((warn_unused_result));

void rules_outcome_free(struct rules_outcome *out);

#endif
