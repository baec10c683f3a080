// bench/allreduce/main.cpp — the standalone `bench_allreduce` executable (same as `strata bench allreduce`).
#include "allreduce.hpp"

int main(int argc, char** argv) { return bench_allreduce_main(argc, argv); }
