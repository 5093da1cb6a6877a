/*
 * sps_auth.c - password logins for the protocol servers, with the
 * authentication cache (sps.h).
 *
 * The login name is an account's address: name@domain, or a bare name in
 * the node's default domain, which is the one the rest of ofcmail uses for
 * bare names (ofclmtpd, ofcuto): the domain of the node's SMTP_IN process,
 * else the node's first top-level domain. A node without either has no
 * default domain and only full addresses log in.
 *
 * Every failure costs one yescrypt verification, also for an unknown user
 * (against a dummy hash made at first use with libcrypt's current cost),
 * so that response times do not tell which names exist.
 *
 * The cache is process-wide (a login needs no struct sps): a fixed table
 * of slots indexed by HMAC-SHA256(per-process random key, user NUL
 * password). A hit still runs the account query and must find the same
 * account with the same password hash; only the yescrypt computation is
 * saved. Neither the password nor an unkeyed digest of it is stored.
 */
/* System. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_password.h"

/* Protocol. */
#include "sps_internal.h"

#define CACHE_SLOTS  4096
#define MAX_USER     320
#define MAX_PASSWORD 1024

struct cache_entry {
    bool used;
    unsigned char key[32];
    long long account_id;
    char *address;
    char *hash;
    int64_t expires_ms;
};

static pthread_once_t auth_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry *cache;
static unsigned char hmac_key[32];
static bool hmac_key_ok;
static char *dummy_hash;
static atomic_llong cache_ttl_s = 300;

/*
 * The account behind a login name. $1: the local part, $2: the domain or
 * NULL for a bare name. Accounts that are disabled cannot log in.
 */
static const char AUTH_SQL[] =
    "WITH dom AS (SELECT coalesce("
    "   (SELECT p.domain_id FROM process p JOIN node n ON n.id = p.node_id"
    "     WHERE n.is_local AND p.type = 'SMTP_IN' AND p.domain_id IS NOT NULL"
    "     ORDER BY p.instance LIMIT 1),"
    "   (SELECT d.id FROM domain d JOIN node n ON n.id = d.confignode_id"
    "     WHERE n.is_local AND d.parent_id IS NULL ORDER BY d.id LIMIT 1)) AS id),"
    " d AS (SELECT CASE WHEN $2::text IS NULL THEN (SELECT id FROM dom)"
    "              ELSE (SELECT id FROM domain WHERE fqdn = lower($2)) END AS id)"
    " SELECT o.id, o.name || '@' || dd.fqdn, a.password_hash"
    "   FROM d JOIN dir_object o ON o.domain_id = d.id AND o.name_key = lower($1)"
    "        AND o.class IN ('PERSON', 'ROOM', 'EQUIPMENT')"
    "   JOIN domain dd ON dd.id = o.domain_id"
    "   JOIN account a ON a.object_id = o.id AND NOT a.disabled";

static void auth_init(void)
{
    cache = ofc_xcalloc(CACHE_SLOTS, sizeof(*cache));
    hmac_key_ok = ofc_random_bytes(hmac_key, sizeof(hmac_key)) == 0;
    if (!hmac_key_ok)
        ofc_warn("no random key for the authentication cache: it is off");
    unsigned char seed[16];
    char pw[2 * sizeof(seed) + 1];
    if (ofc_random_bytes(seed, sizeof(seed)) != 0)
        memset(seed, 'x', sizeof(seed));
    for (size_t i = 0; i < sizeof(seed); i++) {
        pw[2 * i] = "0123456789abcdef"[seed[i] >> 4];
        pw[2 * i + 1] = "0123456789abcdef"[seed[i] & 15];
    }
    pw[sizeof(pw) - 1] = '\0';
    char *error = NULL;
    if (ofc_password_hash(pw, &dummy_hash, &error) != 0) {
        ofc_error("cannot make the dummy password hash: %s", error);
        free(error);
    }
    OPENSSL_cleanse(pw, sizeof(pw));
}

void sps_auth_set_ttl(long long seconds)
{
    atomic_store(&cache_ttl_s, seconds > 0 ? seconds : 0);
}

void sps_auth_cleanup(void)
{
    pthread_mutex_lock(&cache_lock);
    if (cache != NULL) {
        for (size_t i = 0; i < CACHE_SLOTS; i++) {
            free(cache[i].address);
            free(cache[i].hash);
        }
        OPENSSL_cleanse(cache, CACHE_SLOTS * sizeof(*cache));
        free(cache);
        cache = NULL;
    }
    OPENSSL_cleanse(hmac_key, sizeof(hmac_key));
    hmac_key_ok = false;
    free(dummy_hash);
    dummy_hash = NULL;
    pthread_mutex_unlock(&cache_lock);
}

/* The cost of a wrong password, for the cases that have none to check. */
static void burn(const char *password)
{
    (void)ofc_password_verify(password, dummy_hash);
}

static bool digest(const char *user, const char *password, unsigned char out[32])
{
    if (!hmac_key_ok)
        return false;
    size_t ulen = strlen(user), plen = strlen(password);
    unsigned char *msg = ofc_xmalloc(ulen + 1 + plen);
    memcpy(msg, user, ulen);
    msg[ulen] = '\0';
    memcpy(msg + ulen + 1, password, plen);
    unsigned int len = 0;
    bool ok =
        HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key), msg, ulen + 1 + plen, out, &len) != NULL &&
        len == 32;
    OPENSSL_cleanse(msg, ulen + 1 + plen);
    free(msg);
    return ok;
}

