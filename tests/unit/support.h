/*
 * support.h - small helpers shared by the unit tests.
 */
#ifndef SEALAUTH_TEST_SUPPORT_H
#define SEALAUTH_TEST_SUPPORT_H

/* sleep_ms sleeps ms milliseconds, resuming after signals. */
void sleep_ms(unsigned ms);

#endif
