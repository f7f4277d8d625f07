# LEASH_ARG_SANITIZERS
# --enable-sanitizers=LIST builds everything with -fsanitize=LIST (for example
# "thread" or "address,undefined"); ThreadSanitizer cannot be combined with the
# address sanitizer, so that pairing is refused here instead of at link time.
AC_DEFUN([LEASH_ARG_SANITIZERS], [
  AC_ARG_ENABLE([sanitizers],
    [AS_HELP_STRING([--enable-sanitizers=LIST],
      [build with -fsanitize=LIST, e.g. thread or address,undefined])],
    [], [enable_sanitizers=no])
  SANITIZER_CFLAGS=
  AS_CASE([$enable_sanitizers],
    [no], [],
    [yes], [AC_MSG_ERROR([--enable-sanitizers needs a list, e.g. --enable-sanitizers=thread])],
    [*thread*address*|*address*thread*],
      [AC_MSG_ERROR([--enable-sanitizers: thread and address cannot be combined])],
    [SANITIZER_CFLAGS="-fsanitize=$enable_sanitizers -fno-omit-frame-pointer -fno-sanitize-recover=all -g"
     leash_save_CFLAGS=$CFLAGS
     CFLAGS="$CFLAGS $SANITIZER_CFLAGS"
     leash_save_LDFLAGS=$LDFLAGS
     LDFLAGS="$LDFLAGS $SANITIZER_CFLAGS"
     AC_MSG_CHECKING([whether $CC supports -fsanitize=$enable_sanitizers])
     AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])], [AC_MSG_RESULT([yes])],
       [AC_MSG_RESULT([no])
        AC_MSG_ERROR([$CC cannot build with -fsanitize=$enable_sanitizers])])
     CFLAGS=$leash_save_CFLAGS
     LDFLAGS=$leash_save_LDFLAGS])
  AC_SUBST([SANITIZER_CFLAGS])
  AM_CONDITIONAL([LEASH_SANITIZED], [test -n "$SANITIZER_CFLAGS"])
])
