/*
 * cert_store.c - ofcsetup cert store and cert show: the certificates
 * installed for the listeners (the Store SSL Certificate utility of the
 * Configuration Assistant).
 *
 * store checks the pair with ofc_tls_server_ctx(), the very function the
 * listeners use, so that a pair it accepts is one they can load. Files are
 * written to a temporary name and renamed, so that a process starting at
 * that moment reads either the old file or the new one, never half of one.
 * show finds the files as the listeners do (ofc_tls_find_files).
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Libraries. */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_fs.h"
#include "ofc_mem.h"
#include "ofc_tls.h"

/* This program. */
#include "cert_internal.h"
#include "ofcsetup.h"

/* Input files larger than this are not a key or a certificate chain. */
#define FILE_MAX (1024 * 1024)
/* Warn when a certificate being stored expires sooner than this. */
#define EXPIRY_WARN_DAYS 30

/* A whole small file into *data_r (heap) and *len_r; -1 after printing why. */
static int read_small_file(const char *what, const char *path, char **data_r, size_t *len_r)
{
    *data_r = NULL;
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        setup_error("cannot open the %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0 && sb.len <= FILE_MAX)
        ofc_strbuf_append(&sb, chunk, got);
    bool failed = ferror(fp) != 0;
    (void)fclose(fp);
    if (failed || sb.len > FILE_MAX) {
        if (failed)
            setup_error("cannot read the %s %s", what, path);
        else
            setup_error("the %s %s is larger than %d octets", what, path, FILE_MAX);
        OPENSSL_cleanse(sb.data, sb.len);
        ofc_strbuf_free(&sb);
        return -1;
    }
    *len_r = sb.len;
    *data_r = ofc_strbuf_detach(&sb);
    return 0;
}

static int note_asked(char *buf, int size, int rwflag, void *userdata)
{
    *(bool *)userdata = true;
    return -1;
}

/* Whether the key file needs a password (reading it asks for one). */
static bool key_is_encrypted(const char *path)
{
    bool asked = false;
    BIO *bio = BIO_new_file(path, "r");
    if (bio != NULL)
        EVP_PKEY_free(PEM_read_bio_PrivateKey(bio, NULL, note_asked, &asked));
    BIO_free(bio);
    ERR_clear_error();
    return asked;
}

/* Who owns the installed files: the run user when we are root. */
struct owner {
    bool set;
    uid_t uid;
    gid_t gid;
};

/*
 * Writes `data` to <dir>/<name> through a temporary file in dir and
 * rename(2): mode and owner are set before a byte is written, and the
 * name never shows a partial file. Returns 0, or -1 after printing.
 */
static int install_file(const char *dir, const char *name, const void *data, size_t len,
                        mode_t mode, const struct owner *own)
{
    char *tmp = ofc_xasprintf("%s/.%s.XXXXXX", dir, name);
    char *final = ofc_xasprintf("%s/%s", dir, name);
    int rc = -1;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        setup_error("cannot create a file in %s: %s", dir, strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) != 0 || (own->set && fchown(fd, own->uid, own->gid) != 0) ||
        cert_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        setup_error("cannot write %s: %s", tmp, strerror(errno));
        (void)close(fd);
        (void)unlink(tmp);
        goto out;
    }
    if (close(fd) != 0 || rename(tmp, final) != 0) {
        setup_error("cannot install %s: %s", final, strerror(errno));
        (void)unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    free(final);
    return rc;
}

/*
 * The certificate must be valid now; a warning when it expires within
 * EXPIRY_WARN_DAYS. Returns 0, or -1 after printing.
 */
static int check_validity(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (x == NULL) {
        cert_tls_fail("cannot read the certificate %s", path);
        return -1;
    }
    int rc = 0;
    char *until = cert_time_text(X509_get0_notAfter(x));
    time_t soon = time(NULL) + (time_t)EXPIRY_WARN_DAYS * 86400;
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
        setup_error("the certificate %s expired on %s", path, until);
        rc = -1;
    } else if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
        char *from = cert_time_text(X509_get0_notBefore(x));
        setup_error("the certificate %s is not valid before %s", path, from);
        free(from);
        rc = -1;
    } else if (X509_cmp_time(X509_get0_notAfter(x), &soon) <= 0) {
        setup_warn("the certificate %s expires soon, on %s", path, until);
    }
    free(until);
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/* The run user's ids when running as root (files must be readable by the processes). */
static int find_owner(const struct ofc_config *cfg, struct owner *own)
{
    memset(own, 0, sizeof(*own));
    if (geteuid() != 0)
        return 0;
    const char *user = cfg->user != NULL && cfg->user[0] != '\0' ? cfg->user : "ofcmail";
    errno = 0;
    const struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        setup_error("the run user %s does not exist (ofcsetup create-node makes it)", user);
        return -1;
    }
    own->set = true;
    own->uid = pw->pw_uid;
    own->gid = pw->pw_gid;
    return 0;
}

