/* The timeline's tracks (timeline_internal.h). */
#include <stdlib.h>

#include "core/error_internal.h"
#include "core/timeline_internal.h"

static const struct {
    const char *name;
    char phase;
} kinds[LEASH_TL_KIND_COUNT] = {
#define LEASH_TL_ROW(e, n, ph) [LEASH_TL_##e] = {n, ph},
    LEASH_TL_KINDS(LEASH_TL_ROW)
#undef LEASH_TL_ROW
};

const char *leash_tl_kind_name(leash_tl_kind k) { return k < LEASH_TL_KIND_COUNT ? kinds[k].name : "?"; }
char leash_tl_kind_phase(leash_tl_kind k) { return k < LEASH_TL_KIND_COUNT ? kinds[k].phase : 'i'; }

int leash_timeline_create(leash_timeline *tl, int threads, long every, long room)
{
    tl->ntracks = threads + 1;
    tl->every = every;
    tl->tracks = aligned_alloc(64, (size_t)tl->ntracks * sizeof *tl->tracks);
    if (!tl->tracks) return leash_fail(LEASH_ENOMEM, "timeline: out of memory");
    const uint32_t cap = (uint32_t)room;
    for (int i = 0; i < tl->ntracks; ++i)
        tl->tracks[i] = (leash_tl_track){.ev = NULL, .n = 0, .cap = cap, .cut_at = -1.0};
    for (int i = 0; i < tl->ntracks; ++i) {
        if (cap && !(tl->tracks[i].ev = malloc(cap * sizeof(leash_tl_event)))) {
            leash_timeline_destroy(tl);
            return leash_fail(LEASH_ENOMEM, "timeline: out of memory for %ld events a thread", room);
        }
    }
    return 0;
}

void leash_timeline_destroy(leash_timeline *tl)
{
    for (int i = 0; tl->tracks && i < tl->ntracks; ++i) free(tl->tracks[i].ev);
    free(tl->tracks);
    tl->tracks = NULL;
    tl->ntracks = 0;
}

uint64_t leash_timeline_events(const leash_timeline *tl)
{
    uint64_t n = 0;
    for (int i = 0; i < tl->ntracks; ++i) n += tl->tracks[i].n;
    return n;
}
