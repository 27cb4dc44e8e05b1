ENV DEBIAN_FRONTEND=noninteractive
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# PHP 8.4 (command line), the extensions most PHP applications need, and composer: the slow
# layer, first, so it only runs again when this list changes. devstack's PHP stacks share it, so
# a second project builds in seconds. Add extensions your application needs (`apt-cache search
# php8.4-`) in a RUN of your own below, then `devstack up --build`.
# Versions come from the Debian release the base image pins, so they are not repeated here.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      php8.4-cli php8.4-mysql php8.4-sqlite3 php8.4-gd php8.4-xml php8.4-mbstring php8.4-curl \
      php8.4-zip php8.4-opcache php8.4-intl php8.4-bcmath php8.4-apcu php8.4-redis \
      composer git unzip curl ca-certificates mariadb-client \
 && rm -rf /var/lib/apt/lists/*
