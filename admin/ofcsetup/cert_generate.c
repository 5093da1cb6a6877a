/*
 * cert_generate.c - ofcsetup cert generate: a new key and a self-signed
 * certificate, or a certificate request for a CA to sign (the Certify SSL
 * utility of the Configuration Assistant).
 *
 * The subject comes from the options, else from questions on a terminal;
 * what a client checks (the common name, also put in subjectAltName) is
 * checked before anything is made. New files are never written over an
 * existing one: a key made earlier may be the only copy of one that a CA
 * has signed.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Libraries. */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* libofc. */
#include "ofc_mem.h"
#include "ofc_tls.h"
#include "ofc_tty.h"

/* This program. */
#include "cert_internal.h"
#include "ofcsetup.h"

/* Subject fields: option value, question, X.509 attribute, upper bound (RFC 5280). */
static const struct field_def {
    const char *option;
    const char *question;
    int nid;
    size_t max;
} field_defs[F_COUNT] = {
    [F_CN] = {"cn", "Common Name (the server's host name)", NID_commonName, 64},
    [F_ORG] = {"org", "Organization (your company)", NID_organizationName, 64},
    [F_UNIT] = {"unit", "Organizational Unit (department or division)", NID_organizationalUnitName,
                64},
    [F_CITY] = {"city", "City or Locality", NID_localityName, 128},
    [F_STATE] = {"state", "State or Province", NID_stateOrProvinceName, 128},
    [F_COUNTRY] = {"country", "Country (two letters, e.g. US)", NID_countryName, 2},
    [F_EMAIL] = {"email", "Contact e-mail address", NID_pkcs9_emailAddress, 128},
};

/*
 * A new file at `path` with `mode` holding the PEM that write_pem() puts
 * in a BIO. Refuses to replace an existing file (a key made earlier may
 * be the only copy of one a CA signed). Returns 0, or -1 after printing.
 */
static int write_new_file(const char *what, const char *path, mode_t mode,
                          int (*write_pem)(BIO *bio, const void *obj, const char *pass),
                          const void *obj, const char *pass)
{
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem == NULL || write_pem(mem, obj, pass) != 1) {
        cert_tls_fail("cannot encode the %s", what);
        BIO_free(mem);
        return -1;
    }
    char *data = NULL;
    long len = BIO_get_mem_data(mem, &data);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    int rc = -1;
    if (fd < 0) {
        if (errno == EEXIST)
            setup_error("%s exists; not replacing it with a new %s", path, what);
        else
            setup_error("cannot create %s: %s", path, strerror(errno));
    } else if (fchmod(fd, mode) != 0 || cert_write_all(fd, data, (size_t)len) != 0 ||
               fsync(fd) != 0) {
        setup_error("cannot write %s: %s", path, strerror(errno));
        (void)close(fd);
        (void)unlink(path);
    } else if (close(fd) != 0) {
        setup_error("cannot write %s: %s", path, strerror(errno));
        (void)unlink(path);
    } else {
        rc = 0;
    }
    OPENSSL_cleanse(data, (size_t)len);
    BIO_free(mem);
    return rc;
}

static int pem_key(BIO *bio, const void *obj, const char *pass)
{
    /* PKCS#8; with a password, encrypted with AES-256 (PBES2, PBKDF2). */
    return PEM_write_bio_PrivateKey(bio, (EVP_PKEY *)obj, pass != NULL ? EVP_aes_256_cbc() : NULL,
                                    NULL, 0, NULL, (void *)pass);
}

static int pem_cert(BIO *bio, const void *obj, const char *pass)
{
    return PEM_write_bio_X509(bio, (X509 *)obj);
}

static int pem_csr(BIO *bio, const void *obj, const char *pass)
{
    return PEM_write_bio_X509_REQ(bio, (X509_REQ *)obj);
}

/* This host's fully qualified name (heap), or its plain name when the resolver has none. */
static char *host_fqdn(void)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        return ofc_xstrdup("localhost");
    host[sizeof(host) - 1] = '\0';
    struct addrinfo hints = {.ai_flags = AI_CANONNAME, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char *name = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res != NULL && res->ai_canonname != NULL)
        name = ofc_xstrdup(res->ai_canonname);
    if (res != NULL)
        freeaddrinfo(res);
    return name != NULL ? name : ofc_xstrdup(host);
}

