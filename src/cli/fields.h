/* The library names settings as leash_config's fields ("leash_config.threads = 2"); the
 * program's users know them by its flags ("-n 2"). */
#ifndef LEASH_CLI_FIELDS_H
#define LEASH_CLI_FIELDS_H

#include <stddef.h>

/* The flag that sets field (NULL: none). */
const char *leash_cli_flag_of(const char *field);
/* msg with every "leash_config.FIELD = " written "FLAG " and every other
 * "leash_config.FIELD" written "FLAG", into out (size bytes, truncated). */
void leash_cli_name_flags(char *out, size_t size, const char *msg);

#endif
