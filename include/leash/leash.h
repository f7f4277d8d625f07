/* leash: consistent lock-free parallel SGD (Leashed-SGD) and its baselines.
 *
 * Declares nothing itself; each header it includes has its own extern "C" guards. */
#ifndef LEASH_LEASH_H
#define LEASH_LEASH_H

#include "leash/data.h"
#include "leash/dist.h"
#include "leash/error.h"
#include "leash/model_io.h"
#include "leash/nn.h"
#include "leash/placement.h"
#include "leash/rng.h"
#include "leash/train.h"

#endif