static const char *process_type(const char *protocol)
{
    if (strcmp(protocol, "pop3") == 0)
        return "POP3SRV";
    if (strcmp(protocol, "imap") == 0)
        return "IMAP4SRV";
    return "LMTP";
}

int cert_store(const struct cert_args *a, const struct ofc_config *cfg)
{
    if (!a->any_proto || a->key == NULL || a->cert == NULL) {
        setup_error("cert store needs --protocol=LIST, --key=FILE and --cert=FILE");
        return SETUP_EXIT_USAGE;
    }
    /* What the listeners would load, checked by the code they load it with. */
    struct ofc_tls_files check = {
        .cert = (char *)a->cert, .key = (char *)a->key, .pass = (char *)a->key_password_file};
    char *error = NULL;
    SSL_CTX *ctx = ofc_tls_server_ctx(&check, &error);
    if (ctx == NULL) {
        setup_error("%s", error);
        free(error);
        return SETUP_EXIT_FAILURE;
    }
    SSL_CTX_free(ctx);
    if (check_validity(a->cert) < 0)
        return SETUP_EXIT_FAILURE;

    char *cert = NULL, *key = NULL, *pass = NULL, *dir = NULL;
    size_t cert_len = 0, key_len = 0;
    int status = SETUP_EXIT_FAILURE;
    struct owner own;
    if (read_small_file("certificate", a->cert, &cert, &cert_len) < 0 ||
        read_small_file("private key", a->key, &key, &key_len) < 0)
        goto out;
    if (a->key_password_file != NULL) {
        if (!key_is_encrypted(a->key)) {
            setup_warn("the key %s is not encrypted; ignoring --key-password-file", a->key);
        } else if (ofc_tls_read_pass(a->key_password_file, &pass, &error) < 0) {
            setup_error("%s", error);
            free(error);
            goto out;
        }
    }
    if (find_owner(cfg, &own) < 0)
        goto out;
    dir = ofc_tls_dir(cfg);
    if (ofc_mkdir_p(dir, 0750, 0755, &error) < 0) {
        setup_error("%s", error);
        free(error);
        goto out;
    }
    if (chmod(dir, 0750) != 0 || (own.set && chown(dir, own.uid, own.gid) != 0)) {
        setup_error("cannot set the owner and mode of %s: %s", dir, strerror(errno));
        goto out;
    }
    struct ofc_strbuf done = OFC_STRBUF_INIT;
    for (size_t i = 0; i < CERT_NPROTOCOLS; i++) {
        if (!a->proto[i])
            continue;
        const char *p = cert_protocols[i];
        char *kname = ofc_xasprintf("%s.key", p), *pname = ofc_xasprintf("%s.pass", p);
        char *cname = ofc_xasprintf("%s.crt", p);
        /* The certificate last: ofc_tls looks for it first, and finds a complete set then. */
        int rc = install_file(dir, kname, key, key_len, 0600, &own);
        if (rc == 0 && pass != NULL) {
            char *line = ofc_xasprintf("%s\n", pass);
            rc = install_file(dir, pname, line, strlen(line), 0600, &own);
            setup_forget(&line);
        } else if (rc == 0) {
            char *old = ofc_xasprintf("%s/%s", dir, pname);
            if (unlink(old) != 0 && errno != ENOENT) {
                setup_error("cannot remove the old password file %s: %s", old, strerror(errno));
                rc = -1;
            }
            free(old);
        }
        if (rc == 0)
            rc = install_file(dir, cname, cert, cert_len, 0644, &own);
        free(kname);
        free(pname);
        free(cname);
        if (rc < 0) {
            ofc_strbuf_free(&done);
            goto out;
        }
        ofc_strbuf_printf(&done, "%s%s", done.len > 0 ? ", " : "", p);
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* the renames */
        (void)close(dfd);
    }
    (void)printf("Stored the certificate %s and its key for %s in %s.\n", a->cert, done.data, dir);
    (void)printf("The processes load it when they start or are refreshed; in oomgr:\n");
    for (size_t i = 0; i < CERT_NPROTOCOLS; i++)
        if (a->proto[i])
            (void)printf("  refresh process %s;\n", process_type(cert_protocols[i]));
    ofc_strbuf_free(&done);
    status = SETUP_EXIT_OK;
out:
    if (key != NULL)
        OPENSSL_cleanse(key, key_len);
    free(key);
    free(cert);
    setup_forget(&pass);
    free(dir);
    return status;
}

