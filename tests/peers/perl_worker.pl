#!/usr/bin/perl
# A Gearman::Worker (pure-Perl protocol, libgearman-client-perl) serving the interop functions.
#
#   perl_worker.pl HOST:PORT [--prefix P] [--id CLIENT_ID] [--count N] [FUNCTION ...]
#
# Registers the named functions (default: all below) as P.NAME (NAME without --prefix) and
# works until killed, or until N jobs are done with --count.  Prints "ready" on stdout once every function is registered.
#
# Functions (the same names in every peer worker):
#   echo      returns the workload.  Gearman::Worker 2.004 sends a false result ("" or "0") as a
#             WORK_COMPLETE without the NUL after the handle; gearmand fails to parse it, drops the
#             connection and requeues the job, again and again (a client gets no answer)
#   sha256    returns the hex SHA-256 of the workload
#   gen       workload N (decimal): returns N bytes, byte i = i % 256
#   info      returns "function\nhandle\nlength" (Gearman::Worker cannot see the unique: it sends
#             GRAB_JOB, not GRAB_JOB_UNIQ, so the unique line is missing)
#   events    (Gearman::Worker 2.004's send_work_status($job, $n, $d) drops $d and sends a malformed
#             WORK_STATUS that makes gearmand drop the connection and requeue the job; Job->set_status
#             is correct, so it is used here)
#             WORK_DATA d1, WORK_WARNING w1, WORK_STATUS 1/2, WORK_DATA d2, WORK_WARNING w2,
#             WORK_STATUS 2/2, then completes with "done"
#   progress  workload = path of a "go" file: WORK_STATUS 1/4, waits (<= 30 s) until the go file
#             exists, WORK_STATUS 4/4, completes with "progressed"
#   bg_write  workload = "PATH\n" . DATA: writes DATA to PATH (via a rename), completes with "ok"
#   record    workload = "PATH\n" . LINE: appends LINE . "\n" to PATH, completes with "ok"
#   fail      returns undef: Gearman::Worker sends WORK_FAIL
#   die       dies "perl died\n": Gearman::Worker sends WORK_EXCEPTION with the Storable::nfreeze'd
#             error message, then WORK_FAIL.  gearmand has already dropped the job on the exception,
#             answers the WORK_FAIL with ERROR JOB_NOT_FOUND, and Gearman::Worker dies on that
#             ("unexpected packet type: error"): the worker process exits after a die.
#   exception send_work_exception("perl exception"), then returns (no WORK_FAIL after it)
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use Gearman::Worker;

$| = 1;
my $server = shift @ARGV or die "usage: $0 HOST:PORT [--prefix P] [--id ID] [--count N] [FUNCTION ...]\n";
my ($id, $count, $prefix);
my @names;
while (@ARGV) {
    my $a = shift @ARGV;
    if    ($a eq '--id')     { $id     = shift @ARGV }
    elsif ($a eq '--prefix') { $prefix = shift @ARGV }
    elsif ($a eq '--count')  { $count  = shift @ARGV }
    else                     { push @names, $a }
}

my $worker = Gearman::Worker->new(job_servers => [$server], ($id ? (client_id => $id) : ()));

sub split_path {
    my ($arg) = @_;
    my $nl = index($arg, "\n");
    die "no newline in workload\n" if $nl < 0;
    return (substr($arg, 0, $nl), substr($arg, $nl + 1));
}

my %functions = (
    echo   => sub { return $_[0]->arg },
    sha256 => sub { return sha256_hex($_[0]->arg) },
    gen    => sub {
        my $n = int($_[0]->arg);
        my $block = join('', map { chr } 0 .. 255);
        return substr($block x (int($n / 256) + 1), 0, $n);
    },
    info => sub {
        my $job = shift;
        return join("\n", $job->{func}, $job->handle, length($job->arg));
    },
    events => sub {
        my $job = shift;
        $worker->send_work_data($job, "d1");
        $worker->send_work_warning($job, "w1");
        $job->set_status(1, 2);
        $worker->send_work_data($job, "d2");
        $worker->send_work_warning($job, "w2");
        $job->set_status(2, 2);
        return "done";
    },
    progress => sub {
        my $job = shift;
        my $go  = $job->arg;
        $job->set_status(1, 4);
        for (1 .. 3000) { last if -e $go; select(undef, undef, undef, 0.01) }
        $job->set_status(4, 4);
        return "progressed";
    },
    bg_write => sub {
        my ($path, $data) = split_path($_[0]->arg);
        open(my $fh, '>:raw', "$path.tmp") or die "open $path.tmp: $!\n";
        print $fh $data;
        close($fh) or die "close: $!\n";
        rename("$path.tmp", $path) or die "rename: $!\n";
        return "ok";
    },
    record => sub {
        my ($path, $line) = split_path($_[0]->arg);
        open(my $fh, '>>:raw', $path) or die "open $path: $!\n";
        print $fh "$line\n";
        close($fh) or die "close: $!\n";
        return "ok";
    },
    fail      => sub { return undef },
    die       => sub { die "perl died\n" },
    exception => sub {
        my $job = shift;
        $worker->send_work_exception($job, "perl exception");
        return undef;
    },
);

@names = sort keys %functions unless @names;
for my $name (@names) {
    my $code = $functions{$name} or die "unknown function $name\n";
    my $full = defined $prefix ? "$prefix.$name" : $name;
    $worker->register_function($full => $code) or die "register_function($full) failed\n";
}
print "ready\n";

my $done = 0;
$worker->work(
    on_complete => sub { $done++ },
    on_fail     => sub { $done++ },
    stop_if     => sub { return defined($count) && $done >= $count },
);
