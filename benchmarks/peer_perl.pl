#!/usr/bin/perl
# W4 against a peer: Perl's pure Gearman::Client / Gearman::Worker (libgearman-client-perl, not
# libgearman), the same "echo" round trips as bench_client do / bench_worker.
#   peer_perl.pl worker HOST:PORT COUNT        serve COUNT echo jobs, then exit ("ready" on stderr)
#   peer_perl.pl client HOST:PORT SIZE COUNT   COUNT round trips of SIZE bytes, one JSON line
use strict;
use warnings;
use Time::HiRes qw(time);

my ($mode, $server, @rest) = @ARGV;
die "usage: $0 worker|client HOST:PORT ...\n" unless $mode && $server;

if ($mode eq 'worker') {
    require Gearman::Worker;
    my ($count) = @rest;
    my $done = 0;
    my $worker = Gearman::Worker->new(job_servers => [$server]);
    $worker->register_function(echo => sub { $done++; return $_[0]->arg });
    $| = 1;
    print STDERR "ready\n";
    $worker->work(stop_if => sub { $done >= $count });
    exit 0;
}

require Gearman::Client;
my ($size, $count) = @rest;
my $client = Gearman::Client->new(job_servers => [$server]);
my $payload = join '', map { chr(ord('a') + ($_ * 7 + int($_ / 251)) % 26) } 0 .. 255;
$payload = substr($payload x (int($size / 256) + 1), 0, $size);
my @times;
my $failures = 0;
my $start = time;
for (1 .. $count) {
    my $t = time;
    my $result = $client->do_task(echo => \$payload, { timeout => 600 });
    push @times, time - $t;
    $failures++ unless $result && $$result eq $payload;
}
my $seconds = time - $start;
printf "{\"impl\": \"perl\", \"mode\": \"do\", \"count\": %d, \"size\": %d, \"seconds\": %.6f, "
    . "\"failures\": %d, \"times\": [%s]}\n",
    $count, $size, $seconds, $failures, join(', ', map { sprintf '%.6f', $_ } @times);
exit($failures ? 1 : 0);
