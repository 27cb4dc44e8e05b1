# Corporate networks that intercept TLS: drop your CA certificates (*.crt) into docker/certs/
# and rebuild (`devstack up --build`); composer, curl and PHP then trust them.
COPY docker/certs/ /usr/local/share/ca-certificates/devstack/
RUN update-ca-certificates

# The container runs as the host user (docker-compose.yml), whose uid has no account here: give
# any uid a home (composer, drush and PsySH keep settings there) and a composer cache that a
# volume keeps across `devstack down`.
ENV HOME=/home/devstack \
    COMPOSER_HOME=/home/devstack/.composer \
    COMPOSER_CACHE_DIR=/home/devstack/.composer/cache
RUN mkdir -p "$COMPOSER_CACHE_DIR" \
 && chmod 1777 "$HOME" "$COMPOSER_HOME" "$COMPOSER_CACHE_DIR"