/* A host name (labels of letters, digits and hyphens; "*." first for a wildcard). */
static bool is_host_name(const char *s)
{
    if (strncmp(s, "*.", 2) == 0)
        s += 2;
    size_t label = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '-') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return *s != '\0' && label > 0;
}

/* Checks (and normalises: upper-case country) one subject field; -1 after printing. */
static int check_field(enum field f, char *value)
{
    const struct field_def *d = &field_defs[f];
    size_t len = strlen(value);
    for (const char *p = value; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            setup_error("--%s holds a control character", d->option);
            return -1;
        }
    }
    if (len > d->max && f != F_COUNTRY) {
        setup_error("--%s is longer than %zu characters", d->option, d->max);
        return -1;
    }
    if (f == F_COUNTRY) {
        bool ok = len == 2;
        for (size_t i = 0; ok && i < len; i++) {
            char c = value[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            value[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        }
        if (!ok) {
            setup_error("--country must be two letters (ISO 3166), e.g. US or DE");
            return -1;
        }
    } else if (f == F_EMAIL) {
        const char *at = strchr(value, '@');
        bool ascii = true;
        for (const char *p = value; *p != '\0'; p++)
            ascii = ascii && (unsigned char)*p < 0x80 && *p != ' ';
        if (at == NULL || at == value || at[1] == '\0' || strchr(at + 1, '@') != NULL || !ascii) {
            setup_error("--email must be an address like postmaster@example.com");
            return -1;
        }
    } else if (f == F_CN) {
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(value);
        bool host = ip != NULL || is_host_name(value);
        ASN1_OCTET_STRING_free(ip);
        if (!host) {
            setup_error("the common name '%s' is not a host name or address: clients compare it "
                        "with the name they connect to",
                        value);
            return -1;
        }
    }
    return 0;
}

/*
 * The subject fields: the options, else asked on a terminal, else the
 * host's name for CN and nothing for the rest. Heap strings in values[]
 * (NULL: omitted). Returns 0, or -1 after printing.
 */
static int collect_fields(const struct cert_args *a, char *values[F_COUNT])
{
    bool ask = ofc_tty_available();
    for (int f = 0; f < F_COUNT; f++) {
        values[f] = NULL;
        char *value = NULL;
        if (a->field[f] != NULL) {
            value = ofc_xstrdup(a->field[f]);
        } else {
            char *dflt = f == F_CN ? host_fqdn() : NULL;
            if (ask) {
                char *q =
                    ofc_xasprintf("%s%s%s%s: ", field_defs[f].question, dflt != NULL ? " [" : "",
                                  dflt != NULL ? dflt : "", dflt != NULL ? "]" : "");
                char *error = NULL;
                value = ofc_tty_ask(q, true, &error);
                free(q);
                if (value == NULL) {
                    setup_error("%s", error);
                    free(error);
                    free(dflt);
                    return -1;
                }
                if (value[0] == '\0' && dflt != NULL) {
                    free(value);
                    value = dflt;
                    dflt = NULL;
                }
            } else {
                value = dflt;
                dflt = NULL;
            }
            free(dflt);
        }
        if (value != NULL && value[0] == '\0')
            OFC_FREE(value);
        if (value != NULL && check_field((enum field)f, value) < 0) {
            free(value);
            return -1;
        }
        values[f] = value;
    }
    if (values[F_CN] == NULL) {
        setup_error("a certificate needs a common name (--cn): the server's host name");
        return -1;
    }
    return 0;
}

/* The subject name, country first as is customary. NULL after printing. */
static X509_NAME *make_name(char *const values[F_COUNT])
{
    static const enum field order[] = {F_COUNTRY, F_STATE, F_CITY, F_ORG, F_UNIT, F_CN, F_EMAIL};
    X509_NAME *name = X509_NAME_new();
    if (name == NULL) {
        cert_tls_fail("cannot make the subject name");
        return NULL;
    }
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        enum field f = order[i];
        if (values[f] == NULL)
            continue;
        int type = f == F_COUNTRY || f == F_EMAIL ? MBSTRING_ASC : MBSTRING_UTF8;
        if (X509_NAME_add_entry_by_NID(name, field_defs[f].nid, type,
                                       (const unsigned char *)values[f], -1, -1, 0) != 1) {
            cert_tls_fail("cannot use --%s", field_defs[f].option);
            X509_NAME_free(name);
            return NULL;
        }
    }
    return name;
}

