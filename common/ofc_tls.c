/*
 * ofc_tls.c - server TLS contexts and where a protocol's certificate lives.
 *
 * The key is read here rather than by SSL_CTX_use_PrivateKey_file() so
 * that OpenSSL never falls back to prompting on a terminal for the
 * password of an encrypted key (a daemon has none), and so that each
 * failure can name the file at fault: a wrong password, a key that is not
 * the certificate's and a missing file are different mistakes for the
 * administrator.
 */
/* System. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Libraries. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_mem.h"
#include "ofc_tls.h"

char *ofc_tls_dir(const struct ofc_config *cfg)
{
    return ofc_xasprintf("%s/etc/tls", cfg->home);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * Returns 1 and fills *files (free with ofc_tls_files_free), or 0 with
 * *files zeroed when neither <home>/etc/tls/<protocol>.crt nor the
 * node-wide pair is configured.
 */
int ofc_tls_find_files(const struct ofc_config *cfg, const char *protocol,
                       struct ofc_tls_files *files)
{
    memset(files, 0, sizeof(*files));
    char *dir = ofc_tls_dir(cfg);
    char *cert = ofc_xasprintf("%s/%s.crt", dir, protocol);
    if (is_file(cert)) {
        files->cert = cert;
        files->key = ofc_xasprintf("%s/%s.key", dir, protocol);
        char *pass = ofc_xasprintf("%s/%s.pass", dir, protocol);
        if (is_file(pass))
            files->pass = pass;
        else
            free(pass);
        free(dir);
        return 1;
    }
    free(cert);
    free(dir);
    if (cfg->tls_certificate == NULL || cfg->tls_key == NULL || cfg->tls_certificate[0] == '\0' ||
        cfg->tls_key[0] == '\0')
        return 0;
    files->cert = ofc_xstrdup(cfg->tls_certificate);
    files->key = ofc_xstrdup(cfg->tls_key);
    return 1;
}

void ofc_tls_files_free(struct ofc_tls_files *files)
{
    OFC_FREE(files->cert);
    OFC_FREE(files->key);
    OFC_FREE(files->pass);
}

/* OpenSSL's queued errors as one line (they are per thread), emptying the queue. */
char *ofc_tls_errors(void)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        ofc_strbuf_printf(&sb, "%s%s", sb.len > 0 ? "; " : "", buf);
    }
    if (sb.len == 0)
        ofc_strbuf_puts(&sb, "unknown TLS error");
    return ofc_strbuf_detach(&sb);
}

/* What the password callback is given, and what it tells us afterwards. */
struct pass_arg {
    const char *pass; /* NULL: there is no password file */
    bool asked;       /* the key is encrypted */
};

static int pass_cb(char *buf, int size, int rwflag, void *userdata)
{
    struct pass_arg *arg = userdata;
    arg->asked = true;
    if (arg->pass == NULL || size <= 0)
        return -1; /* never a prompt on the terminal */
    size_t len = strlen(arg->pass);
    if (len > (size_t)size)
        return -1;
    memcpy(buf, arg->pass, len);
    return (int)len;
}

/*
 * The first line without its line end, at most OFC_TLS_PASS_MAX
 * characters, not empty. Every failure wipes what was read: a password
 * one character too long is still most of a password.
 */
int ofc_tls_read_pass(const char *path, char **password_r, char **error_r)
{
    *password_r = NULL;
    *error_r = NULL;
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        *error_r = ofc_xasprintf("cannot open the password file %s: %s", path, strerror(errno));
        return -1;
    }
    /* Room for one character more than allowed (a CR, or proof of a longer line) and the NUL. */
    const size_t size = OFC_TLS_PASS_MAX + 2;
    char *buf = ofc_xmalloc(size);
    size_t len = 0;
    int c;
    while (len <= OFC_TLS_PASS_MAX && (c = getc(fp)) != EOF && c != '\n')
        buf[len++] = (char)c;
    bool too_long = len > OFC_TLS_PASS_MAX;
    if (too_long && buf[len - 1] == '\r') {
        /* The longest password, then CR LF (or CR at the end of the file). */
        c = getc(fp);
        too_long = c != '\n' && c != EOF;
    }
    bool failed = ferror(fp) != 0;
    (void)fclose(fp);
    if (!too_long && len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    if (failed || too_long || len == 0) {
        OPENSSL_cleanse(buf, size);
        free(buf);
        if (failed)
            *error_r = ofc_xasprintf("cannot read the password file %s", path);
        else if (too_long)
            *error_r = ofc_xasprintf("the first line of %s is longer than %d characters", path,
                                     OFC_TLS_PASS_MAX);
        else
            *error_r = ofc_xasprintf("the first line of the password file %s is empty", path);
        return -1;
    }
    *password_r = buf;
    return 0;
}

