<?php
// A GearmanWorker (PHP's pecl gearman extension over libgearman) serving the interop functions.
//
//   php php_worker.php HOST:PORT [--prefix P] [--id ID] [--count N] [FUNCTION ...]
//
// Registers the named functions (default: all below) as P.NAME (NAME without --prefix) and
// works until killed, or until N jobs are done with --count.  Prints "ready" once every function is registered.
//
// Functions (the same names in every peer worker):
//   echo       returns the workload
//   sha256     returns the hex SHA-256 of the workload
//   gen        workload N (decimal): returns N bytes, byte i = i % 256
//   info       returns "function\nhandle\nlength\nunique"
//   events     sendData d1, sendWarning w1, sendStatus 1/2, sendData d2, sendWarning w2,
//              sendStatus 2/2, then completes with "done"
//   progress   workload = path of a "go" file: sendStatus 1/4, waits (<= 30 s) until the go file
//              exists, sendStatus 4/4, completes with "progressed"
//   bg_write   workload = "PATH\n" . DATA: writes DATA to PATH (via a rename), completes with "ok"
//   record     workload = "PATH\n" . LINE: appends LINE . "\n" to PATH, completes with "ok"
//   fail       $job->setReturn(GEARMAN_WORK_FAIL): libgearman sends WORK_FAIL
//   fail_send  $job->sendFail()
//   exception  $job->sendException("php exception")
$args = array_slice($argv, 1);
$server = array_shift($args);
if ($server === null) {
    fwrite(STDERR, "usage: php_worker.php HOST:PORT [--prefix P] [--id ID] [--count N] [FUNCTION ...]\n");
    exit(2);
}
$id = null;
$prefix = null;
$count = null;
$names = [];
while ($args) {
    $a = array_shift($args);
    if ($a === '--id') {
        $id = array_shift($args);
    } elseif ($a === '--prefix') {
        $prefix = array_shift($args);
    } elseif ($a === '--count') {
        $count = (int)array_shift($args);
    } else {
        $names[] = $a;
    }
}

function split_path(string $w): array {
    $nl = strpos($w, "\n");
    if ($nl === false) {
        throw new RuntimeException("no newline in workload");
    }
    return [substr($w, 0, $nl), substr($w, $nl + 1)];
}

$functions = [
    'echo' => function (GearmanJob $job) { return $job->workload(); },
    'sha256' => function (GearmanJob $job) { return hash('sha256', $job->workload()); },
    'gen' => function (GearmanJob $job) {
        $n = (int)$job->workload();
        $block = '';
        for ($i = 0; $i < 256; $i++) {
            $block .= chr($i);
        }
        return substr(str_repeat($block, intdiv($n, 256) + 1), 0, $n);
    },
    'info' => function (GearmanJob $job) {
        return implode("\n", [$job->functionName(), $job->handle(), (string)$job->workloadSize(), $job->unique()]);
    },
    'events' => function (GearmanJob $job) {
        $job->sendData("d1");
        $job->sendWarning("w1");
        $job->sendStatus(1, 2);
        $job->sendData("d2");
        $job->sendWarning("w2");
        $job->sendStatus(2, 2);
        return "done";
    },
    'progress' => function (GearmanJob $job) {
        $go = $job->workload();
        $job->sendStatus(1, 4);
        for ($i = 0; $i < 3000 && !file_exists($go); $i++) {
            usleep(10000);
        }
        $job->sendStatus(4, 4);
        return "progressed";
    },
    'bg_write' => function (GearmanJob $job) {
        [$path, $data] = split_path($job->workload());
        file_put_contents("$path.tmp", $data);
        rename("$path.tmp", $path);
        return "ok";
    },
    'record' => function (GearmanJob $job) {
        [$path, $line] = split_path($job->workload());
        file_put_contents($path, "$line\n", FILE_APPEND);
        return "ok";
    },
    'fail' => function (GearmanJob $job) {
        $job->setReturn(GEARMAN_WORK_FAIL);
        return "";
    },
    'fail_send' => function (GearmanJob $job) {
        $job->sendFail();
        return "";
    },
    'exception' => function (GearmanJob $job) {
        $job->sendException("php exception");
        return "";
    },
];

$worker = new GearmanWorker();
$worker->addServers($server);
if ($id !== null) {
    $worker->setId($id);
}
if (!$names) {
    $names = array_keys($functions);
    sort($names);
}
foreach ($names as $name) {
    if (!isset($functions[$name])) {
        fwrite(STDERR, "unknown function $name\n");
        exit(2);
    }
    $full = $prefix === null ? $name : "$prefix.$name";
    if (!$worker->addFunction($full, $functions[$name])) {
        fwrite(STDERR, "addFunction($full) failed: " . $worker->error() . "\n");
        exit(1);
    }
}
echo "ready\n";

$done = 0;
// work() returns false for a job that failed (returnCode() GEARMAN_WORK_FAIL): that job is done
// and the worker goes on.  Any other failure (server gone...) ends the worker.
while ($count === null || $done < $count) {
    if (!$worker->work() && $worker->returnCode() !== GEARMAN_WORK_FAIL) {
        fwrite(STDERR, "work() failed: " . $worker->returnCode() . " " . $worker->error() . "\n");
        exit(1);
    }
    $done++;
}
