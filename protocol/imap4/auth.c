/*
 * auth.c - (being written; see imap4.h for what belongs here).
 */
#include <stdlib.h>

#include "imap4.h"

void imap_cmd_capability(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_noop(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_logout(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_id(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_enable(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_starttls(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_authenticate(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_login(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}
