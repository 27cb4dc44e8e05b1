# Apache, run as whichever user the container runs as (docker-compose.yml sets the host user):
# its run, lock and log directories open to any uid, its logs to the container's output
# (`devstack logs web`). The site (docker/apache-site.conf) and PHP settings (docker/php.ini)
# are mounted at run time, so editing them needs a restart, not a rebuild.
RUN a2enmod rewrite headers expires \
 && . /etc/apache2/envvars \
 && mkdir -p "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR" /usr/local/etc/php/conf.d \
 && chmod 1777 "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR" \
 && ln -sfT /dev/stderr "$APACHE_LOG_DIR/error.log" \
 && ln -sfT /dev/stdout "$APACHE_LOG_DIR/access.log" \
 && ln -sfT /dev/stdout "$APACHE_LOG_DIR/other_vhosts_access.log"
# PHP reads /usr/local/etc/php/conf.d/*.ini after Debian's own settings, as the official php
# images do; docker-compose.yml mounts docker/php.ini there.
ENV PHP_INI_SCAN_DIR=:/usr/local/etc/php/conf.d
COPY docker/apache-foreground /usr/local/bin/apache-foreground
