/*
 * test_tls.c - certificate lookup and server contexts (common/ofc_tls.c).
 *
 * Every test runs in a fresh temporary directory that stands for <home>.
 * Keys and self-signed certificates are made here with OpenSSL so that the
 * test needs no fixture files and no openssl command.
 */
/* System. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Libraries. */
#include <check.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_mem.h"
#include "ofc_tls.h"

static char *tmpdir;
static struct ofc_config cfg;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    char template[] = "/tmp/ofc_test_tls_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(template));
    tmpdir = ofc_xstrdup(template);
    memset(&cfg, 0, sizeof(cfg));
    cfg.home = tmpdir;
    char *etc = ofc_xasprintf("%s/etc", tmpdir);
    char *tls = ofc_tls_dir(&cfg);
    ck_assert_int_eq(mkdir(etc, 0755), 0);
    ck_assert_int_eq(mkdir(tls, 0750), 0);
    free(etc);
    free(tls);
}

static void teardown(void)
{
    (void)nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    OFC_FREE(tmpdir);
    memset(&cfg, 0, sizeof(cfg));
}

/* <tmpdir>/<rel>; heap string. */
static char *path_of(const char *rel)
{
    return ofc_xasprintf("%s/%s", tmpdir, rel);
}

static void write_text(const char *rel, const char *content)
{
    char *path = path_of(rel);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_ge(fputs(content, fp), 0);
    ck_assert_int_eq(fclose(fp), 0);
    free(path);
}

/*
 * A P-256 key in <rel_key> (encrypted with AES-256 when pass is given)
 * and a self-signed certificate for it in <rel_cert>.
 */
static void make_pair(const char *rel_cert, const char *rel_key, const char *pass)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ck_assert_ptr_nonnull(pkey);
    X509 *x = X509_new();
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
    ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), 86400L));
    X509_NAME *name = X509_get_subject_name(x);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"test.example", -1, -1, 0),
                     1);
    ck_assert_int_eq(X509_set_issuer_name(x, name), 1);
    ck_assert_int_eq(X509_set_pubkey(x, pkey), 1);
    ck_assert_int_gt(X509_sign(x, pkey, EVP_sha256()), 0);

    char *cert_path = path_of(rel_cert), *key_path = path_of(rel_key);
    FILE *fp = fopen(cert_path, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(PEM_write_X509(fp, x), 1);
    ck_assert_int_eq(fclose(fp), 0);
    fp = fopen(key_path, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(PEM_write_PrivateKey(fp, pkey, pass != NULL ? EVP_aes_256_cbc() : NULL, NULL,
                                          0, NULL, (void *)pass),
                     1);
    ck_assert_int_eq(fclose(fp), 0);
    free(cert_path);
    free(key_path);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

static struct ofc_tls_files files_of(const char *cert, const char *key, const char *pass)
{
    struct ofc_tls_files f = {
        .cert = path_of(cert),
        .key = path_of(key),
        .pass = pass != NULL ? path_of(pass) : NULL,
    };
    return f;
}

/* Expects ofc_tls_server_ctx to fail with a message holding every needle. */
static void expect_failure(const struct ofc_tls_files *f, const char *needle1, const char *needle2)
{
    char *error = NULL;
    SSL_CTX *ctx = ofc_tls_server_ctx(f, &error);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, needle1) != NULL, "'%s' not in '%s'", needle1, error);
    if (needle2 != NULL)
        ck_assert_msg(strstr(error, needle2) != NULL, "'%s' not in '%s'", needle2, error);
    free(error);
    ck_assert_int_eq(ERR_peek_error(), 0); /* nothing left for the next caller */
}

START_TEST(test_find_none)
{
    struct ofc_tls_files f;
    ck_assert_int_eq(ofc_tls_find_files(&cfg, "lmtp", &f), 0);
    ck_assert_ptr_null(f.cert);
    ck_assert_ptr_null(f.key);
    ck_assert_ptr_null(f.pass);
    /* Half a node-wide pair is none. */
    cfg.tls_certificate = "/x/node.crt";
    cfg.tls_key = "";
    ck_assert_int_eq(ofc_tls_find_files(&cfg, "lmtp", &f), 0);
    ofc_tls_files_free(&f);
}
END_TEST

