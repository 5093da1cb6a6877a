/*
 * dir_resolve.h - address resolution: who does an address reach?
 *
 * One API for the Postman, the gateways and the protocol servers. An
 * address ("kent@acme.com", "Clark Kent <Kent@ACME.com>") or a bare name
 * ("kent", resolved in a context domain) expands to the local accounts and
 * the external addresses it reaches:
 *
 *  - an address whose domain is a domain of this node's directory is
 *    local: its local part names an object of that domain,
 *    case-insensitively; an unknown name gives an UNKNOWN result with the
 *    reason. Any other domain is EXTERNAL. Subdomains are domains of their
 *    own: kent@us.acme.com is not kent@acme.com.
 *  - a local part ending in ".ofcmail" (sendmail's aliases hand the mailer
 *    "user1.ofcmail") is looked up without that suffix.
 *  - aliases are followed (alias -> alias -> person or address); lists are
 *    expanded, nested lists too; locations, organizations and roles expand
 *    to their member accounts.
 *  - every account and every external address appears once, however many
 *    ways lead to it.
 *  - a loop among lists or aliases is reported (a LOOP result naming the
 *    path, "list loop: a@acme.com -> b@acme.com -> a@acme.com") and
 *    everyone else on the lists still gets the message.
 *  - nesting deeper than the depth limit is not expanded: the object where
 *    expansion stopped gives an UNKNOWN result saying so.
 *
 * Resolution only reads; it may run inside or outside a transaction.
 */
#ifndef DIR_RESOLVE_H
#define DIR_RESOLVE_H

#include <stddef.h>

struct ofc_db;

/* How deep lists and aliases nest before expansion stops. */
#define DIR_RESOLVE_DEFAULT_DEPTH 16

enum dir_rcpt_kind {
    DIR_RCPT_ACCOUNT,  /* a local account: deliver to account_id on home_node_id */
    DIR_RCPT_EXTERNAL, /* an address of another domain: address */
    DIR_RCPT_UNKNOWN,  /* nobody: reason says why (a non-delivery report) */
    DIR_RCPT_LOOP,     /* a loop was broken at address: reason names the path */
};

struct dir_rcpt {
    enum dir_rcpt_kind kind;
    long long account_id;   /* ACCOUNT: dir_object id of the account; else 0 */
    long long home_node_id; /* ACCOUNT: the node of its mailboxes; else 0 */
    /*
     * ACCOUNT: name@fqdn of the account; EXTERNAL: the address (local part
     * as written, domain lower case); UNKNOWN: the address or name that
     * reached nobody; LOOP: the object where the loop closes.
     */
    char *address;
    char *reason; /* UNKNOWN and LOOP: one line; else NULL */
    size_t input; /* index of the first input address that led here */
};

struct dir_resolve_context {
    long long domain_id;     /* the domain of bare names; 0: use domain_fqdn */
    const char *domain_fqdn; /* used when domain_id is 0; NULL: bare names are UNKNOWN */
    int max_depth;           /* <= 0: DIR_RESOLVE_DEFAULT_DEPTH */
};

/* "ACCOUNT", "EXTERNAL", "UNKNOWN", "LOOP". */
const char *dir_rcpt_kind_name(enum dir_rcpt_kind kind);

/*
 * Resolves count addresses together (the recipients of one message), so
 * that a person reached through two of them appears once. Results come in
 * the order they were found (breadth first, inputs in order), LOOP results
 * last. A malformed input address is an UNKNOWN result, not an error.
 * Round trips: one statement per level of nesting (a person or an alias of
 * a person: one; an alias of an alias: two), whatever the number of
 * addresses. ctx may be NULL (no context domain, default depth). Returns
 * 0 and a new array in *rcpts_r (NULL when *nrcpts_r is
 * 0; free it with dir_rcpts_free()), or -1 with a heap message in
 * *error_r when the database fails.
 */
int dir_resolve(struct ofc_db *db, const struct dir_resolve_context *ctx,
                const char *const *addresses, size_t count, struct dir_rcpt **rcpts_r,
                size_t *nrcpts_r, char **error_r) __attribute__((warn_unused_result));

/* dir_resolve() of one address. */
int dir_resolve_one(struct ofc_db *db, const struct dir_resolve_context *ctx, const char *address,
                    struct dir_rcpt **rcpts_r, size_t *nrcpts_r, char **error_r)
    __attribute__((warn_unused_result));

/* Frees the strings of count results and the array; sets *rcpts to NULL. */
void dir_rcpts_free(struct dir_rcpt **rcpts, size_t count);

#endif