/*
 * The private key of `files`, decrypted with the password file's first
 * line. NULL with *error_r set.
 */
static EVP_PKEY *load_key(const struct ofc_tls_files *files, char **error_r)
{
    char *pass = NULL;
    if (files->pass != NULL && ofc_tls_read_pass(files->pass, &pass, error_r) < 0)
        return NULL;
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_file(files->key, "r");
    if (bio == NULL) {
        char *why = ofc_tls_errors();
        *error_r = ofc_xasprintf("cannot open the private key %s: %s", files->key, why);
        free(why);
    } else {
        struct pass_arg arg = {.pass = pass, .asked = false};
        pkey = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &arg);
        BIO_free(bio);
        if (pkey == NULL) {
            char *why = ofc_tls_errors();
            if (arg.asked && pass == NULL)
                *error_r = ofc_xasprintf("the private key %s is encrypted and there is no "
                                         "password file for it",
                                         files->key);
            else if (arg.asked)
                *error_r = ofc_xasprintf("cannot decrypt the private key %s with the password "
                                         "in %s (wrong password?): %s",
                                         files->key, files->pass, why);
            else
                *error_r = ofc_xasprintf("cannot read the private key %s: %s", files->key, why);
            free(why);
        }
    }
    if (pass != NULL) {
        OPENSSL_cleanse(pass, strlen(pass));
        free(pass);
    }
    return pkey;
}

/* The first certificate of the chain file; NULL with *error_r set. */
static X509 *load_leaf(const char *path, char **error_r)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (x == NULL) {
        char *why = ofc_tls_errors();
        *error_r = ofc_xasprintf("cannot read the certificate %s: %s", path, why);
        free(why);
    }
    return x;
}

/* Missing or unreadable files are named plainly, before OpenSSL's codes. */
static int check_readable(const char *what, const char *path, char **error_r)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        *error_r = ofc_xasprintf("cannot open the %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    (void)fclose(fp);
    return 0;
}

/*
 * A context speaking TLS 1.2+ (ECDHE with AEAD ciphers on 1.2; 1.3's suites
 * all are), no compression, no renegotiation, server preference, with the
 * certificate chain and key of `files`. NULL with a heap message in
 * *error_r naming the file and the reason.
 */
SSL_CTX *ofc_tls_server_ctx(const struct ofc_tls_files *files, char **error_r)
{
    *error_r = NULL;
    ERR_clear_error();
    if (check_readable("certificate", files->cert, error_r) < 0 ||
        check_readable("private key", files->key, error_r) < 0 ||
        (files->pass != NULL && check_readable("password file", files->pass, error_r) < 0))
        return NULL;
    X509 *leaf = load_leaf(files->cert, error_r);
    if (leaf == NULL)
        return NULL;
    EVP_PKEY *pkey = load_key(files, error_r);
    if (pkey == NULL) {
        X509_free(leaf);
        return NULL;
    }
    int match = X509_check_private_key(leaf, pkey);
    X509_free(leaf);
    if (match != 1) {
        ERR_clear_error();
        *error_r = ofc_xasprintf("the private key %s does not belong to the certificate %s",
                                 files->key, files->cert);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    const char *step = "cannot make a TLS context";
    if (ctx != NULL && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
        SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL") == 1) {
        step = "cannot load the certificate chain";
        if (SSL_CTX_use_certificate_chain_file(ctx, files->cert) == 1) {
            step = "cannot use the private key";
            if (SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1)
                step = NULL;
        }
    }
    EVP_PKEY_free(pkey);
    if (step != NULL) {
        char *why = ofc_tls_errors();
        *error_r = ofc_xasprintf("%s with %s and %s: %s", step, files->cert, files->key, why);
        free(why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    (void)SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                       SSL_OP_CIPHER_SERVER_PREFERENCE);
    return ctx;
}
