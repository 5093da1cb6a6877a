/*
 * prompt.c - the few questions ofcsetup asks on a terminal.
 *
 * The terminal itself (echo off for passwords, questions on stderr,
 * answers only from a terminal) is libofc's ofc_tty, which oomgr uses
 * too; what is left here is ofcsetup's own policy: a new password is
 * asked twice and must not be empty.
 */
/* System. */
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "ofc_mem.h"
#include "ofc_tty.h"

/* This program. */
#include "ofcsetup.h"

bool setup_have_terminal(void)
{
    return ofc_tty_available();
}

void setup_forget(char **s)
{
    ofc_tty_forget(s);
}

int prompt_new_password(const char *whose, char **password_r, char **error_r)
{
    *password_r = NULL;
    char *q1 = ofc_xasprintf("New password for %s: ", whose);
    char *q2 = ofc_xasprintf("Repeat the password for %s: ", whose);
    char *first = ofc_tty_ask(q1, false, error_r);
    char *second = NULL;
    int ret = -1;

    if (first == NULL)
        goto out;
    if (first[0] == '\0') {
        *error_r = ofc_xasprintf("empty password for %s", whose);
        goto out;
    }
    second = ofc_tty_ask(q2, false, error_r);
    if (second == NULL)
        goto out;
    if (strcmp(first, second) != 0) {
        *error_r = ofc_xasprintf("the two passwords for %s differ", whose);
        goto out;
    }
    *password_r = first;
    first = NULL;
    ret = 0;
out:
    ofc_tty_forget(&first);
    ofc_tty_forget(&second);
    free(q1);
    free(q2);
    return ret;
}

int prompt_line(const char *question, char **answer_r, char **error_r)
{
    *answer_r = ofc_tty_ask(question, true, error_r);
    return *answer_r != NULL ? 0 : -1;
}
