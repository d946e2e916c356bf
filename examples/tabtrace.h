/* SPDX-License-Identifier: MIT */
/*
 * tabtrace.h - tabcache's figures over time, as CSV
 *
 * One line per interval: the end of the interval (seconds since the tabs
 * were made), switches in it, MiB of tabs resident / purged (mincore()),
 * MiB the library holds volatile, chunks regenerated in the interval (of
 * them on SIGBUS), and the pin time of its switches (mean, max, ms).
 */
#ifndef TABTRACE_H
#define TABTRACE_H

#include "tabview.h"

#include <stdio.h>

struct tabtrace;

/* Open path for writing and print the header line. */
int tabtrace_open(const char *path, double interval,
		  struct tabtrace **ret_tt);

/* Call after every switch: counts its pin time and, at the end of an
 * interval, writes a line. */
void tabtrace_switch(struct tabtrace *tt, struct tabview *tv,
		     vcache *cache);

/* Write the last, partial interval and close. Accepts NULL; 0 or a
 * negative errno of the writes. */
int tabtrace_close(struct tabtrace *tt, struct tabview *tv, vcache *cache);

#endif /* TABTRACE_H */
