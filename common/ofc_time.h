/*
 * ofc_time.h - the monotonic clock in milliseconds, and short sleeps.
 *
 * Timeouts, deadlines and waits measure with CLOCK_MONOTONIC: the wall
 * clock may jump (NTP, an administrator) and must not stretch or cut a
 * wait.
 */
#ifndef OFC_TIME_H
#define OFC_TIME_H

/* Milliseconds on CLOCK_MONOTONIC (0 if the clock cannot be read). */
long long ofc_now_ms(void);

/* Sleeps about ms milliseconds; a signal may end it early. */
void ofc_sleep_ms(long ms);

#endif
