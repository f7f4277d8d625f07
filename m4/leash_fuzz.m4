# LEASH_FUZZ_CC
# FUZZ_CC: the compiler `make fuzz` builds the libFuzzer harnesses with: $FUZZ_CC if set,
# else the first clang that links a -fsanitize=fuzzer,address,undefined target. Empty
# when there is none; `make fuzz` then says so and does nothing.
AC_DEFUN([LEASH_FUZZ_CC], [
  AC_ARG_VAR([FUZZ_CC], [C compiler for make fuzz (default: a clang that links libFuzzer)])
  AC_MSG_CHECKING([for a compiler that builds libFuzzer targets])
  AS_IF([test -z "$FUZZ_CC"], [
    cat > conftest_fuzz.c <<'_LEASH_EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return data && size == 7; }
_LEASH_EOF
    for leash_cc in clang clang-14 clang-15 clang-16 clang-17 clang-18 clang-19; do
      AS_IF([$leash_cc -fsanitize=fuzzer,address,undefined conftest_fuzz.c -o conftest_fuzz >&AS_MESSAGE_LOG_FD 2>&1],
        [FUZZ_CC=$leash_cc; break])
    done
    rm -f conftest_fuzz conftest_fuzz.c])
  AC_MSG_RESULT([${FUZZ_CC:-none (make fuzz will be skipped: install clang and libclang-rt-14-dev)}])
  AC_SUBST([FUZZ_CC])
])
