/*
 * A model of a process that serves, outside the JVM: what the kernel's scheduler alone does to
 * its latency when something else runs beside it (performance.md, "A model of the serving
 * process, outside the JVM"; run.sh runs it beside busy loops and prints a table).
 *
 * A dispatcher thread takes requests due at random times (an open loop: Poisson arrivals at
 * RATE a second) and hands each to one of WORKERS threads through a queue under a mutex and a
 * condition variable, as a server's poller hands a connection to its pool; each request burns
 * WORK_US of CPU. A request's latency counts from when it was due, so a thread that waits for a
 * CPU shows as latency. Prints the number of requests, p50, p99, p99.9 and the worst, in ms.
 *
 * usage: serving-model RATE WORK_US SECONDS [WORKERS (16)] [SLICE_US (0: the kernel's default)]
 * A slice is the time slice every thread of the model asks for (sched_setattr's sched_runtime,
 * Linux 6.12 and later; 100 is the shortest the kernel gives).
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define QUEUE 65536
#define MAX_REQUESTS 4000000
#define MAX_WORKERS 64

static long queue[QUEUE];
static long head, tail;
static int stopping;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queued = PTHREAD_COND_INITIALIZER;

static long latencies[MAX_REQUESTS];
static long answered;
static pthread_mutex_t latencies_lock = PTHREAD_MUTEX_INITIALIZER;

static long work_ns;
static long slice_ns;

static long now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* struct sched_attr of sched_setattr(2); policy 0 is SCHED_OTHER, runtime its slice. */
struct sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

/* This thread's time slice, keeping its policy and nice value; nothing where slice_ns is 0. */
static void take_slice(void) {
	if (slice_ns == 0) {
		return;
	}
	struct sched_attr attr = { .size = sizeof(attr), .policy = (uint32_t) sched_getscheduler(0) };
	attr.nice = nice(0);
	attr.runtime = (uint64_t) slice_ns;
	if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) {
		perror("sched_setattr (a time slice of its own needs Linux 6.12)");
		exit(2);
	}
}

static void *work(void *unused) {
	take_slice();
	for (;;) {
		pthread_mutex_lock(&queue_lock);
		while (head == tail && !stopping) {
			pthread_cond_wait(&queued, &queue_lock);
		}
		if (head == tail) {
			pthread_mutex_unlock(&queue_lock);
			return NULL;
		}
		long due = queue[head++ % QUEUE];
		pthread_mutex_unlock(&queue_lock);
		long started = now_ns();
		while (now_ns() - started < work_ns) {
			/* the request's CPU */
		}
		long latency = now_ns() - due;
		pthread_mutex_lock(&latencies_lock);
		if (answered < MAX_REQUESTS) {
			latencies[answered++] = latency;
		}
		pthread_mutex_unlock(&latencies_lock);
	}
}

static int by_value(const void *a, const void *b) {
	long x = *(const long *) a, y = *(const long *) b;
	return (x < y) ? -1 : (x > y);
}

int main(int argc, char **argv) {
	if (argc < 4) {
		fprintf(stderr, "usage: %s RATE WORK_US SECONDS [WORKERS] [SLICE_US]\n", argv[0]);
		return 2;
	}
	double rate = atof(argv[1]);
	work_ns = atol(argv[2]) * 1000;
	int seconds = atoi(argv[3]);
	int workers = (argc > 4) ? atoi(argv[4]) : 16;
	slice_ns = (argc > 5) ? atol(argv[5]) * 1000 : 0;
	if (rate <= 0 || work_ns <= 0 || seconds <= 0 || workers < 1 || workers > MAX_WORKERS || slice_ns < 0) {
		fprintf(stderr, "%s: RATE, WORK_US and SECONDS must be positive, WORKERS 1 to %d\n", argv[0], MAX_WORKERS);
		return 2;
	}
	take_slice();
	pthread_t threads[MAX_WORKERS];
	for (int i = 0; i < workers; i++) {
		pthread_create(&threads[i], NULL, work, NULL);
	}
	srand48(42); /* the same arrivals in every run */
	long due = now_ns();
	long end = due + seconds * 1000000000L;
	while (due < end) {
		due += (long) (-log(1 - drand48()) / rate * 1e9);
		struct timespec at = { due / 1000000000L, due % 1000000000L };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
		pthread_mutex_lock(&queue_lock);
		queue[tail++ % QUEUE] = due;
		pthread_cond_signal(&queued);
		pthread_mutex_unlock(&queue_lock);
	}
	pthread_mutex_lock(&queue_lock);
	stopping = 1;
	pthread_cond_broadcast(&queued);
	pthread_mutex_unlock(&queue_lock);
	for (int i = 0; i < workers; i++) {
		pthread_join(threads[i], NULL);
	}
	qsort(latencies, answered, sizeof(long), by_value);
	printf("%ld requests, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.1f ms\n", answered,
			latencies[answered / 2] / 1e6, latencies[answered * 99 / 100] / 1e6,
			latencies[answered * 999 / 1000] / 1e6, latencies[answered - 1] / 1e6);
	return 0;
}
