#ifndef CLINUXIO_SHIM_H
#define CLINUXIO_SHIM_H
// Linux I/O headers that Glibc's Swift module does not export. Nothing is compiled here.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>

// Glibc's module does not export accept4 (it needs _GNU_SOURCE); declare it.
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);
#endif
