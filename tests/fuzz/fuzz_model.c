/* The saved-model reader (which also reads a checkpoint's model). The CRC is made right
 * first, so that mutations reach the sections. */
#include <string.h>

#include "fuzz.h"
#include "leash/model_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f;
    if (fuzz_file_open_crc_fixed(&f, data, size) != 0) return 0;
    leash_saved_model sm;
    if (leash_model_load(&sm, f.path) == 0) {
        /* What loads is whole: a model of the parameters it holds, and a scaling map. */
        if (!sm.params || sm.map.c != sm.model.in_c || sm.eval_batch < 1) abort();
        leash_saved_model_free(&sm);
    }
    fuzz_file_close(&f);
    return 0;
}
