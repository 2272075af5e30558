#!/usr/bin/perl
# A Gearman::Client (pure-Perl protocol, libgearman-client-perl) that submits one job and prints
# what came back, one event per line (payloads in hex, so every byte value survives):
#
#   perl_client.pl HOST:PORT MODE FUNCTION [--in FILE] [--unique U] [--exceptions] [--timeout S]
#
# MODE: do | high | low (foreground, priority normal/high/low) | bg | bg_high | bg_low (background)
#       | status (FUNCTION is then a handle "HOST:PORT//H:..." as bg prints it)
# The workload is the content of FILE (default: empty).  Output:
#   data HEX / warning HEX / status N D / complete HEX / exception HEX            (foreground events)
#   fail HEX                        (on_fail with its reason in hex: "jshandle fail", "timeout"...)
#   handle H                                     (background: the handle dispatch_background returned)
#   jobstatus KNOWN RUNNING N D                  (status mode)
#   end                                          (last line: the client returned)
use strict;
use warnings;
use Gearman::Client;
use Gearman::Task;

$| = 1;
my ($server, $mode, $func) = splice(@ARGV, 0, 3);
defined $func or die "usage: $0 HOST:PORT MODE FUNCTION [--in FILE] [--unique U] [--exceptions] [--timeout S]\n";
my ($in, $unique, $exceptions, $timeout) = (undef, undef, 0, 30);
while (@ARGV) {
    my $a = shift @ARGV;
    if    ($a eq '--in')         { $in         = shift @ARGV }
    elsif ($a eq '--unique')     { $unique     = shift @ARGV }
    elsif ($a eq '--exceptions') { $exceptions = 1 }
    elsif ($a eq '--timeout')    { $timeout    = shift @ARGV }
    else                         { die "unknown option $a\n" }
}
my $workload = '';
if (defined $in) {
    open(my $fh, '<:raw', $in) or die "open $in: $!\n";
    local $/;
    $workload = <$fh> // '';
    close($fh);
}

my $client = Gearman::Client->new(job_servers => [$server], exceptions => $exceptions);

sub out { print join(' ', @_), "\n" }

if ($mode eq 'status') {
    my $st = $client->get_status($func);
    if ($st) {
        out('jobstatus', $st->known ? 1 : 0, $st->running ? 1 : 0, $st->progress ? @{ $st->progress } : (0, 0));
    } else {
        out('jobstatus', 0, 0, 0, 0);
    }
    out('end');
    exit 0;
}

my %priority = (do => 'normal', high => 'high', low => 'low',
                bg => 'normal', bg_high => 'high', bg_low => 'low');
exists $priority{$mode} or die "unknown mode $mode\n";
my %opts = (priority => $priority{$mode}, timeout => $timeout);
$opts{uniq} = $unique if defined $unique;

if ($mode =~ /^bg/) {
    my $handle = $client->dispatch_background($func, \$workload, \%opts);
    out('handle', defined $handle ? $handle : '');
    out('end');
    exit 0;
}

my $task = Gearman::Task->new($func, \$workload, {
    %opts,
    on_data      => sub { out('data',    unpack('H*', ${ $_[0] })) },
    on_warning   => sub { out('warning', unpack('H*', ${ $_[0] })) },
    on_status    => sub { out('status',  $_[0], $_[1]) },
    on_complete  => sub { out('complete', unpack('H*', ${ $_[0] })) },
    on_fail      => sub { out('fail', defined $_[0] && length $_[0] ? unpack('H*', $_[0]) : '') },
    on_exception => sub { out('exception', unpack('H*', $_[0])) },
});
my $ts = $client->new_task_set;
$ts->add_task($task);
$ts->wait(timeout => $timeout);
out('end');
