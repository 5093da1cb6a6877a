/*
 * cert.c - ofcsetup cert: make, install and show protocol certificates.
 *
 * The Configuration Assistant of Oracle eMail Server had a "Certify SSL"
 * utility (subject fields, contact, password) and a "Store SSL
 * Certificate" one (protocols, key and certificate files, password).
 * These are their command-line versions:
 *
 *   generate  a key and a self-signed certificate, or a certificate
 *             request for a CA to sign;
 *   store     checks a key and certificate and installs them as
 *             <home>/etc/tls/<protocol>.crt/.key/.pass, where ofc_tls
 *             finds them;
 *   show      what is installed.
 *
 * store checks the pair with ofc_tls_server_ctx(), the very function the
 * listeners use, so that a pair it accepts is one they can load. Files are
 * written to a temporary name and renamed, so that a process starting at
 * that moment reads either the old file or the new one, never half of one.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
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
#include "ofc_config.h"
#include "ofc_fs.h"
#include "ofc_mem.h"
#include "ofc_tls.h"
#include "ofc_tty.h"

/* This program. */
#include "cert.h"
#include "ofcsetup.h"

/* Input files larger than this are not a key or a certificate chain. */
#define FILE_MAX (1024 * 1024)
/* The first line of a password file; ofc_tls reads the same. */
#define PASS_MAX 1024
/* Warn when a certificate being stored expires sooner than this. */
#define EXPIRY_WARN_DAYS 30

enum cert_opt {
    COPT_CONNECT = 256,
    COPT_HELP,
    COPT_CN,
    COPT_ORG,
    COPT_UNIT,
    COPT_CITY,
    COPT_STATE,
    COPT_COUNTRY,
    COPT_EMAIL,
    COPT_DAYS,
    COPT_KEY_TYPE,
    COPT_CSR,
    COPT_KEY_PASSWORD_FILE,
    COPT_OUT_KEY,
    COPT_OUT_CERT,
    COPT_OUT_CSR,
    COPT_PROTOCOL,
    COPT_KEY,
    COPT_CERT,
    COPT_LAST,
};
#define COPT_BIT(id) (1u << ((id)-COPT_CN))

#define GENERATE_OPTIONS                                                                           \
    (COPT_BIT(COPT_CN) | COPT_BIT(COPT_ORG) | COPT_BIT(COPT_UNIT) | COPT_BIT(COPT_CITY) |          \
     COPT_BIT(COPT_STATE) | COPT_BIT(COPT_COUNTRY) | COPT_BIT(COPT_EMAIL) | COPT_BIT(COPT_DAYS) |  \
     COPT_BIT(COPT_KEY_TYPE) | COPT_BIT(COPT_CSR) | COPT_BIT(COPT_KEY_PASSWORD_FILE) |             \
     COPT_BIT(COPT_OUT_KEY) | COPT_BIT(COPT_OUT_CERT) | COPT_BIT(COPT_OUT_CSR))
#define STORE_OPTIONS                                                                              \
    (COPT_BIT(COPT_PROTOCOL) | COPT_BIT(COPT_KEY) | COPT_BIT(COPT_CERT) |                          \
     COPT_BIT(COPT_KEY_PASSWORD_FILE))
#define SHOW_OPTIONS COPT_BIT(COPT_PROTOCOL)

static const struct option cert_options[] = {
    {"connect", required_argument, NULL, COPT_CONNECT},
    {"help", no_argument, NULL, COPT_HELP},
    {"cn", required_argument, NULL, COPT_CN},
    {"org", required_argument, NULL, COPT_ORG},
    {"unit", required_argument, NULL, COPT_UNIT},
    {"city", required_argument, NULL, COPT_CITY},
    {"state", required_argument, NULL, COPT_STATE},
    {"country", required_argument, NULL, COPT_COUNTRY},
    {"email", required_argument, NULL, COPT_EMAIL},
    {"days", required_argument, NULL, COPT_DAYS},
    {"key-type", required_argument, NULL, COPT_KEY_TYPE},
    {"csr", no_argument, NULL, COPT_CSR},
    {"key-password-file", required_argument, NULL, COPT_KEY_PASSWORD_FILE},
    {"out-key", required_argument, NULL, COPT_OUT_KEY},
    {"out-cert", required_argument, NULL, COPT_OUT_CERT},
    {"out-csr", required_argument, NULL, COPT_OUT_CSR},
    {"protocol", required_argument, NULL, COPT_PROTOCOL},
    {"key", required_argument, NULL, COPT_KEY},
    {"cert", required_argument, NULL, COPT_CERT},
    {NULL, 0, NULL, 0},
};

/* The protocols that have certificates, in the order they are shown. */
static const char *const protocols[] = {"pop3", "imap", "lmtp"};
#define NPROTOCOLS (sizeof(protocols) / sizeof(protocols[0]))

