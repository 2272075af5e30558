<?php
// A GearmanClient (PHP's pecl gearman extension over libgearman) that submits one job and prints
// what came back, one event per line (payloads in hex, so every byte value survives):
//
//   php php_client.php HOST:PORT MODE FUNCTION [--in FILE] [--unique U] [--no-exceptions] [--timeout MS]
//
// MODE: task | task_high | task_low     addTask/addTaskHigh/addTaskLow + callbacks + runTasks
//       do | high | low                 doNormal/doHigh/doLow (one blocking call)
//       bg | bg_high | bg_low           doBackground/doHighBackground/doLowBackground
//       status                          jobStatus(FUNCTION), FUNCTION being a job handle
// The workload is the content of FILE (default: empty).  addServer() enables libgearman's
// exceptions option unless --no-exceptions.  Output:
//   data HEX / warning HEX / status N D / complete HEX / fail / exception HEX   (task events)
//   result HEX / rc NAME                  (do modes: the value doNormal returned, returnCode())
//   handle H                              (background)
//   jobstatus KNOWN RUNNING N D           (status mode)
//   end                                   (last line: the client returned)
$args = array_slice($argv, 1);
[$server, $mode, $func] = array_splice($args, 0, 3) + [null, null, null];
if ($func === null) {
    fwrite(STDERR, "usage: php_client.php HOST:PORT MODE FUNCTION [--in FILE] [--unique U] [--no-exceptions] [--timeout MS]\n");
    exit(2);
}
$in = null;
$unique = null;
$exceptions = true;
$timeout = 30000;
while ($args) {
    $a = array_shift($args);
    if ($a === '--in') {
        $in = array_shift($args);
    } elseif ($a === '--unique') {
        $unique = array_shift($args);
    } elseif ($a === '--no-exceptions') {
        $exceptions = false;
    } elseif ($a === '--timeout') {
        $timeout = (int)array_shift($args);
    } else {
        fwrite(STDERR, "unknown option $a\n");
        exit(2);
    }
}
$workload = $in === null ? '' : file_get_contents($in);

function out(string ...$parts): void {
    echo implode(' ', $parts), "\n";
}

function rc_name(int $rc): string {
    foreach (get_defined_constants(true)['gearman'] as $name => $value) {
        if ($value === $rc && strncmp($name, 'GEARMAN_', 8) === 0 && strpos($name, 'GEARMAN_CLIENT_') !== 0
            && strpos($name, 'GEARMAN_WORKER_') !== 0 && strpos($name, 'GEARMAN_JOB_PRIORITY') !== 0) {
            return $name;
        }
    }
    return (string)$rc;
}

[$host, $port] = explode(':', $server);
$client = new GearmanClient();
if (!$client->addServer($host, (int)$port, $exceptions)) {
    out('rc', rc_name($client->returnCode()));
    out('end');
    exit(1);
}
$client->setTimeout($timeout);

switch ($mode) {
    case 'status':
        $st = $client->jobStatus($func);
        out('jobstatus', $st[0] ? '1' : '0', $st[1] ? '1' : '0', (string)$st[2], (string)$st[3]);
        break;
    case 'bg':
    case 'bg_high':
    case 'bg_low':
        $method = ['bg' => 'doBackground', 'bg_high' => 'doHighBackground', 'bg_low' => 'doLowBackground'][$mode];
        $handle = $client->$method($func, $workload, $unique);
        out('handle', (string)$handle);
        out('rc', rc_name($client->returnCode()));
        break;
    case 'do':
    case 'high':
    case 'low':
        $method = ['do' => 'doNormal', 'high' => 'doHigh', 'low' => 'doLow'][$mode];
        $result = $client->$method($func, $workload, $unique);
        out('result', bin2hex((string)$result));
        out('rc', rc_name($client->returnCode()));
        break;
    case 'task':
    case 'task_high':
    case 'task_low':
        $client->setDataCallback(function (GearmanTask $t) { out('data', bin2hex((string)$t->data())); });
        $client->setWarningCallback(function (GearmanTask $t) { out('warning', bin2hex((string)$t->data())); });
        $client->setStatusCallback(function (GearmanTask $t) {
            out('status', (string)$t->taskNumerator(), (string)$t->taskDenominator());
        });
        $client->setCompleteCallback(function (GearmanTask $t) { out('complete', bin2hex((string)$t->data())); });
        $client->setFailCallback(function (GearmanTask $t) { out('fail'); });
        $client->setExceptionCallback(function (GearmanTask $t) { out('exception', bin2hex((string)$t->data())); });
        $method = ['task' => 'addTask', 'task_high' => 'addTaskHigh', 'task_low' => 'addTaskLow'][$mode];
        $task = $client->$method($func, $workload, null, $unique);
        if (!$task) {
            out('rc', rc_name($client->returnCode()));
            break;
        }
        $ok = $client->runTasks();
        out('rc', rc_name($client->returnCode()));
        break;
    default:
        fwrite(STDERR, "unknown mode $mode\n");
        exit(2);
}
out('end');
