# PHP-FPM, run as whichever user the container runs as (docker-compose.yml sets the host user),
# logging to the container's output (`devstack logs php`). Its pool (docker/php-fpm.conf) and
# PHP settings (docker/php.ini) are mounted at run time, so editing them needs a restart, not a
# rebuild.
RUN mkdir -p /usr/local/etc/php/conf.d \
 && rm -f /etc/php/8.4/fpm/pool.d/www.conf
# PHP reads /usr/local/etc/php/conf.d/*.ini after Debian's own settings, as the official php
# images do; docker-compose.yml mounts docker/php.ini there.
ENV PHP_INI_SCAN_DIR=:/usr/local/etc/php/conf.d
COPY docker/php-fpm-foreground /usr/local/bin/php-fpm-foreground