/* Prints one installed certificate; -1 when it cannot be read. */
static int show_one(const char *protocol, const struct ofc_tls_files *files, bool own)
{
    BIO *bio = BIO_new_file(files->cert, "r");
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (x == NULL) {
        cert_tls_fail("cannot read the certificate %s", files->cert);
        return -1;
    }
    char *subject = cert_name_text(X509_get_subject_name(x));
    char *issuer = cert_name_text(X509_get_issuer_name(x));
    char *from = cert_time_text(X509_get0_notBefore(x));
    char *until = cert_time_text(X509_get0_notAfter(x));
    char *san = cert_san_text(x);
    char *fp = cert_fingerprint(x);
    int days = 0, secs = 0;
    const char *state = "";
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
        state = " (EXPIRED)";
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
        state = " (NOT YET VALID)";
    (void)ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
    (void)printf("%s: %s%s\n", protocol, files->cert, own ? "" : " (node-wide tls.certificate)");
    (void)printf("  Subject:     %s\n", subject);
    (void)printf("  Issuer:      %s%s\n", issuer,
                 X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0
                     ? " (self-signed)"
                     : "");
    (void)printf("  Not before:  %s\n", from);
    (void)printf("  Not after:   %s%s", until, state);
    if (state[0] == '\0')
        (void)printf(" (%d days left)", days);
    (void)printf("\n  SAN:         %s\n", san[0] != '\0' ? san : "(none)");
    (void)printf("  SHA-256:     %s\n", fp);
    (void)printf("  Key:         %s%s\n", files->key,
                 files->pass != NULL ? " (encrypted; password file present)" : "");
    free(subject);
    free(issuer);
    free(from);
    free(until);
    free(san);
    free(fp);
    X509_free(x);
    ERR_clear_error();
    return 0;
}

int cert_show(const struct cert_args *a, const struct ofc_config *cfg)
{
    int status = SETUP_EXIT_OK;
    char *dir = ofc_tls_dir(cfg);
    for (size_t i = 0; i < CERT_NPROTOCOLS; i++) {
        if (a->any_proto && !a->proto[i])
            continue;
        struct ofc_tls_files files;
        if (ofc_tls_find_files(cfg, cert_protocols[i], &files) == 0) {
            (void)printf("%s: no certificate (neither %s/%s.crt nor tls.certificate)\n",
                         cert_protocols[i], dir, cert_protocols[i]);
            continue;
        }
        char *own_path = ofc_xasprintf("%s/%s.crt", dir, cert_protocols[i]);
        if (show_one(cert_protocols[i], &files, strcmp(files.cert, own_path) == 0) < 0)
            status = SETUP_EXIT_FAILURE;
        free(own_path);
        ofc_tls_files_free(&files);
    }
    free(dir);
    return status;
}
