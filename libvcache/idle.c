/* SPDX-License-Identifier: MIT */
/*
 * idle.c - the idle delay: hand chunks back to the kernel a while after
 * their last unpin, so objects pinned again soon cost no system calls
 *
 * vcache_unpin*() records a deadline per chunk; one thread per cache,
 * started on first need, sleeps until the earliest deadline and marks the
 * expired chunks volatile. A pin before the deadline cancels it (pin.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "internal.h"

/*
 * Mark o's chunks whose deadline has passed volatile; return the earliest
 * deadline still pending (0 if none). Takes o->lock.
 */
uint64_t vc_idle_expire_object(struct vcache_object *o, uint64_t now)
{
	uint64_t next = 0;

	pthread_mutex_lock(&o->lock);
	for (size_t i = 0; o->pending && i < o->nchunks; i++) {
		uint64_t d = o->deadline[i];

		if (!d)
			continue;
		if (d <= now) {
			/* Clears the deadline too. */
			vc_object_mark_range_volatile(o, i, i);
			if (o->deadline[i]) { /* pinned: not eligible */
				o->deadline[i] = 0;
				o->pending--;
			}
		} else if (!next || d < next) {
			next = d;
		}
	}
	pthread_mutex_unlock(&o->lock);
	return next;
}

static void *idle_main(void *arg)
{
	struct vcache *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->idle_stopping) {
		uint64_t now = vc_now_ns(), next = 0;

		for (struct vcache_object *o = c->objects; o; o = o->next) {
			uint64_t d = vc_idle_expire_object(o, now);

			if (d && (!next || d < next))
				next = d;
		}
		if (c->idle_stopping)
			break;
		c->idle_next = next;
		if (!next) {
			pthread_cond_wait(&c->idle_cond, &c->lock);
		} else {
			struct timespec ts = {
				.tv_sec = (time_t)(next / 1000000000ull),
				.tv_nsec = (long)(next % 1000000000ull),
			};

			pthread_cond_timedwait(&c->idle_cond, &c->lock, &ts);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/*
 * A deadline was set: make sure the thread runs and looks again. If it
 * cannot be started the chunks stay non-volatile until the next attempt
 * (safe: only memory is kept longer).
 */
void vc_idle_kick(struct vcache *c, uint64_t deadline)
{
	pthread_mutex_lock(&c->lock);
	/*
	 * Already due to wake up no later than this deadline: it will find
	 * it then. Saves the wake-up system call on every delayed unpin.
	 */
	if (c->idle_running && c->idle_next && c->idle_next <= deadline) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (!c->idle_running && !c->idle_stopping) {
		sigset_t all, saved;

		/* The thread takes no signals meant for the program. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &saved);
		if (pthread_create(&c->idle_thread, NULL, idle_main, c) == 0)
			c->idle_running = true;
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
	}
	pthread_cond_signal(&c->idle_cond);
	pthread_mutex_unlock(&c->lock);
}

void vc_idle_stop(struct vcache *c)
{
	bool running;

	pthread_mutex_lock(&c->lock);
	c->idle_stopping = true;
	running = c->idle_running;
	pthread_cond_signal(&c->idle_cond);
	pthread_mutex_unlock(&c->lock);
	if (running)
		pthread_join(c->idle_thread, NULL);
	pthread_mutex_lock(&c->lock);
	c->idle_running = false;
	pthread_mutex_unlock(&c->lock);
}
