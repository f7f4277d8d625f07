/* The architecture language: presets, canonical text, shapes and every refusal. */
#include <stdlib.h>
#include <string.h>

#include "leash/error.h"
#include "leash/nn.h"
#include "tap.h"

/* arch's canonical layer list must be want. */
static void expect_layers(const char *arch, const char *want)
{
    char *got = NULL;
    ASSERT_INT_EQ(leash_arch_layers(arch, 2, 16, LEASH_ACT_RELU, &got), 0);
    ASSERT_STR_EQ(got, want);
    free(got);
}

static void presets_are_layer_lists(void)
{
    expect_layers("CNN", "conv:4:3,relu,maxpool:2,conv:8:3,relu,maxpool:2,fc:128,relu,fc");
    expect_layers("cnn", "conv:4:3,relu,maxpool:2,conv:8:3,relu,maxpool:2,fc:128,relu,fc");
    expect_layers("LENET", "conv:6:5,relu,maxpool:2,conv:16:5,relu,maxpool:2,fc:120,relu,fc");
    expect_layers("MLP", "fc:16,relu,fc:16,relu,fc");
    expect_layers(NULL, "fc:16,relu,fc:16,relu,fc");
    char *got = NULL;
    ASSERT_INT_EQ(leash_arch_layers("MLP", 1, 7, LEASH_ACT_SIGMOID, &got), 0);
    ASSERT_STR_EQ(got, "fc:7,sigmoid,fc");
    free(got);
    ASSERT_INT_EQ(leash_arch_layers("MLP", 0, 7, LEASH_ACT_TANH, &got), 0);
    ASSERT_STR_EQ(got, "fc");
    free(got);
    ASSERT_STR_EQ(leash_arch_preset("lenet"), "LENET");
    ASSERT_TRUE(leash_arch_preset("fc") == NULL);
    ASSERT_TRUE(leash_arch_preset("CNN2") == NULL);
}

static void canonical_text(void)
{
    expect_layers("CONV:8:3:p0:s1,ReLU,fc", "conv:8:3,relu,fc");
    expect_layers("conv:8:3:p1:s2,tanh,AvgPool:2,fc:7,sigmoid,fc",
                  "conv:8:3:s2:p1,tanh,avgpool:2,fc:7,sigmoid,fc");
    expect_layers(" conv:8:3 ,\trelu , fc ", "conv:8:3,relu,fc");
    expect_layers("fc", "fc");
    expect_layers("fc:10", "fc:10");
}

/* arch must be refused with exactly the message want. */
static void expect_refused(const char *arch, const char *want)
{
    char *got = (char *)1;
    ASSERT_INT_EQ(leash_arch_layers(arch, 2, 16, LEASH_ACT_RELU, &got), LEASH_EINVAL);
    ASSERT_TRUE(got == NULL);
    ASSERT_STR_EQ(leash_last_error(), want);
}

static void malformed_lists_are_refused(void)
{
    const char *conv = "expected conv:C:K with optional :sS (stride) and :pP (padding)";
    char want[256];
    snprintf(want, sizeof want, "layer 1 'conv:8': %s", conv);
    expect_refused("conv:8", want);
    snprintf(want, sizeof want, "layer 1 'conv:8:3:x1': %s", conv);
    expect_refused("conv:8:3:x1", want);
    snprintf(want, sizeof want, "layer 2 'conv:8:3:s0': %s", conv);
    expect_refused("relu,conv:8:3:s0,fc", want);
    snprintf(want, sizeof want, "layer 1 'conv:8:3:s2:s2': %s", conv);
    expect_refused("conv:8:3:s2:s2,fc", want);
    snprintf(want, sizeof want, "layer 1 'conv:-8:3': %s", conv);
    expect_refused("conv:-8:3,fc", want);
    snprintf(want, sizeof want, "layer 1 'conv:0:3': %s", conv);
    expect_refused("conv:0:3,fc", want);
    expect_refused("conv:8:3:p3,fc", "layer 1 'conv:8:3:p3': its padding must be smaller than its kernel");
    expect_refused("fc,relu,fc", "layer 1 'fc': 'fc' without a size is the last layer only (fc:N elsewhere)");
    expect_refused("fc:0", "layer 1 'fc:0': expected fc:N (N outputs) or fc (last layer)");
    expect_refused("fc:10:2", "layer 1 'fc:10:2': expected fc:N (N outputs) or fc (last layer)");
    expect_refused("relu:2,fc", "layer 1 'relu:2': takes no parameters");
    expect_refused("maxpool,fc", "layer 1 'maxpool': expected maxpool:K or avgpool:K (K x K windows)");
    expect_refused("avgpool:0,fc", "layer 1 'avgpool:0': expected maxpool:K or avgpool:K (K x K windows)");
    expect_refused("conv:8:3,,fc", "layer 2 '': empty (two commas in a row?)");
    expect_refused("conv:8:3, ,fc", "layer 2 '': empty (two commas in a row?)");
    expect_refused("conv:8 :3,fc", "layer 1 'conv:8 :3': expected conv:C:K with optional :sS "
                                   "(stride) and :pP (padding)");
    expect_refused("fc:8,", "layer 2 '': empty (two commas in a row?)");
    expect_refused("", "layer 1 '': empty (two commas in a row?)");
    expect_refused("pool:2,fc", "layer 1 'pool:2': unknown layer (expected conv:C:K[:sS][:pP], "
                                "maxpool:K, avgpool:K, fc:N, fc, relu, sigmoid or tanh)");
    expect_refused("RESNET", "'RESNET': neither a preset (MLP, CNN or LENET) nor a layer list");
}

