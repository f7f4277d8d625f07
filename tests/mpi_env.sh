# Sourced by the shell tests that start mpirun (. "$(dirname "$0")/mpi_env.sh"). Open MPI
# refuses root without these (CI runs as root). Its own allocations outlive
# MPI_Finalize, which LeakSanitizer would report in a sanitized build: leaks are checked
# by the other tests.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