/* subjectAltName with the common name: an address or a DNS name. */
static X509_EXTENSION *make_san(const char *cn)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *gen = GENERAL_NAME_new();
    X509_EXTENSION *ext = NULL;
    if (names != NULL && gen != NULL) {
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(cn);
        if (ip != NULL) {
            GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
        } else {
            ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
            if (dns != NULL && ASN1_STRING_set(dns, cn, -1) == 1) {
                GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
            } else {
                ASN1_IA5STRING_free(dns);
                GENERAL_NAME_free(gen);
                gen = NULL;
            }
        }
        if (gen != NULL && sk_GENERAL_NAME_push(names, gen) > 0) {
            gen = NULL;
            ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
        }
    }
    GENERAL_NAME_free(gen);
    GENERAL_NAMES_free(names);
    return ext;
}

/*
 * The extensions of a server certificate. ctx names the certificate (or
 * request) for subjectKeyIdentifier; with_ski false for requests, whose
 * CA computes its own. NULL after printing.
 */
static STACK_OF(X509_EXTENSION) * make_extensions(X509V3_CTX *ctx, const char *cn, bool with_ski)
{
    static const struct {
        int nid;
        const char *value;
    } fixed[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_subject_key_identifier, "hash"},
    };
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san = make_san(cn);
    if (exts == NULL || san == NULL || sk_X509_EXTENSION_push(exts, san) <= 0) {
        X509_EXTENSION_free(san);
        goto fail;
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (fixed[i].nid == NID_subject_key_identifier && !with_ski)
            continue;
        X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, fixed[i].nid, fixed[i].value);
        if (ext == NULL || sk_X509_EXTENSION_push(exts, ext) <= 0) {
            X509_EXTENSION_free(ext);
            goto fail;
        }
    }
    return exts;
fail:
    cert_tls_fail("cannot make the certificate's extensions");
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return NULL;
}

/* A random positive 128-bit serial number (RFC 5280 allows up to 20 octets). */
static int set_random_serial(X509 *x)
{
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
        return -1;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x40; /* always 16 octets, never zero */
    BIGNUM *bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
    int rc = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL ? 0 : -1;
    BN_free(bn);
    return rc;
}

static X509 *make_self_signed(EVP_PKEY *pkey, X509_NAME *name, const char *cn, long days)
{
    X509 *x = X509_new();
    if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) < 0 ||
        X509_set_subject_name(x, name) != 1 || X509_set_issuer_name(x, name) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL ||
        X509_set_pubkey(x, pkey) != 1) {
        cert_tls_fail("cannot make the certificate");
        X509_free(x);
        return NULL;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    STACK_OF(X509_EXTENSION) *exts = make_extensions(&ctx, cn, true);
    if (exts == NULL) {
        X509_free(x);
        return NULL;
    }
    int ok = 1;
    for (int i = 0; ok && i < sk_X509_EXTENSION_num(exts); i++)
        ok = X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (ok != 1 || X509_sign(x, pkey, EVP_sha256()) <= 0) {
        cert_tls_fail("cannot sign the certificate");
        X509_free(x);
        return NULL;
    }
    return x;
}

static X509_REQ *make_request(EVP_PKEY *pkey, X509_NAME *name, const char *cn)
{
    X509_REQ *req = X509_REQ_new();
    if (req == NULL || X509_REQ_set_version(req, 0) != 1 ||
        X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pkey) != 1) {
        cert_tls_fail("cannot make the certificate request");
        X509_REQ_free(req);
        return NULL;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
    STACK_OF(X509_EXTENSION) *exts = make_extensions(&ctx, cn, false);
    if (exts == NULL) {
        X509_REQ_free(req);
        return NULL;
    }
    int ok = X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (ok != 1 || X509_REQ_sign(req, pkey, EVP_sha256()) <= 0) {
        cert_tls_fail("cannot sign the certificate request");
        X509_REQ_free(req);
        return NULL;
    }
    return req;
}

