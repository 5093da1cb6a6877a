/*
 * ofc_fs.h - small file system helpers shared by the programs.
 */
#ifndef OFC_FS_H
#define OFC_FS_H

#include <sys/types.h>

/*
 * mkdir -p. Directories it creates get `mode` (the last component) or
 * `parent_mode` (those above it), set with chmod(2) so that the caller's
 * umask cannot narrow them; existing directories are left as they are.
 * Fails when `dir` exists but is not a directory. Returns 0, or -1 with a
 * heap message naming the directory in *error_r.
 */
int ofc_mkdir_p(const char *dir, mode_t mode, mode_t parent_mode, char **error_r)
    __attribute__((warn_unused_result));

#endif