static size_t slot_of(const unsigned char key[32])
{
    return ((size_t)key[0] << 8 | key[1]) % CACHE_SLOTS;
}

static bool cache_hit(const unsigned char key[32], long long id, const char *hash)
{
    bool hit = false;
    pthread_mutex_lock(&cache_lock);
    struct cache_entry *e = cache != NULL ? &cache[slot_of(key)] : NULL;
    if (e != NULL && e->used && CRYPTO_memcmp(e->key, key, 32) == 0) {
        if (e->expires_ms > sps_now_ms() && e->account_id == id && strcmp(e->hash, hash) == 0)
            hit = true;
        else
            e->used = false; /* expired, or the password changed */
    }
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

static void cache_store(const unsigned char key[32], long long id, const char *address,
                        const char *hash, long long ttl)
{
    pthread_mutex_lock(&cache_lock);
    if (cache != NULL) {
        struct cache_entry *e = &cache[slot_of(key)];
        free(e->address);
        free(e->hash);
        e->used = true;
        memcpy(e->key, key, 32);
        e->account_id = id;
        e->address = ofc_xstrdup(address);
        e->hash = ofc_xstrdup(hash);
        e->expires_ms = sps_now_ms() + ttl * 1000;
    }
    pthread_mutex_unlock(&cache_lock);
}

int sps_authenticate(struct ofc_db *db, const char *user, const char *password,
                     long long *account_id_r, char **address_r, char **error_r)
{
    *account_id_r = 0;
    *address_r = NULL;
    *error_r = NULL;
    (void)pthread_once(&auth_once, auth_init);
    size_t ulen = strlen(user);
    const char *at = strrchr(user, '@');
    if (ulen == 0 || ulen > MAX_USER || strlen(password) > MAX_PASSWORD || at == user ||
        (at != NULL && at[1] == '\0')) {
        burn(password);
        return 0;
    }
    char *local = at != NULL ? ofc_xstrndup(user, (size_t)(at - user)) : ofc_xstrdup(user);
    const char *args[] = {local, at != NULL ? at + 1 : NULL};
    PGresult *res = ofc_db_query(db, AUTH_SQL, 2, args);
    free(local);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot look up the account: %s", ofc_db_error(db));
        return -1;
    }
    if (PQntuples(res) != 1 || ofc_db_value(res, 0, 2) == NULL) {
        PQclear(res);
        burn(password);
        return 0;
    }
    long long id = ofc_db_value_ll(res, 0, 0, 0);
    const char *address = ofc_db_value(res, 0, 1);
    const char *hash = ofc_db_value(res, 0, 2);
    long long ttl = atomic_load(&cache_ttl_s);
    unsigned char key[32];
    bool keyed = ttl > 0 && digest(user, password, key);
    bool ok = keyed && cache_hit(key, id, hash);
    if (!ok) {
        ok = ofc_password_verify(password, hash);
        if (ok && keyed)
            cache_store(key, id, address, hash, ttl);
    }
    if (ok) {
        *account_id_r = id;
        *address_r = ofc_xstrdup(address != NULL ? address : "");
    }
    OPENSSL_cleanse(key, sizeof(key));
    PQclear(res);
    return ok ? 1 : 0;
}

int sps_sasl_plain_split(const char *msg, size_t len, const char **authzid, const char **authcid,
                         const char **password)
{
    const char *nul1 = memchr(msg, '\0', len);
    if (nul1 == NULL)
        return -1;
    size_t rest = len - (size_t)(nul1 + 1 - msg);
    const char *nul2 = memchr(nul1 + 1, '\0', rest);
    if (nul2 == NULL)
        return -1;
    size_t plen = len - (size_t)(nul2 + 1 - msg);
    /* authcid and passwd are at least one octet; no NUL inside passwd (RFC 4616 §2). */
    if (nul2 == nul1 + 1 || plen == 0 || memchr(nul2 + 1, '\0', plen) != NULL)
        return -1;
    *authzid = msg;
    *authcid = nul1 + 1;
    *password = nul2 + 1;
    return 0;
}

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

int sps_base64_decode(const char *text, size_t len, char **out_r, size_t *len_r)
{
    *out_r = NULL;
    *len_r = 0;
    if (len % 4 != 0)
        return -1;
    char *out = ofc_xmalloc(len / 4 * 3 + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char ch = (unsigned char)text[i + k];
            /* '=' only at the end: "xx==" or "xxx=". */
            if (ch == '=' && i + 4 == len && k >= 2 && (k == 3 || text[i + 3] == '=')) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad > 0 || (v[k] = b64_value(ch)) < 0) {
                explicit_bzero(out, n);
                free(out);
                return -1;
            }
        }
        unsigned long w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
                          ((unsigned long)v[2] << 6) | (unsigned long)v[3];
        out[n++] = (char)((w >> 16) & 0xff);
        if (pad < 2)
            out[n++] = (char)((w >> 8) & 0xff);
        if (pad < 1)
            out[n++] = (char)(w & 0xff);
    }
    out[n] = '\0';
    *out_r = out;
    *len_r = n;
    return 0;
}
