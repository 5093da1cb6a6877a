/*
 * ofc_password.h - account passwords: yescrypt hashes and their check.
 *
 * The account table stores crypt(3) strings ("$y$..."), never passwords.
 * Hashing is deliberately slow (tens of milliseconds): hash before a
 * transaction starts, not inside it, so that locks are not held meanwhile.
 */
#ifndef OFC_PASSWORD_H
#define OFC_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Fills buf with len bytes from the kernel's random generator
 * (getrandom(2), retried on EINTR and short reads). Returns 0, or -1 with
 * errno set when the kernel refuses (it never returns weak randomness).
 */
int ofc_random_bytes(void *buf, size_t len) __attribute__((warn_unused_result));

/*
 * Hashes password with yescrypt at libcrypt's default cost and a fresh
 * random salt. Returns 0 and a heap crypt string in *hash_r (the caller
 * frees it), or -1 and a heap message in *error_r. The empty password is
 * refused: an account without a password gets a NULL hash instead.
 */
int ofc_password_hash(const char *password, char **hash_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * True when password matches the crypt string hash (any method libcrypt
 * knows; "$y$" is what ofcmail writes). The comparison of the crypt output
 * takes the same time wherever the first difference lies. A NULL or
 * malformed hash never matches.
 */
bool ofc_password_verify(const char *password, const char *hash);

#endif
