/*
 * The C tests' assertions: count failures instead of aborting, so one run reports every broken
 * check. Include after pcstore.h; a test calling through the dlopen table defines PCS(name)
 * first (the default calls the linked function).
 */
#ifndef PCSTORE_TEST_CHECK_H
#define PCSTORE_TEST_CHECK_H

#include <stdio.h>

#ifndef PCS
#define PCS(name) (pcs_##name)
#endif

static int failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* Checks a pcs_result and prints the library's last-error message when it differs. */
#define CHECK_RESULT(call, expected)                                                   \
  do {                                                                                 \
    pcs_result got_ = (call);                                                          \
    if (got_ != (expected)) {                                                          \
      char why_[512];                                                                  \
      PCS(last_error)(why_, sizeof why_);                                              \
      fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s)\n", __FILE__, __LINE__, \
              #call, (int)got_, (int)(expected), why_);                                \
      failures++;                                                                      \
    }                                                                                  \
  } while (0)

#endif
