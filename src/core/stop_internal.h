/* Whether a stop was asked for (leash_request_stop, leash/train.h): training stops at its
 * next safe point, and every wait that could last (a FIFO without a reader) gives up. */
#ifndef LEASH_STOP_INTERNAL_H
#define LEASH_STOP_INTERNAL_H

int leash_stop_asked(void);

#endif