START_TEST(test_find_precedence)
{
    cfg.tls_certificate = "/x/node.crt";
    cfg.tls_key = "/x/node.key";
    struct ofc_tls_files f;

    /* Only the node-wide pair: it applies, without a password file. */
    ck_assert_int_eq(ofc_tls_find_files(&cfg, "lmtp", &f), 1);
    ck_assert_str_eq(f.cert, "/x/node.crt");
    ck_assert_str_eq(f.key, "/x/node.key");
    ck_assert_ptr_null(f.pass);
    ofc_tls_files_free(&f);
    ck_assert_ptr_null(f.cert);

    /* The protocol's own certificate wins, for that protocol only. */
    write_text("etc/tls/lmtp.crt", "x");
    char *crt = path_of("etc/tls/lmtp.crt"), *key = path_of("etc/tls/lmtp.key");
    char *pass = path_of("etc/tls/lmtp.pass");
    ck_assert_int_eq(ofc_tls_find_files(&cfg, "lmtp", &f), 1);
    ck_assert_str_eq(f.cert, crt);
    ck_assert_str_eq(f.key, key);
    ck_assert_ptr_null(f.pass);
    ofc_tls_files_free(&f);
    ck_assert_int_eq(ofc_tls_find_files(&cfg, "imap", &f), 1);
    ck_assert_str_eq(f.cert, "/x/node.crt");
    ofc_tls_files_free(&f);

    /* Its password file is found when there is one. */
    write_text("etc/tls/lmtp.pass", "secret\n");
    ck_assert_int_eq(ofc_tls_find_files(&cfg, "lmtp", &f), 1);
    ck_assert_str_eq(f.cert, crt);
    ck_assert_ptr_nonnull(f.pass);
    ck_assert_str_eq(f.pass, pass);
    ofc_tls_files_free(&f);

    /* Without any node-wide pair the protocol's own still applies. */
    cfg.tls_certificate = NULL;
    cfg.tls_key = NULL;
    ck_assert_int_eq(ofc_tls_find_files(&cfg, "lmtp", &f), 1);
    ck_assert_str_eq(f.cert, crt);
    ofc_tls_files_free(&f);
    ck_assert_int_eq(ofc_tls_find_files(&cfg, "pop3", &f), 0);
    free(crt);
    free(key);
    free(pass);
}
END_TEST

START_TEST(test_plain_key)
{
    make_pair("a.crt", "a.key", NULL);
    struct ofc_tls_files f = files_of("a.crt", "a.key", NULL);
    char *error = NULL;
    SSL_CTX *ctx = ofc_tls_server_ctx(&f, &error);
    ck_assert_msg(ctx != NULL, "%s", error != NULL ? error : "?");
    ck_assert_ptr_null(error);
    /* The policy every listener shares. */
    ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    uint64_t want =
        SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
    ck_assert((SSL_CTX_get_options(ctx) & want) == want);
    STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(ciphers, i);
        int kx = SSL_CIPHER_get_kx_nid(c);
        if (kx == NID_kx_any)
            continue; /* a TLS 1.3 suite */
        ck_assert_int_eq(kx, NID_kx_ecdhe);
        ck_assert_int_eq(SSL_CIPHER_is_aead(c), 1);
    }
    SSL_CTX_free(ctx);
    ofc_tls_files_free(&f);
}
END_TEST