/* The layer list text on an in_h x in_w x in_c input with 10 classes must be refused with
 * exactly want. */
static void expect_misfit(const char *text, int h, int w, int c, const char *want)
{
    leash_model m;
    ASSERT_INT_EQ(leash_model_from_layers(&m, text, h, w, c, 10), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), want);
    ASSERT_TRUE(m.layers == NULL && m.layers_text == NULL);
}

static void misfits_name_the_layer(void)
{
    expect_misfit("conv:32:5,maxpool:2,conv:64:9,fc", 14, 14, 1,
                  "layer 3 'conv:64:9': its 9x9 kernel is larger than its 5x5x32 input");
    expect_misfit("conv:4:7:p1,fc", 4, 4, 3,
                  "layer 1 'conv:4:7:p1': its 7x7 kernel is larger than its 4x4x3 input with its "
                  "padding");
    expect_misfit("conv:4:3,MaxPool:4,fc", 5, 9, 1,
                  "layer 2 'MaxPool:4': its 4x4 window is larger than its 3x7x4 input");
    expect_misfit("fc:5", 28, 28, 1,
                  "layer 1 'fc:5': the last layer gives 5 outputs (1x1x5), the data has 10 classes");
    expect_misfit("conv:10:3", 28, 28, 1,
                  "layer 1 'conv:10:3': the last layer gives 6760 outputs (26x26x10), the data "
                  "has 10 classes");
    expect_misfit("conv:65536:1,fc", 17, 16, 1,
                  "layer 1 'conv:65536:1': its 17x16x65536 output is more than 16777216 values "
                  "per sample");
    leash_model m;
    ASSERT_INT_EQ(leash_model_from_layers(&m, "CNN", 28, 28, 1, 10), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "'CNN' is a preset, not a layer list");
}

typedef struct shape {
    int h, w, c;
    size_t params;
} shape;

/* Each layer's output shape and parameter count. */
static void expect_shapes(const leash_model *m, const shape *want, int n)
{
    ASSERT_INT_EQ(m->nlayers, n);
    for (int i = 0; i < n; ++i) {
        const leash_layer *l = &m->layers[i];
        if (l->out_h != want[i].h || l->out_w != want[i].w || l->out_c != want[i].c ||
            leash_layer_count_params(m, i) != want[i].params)
            tap_diag("layer %d: %dx%dx%d, %zu parameters", i + 1, l->out_h, l->out_w, l->out_c,
                     leash_layer_count_params(m, i));
        ASSERT_INT_EQ(l->out_h, want[i].h);
        ASSERT_INT_EQ(l->out_w, want[i].w);
        ASSERT_INT_EQ(l->out_c, want[i].c);
        ASSERT_SIZE_EQ(leash_layer_count_params(m, i), want[i].params);
    }
}

