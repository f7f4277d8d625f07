/* LEASH_VECTOR_CLONES before a function with a hot elementwise loop: built for the
 * baseline x86-64 (SSE2) and for AVX2 (x86-64-v3), the loader picks the version for the
 * CPU. Debian's binaries must run on any x86-64, and -O3 alone vectorizes for SSE2
 * only; the AVX2 versions of the batch gathering, the fc blocks' bias + ReLU passes and
 * the updates raised SEQ MLP training from 0.86 to 0.88 of its sgemm bound with
 * OpenBLAS's SkylakeX kernels. No AVX-512 version: with OpenBLAS's Haswell (AVX2)
 * kernels one cost 0.02-0.03 of that ratio (the core slows down for AVX-512 and the
 * sgemm calls after it pay), for no gain with the SkylakeX kernels. configure leaves
 * it empty where the compiler lacks target_clones, and under ThreadSanitizer
 * (m4/leash_clones.m4); so does clang (below). The versions round differently (AVX2
 * fuses multiply-add), so results repeat on one kind of CPU, as with OpenBLAS's
 * kernels, not across kinds. */
#ifndef LEASH_CORE_SIMD_INTERNAL_H
#define LEASH_CORE_SIMD_INTERNAL_H

/* GCC only: clang 14 (the fuzz build) emits no symbol for an external target_clones
 * function, so calls from other files did not link. */
#if defined(LEASH_HAVE_TARGET_CLONES) && defined(__x86_64__) && !defined(__clang__)
#define LEASH_VECTOR_CLONES \
    __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define LEASH_VECTOR_CLONES
#endif

#endif