/* Subject fields: option value, question, X.509 attribute, upper bound (RFC 5280). */
enum field { F_CN, F_ORG, F_UNIT, F_CITY, F_STATE, F_COUNTRY, F_EMAIL, F_COUNT };
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
    bool proto[NPROTOCOLS];
    bool any_proto;
    const char *key, *cert;
};

static void cert_usage(FILE *fp)
{
    (void)fprintf(
        fp, "Usage: ofcsetup [-c CONFIG] cert generate|store|show [options]\n"
            "\n"
            "  cert generate   make a key and a self-signed certificate (or a request)\n"
            "      --cn=NAME                   the server's host name (default: this host's)\n"
            "      --org=O --unit=U --city=C --state=S --country=XX --email=E\n"
            "                                  the rest of the subject (asked on a terminal)\n"
            "      --days=N                    validity, default 825\n"
            "      --key-type=ec|rsa           EC P-256 (default) or RSA 3072\n"
            "      --key-password-file=F       encrypt the key (AES-256) with F's first line\n"
            "      --out-key=FILE              the new key (mode 0600), required\n"
            "      --out-cert=FILE             the self-signed certificate\n"
            "      --csr --out-csr=FILE        a certificate request instead\n"
            "  cert store      check and install a key and certificate for protocols\n"
            "      --protocol=imap,pop3,lmtp   which listeners use it, required\n"
            "      --key=FILE --cert=FILE      the private key and the certificate chain\n"
            "      --key-password-file=F       the key's password, on F's first line\n"
            "  cert show       the installed certificates\n"
            "      --protocol=LIST             only these (default all)\n"
            "\n"
            "  -c CONFIG       configuration file (finds <home>/etc/tls)\n");
}

static const char *cert_option_name(int id)
{
    for (const struct option *o = cert_options; o->name != NULL; o++)
        if (o->val == id)
            return o->name;
    return "?";
}

/* "imap,pop3" into a->proto; -1 with a message on an unknown name. */
static int parse_protocols(const char *list, struct cert_args *a)
{
    memset(a->proto, 0, sizeof(a->proto));
    a->any_proto = false;
    const char *p = list;
    while (true) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < NPROTOCOLS &&
               !(strlen(protocols[i]) == len && strncasecmp(p, protocols[i], len) == 0))
            i++;
        if (i == NPROTOCOLS) {
            setup_error("unknown protocol '%.*s' in --protocol (pop3, imap or lmtp)", (int)len, p);
            return -1;
        }
        a->proto[i] = true;
        a->any_proto = true;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

/* Returns 0 to go on, or -1 with *status_r the exit status. */
static int cert_parse(int argc, char **argv, struct cert_args *a, int *status_r)
{
    unsigned seen = 0;
    bool help = false;
    int c;

    memset(a, 0, sizeof(*a));
    a->days = 825;
    *status_r = SETUP_EXIT_USAGE;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:", cert_options, NULL)) != -1) {
        if (c >= COPT_CN && c < COPT_LAST)
            seen |= COPT_BIT(c);
        if (c >= COPT_CN && c < COPT_CN + F_COUNT) {
            a->field[c - COPT_CN] = optarg;
            continue;
        }
        switch (c) {
        case 'c':
            a->config_path = optarg;
            break;
        case COPT_CONNECT:
            setup_error("--connect does not apply to cert: certificates live in files");
            return -1;
        case COPT_HELP:
            help = true;
            break;
        case COPT_DAYS: {
            char *end = NULL;
            errno = 0;
            a->days = strtol(optarg, &end, 10);
            a->days_given = true;
            if (errno != 0 || end == optarg || *end != '\0' || a->days < 1 || a->days > 36500) {
                setup_error("--days must be a number of days from 1 to 36500");
                return -1;
            }
            break;
        }
        case COPT_KEY_TYPE:
            if (strcasecmp(optarg, "rsa") == 0) {
                a->rsa = true;
            } else if (strcasecmp(optarg, "ec") == 0) {
                a->rsa = false;
            } else {
                setup_error("--key-type must be ec or rsa");
                return -1;
            }
            break;
        case COPT_CSR:
            a->csr = true;
            break;
        case COPT_KEY_PASSWORD_FILE:
            a->key_password_file = optarg;
            break;
        case COPT_OUT_KEY:
            a->out_key = optarg;
            break;
        case COPT_OUT_CERT:
            a->out_cert = optarg;
            break;
        case COPT_OUT_CSR:
            a->out_csr = optarg;
            break;
        case COPT_PROTOCOL:
            if (parse_protocols(optarg, a) < 0)
                return -1;
            break;
        case COPT_KEY:
            a->key = optarg;
            break;
        case COPT_CERT:
            a->cert = optarg;
            break;
        case ':':
            setup_error("option %s needs a value (see ofcsetup cert --help)", argv[optind - 1]);
            return -1;
        default:
            if (optopt != 0 && optopt < 256)
                setup_error("unknown option -%c (see ofcsetup cert --help)", optopt);
            else
                setup_error("unknown option %s (see ofcsetup cert --help)", argv[optind - 1]);
            return -1;
        }
    }
    if (help) {
        cert_usage(stdout);
        *status_r = SETUP_EXIT_OK;
        return -1;
    }
    /* argv[optind] is "cert" (main.c found it); then the subcommand. */
    if (optind + 1 >= argc) {
        setup_error("cert needs generate, store or show (see ofcsetup cert --help)");
        return -1;
    }
    if (optind + 2 < argc) {
        setup_error("unexpected argument %s (see ofcsetup cert --help)", argv[optind + 2]);
        return -1;
    }
    a->sub = argv[optind + 1];
    unsigned allowed;
    if (strcmp(a->sub, "generate") == 0) {
        allowed = GENERATE_OPTIONS;
    } else if (strcmp(a->sub, "store") == 0) {
        allowed = STORE_OPTIONS;
    } else if (strcmp(a->sub, "show") == 0) {
        allowed = SHOW_OPTIONS;
    } else {
        setup_error("unknown cert command %s (generate, store or show)", a->sub);
        return -1;
    }
    unsigned extra = seen & ~allowed;
    for (int id = COPT_CN; extra != 0 && id < COPT_LAST; id++) {
        if (extra & COPT_BIT(id)) {
            setup_error("option --%s does not apply to cert %s", cert_option_name(id), a->sub);
            return -1;
        }
    }
    return 0;
}

