/* leash_config's fields by their flags: see fields.h. */
#include <stdio.h>
#include <string.h>

#include "cli/fields.h"

static const struct {
    const char *field, *flag;
} fields[] = {
    {"algorithm", "-a"},
    {"threads", "-n"},
    {"arch", "-A"},
    {"hidden_layers", "-L"},
    {"units", "-U"},
    {"activation", "--activation"},
    {"init", "--init"},
    {"persistence", "-B"},
    {"epochs", "-e"},
    {"rounds", "-r"},
    {"batch", "-b"},
    {"step", "-l"},
    {"momentum", "-m"},
    {"step_policy", "-t"},
    {"tau_max", "--tau-max"},
    {"tail_amplitude", "--tail-amplitude"},
    {"target_loss", "--target-loss"},
    {"avg_every", "--avg-every"},
    {"avg_period", "--avg-period"},
    {"avg_blocking", "--avg-mode"},
    {"checkpoint", "--checkpoint"},
    {"checkpoint_every", "--checkpoint-every"},
    {"checkpoint_period", "--checkpoint-period"},
    {"resume", "--resume"},
    {"seed", "--seed"},
    {"dataset", "-D"},
    {"trace_every", "--trace-every"},
    {"input_map", "--input-scale"},
    {"placement", "--placement"},
    {"progress_every", "--progress-every"},
    {"timeline", "--timeline"},
    {"timeline_every", "--timeline-every"},
    {"timeline_max_events", "--timeline-max-events"},
};

static const char prefix[] = "leash_config.";

const char *leash_cli_flag_of(const char *field)
{
    for (size_t i = 0; i < sizeof fields / sizeof *fields; ++i)
        if (strcmp(fields[i].field, field) == 0) return fields[i].flag;
    return NULL;
}

/* The field named at p (just after the prefix): its length, and its flag or NULL. */
static const char *field_at(const char *p, size_t *len)
{
    *len = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
    char name[64];
    if (*len == 0 || *len >= sizeof name) return NULL;
    memcpy(name, p, *len);
    name[*len] = '\0';
    return leash_cli_flag_of(name);
}

void leash_cli_name_flags(char *out, size_t size, const char *msg)
{
    size_t n = 0;
    while (*msg && n + 1 < size) {
        size_t len;
        const char *flag = strncmp(msg, prefix, sizeof prefix - 1) == 0
                               ? field_at(msg + sizeof prefix - 1, &len)
                               : NULL;
        if (!flag) {
            out[n++] = *msg++;
            continue;
        }
        msg += sizeof prefix - 1 + len;
        const int valued = strncmp(msg, " = ", 3) == 0;
        if (valued) msg += 3;
        n += (size_t)snprintf(out + n, size - n, "%s%s", flag, valued ? " " : "");
        if (n >= size) n = size - 1;
    }
    out[n] = '\0';
}