int cert_generate(const struct cert_args *a)
{
    if (a->csr && a->days_given) {
        setup_error("--days does not apply to a request: the certificate authority sets the "
                    "validity");
        return SETUP_EXIT_USAGE;
    }
    if (a->out_key == NULL) {
        setup_error("cert generate needs --out-key=FILE");
        return SETUP_EXIT_USAGE;
    }
    if (a->csr ? a->out_csr == NULL || a->out_cert != NULL
               : a->out_cert == NULL || a->out_csr != NULL) {
        setup_error(a->csr ? "cert generate --csr needs --out-csr=FILE (and no --out-cert)"
                           : "cert generate needs --out-cert=FILE (--out-csr goes with --csr)");
        return SETUP_EXIT_USAGE;
    }
    if (strcmp(a->out_key, a->csr ? a->out_csr : a->out_cert) == 0) {
        setup_error("the key and the %s must go to different files",
                    a->csr ? "request" : "certificate");
        return SETUP_EXIT_USAGE;
    }
    char *values[F_COUNT] = {NULL};
    char *pass = NULL;
    EVP_PKEY *pkey = NULL;
    X509_NAME *name = NULL;
    X509 *x = NULL;
    X509_REQ *req = NULL;
    char *error = NULL;
    int status = SETUP_EXIT_FAILURE;

    if (a->key_password_file != NULL &&
        ofc_tls_read_pass(a->key_password_file, &pass, &error) < 0) {
        setup_error("%s", error);
        free(error);
        goto out;
    }
    if (collect_fields(a, values) < 0)
        goto out;
    ERR_clear_error();
    pkey = a->rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072)
                  : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (pkey == NULL) {
        cert_tls_fail("cannot make an %s key", a->rsa ? "RSA" : "EC");
        goto out;
    }
    if ((name = make_name(values)) == NULL)
        goto out;
    if (a->csr ? (req = make_request(pkey, name, values[F_CN])) == NULL
               : (x = make_self_signed(pkey, name, values[F_CN], a->days)) == NULL)
        goto out;
    if (write_new_file("private key", a->out_key, 0600, pem_key, pkey, pass) < 0)
        goto out;
    if ((a->csr ? write_new_file("certificate request", a->out_csr, 0644, pem_csr, req, NULL)
                : write_new_file("certificate", a->out_cert, 0644, pem_cert, x, NULL)) < 0) {
        (void)unlink(a->out_key);
        goto out;
    }
    (void)printf("Wrote the private key %s (%s, %s).\n", a->out_key,
                 a->rsa ? "RSA 3072" : "EC P-256",
                 pass != NULL ? "encrypted with AES-256" : "not encrypted");
    char *subject = cert_name_text(name);
    if (a->csr) {
        (void)printf("Wrote the certificate request %s for %s.\n"
                     "Have a certificate authority sign it, then install the certificate "
                     "with\n  ofcsetup cert store --protocol=... --key=%s --cert=FILE%s\n",
                     a->out_csr, subject, a->out_key,
                     pass != NULL ? " --key-password-file=..." : "");
    } else {
        char *until = cert_time_text(X509_get0_notAfter(x));
        char *fp = cert_fingerprint(x);
        (void)printf("Wrote the self-signed certificate %s for %s,\n"
                     "valid until %s, SHA-256 fingerprint %s.\n"
                     "Install it with\n  ofcsetup cert store --protocol=... --key=%s --cert=%s%s\n",
                     a->out_cert, subject, until, fp, a->out_key, a->out_cert,
                     pass != NULL ? " --key-password-file=..." : "");
        free(until);
        free(fp);
    }
    free(subject);
    status = SETUP_EXIT_OK;
out:
    for (int f = 0; f < F_COUNT; f++)
        free(values[f]);
    setup_forget(&pass);
    X509_REQ_free(req);
    X509_free(x);
    X509_NAME_free(name);
    EVP_PKEY_free(pkey);
    return status;
}
