/*
 * cert_internal.h - what the pieces of `ofcsetup cert` share: the parsed
 * command line, the sub-commands, and the helpers they all print with.
 *
 *   cert.c           command line, dispatch, shared helpers
 *   cert_generate.c  cert generate: a key and a certificate or request
 *   cert_store.c     cert store and cert show: the installed files
 *
 * Private to these files; main.c knows only cert.h.
 */
#ifndef OFCSETUP_CERT_INTERNAL_H
#define OFCSETUP_CERT_INTERNAL_H

/* System. */
#include <stdbool.h>
#include <stddef.h>

/* Libraries. */
#include <openssl/x509.h>

struct ofc_config;

/* The protocols that have certificates, in the order they are shown. */
#define CERT_NPROTOCOLS 3
extern const char *const cert_protocols[CERT_NPROTOCOLS];

/*
 * Subject fields. Caution: in the order of their options (COPT_CN ... in
 * cert.c), which the parser relies on to store an option's value.
 */
enum field { F_CN, F_ORG, F_UNIT, F_CITY, F_STATE, F_COUNTRY, F_EMAIL, F_COUNT };

/* The command line; strings point into argv. */
struct cert_args {
    const char *config_path;
    const char *sub; /* generate, store, show */
    const char *field[F_COUNT];
    long days;
    bool days_given;
    bool rsa;
    bool csr;
    const char *key_password_file;
    const char *out_key, *out_cert, *out_csr;
    bool proto[CERT_NPROTOCOLS];
    bool any_proto;
    const char *key, *cert;
};

/* ---- the sub-commands: each returns the exit status (SETUP_EXIT_*) -- */

/* cert_generate.c: needs no configuration. */
int cert_generate(const struct cert_args *a);
/* cert_store.c */
int cert_store(const struct cert_args *a, const struct ofc_config *cfg);
int cert_show(const struct cert_args *a, const struct ofc_config *cfg);

/* ---- shared helpers (cert.c) ---------------------------------------- */

/* Prints what failed, then OpenSSL's reasons for it (emptying its error queue). */
void cert_tls_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes all of data to fd; -1 with errno. */
int cert_write_all(int fd, const void *data, size_t len) __attribute__((warn_unused_result));

/* Certificates as text, for people; each returns a heap string. */
/* RFC 2253 order, UTF-8 left as it is. */
char *cert_name_text(const X509_NAME *name);
/* ISO 8601. */
char *cert_time_text(const ASN1_TIME *t);
/* The subjectAltName entries, comma-separated ("" when none). */
char *cert_san_text(const X509 *x);
/* "AB:CD:..." SHA-256 of the certificate ("?" when it cannot be computed). */
char *cert_fingerprint(const X509 *x);

#endif
