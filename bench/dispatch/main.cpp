// bench/dispatch/main.cpp — the standalone `bench_dispatch` executable (same as `strata bench dispatch`).
#include "dispatch.hpp"

int main(int argc, char** argv) { return bench_dispatch_main(argc, argv); }
