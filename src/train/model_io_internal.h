/* The model sections shared by saved models and checkpoints (doc/file-formats.md). */
#ifndef LEASH_MODEL_IO_INTERNAL_H
#define LEASH_MODEL_IO_INTERNAL_H

#include "core/store_internal.h"
#include "leash/model_io.h"

#define LEASH_MODEL_MAGIC "LEASHMDL"
#define LEASH_MODEL_VERSION 2u
/* Version 1 (before layer lists) named a preset by number; such files still load. */
#define LEASH_MODEL_OLDEST_VERSION 1u

/* Append the sections ARCH, IMAP, EVAL and PARM. */
void leash_model_sections_write(leash_wbuf *b, const leash_config *cfg, const leash_model *m,
                                const float *params, const leash_input_map *map, int ranks);

/* Read them from a checked store into out (what names the file kind for messages). */
int leash_model_sections_read(leash_saved_model *out, const leash_store *s, const char *what);

#endif
