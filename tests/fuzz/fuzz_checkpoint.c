/* The checkpoint reader, through leash_train --resume as leash runs it: the
 * configuration and data must be those the seed checkpoints were written for
 * (tests/fuzz/make-seeds: -a SEQ -A MLP -L 1 -U 8 -D SYNTH --synth-train 64
 * --synth-test 16 -b 16 -e 2). The CRC is made right first, so that mutations reach the
 * sections; an accepted checkpoint resumes and trains what is left (a few updates). */
#include <string.h>

#include "fuzz.h"
#include "leash/leash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static leash_dataset train, test;
    static leash_input_map map;
    if (!train.n) {
        if (leash_synth_generate(&train, &test, 64, 16, 28, 28, 1) != 0) abort();
        leash_input_map_standardize(&map, &train);
    }
    fuzz_file f;
    if (fuzz_file_open_crc_fixed(&f, data, size) != 0) return 0;
    leash_config cfg;
    leash_config_defaults(&cfg);
    cfg.hidden_layers = 1;
    cfg.units = 8;
    cfg.batch = 16;
    cfg.epochs = 2;
    cfg.dataset = LEASH_DATA_SYNTH;
    cfg.input_map = &map;
    cfg.resume = f.path;
    leash_result res;
    int rc = leash_train(&cfg, &train, &test, &res, NULL, NULL);
    if (rc == 0 || rc == LEASH_ESTOPPED || rc == LEASH_EDIVERGED) leash_result_free(&res);
    fuzz_file_close(&f);
    return 0;
}
