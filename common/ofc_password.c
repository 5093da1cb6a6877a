/*
 * ofc_password.c - yescrypt through libxcrypt, salt from getrandom(2).
 *
 * struct crypt_data is about 32 KB, too much for the stack of a protocol
 * server's worker thread, so it lives on the heap; it holds material
 * derived from the password and is wiped before it is freed.
 */
/* System. */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* libofc. */
#include "ofc_mem.h"
#include "ofc_password.h"

/* The method prefix handed to crypt_gensalt_rn(); 0 as count means its default cost. */
#define PASSWORD_PREFIX "$y$"
/* Salt entropy: yescrypt uses 16 bytes at most; more is simply ignored. */
#define SALT_RANDOM_BYTES 16

int ofc_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* libcrypt reports failure as NULL or as a string starting with '*'. */
static bool crypt_failed(const char *s)
{
    return s == NULL || s[0] == '*' || s[0] == '\0';
}

int ofc_password_hash(const char *password, char **hash_r, char **error_r)
{
    unsigned char rnd[SALT_RANDOM_BYTES];
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];

    *hash_r = NULL;
    if (password == NULL || password[0] == '\0') {
        *error_r = ofc_xstrdup("empty password");
        return -1;
    }
    if (ofc_random_bytes(rnd, sizeof(rnd)) < 0) {
        *error_r = ofc_xasprintf("cannot get random bytes for a salt: %s", strerror(errno));
        return -1;
    }
    const char *salt = crypt_gensalt_rn(PASSWORD_PREFIX, 0, (const char *)rnd, (int)sizeof(rnd),
                                        setting, (int)sizeof(setting));
    explicit_bzero(rnd, sizeof(rnd));
    if (crypt_failed(salt)) {
        *error_r = ofc_xasprintf("cannot make a yescrypt salt: %s", strerror(errno));
        return -1;
    }

    struct crypt_data *data = ofc_xcalloc(1, sizeof(*data));
    const char *out = crypt_r(password, setting, data);
    int ret = 0;
    if (crypt_failed(out)) {
        *error_r = ofc_xasprintf("cannot hash the password: %s", strerror(errno));
        ret = -1;
    } else {
        *hash_r = ofc_xstrdup(out);
    }
    explicit_bzero(data, sizeof(*data));
    free(data);
    return ret;
}

bool ofc_password_verify(const char *password, const char *hash)
{
    if (password == NULL || hash == NULL || hash[0] != '$')
        return false;

    struct crypt_data *data = ofc_xcalloc(1, sizeof(*data));
    const char *out = crypt_r(password, hash, data);
    bool match = false;
    if (!crypt_failed(out)) {
        /*
         * Compare every byte of the longer string, folding differences into
         * one accumulator: how long this takes says nothing about where the
         * strings first differ. Lengths are not secret (they follow from
         * the method), so comparing them first is harmless.
         */
        size_t out_len = strlen(out);
        size_t hash_len = strlen(hash);
        unsigned char diff = out_len != hash_len;
        size_t n = out_len > hash_len ? out_len : hash_len;
        for (size_t i = 0; i < n; i++) {
            unsigned char a = i < out_len ? (unsigned char)out[i] : 0;
            unsigned char b = i < hash_len ? (unsigned char)hash[i] : 0;
            diff |= a ^ b;
        }
        match = diff == 0;
    }
    explicit_bzero(data, sizeof(*data));
    free(data);
    return match;
}