START_TEST(test_encrypted_key_right_password)
{
    make_pair("b.crt", "b.key", "correct horse");
    /* Only the first line counts, with its CRLF. */
    write_text("b.pass", "correct horse\r\nsecond line\n");
    struct ofc_tls_files f = files_of("b.crt", "b.key", "b.pass");
    char *error = NULL;
    SSL_CTX *ctx = ofc_tls_server_ctx(&f, &error);
    ck_assert_msg(ctx != NULL, "%s", error != NULL ? error : "?");
    SSL_CTX_free(ctx);
    /* And without a line end at all. */
    write_text("b.pass", "correct horse");
    ctx = ofc_tls_server_ctx(&f, &error);
    ck_assert_msg(ctx != NULL, "%s", error != NULL ? error : "?");
    SSL_CTX_free(ctx);
    ofc_tls_files_free(&f);
}
END_TEST

START_TEST(test_encrypted_key_wrong_password)
{
    make_pair("c.crt", "c.key", "correct horse");
    write_text("c.pass", "battery staple\n");
    struct ofc_tls_files f = files_of("c.crt", "c.key", "c.pass");
    expect_failure(&f, f.key, "wrong password");
    char *error = NULL;
    ck_assert_ptr_null(ofc_tls_server_ctx(&f, &error));
    ck_assert_ptr_null(strstr(error, "battery")); /* never the password itself */
    free(error);
    ofc_tls_files_free(&f);
}
END_TEST

START_TEST(test_encrypted_key_no_password_file)
{
    make_pair("d.crt", "d.key", "correct horse");
    struct ofc_tls_files f = files_of("d.crt", "d.key", NULL);
    expect_failure(&f, f.key, "encrypted and there is no password file");
    ofc_tls_files_free(&f);
}
END_TEST

START_TEST(test_empty_password_file)
{
    make_pair("d.crt", "d.key", "correct horse");
    write_text("d.pass", "\n");
    struct ofc_tls_files f = files_of("d.crt", "d.key", "d.pass");
    expect_failure(&f, f.pass, "empty");
    ofc_tls_files_free(&f);
}
END_TEST

START_TEST(test_mismatched_pair)
{
    make_pair("e.crt", "e.key", NULL);
    make_pair("f.crt", "f.key", NULL);
    struct ofc_tls_files f = files_of("e.crt", "f.key", NULL);
    expect_failure(&f, "does not belong to the certificate", f.cert);
    ofc_tls_files_free(&f);
}
END_TEST

START_TEST(test_missing_files)
{
    make_pair("g.crt", "g.key", NULL);
    struct ofc_tls_files f = files_of("nothere.crt", "g.key", NULL);
    expect_failure(&f, f.cert, "No such file");
    ofc_tls_files_free(&f);
    f = files_of("g.crt", "nothere.key", NULL);
    expect_failure(&f, f.key, "No such file");
    ofc_tls_files_free(&f);
    f = files_of("g.crt", "g.key", "nothere.pass");
    expect_failure(&f, f.pass, "No such file");
    ofc_tls_files_free(&f);
}
END_TEST

START_TEST(test_not_pem)
{
    make_pair("h.crt", "h.key", NULL);
    write_text("junk", "this is not PEM\n");
    struct ofc_tls_files f = files_of("junk", "h.key", NULL);
    expect_failure(&f, "cannot read the certificate", f.cert);
    ofc_tls_files_free(&f);
    f = files_of("h.crt", "junk", NULL);
    expect_failure(&f, "cannot read the private key", f.key);
    ofc_tls_files_free(&f);
}
END_TEST

START_TEST(test_errors_empty_queue)
{
    ERR_clear_error();
    char *s = ofc_tls_errors();
    ck_assert_str_eq(s, "unknown TLS error");
    free(s);
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_find_none);
    tcase_add_test(tc, test_find_precedence);
    tcase_add_test(tc, test_plain_key);
    tcase_add_test(tc, test_encrypted_key_right_password);
    tcase_add_test(tc, test_encrypted_key_wrong_password);
    tcase_add_test(tc, test_encrypted_key_no_password_file);
    tcase_add_test(tc, test_empty_password_file);
    tcase_add_test(tc, test_mismatched_pair);
    tcase_add_test(tc, test_missing_files);
    tcase_add_test(tc, test_not_pem);
    tcase_add_test(tc, test_errors_empty_queue);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tls_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
