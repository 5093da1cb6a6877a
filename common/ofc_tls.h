/*
 * ofc_tls.h - server TLS contexts and where a protocol's certificate lives.
 *
 * Every TLS listener of ofcmail (LMTP STARTTLS, POP3 STLS/POP3S, IMAP
 * STARTTLS/IMAPS) makes its context here, so that they all speak the same
 * modern TLS: 1.2 or later, for 1.2 only ECDHE with AEAD ciphers (1.3's
 * suites all are), no compression, no renegotiation, server preference.
 *
 * Certificates (ofcsetup cert store): a protocol's files are
 *   <home>/etc/tls/<protocol>.crt   certificate chain, PEM (0644)
 *   <home>/etc/tls/<protocol>.key   private key, PEM, maybe encrypted (0600)
 *   <home>/etc/tls/<protocol>.pass  the key's password when it is (0600)
 * with <protocol> one of pop3, imap, lmtp. When a protocol has no files
 * of its own, the node-wide tls.certificate / tls.key of ofcmail.conf
 * apply (unencrypted key).
 */
#ifndef OFC_TLS_H
#define OFC_TLS_H

#include <openssl/ssl.h>

struct ofc_config;

/* Where a protocol's certificate is (heap strings; pass_r NULL when none). */
struct ofc_tls_files {
    char *cert;
    char *key;
    char *pass; /* password file, or NULL */
};

/*
 * Finds the files for `protocol` ("pop3", "imap", "lmtp"): its own under
 * <home>/etc/tls/ when <protocol>.crt exists there, else the node-wide
 * ones. Returns 1 and fills *files (free with ofc_tls_files_free), 0 when
 * no certificate is configured at all.
 */
int ofc_tls_find_files(const struct ofc_config *cfg, const char *protocol,
                       struct ofc_tls_files *files);
void ofc_tls_files_free(struct ofc_tls_files *files);

/* <home>/etc/tls (heap string). */
char *ofc_tls_dir(const struct ofc_config *cfg);

/*
 * A server context from the files (the key decrypted with the first line
 * of files->pass when given). Returns the context, or NULL with a heap
 * message in *error_r naming the file and OpenSSL's reason.
 */
SSL_CTX *ofc_tls_server_ctx(const struct ofc_tls_files *files, char **error_r);

/* The longest password a password file may hold. */
#define OFC_TLS_PASS_MAX 1024

/*
 * Reads a password file (a key's <protocol>.pass, or one named on a
 * command line): the password is its first line, without the LF or
 * CR LF that ends it, at most OFC_TLS_PASS_MAX characters, and not empty;
 * the rest of the file is ignored. Returns 0 with the password in
 * *password_r, a heap string that the caller wipes and frees
 * (OPENSSL_cleanse or ofc_tty_forget); or -1 with *password_r NULL and a
 * heap message in *error_r naming the file (never its contents).
 */
int ofc_tls_read_pass(const char *path, char **password_r, char **error_r)
    __attribute__((warn_unused_result));

/* OpenSSL's error queue as one line (and cleared); heap string. */
char *ofc_tls_errors(void);

#endif
