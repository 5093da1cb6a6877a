/*
 * mailboxes.c - (being written; see imap4.h for what belongs here).
 */
#include <stdlib.h>

#include "imap4.h"

void imap_cmd_list(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_lsub(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_create(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_delete(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_rename(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_subscribe(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_unsubscribe(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_status(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_namespace(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_getquota(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}

void imap_cmd_getquotaroot(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd->tag, "NO", "%s is not implemented yet", cmd->name);
    imap_cmd_free(cmd);
    free(cmd);
}
