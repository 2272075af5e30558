/* The floor under W4 (benchmarks/large.py): a raw TCP loopback echo with the kernel's default buffers.

   loopback SIZE TRIPS
     a forked child accepts one connection on 127.0.0.1 and echoes SIZE bytes back per trip; the
     parent sends SIZE bytes and reads them back, TRIPS + 1 times (the first trip warms the
     connection up and is not timed). Prints one JSON line with the time of each timed trip.
     A Gearman round trip crosses loopback four times (client -> gearmand -> worker -> gearmand ->
     client), this echo twice. */
#include "bench_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int xfer(int fd, char *buf, size_t size, int sending)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = sending ? write(fd, buf + done, size - done) : read(fd, buf + done, size - done);
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t size;
    long trips, i;
    int lsock, fd, one = 1;
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    char *buf;
    pid_t child;

    if (argc != 3) {
        fprintf(stderr, "usage: %s SIZE TRIPS\n", argv[0]);
        return 2;
    }
    size = (size_t)atol(argv[1]);
    trips = atol(argv[2]);
    buf = malloc(size ? size : 1);
    bench_fill(buf, size);
    lsock = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lsock, 1) != 0
        || getsockname(lsock, (struct sockaddr *)&addr, &alen) != 0) {
        perror("listen");
        return 1;
    }
    child = fork();
    if (child == 0) {
        int c = accept(lsock, NULL, NULL);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        for (i = 0; i <= trips; i++)
            if (xfer(c, buf, size, 0) || xfer(c, buf, size, 1))
                _exit(1);
        _exit(0);
    }
    close(lsock);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("connect");
        return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    printf("{\"impl\": \"loopback\", \"size\": %zu, \"times\": [", size);
    for (i = 0; i <= trips; i++) {
        double t0 = bench_now();
        if (xfer(fd, buf, size, 1) || xfer(fd, buf, size, 0)) {
            fprintf(stderr, "loopback trip %ld failed\n", i);
            return 1;
        }
        if (i > 0)
            printf(i > 1 ? ", %.6f" : "%.6f", bench_now() - t0);
    }
    printf("]}\n");
    close(fd);
    waitpid(child, NULL, 0);
    return 0;
}
