/*
 * ofc_migrations.h - the schema migrations compiled into the programs.
 *
 * ofc_migrations[] lists schema/NNN_name.sql in order, ended by an entry
 * with version 0. A migration that has landed is never edited; changes
 * come as the next number.
 */
#ifndef OFC_MIGRATIONS_H
#define OFC_MIGRATIONS_H

struct ofc_migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct ofc_migration ofc_migrations[];

#endif
