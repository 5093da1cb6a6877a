# Turns schema/NNN_name.sql files into a C array of migrations so that
# ofcsetup carries its schema inside the binary: an installed ofcsetup can
# never apply SQL from a different version than its own.
# Usage: cmake -DOUT=file.c -DSQL_FILES="a.sql;b.sql" -P embed_schema.cmake
set(body "")
set(table "")
foreach(f ${SQL_FILES})
  get_filename_component(base ${f} NAME_WE)
  if(NOT base MATCHES "^([0-9][0-9][0-9])_([a-z0-9_]+)$")
    message(FATAL_ERROR "migration file name must be NNN_name.sql: ${f}")
  endif()
  set(ver ${CMAKE_MATCH_1})
  set(name ${CMAKE_MATCH_2})
  math(EXPR vernum "${ver}")
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const char sql_${ver}[] = {${hex}0x00};\n")
  string(APPEND table "    {${vernum}, \"${name}\", sql_${ver}},\n")
endforeach()
file(WRITE ${OUT}.tmp "/* Generated from the schema migrations by cmake/embed_schema.cmake. Do not edit. */\n#include <stddef.h>\n#include \"ofc_migrations.h\"\n\n${body}\nconst struct ofc_migration ofc_migrations[] = {\n${table}    {0, NULL, NULL},\n};\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
file(REMOVE ${OUT}.tmp)
