/* The libFuzzer entry point every fuzz target defines. The same sources
 * build two ways: with clang -fsanitize=fuzzer (SD_FUZZ=ON, a fuzzing
 * binary) and with replay.c's main() (every build: the seed corpus and the
 * kept crashing inputs run as ordinary unit tests). */
#ifndef SD_FUZZ_H
#define SD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