/* The wide network of the benchmarks: padding keeps 28 x 28, pooling halves it. */
static void wide_cnn_shapes(void)
{
    static const shape want[] = {
        {28, 28, 32, 32 * 25 + 32}, {28, 28, 32, 0}, {14, 14, 32, 0},
        {14, 14, 64, 64 * 25 * 32 + 64}, {14, 14, 64, 0}, {7, 7, 64, 0},
        {1, 1, 512, 7 * 7 * 64 * 512 + 512}, {1, 1, 512, 0}, {1, 1, 10, 5130}};
    leash_model m;
    ASSERT_INT_EQ(leash_model_from_layers(
                      &m, "conv:32:5:p2,relu,maxpool:2,conv:64:5:p2,relu,maxpool:2,fc:512,relu,fc",
                      28, 28, 1, 10),
                  0);
    expect_shapes(&m, want, 9);
    ASSERT_SIZE_EQ(leash_model_count_params(&m), 1663370);
    ASSERT_INT_EQ(m.layers[0].stride, 1);
    ASSERT_INT_EQ(m.layers[0].pad, 2);
    leash_model_free(&m);
}

/* Strides that do and do not divide the input, padding, windows that drop rows. */
static void stride_padding_pool_shapes(void)
{
    /* Rows (9 - 3) / 2 + 1 = 4, columns (11 - 3) / 2 + 1 = 5; then (4 + 2 - 4) + 1 = 3 by
     * (5 + 2 - 4) + 1 = 4; average pooling by 3 keeps 1 x 1 and drops the rest. */
    static const shape want[] = {{4, 5, 4, 4 * 9 * 3 + 4}, {4, 5, 4, 0}, {3, 4, 2, 2 * 16 * 4 + 2},
                                 {1, 1, 2, 0},             {1, 1, 10, 30}};
    leash_model m;
    ASSERT_INT_EQ(leash_model_from_layers(&m, "conv:4:3:s2,tanh,conv:2:4:s1:p1,avgpool:3,fc", 9,
                                          11, 3, 10),
                  0);
    expect_shapes(&m, want, 5);
    leash_model_free(&m);
}

/* No table bounds the depth; a list of only convolutions may end in the classes. */
static void deep_and_all_conv_lists(void)
{
    size_t n = 300;
    char *text = malloc(n * 8 + 3);
    ASSERT_NOT_NULL(text);
    text[0] = '\0';
    for (size_t i = 0; i < n; ++i) strcat(text, i % 2 ? "tanh," : "fc:3,");
    strcat(text, "fc");
    leash_model m;
    ASSERT_INT_EQ(leash_model_from_layers(&m, text, 2, 2, 1, 10), 0);
    ASSERT_INT_EQ(m.nlayers, 301);
    ASSERT_INT_EQ(m.ntensors, 2 * 151);
    free(text);
    leash_model_free(&m);
    ASSERT_INT_EQ(leash_model_from_layers(&m, "conv:10:28", 28, 28, 1, 10), 0);
    ASSERT_INT_EQ(m.layers[0].out_h * m.layers[0].out_w * m.layers[0].out_c, 10);
    leash_model_free(&m);
}

/* Each layer printed as a token reads back as the same layer; the last fc shows its size. */
static void tokens_round_trip(void)
{
    const char *text = "conv:6:5:s2:p2,relu,avgpool:2,conv:3:1,sigmoid,maxpool:2,fc:9,tanh,fc";
    leash_model m;
    ASSERT_INT_EQ(leash_model_from_layers(&m, text, 28, 28, 3, 4), 0);
    ASSERT_STR_EQ(m.layers_text, text);
    char joined[256] = "", token[64];
    for (int i = 0; i < m.nlayers; ++i) {
        ASSERT_TRUE(leash_layer_token(&m.layers[i], token, sizeof token) > 0);
        if (i) strcat(joined, ",");
        strcat(joined, token);
    }
    ASSERT_STR_EQ(joined, "conv:6:5:s2:p2,relu,avgpool:2,conv:3:1,sigmoid,maxpool:2,fc:9,tanh,fc:4");
    ASSERT_STR_EQ(leash_layer_kind_name(LEASH_LAYER_AVGPOOL), "avgpool");
    leash_model_free(&m);
}

int main(void)
{
    tap_plan(8);
    TAP_RUN(presets_are_layer_lists);
    TAP_RUN(canonical_text);
    TAP_RUN(malformed_lists_are_refused);
    TAP_RUN(misfits_name_the_layer);
    TAP_RUN(wide_cnn_shapes);
    TAP_RUN(stride_padding_pool_shapes);
    TAP_RUN(deep_and_all_conv_lists);
    TAP_RUN(tokens_round_trip);
    return tap_done();
}
