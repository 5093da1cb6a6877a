/*
 * cert.c - ofcsetup cert: make, install and show protocol certificates.
 *
 * The Configuration Assistant of Oracle eMail Server had a "Certify SSL"
 * utility (subject fields, contact, password) and a "Store SSL
 * Certificate" one (protocols, key and certificate files, password).
 * These are their command-line versions:
 *
 *   generate  a key and a self-signed certificate, or a certificate
 *             request for a CA to sign (cert_generate.c);
 *   store     checks a key and certificate and installs them as
 *             <home>/etc/tls/<protocol>.crt/.key/.pass, where ofc_tls
 *             finds them (cert_store.c);
 *   show      what is installed (cert_store.c).
 *
 * This file reads the command line, checks that each option belongs to
 * the sub-command given, and runs it; it also holds the few helpers that
 * every sub-command prints with (cert_internal.h).
 */
/* System. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Libraries. */
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_mem.h"
#include "ofc_tls.h"

/* This program. */
#include "cert.h"
#include "cert_internal.h"
#include "ofcsetup.h"

/* Long options only; the values are above any short option's character. */
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
/* COPT_CN + f is the option of field f (cert_parse stores it so). */
_Static_assert(COPT_EMAIL - COPT_CN == F_EMAIL && F_EMAIL + 1 == F_COUNT,
               "the subject options follow enum field");

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

const char *const cert_protocols[CERT_NPROTOCOLS] = {"pop3", "imap", "lmtp"};

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
        while (i < CERT_NPROTOCOLS &&
               !(strlen(cert_protocols[i]) == len && strncasecmp(p, cert_protocols[i], len) == 0))
            i++;
        if (i == CERT_NPROTOCOLS) {
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

int cert_main(int argc, char **argv)
{
    struct cert_args a;
    int status;
    if (cert_parse(argc, argv, &a, &status) < 0)
        return status;
    if (strcmp(a.sub, "generate") == 0)
        return cert_generate(&a);
    struct ofc_config *cfg = NULL;
    char *error = NULL;
    if (ofc_config_load(a.config_path, &cfg, &error) < 0) {
        setup_error("%s", error);
        free(error);
        return SETUP_EXIT_FAILURE;
    }
    status = strcmp(a.sub, "store") == 0 ? cert_store(&a, cfg) : cert_show(&a, cfg);
    ofc_config_free(&cfg);
    return status;
}

/* ---- shared by the sub-commands (cert_internal.h) ------------------- */

void cert_tls_fail(const char *fmt, ...)
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

int cert_write_all(int fd, const void *data, size_t len)
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

char *cert_fingerprint(const X509 *x)
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

char *cert_name_text(const X509_NAME *name)
{
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem != NULL)
        (void)X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    return bio_text(mem);
}

char *cert_time_text(const ASN1_TIME *t)
{
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem != NULL)
        (void)ASN1_TIME_print_ex(mem, t, ASN1_DTFLGS_ISO8601);
    return bio_text(mem);
}

char *cert_san_text(const X509 *x)
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
