// SPDX-License-Identifier: Apache-2.0
/*
 * The worker pool. bs_submit() appends the caller-owned struct bs_io to a
 * FIFO under one mutex (held for a few pointer stores) and wakes one
 * worker. A worker runs the request synchronously, then pushes it on a
 * lock-free completion stack; only the push that finds the stack empty
 * writes the eventfd, so a burst of completions costs one wakeup. The loop
 * thread takes the whole stack with one atomic exchange, restores
 * submission order, and runs the done callbacks. No allocation per I/O.
 *
 * When the io_uring engine (bs_uring.c) is up, bs_submit() hands it READ,
 * WRITE and FLUSH; the pool then runs only DISCARD and WRITE_ZEROES.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bs_int.h"
#include "duet/log.h"

#define BS_WORKERS_MIN 4u
#define BS_WORKERS_MAX 256u

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct bs_io *head, *tail; /* submission FIFO, under lock */
	bool stopping;
	bool running;
	unsigned n_threads;
	pthread_t *threads;
	_Atomic(struct bs_io *) done; /* completion stack (LIFO) */
	int efd;
	struct event *ev;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.efd = -1,
};

static void push_done(struct bs_io *io)
{
	struct bs_io *old =
		atomic_load_explicit(&pool.done, memory_order_relaxed);
	uint64_t one = 1;

	do {
		io->next = old;
	} while (!atomic_compare_exchange_weak_explicit(&pool.done, &old, io,
							memory_order_release,
							memory_order_relaxed));
	if (old == NULL) {
		while (write(pool.efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
}

static void *worker_main(void *arg)
{
	for (;;) {
		struct bs_io *io;

		pthread_mutex_lock(&pool.lock);
		while (!pool.head && !pool.stopping)
			pthread_cond_wait(&pool.cond, &pool.lock);
		io = pool.head;
		if (!io) { /* stopping and nothing left */
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
		pool.head = io->next;
		if (!pool.head)
			pool.tail = NULL;
		pthread_mutex_unlock(&pool.lock);

		io->result = bs_dev_execute(io->dev, io);
		push_done(io);
	}
}

/* Run every completion available now; returns how many. */
static unsigned deliver_completions(void)
{
	struct bs_io *list, *rev = NULL, *next;
	unsigned n = 0;

	list = atomic_exchange_explicit(&pool.done, NULL, memory_order_acquire);
	while (list) { /* LIFO -> completion order */
		next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	for (; rev; rev = next, n++) {
		next = rev->next; /* done() may reuse or free the io */
		rev->next = NULL;
		rev->done(rev);
	}
	return n;
}

static void on_eventfd(evutil_socket_t fd, short what, void *arg)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
		log_err("backing store: reading the completion eventfd: %s",
			strerror(errno));
	deliver_completions();
}

static unsigned default_workers(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cores > 0 ? (unsigned)cores * 2 : BS_WORKERS_MIN;

	return n < BS_WORKERS_MIN ? BS_WORKERS_MIN : n;
}

static void stop_threads(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.stopping = true;
	pthread_cond_broadcast(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	for (unsigned i = 0; i < pool.n_threads; i++)
		pthread_join(pool.threads[i], NULL);
	free(pool.threads);
	pool.threads = NULL;
	pool.n_threads = 0;
}

static int pool_init(struct event_base *base, unsigned nworkers)
{
	int ret;

	pool.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool.efd < 0)
		return -errno;
	pool.ev = event_new(base, pool.efd, EV_READ | EV_PERSIST, on_eventfd,
			    NULL);
	if (!pool.ev || event_add(pool.ev, NULL) < 0) {
		ret = -ENOMEM;
		goto fail;
	}
	pool.threads = calloc(nworkers, sizeof(*pool.threads));
	if (!pool.threads) {
		ret = -ENOMEM;
		goto fail;
	}
	pool.stopping = false;
	for (unsigned i = 0; i < nworkers; i++) {
		ret = pthread_create(&pool.threads[i], NULL, worker_main, NULL);
		if (ret) {
			log_err("backing store: cannot start worker thread: %s",
				strerror(ret));
			ret = -ret;
			goto fail;
		}
		pool.n_threads++;
	}
	pool.running = true;
	return 0;
fail:
	stop_threads();
	if (pool.ev)
		event_free(pool.ev);
	pool.ev = NULL;
	close(pool.efd);
	pool.efd = -1;
	return ret;
}

static int start_uring(struct event_base *base, enum bs_engine engine,
		       unsigned nworkers)
{
	int ret = bs_uring_init(base);

	if (ret == 0) {
		log_info("backing store: io_uring for reads, writes and "
			 "flushes; %u worker threads for discard/write-zeroes",
			 nworkers);
		return 0;
	}
	if (engine == BS_ENGINE_URING) {
		log_err("backing store: io_engine \"uring\" but io_uring "
			"cannot be set up here: %s (kernel too old, seccomp, "
			"or sysctl kernel.io_uring_disabled); use \"auto\" or "
			"\"threads\"",
			strerror(-ret));
		return ret;
	}
	log_info("backing store: io_uring unavailable (%s); %u worker "
		 "threads run all I/O",
		 strerror(-ret), nworkers);
	return 0;
}

int bs_init_engine(struct event_base *base, unsigned nworkers,
		   enum bs_engine engine)
{
	int ret;

	if (pool.running)
		return -EALREADY;
	if (nworkers == 0)
		nworkers = default_workers();
	if (nworkers > BS_WORKERS_MAX)
		nworkers = BS_WORKERS_MAX;
	ret = pool_init(base, nworkers);
	if (ret < 0)
		return ret;
	if (engine == BS_ENGINE_THREADS) {
		log_info("backing store: %u worker threads run all I/O "
			 "(io_engine \"threads\")",
			 nworkers);
		return 0;
	}
	ret = start_uring(base, engine, nworkers);
	if (ret < 0)
		bs_shutdown();
	return ret;
}

int bs_init(struct event_base *base, unsigned nworkers)
{
	return bs_init_engine(base, nworkers, BS_ENGINE_AUTO);
}

const char *bs_engine_name(void)
{
	return bs_uring_active() ? "io_uring" : "threads";
}

void bs_shutdown(void)
{
	if (!pool.running)
		return;
	pthread_mutex_lock(&pool.lock);
	pool.stopping = true; /* bs_submit refuses from now on */
	pthread_mutex_unlock(&pool.lock);
	bs_uring_shutdown(); /* delivers what was in flight there */
	stop_threads();	     /* workers drain the queue before exiting */
	pool.running = false;
	/* Deliver what finished; done() may try to submit (-ESHUTDOWN). */
	while (deliver_completions())
		;
	event_free(pool.ev);
	pool.ev = NULL;
	close(pool.efd);
	pool.efd = -1;
	pool.stopping = false;
}

static int check_io(const struct bs_dev *dev, const struct bs_io *io)
{
	switch (io->op) {
	case BS_OP_FLUSH:
		return 0;
	case BS_OP_READ:
		break;
	case BS_OP_WRITE:
	case BS_OP_DISCARD:
	case BS_OP_WRITE_ZEROES:
		if (dev->readonly)
			return -EROFS;
		break;
	default:
		return -EINVAL;
	}
	if (io->offset > dev->size || io->len > dev->size - io->offset)
		return -EINVAL; /* beyond the end: the caller checks LBAs */
	if ((io->op == BS_OP_READ || io->op == BS_OP_WRITE) && io->len &&
	    !io->buf)
		return -EINVAL;
	return 0;
}

int bs_submit(struct bs_dev *dev, struct bs_io *io)
{
	int ret;

	if (!dev || !io || !io->done)
		return -EINVAL;
	ret = check_io(dev, io);
	if (ret < 0)
		return ret;
	io->dev = dev;
	io->next = NULL;
	io->result = 0;
	if (bs_uring_active() &&
	    (io->op == BS_OP_READ || io->op == BS_OP_WRITE ||
	     io->op == BS_OP_FLUSH))
		return bs_uring_submit(io);
	pthread_mutex_lock(&pool.lock);
	if (!pool.running || pool.stopping) {
		pthread_mutex_unlock(&pool.lock);
		return -ESHUTDOWN;
	}
	if (pool.tail)
		pool.tail->next = io;
	else
		pool.head = io;
	pool.tail = io;
	pthread_mutex_unlock(&pool.lock);
	pthread_cond_signal(&pool.cond);
	return 0;
}
