/*
 * ofc_addr.h - RFC 5322 / RFC 5321 mailbox parsing and normalisation.
 *
 * Every mail path (ofcuto, LMTP, the Postman, the directory) parses
 * addresses here, so that "Kent@ACME.com", "<kent@acme.com>" and
 * "Clark Kent <kent@Acme.Com>" all reach the same account.
 *
 * Case rules: the domain is case-insensitive and is lowered; the local part
 * keeps its case in ofc_addr_format() (RFC 5321 says only the receiving
 * host may interpret it) but ofc_addr_key() lowers it, because ofcmail's
 * own user names are case-insensitive as in the original. IDN domains
 * (UTF-8 or A-labels) are left as they are.
 */
#ifndef OFC_ADDR_H
#define OFC_ADDR_H

#include <stdbool.h>
#include <stddef.h>

struct ofc_addr {
    char *display; /* display name, unquoted/unescaped; NULL if none */
    char *local;   /* local part, unquoted and unescaped */
    char *domain;  /* domain, lower case; NULL for a bare local part */
    bool quoted;   /* the local part needs quoting to be written back */
};

/*
 * Parses one RFC 5322 mailbox (name-addr or addr-spec, with comments and
 * folding white space). When allow_bare is true a local part without
 * "@domain" is accepted (sendmail aliases hand us "user1").
 * Local parts are at most 64 octets as written, domains 255, the whole
 * addr-spec 254 (RFC 5321 limits); UTF-8 must be well-formed.
 * Returns 0, or -1 with a static message in *error_r; on failure *addr_r
 * holds nothing to free.
 */
int ofc_addr_parse_mailbox(const char *in, size_t len, bool allow_bare, struct ofc_addr *addr_r,
                           const char **error_r) __attribute__((warn_unused_result));

/*
 * Parses an RFC 5321 reverse-path or forward-path ("<a@b>", or "<>" when
 * null_ok, giving an addr with local == "" and domain == NULL); source
 * routes ("<@x,@y:a@b>") are accepted and dropped as RFC 5321 §4.1.1.3
 * allows. "<Postmaster>" without a domain (any case) is accepted as RFC 5321
 * §4.5.1 requires and gives domain == NULL. No white space or comments;
 * at most 256 octets. Returns 0 or -1 with *error_r.
 */
int ofc_addr_parse_path(const char *in, size_t len, bool null_ok, struct ofc_addr *addr_r,
                        const char **error_r) __attribute__((warn_unused_result));

/*
 * Parses an RFC 5322 address-list (mailboxes and groups) into a new array
 * of *count_r addresses; group names are dropped, members kept. Empty
 * elements ("a@b, , c@d") are skipped; bare local parts are refused. An
 * input with no address and no group is an error; "undisclosed-recipients:;"
 * gives *count_r == 0. Returns 0 or -1 with *error_r (nothing to free then).
 */
int ofc_addr_parse_list(const char *in, size_t len, struct ofc_addr **addrs_r, size_t *count_r,
                        const char **error_r) __attribute__((warn_unused_result));

/*
 * "local@domain" with the local part quoted only when it must be
 * ("john doe"@example.com, with '"' and '\' escaped); just the local part when
 * domain is NULL; "" for the null path. Heap string.
 */
char *ofc_addr_format(const struct ofc_addr *addr);
/* The lookup key: like ofc_addr_format() but the local part lowered. Heap string. */
char *ofc_addr_key(const struct ofc_addr *addr);

/* Frees the strings of addr and zeroes it; a cleared addr may be cleared again. */
void ofc_addr_clear(struct ofc_addr *addr);
/* Clears count addresses, frees the array and sets *addrs to NULL. */
void ofc_addr_free_list(struct ofc_addr **addrs, size_t count);

#endif
