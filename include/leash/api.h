/* What the library exports: the declarations marked LEASH_API, and nothing else. The
 * library is built with -fvisibility=hidden, so a function without the mark stays inside
 * it (tests/test_exports.sh compares the shared library's symbols with these headers). */
#ifndef LEASH_API_H
#define LEASH_API_H

#if defined(__GNUC__) || defined(__clang__)
#define LEASH_API __attribute__((visibility("default")))
#else
#define LEASH_API
#endif

#endif
