/*
 * gwout.h - the two transports of the outbound gateway and what they report.
 *
 * A transport gets one message with all its recipients and says, for each
 * recipient, whether the other side took responsibility for it (SENT), may
 * take it later (TEMP) or never will (PERM), with the status code (RFC
 * 3463) and one line of diagnostic for a report. main.c turns that into
 * queue and store changes.
 */
#ifndef GWOUT_H
#define GWOUT_H

#include <stdbool.h>
#include <stddef.h>

enum rcpt_result {
    RCPT_TEMP = 0, /* the default: anything not decided is tried again */
    RCPT_SENT,
    RCPT_PERM,
};

struct rcpt_outcome {
    enum rcpt_result result;
    char *status;     /* "5.1.1"; heap, NULL until decided */
    char *diagnostic; /* "550 5.1.1 <x@y>: no such user"; heap, NULL until decided */
};

/* One message to send. The strings belong to the caller. */
struct send_job {
    const char *sender; /* "" for the null reverse-path */
    const char *const *rcpts;
    size_t nrcpts;
    const char *msg; /* the stored octets, CRLF or LF line ends */
    size_t len;
};

/* Sets one outcome (replacing an earlier one); status and diagnostic are copied (may be NULL). */
void outcome_set(struct rcpt_outcome *o, enum rcpt_result result, const char *status,
                 const char *diagnostic);
/* Sets every outcome still undecided (RCPT_TEMP, no status), or every one when all is true. */
void outcome_set_all(struct rcpt_outcome *o, size_t n, bool all, enum rcpt_result result,
                     const char *status, const char *diagnostic);
void outcome_free(struct rcpt_outcome **o, size_t n);

struct sendmail_conf {
    const char *path;  /* absolute path of the sendmail program */
    const char *extra; /* extra arguments, space separated; may be "" */
    int timeout_s;     /* the whole run */
};

/*
 * Runs `path extra... -oi -f <sender> -- rcpt...` (no shell) with the message
 * on its standard input, LF line ends, and maps its exit status (sysexits)
 * to one outcome for every recipient: 0 SENT; 64-69, 72, 73, 76, 77 PERM;
 * 70, 71, 74, 75, 78, a signal, a timeout or a failure to run it TEMP.
 */
void sendmail_send(const struct sendmail_conf *conf, const struct send_job *job,
                   struct rcpt_outcome *out);

enum starttls_mode {
    STARTTLS_NONE,
    STARTTLS_OPPORTUNISTIC, /* when offered; the certificate is not checked */
    STARTTLS_REQUIRED,      /* or no mail; the certificate must verify for host */
};

struct relay_conf {
    const char *host;
    int port;
    enum starttls_mode starttls;
    const char *ca_file; /* "" or NULL: the system's default paths */
    const char *helo;
    int connect_timeout_s;
    int command_timeout_s;
};

/*
 * Sends the message over SMTP (RFC 5321) to the relay: EHLO (HELO when
 * refused), STARTTLS as configured, MAIL FROM with SIZE and BODY=8BITMIME
 * when offered, one RCPT TO per recipient (each with its own outcome),
 * DATA with CRLF line ends and dot-stuffing, QUIT. Returns true when the
 * relay could not be reached or talked to at all (every outcome TEMP), so
 * that the caller can leave the rest of its batch for later.
 */
bool relay_send(const struct relay_conf *conf, const struct send_job *job,
                struct rcpt_outcome *out);

#endif