/* OpenSSL's reasons for the last failure, printed after what failed. */
static void tls_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void tls_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = ofc_xvasprintf(fmt, ap);
    va_end(ap);
    char *why = ofc_tls_errors();
    setup_error("%s: %s", what, why);
    free(what);
    free(why);
}

/*
 * The first line of a password file (as ofc_tls reads it: without its
 * CR LF, at most PASS_MAX characters, not empty). Heap string to wipe
 * with setup_forget(); NULL after printing why.
 */
static char *read_password_file(const char *path)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        setup_error("cannot open the password file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = ofc_xmalloc(PASS_MAX + 2);
    size_t len = 0;
    int c;
    while (len <= PASS_MAX && (c = getc(fp)) != EOF && c != '\n')
        buf[len++] = (char)c;
    bool failed = ferror(fp) != 0;
    (void)fclose(fp);
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    if (failed || len == 0 || len > PASS_MAX) {
        if (failed)
            setup_error("cannot read the password file %s", path);
        else if (len == 0)
            setup_error("the first line of the password file %s is empty", path);
        else
            setup_error("the first line of %s is longer than %d characters", path, PASS_MAX);
        setup_forget(&buf);
        return NULL;
    }
    return buf;
}

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

/* Writes all of data to fd; -1 with errno. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

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
        tls_fail("cannot encode the %s", what);
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
    } else if (fchmod(fd, mode) != 0 || write_all(fd, data, (size_t)len) != 0 || fsync(fd) != 0) {
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
        tls_fail("cannot make the subject name");
        return NULL;
    }
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        enum field f = order[i];
        if (values[f] == NULL)
            continue;
        int type = f == F_COUNTRY || f == F_EMAIL ? MBSTRING_ASC : MBSTRING_UTF8;
        if (X509_NAME_add_entry_by_NID(name, field_defs[f].nid, type,
                                       (const unsigned char *)values[f], -1, -1, 0) != 1) {
            tls_fail("cannot use --%s", field_defs[f].option);
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
    tls_fail("cannot make the certificate's extensions");
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
        tls_fail("cannot make the certificate");
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
        tls_fail("cannot sign the certificate");
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
        tls_fail("cannot make the certificate request");
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
        tls_fail("cannot sign the certificate request");
        X509_REQ_free(req);
        return NULL;
    }
    return req;
}

/* "AB:CD:..." SHA-256 of the certificate (heap). */
static char *fingerprint(const X509 *x)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(x, EVP_sha256(), md, &n) != 1)
        return ofc_xstrdup("?");
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    for (unsigned int i = 0; i < n; i++)
        ofc_strbuf_printf(&sb, "%s%02X", i > 0 ? ":" : "", md[i]);
    return ofc_strbuf_detach(&sb);
}

/* What a BIO printer wrote, as a heap string. */
static char *bio_text(BIO *mem)
{
    char *data = NULL;
    long len = mem != NULL ? BIO_get_mem_data(mem, &data) : 0;
    char *s = len > 0 ? ofc_xstrndup(data, (size_t)len) : ofc_xstrdup("");
    BIO_free(mem);
    return s;
}

