// bench/domain/main.cpp — the standalone `bench_domain` executable (same as `strata bench domain`).
#include "domain.hpp"

int main(int argc, char** argv) { return bench_domain_main(argc, argv); }
