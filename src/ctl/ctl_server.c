// SPDX-License-Identifier: Apache-2.0
/*
 * The control socket server: a unix stream listener on the event loop.
 * Each client is a bufferevent; every complete line is run through
 * ctl_execute() and the response queued. Requests are bounded to
 * CTL_LINE_MAX bytes, clients to CTL_CLIENTS_MAX, idle clients time out.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "duet/ctl.h"
#include "duet/log.h"

#define CTL_CLIENTS_MAX 32
#define CTL_IDLE_SECONDS 60

struct ctl_client {
	struct bufferevent *bev;
	bool closing;
	struct ctl_client *next, **pprev;
};

static struct {
	struct evconnlistener *listener;
	struct ctl_client *clients;
	unsigned n_clients;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev; /* of the socket file we created: only remove that one */
	ino_t ino;
} srv;

static void client_free(struct ctl_client *c)
{
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	bufferevent_free(c->bev);
	srv.n_clients--;
	free(c);
}

/* Send what is queued, then close. */
static void client_close_after_write(struct ctl_client *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct ctl_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	char *line;
	size_t n;

	while (!c->closing &&
	       (line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF))) {
		if (strlen(line) != n)
			evbuffer_add_printf(out, "ERR NUL byte in request\n");
		else
			ctl_execute(line, out);
		free(line);
	}
	if (!c->closing && evbuffer_get_length(in) > CTL_LINE_MAX) {
		evbuffer_add_printf(out, "ERR request longer than %u bytes\n",
				    CTL_LINE_MAX);
		client_close_after_write(c);
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct ctl_client *c = arg;

	if (c->closing)
		client_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client *c = arg;

	/* A client that half-closed after its request still gets the
	 * answer; errors and idle timeouts just drop the client. */
	if ((what & BEV_EVENT_EOF) && !c->closing &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		client_close_after_write(c);
	else
		client_free(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct event_base *base = evconnlistener_get_base(l);
	struct timeval idle = {CTL_IDLE_SECONDS, 0};
	struct ctl_client *c;

	if (srv.n_clients >= CTL_CLIENTS_MAX) {
		static const char msg[] = "ERR too many control clients\n";

		if (write(fd, msg, sizeof(msg) - 1) < 0) {
			/* nothing to do: we close it anyway */
		}
		close(fd);
		log_warn("control socket: refused a client (%u connected)",
			 srv.n_clients);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->bev =
			bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c || !c->bev) {
		free(c);
		close(fd);
		return;
	}
	c->next = srv.clients;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &srv.clients;
	srv.clients = c;
	srv.n_clients++;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CTL_LINE_MAX * 2);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static int make_dirs(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(srv.path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
				int ret = -errno;

				snprintf(err, errlen,
					 "control socket %s: cannot create "
					 "directory %s: %s",
					 path, dir, strerror(errno));
				return ret;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* Remove a stale socket; refuse if a daemon still answers on it. */
static int clear_stale(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	int fd, ret;

	if (lstat(sun->sun_path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
			 "control socket %s: the path exists and is not a "
			 "socket; remove it or choose another --ctl-socket",
			 sun->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (ret == 0) {
		snprintf(err, errlen,
			 "control socket %s is in use: another duetd is "
			 "running (stop it, or give this one another "
			 "--ctl-socket)",
			 sun->sun_path);
		return -EADDRINUSE;
	}
	unlink(sun->sun_path);
	return 0;
}

static int bind_socket(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	mode_t old;
	int ret;

	if (fd < 0)
		return -errno;
	old = umask(0177); /* the socket file is created 0600 */
	ret = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	umask(old);
	if (ret < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		snprintf(err, errlen, "control socket %s: %s", sun->sun_path,
			 strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}

int ctl_server_start(struct event_base *base, const char *path, char *err,
		     size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, ret;

	if (srv.listener)
		return -EALREADY;
	if (!path || !*path || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen,
			 "control socket path '%s' is empty or longer than "
			 "%zu bytes",
			 path ? path : "", sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	ret = make_dirs(path, err, errlen);
	if (ret == 0)
		ret = clear_stale(&sun, err, errlen);
	if (ret < 0)
		return ret;
	fd = bind_socket(&sun, err, errlen);
	if (fd < 0)
		return fd;
	srv.listener = evconnlistener_new(
		base, on_accept, NULL,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!srv.listener) {
		close(fd);
		unlink(path);
		snprintf(err, errlen, "control socket %s: out of memory", path);
		return -ENOMEM;
	}
	snprintf(srv.path, sizeof(srv.path), "%s", path);
	{
		struct stat st;

		if (stat(path, &st) == 0) {
			srv.dev = st.st_dev;
			srv.ino = st.st_ino;
		}
	}
	log_info("control socket listening on %s", path);
	return 0;
}

void ctl_server_stop(void)
{
	while (srv.clients)
		client_free(srv.clients);
	if (srv.listener) {
		struct stat st;

		evconnlistener_free(srv.listener);
		srv.listener = NULL;
		/* Not if someone replaced it (a newer duetd) meanwhile. */
		if (stat(srv.path, &st) == 0 && st.st_dev == srv.dev &&
		    st.st_ino == srv.ino)
			unlink(srv.path);
		srv.path[0] = '\0';
	}
}