static char *name_text(const X509_NAME *name)
{
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem != NULL)
        (void)X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    return bio_text(mem);
}

static char *time_text(const ASN1_TIME *t)
{
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem != NULL)
        (void)ASN1_TIME_print_ex(mem, t, ASN1_DTFLGS_ISO8601);
    return bio_text(mem);
}

/* The subjectAltName entries, comma-separated ("" when none). */
static char *san_text(const X509 *x)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    BIO *mem = BIO_new(BIO_s_mem());
    for (int i = 0; mem != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        if (i > 0)
            (void)BIO_puts(mem, ", ");
        (void)GENERAL_NAME_print(mem, sk_GENERAL_NAME_value(names, i));
    }
    GENERAL_NAMES_free(names);
    return bio_text(mem);
}

static int cmd_generate(const struct cert_args *a)
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
    int status = SETUP_EXIT_FAILURE;

    if (a->key_password_file != NULL && (pass = read_password_file(a->key_password_file)) == NULL)
        goto out;
    if (collect_fields(a, values) < 0)
        goto out;
    ERR_clear_error();
    pkey = a->rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072)
                  : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (pkey == NULL) {
        tls_fail("cannot make an %s key", a->rsa ? "RSA" : "EC");
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
    char *subject = name_text(name);
    if (a->csr) {
        (void)printf("Wrote the certificate request %s for %s.\n"
                     "Have a certificate authority sign it, then install the certificate "
                     "with\n  ofcsetup cert store --protocol=... --key=%s --cert=FILE%s\n",
                     a->out_csr, subject, a->out_key,
                     pass != NULL ? " --key-password-file=..." : "");
    } else {
        char *until = time_text(X509_get0_notAfter(x));
        char *fp = fingerprint(x);
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
        write_all(fd, data, len) != 0 || fsync(fd) != 0) {
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
        tls_fail("cannot read the certificate %s", path);
        return -1;
    }
    int rc = 0;
    char *until = time_text(X509_get0_notAfter(x));
    time_t soon = time(NULL) + (time_t)EXPIRY_WARN_DAYS * 86400;
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
        setup_error("the certificate %s expired on %s", path, until);
        rc = -1;
    } else if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
        char *from = time_text(X509_get0_notBefore(x));
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

static int cmd_store(const struct cert_args *a, const struct ofc_config *cfg)
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
        } else if ((pass = read_password_file(a->key_password_file)) == NULL) {
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
    for (size_t i = 0; i < NPROTOCOLS; i++) {
        if (!a->proto[i])
            continue;
        const char *p = protocols[i];
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
    for (size_t i = 0; i < NPROTOCOLS; i++)
        if (a->proto[i])
            (void)printf("  refresh process %s;\n", process_type(protocols[i]));
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
        tls_fail("cannot read the certificate %s", files->cert);
        return -1;
    }
    char *subject = name_text(X509_get_subject_name(x));
    char *issuer = name_text(X509_get_issuer_name(x));
    char *from = time_text(X509_get0_notBefore(x));
    char *until = time_text(X509_get0_notAfter(x));
    char *san = san_text(x);
    char *fp = fingerprint(x);
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

static int cmd_show(const struct cert_args *a, const struct ofc_config *cfg)
{
    int status = SETUP_EXIT_OK;
    char *dir = ofc_tls_dir(cfg);
    for (size_t i = 0; i < NPROTOCOLS; i++) {
        if (a->any_proto && !a->proto[i])
            continue;
        struct ofc_tls_files files;
        if (ofc_tls_find_files(cfg, protocols[i], &files) == 0) {
            (void)printf("%s: no certificate (neither %s/%s.crt nor tls.certificate)\n",
                         protocols[i], dir, protocols[i]);
            continue;
        }
        char *own_path = ofc_xasprintf("%s/%s.crt", dir, protocols[i]);
        if (show_one(protocols[i], &files, strcmp(files.cert, own_path) == 0) < 0)
            status = SETUP_EXIT_FAILURE;
        free(own_path);
        ofc_tls_files_free(&files);
    }
    free(dir);
    return status;
}

int cert_main(int argc, char **argv)
{
    struct cert_args a;
    int status;
    if (cert_parse(argc, argv, &a, &status) < 0)
        return status;
    if (strcmp(a.sub, "generate") == 0)
        return cmd_generate(&a);
    struct ofc_config *cfg = NULL;
    char *error = NULL;
    if (ofc_config_load(a.config_path, &cfg, &error) < 0) {
        setup_error("%s", error);
        free(error);
        return SETUP_EXIT_FAILURE;
    }
    status = strcmp(a.sub, "store") == 0 ? cmd_store(&a, cfg) : cmd_show(&a, cfg);
    ofc_config_free(&cfg);
    return status;
}
