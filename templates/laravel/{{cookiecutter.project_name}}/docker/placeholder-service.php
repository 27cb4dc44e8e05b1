<?php
/**
 * Stand-in for a Laravel worker (queue, scheduler) until Laravel is installed in src/: every two
 * seconds it writes a heartbeat into Redis (devstack:heartbeat:SERVICE, kept 30 s), which the
 * welcome page shows; it exits as soon as artisan and vendor/autoload.php exist, so the container
 * restarts and docker/laravel-service runs `php artisan ...` from then on.
 */
declare(strict_types=1);

$service = $argv[1] ?? 'worker';
$host = getenv('REDIS_HOST') ?: 'redis';
$port = (int) (getenv('REDIS_PORT') ?: '6379');
$password = getenv('REDIS_PASSWORD') ?: '';
$stop = false;
pcntl_async_signals(true);
foreach ([SIGTERM, SIGINT] as $signal) {
    pcntl_signal($signal, static function () use (&$stop): void {
        $stop = true;
    });
}

$redis = null;
$lastError = '';
while (!$stop) {
    if (is_file('artisan') && is_file('vendor/autoload.php')) {
        fwrite(STDERR, "Laravel is installed: restarting as php artisan\n");
        exit(0);
    }
    try {
        if ($redis === null) {
            $redis = new Redis();
            $redis->connect($host, $port, 3.0);
            if ($password !== '') {
                $redis->auth($password);
            }
        }
        $redis->setex("devstack:heartbeat:$service", 30, (string) time());
        $lastError = '';
    } catch (Throwable $e) {
        $redis = null;
        if ($e->getMessage() !== $lastError) {
            $lastError = $e->getMessage();
            fwrite(STDERR, "cannot reach Redis at $host:$port: $lastError\n");
        }
    }
    sleep(2);
}
