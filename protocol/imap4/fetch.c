/*
 * fetch.c - (being written; see imap4.h for what belongs here).
 */
#include <stdlib.h>

#include "imap4.h"

void imap_cmd_fetch(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}
