# LEASH_CHECK_CLONES
# Whether $CC builds functions in several versions that the loader picks for the CPU
# (target_clones, resolved by a GNU ifunc). Where it does, LEASH_VECTOR_CLONES gives
# the hot elementwise loops AVX2 versions while the binary still runs on any x86-64.
# Off under ThreadSanitizer: its runtime is not set up yet when the ifunc resolvers
# run, and they crash.
AC_DEFUN([LEASH_CHECK_CLONES], [
  AC_CACHE_CHECK([whether $CC supports target_clones], [leash_cv_target_clones],
    [AC_LINK_IFELSE([AC_LANG_PROGRAM(
      [[__attribute__((target_clones("arch=x86-64-v3", "default")))
        int twice(int x) { return 2 * x; }]],
      [[return twice(0);]])],
      [leash_cv_target_clones=yes], [leash_cv_target_clones=no])])
  AS_CASE([$leash_cv_target_clones:$SANITIZER_CFLAGS],
    [yes:*thread*], [AC_MSG_NOTICE([no target_clones under ThreadSanitizer])],
    [yes:*], [AC_DEFINE([LEASH_HAVE_TARGET_CLONES], [1],
      [Define to 1 if the compiler builds target_clones functions.])])
])
