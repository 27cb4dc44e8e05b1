#!/bin/bash
# Entrypoint of the test stand-in for the official "wordpress:*-apache" image.
#
# When the command is Apache (apache2-foreground, apache2 ...):
#   - no WordPress in the working directory (/var/www/html: neither index.php nor
#     wp-includes/version.php): copy /usr/src/wordpress there, owned by the user Apache runs as
#     (www-data when started as root, else the current uid:gid); a plugin, theme or .htaccess
#     already there is kept, never overwritten
#   - no wp-config.php and any WORDPRESS_* variable set: write wp-config.php from
#     wp-config-docker.php, each "put your unique phrase here" replaced by a random string
# Any other command just runs.
set -Eeuo pipefail

if [[ "${1:-}" == apache2* ]]; then
  uid=$(id -u)
  gid=$(id -g)
  if [ "$uid" = 0 ]; then
    user=${APACHE_RUN_USER:-www-data}
    group=${APACHE_RUN_GROUP:-www-data}
    # Apache accepts "#1000" for a numeric id.
    user=${user#\#}
    group=${group#\#}
  else
    user=$uid
    group=$gid
  fi

  if [ ! -e index.php ] && [ ! -e wp-includes/version.php ]; then
    # A directory Docker created for a bind mount is root's: hand it to Apache's user.
    if [ "$uid" = 0 ] && [ "$(stat -c %u:%g .)" = 0:0 ]; then
      chown "$user:$group" .
    fi
    echo "WordPress not found in $PWD - copying now..." >&2
    if [ -n "$(find . -mindepth 1 -maxdepth 1 -not -name wp-content)" ]; then
      echo "WARNING: $PWD is not empty! (copying anyhow)" >&2
    fi
    source_args=(--create --file - --directory /usr/src/wordpress --owner "$user" --group "$group")
    target_args=(--extract --file -)
    if [ "$uid" != 0 ]; then
      # Not root: the directory itself stays as it is (no utime or chmod on ".").
      target_args+=(--no-overwrite-dir)
    fi
    shopt -s nullglob
    for path in /usr/src/wordpress/.htaccess /usr/src/wordpress/wp-content/*/*/; do
      path=${path%/}
      path=${path#/usr/src/wordpress/}
      if [ -e "$PWD/$path" ]; then
        echo "WARNING: '$PWD/$path' exists! (not copying the WordPress version)" >&2
        source_args+=(--exclude "./$path")
      fi
    done
    shopt -u nullglob
    tar "${source_args[@]}" . | tar "${target_args[@]}"
    echo "Complete! WordPress has been successfully copied to $PWD" >&2
  fi

  wp_vars=$(compgen -v WORDPRESS_ || true)
  if [ ! -s wp-config.php ] && [ -n "$wp_vars" ]; then
    for source in wp-config-docker.php /usr/src/wordpress/wp-config-docker.php; do
      [ -s "$source" ] || continue
      echo "No 'wp-config.php' found in $PWD, but 'WORDPRESS_...' variables supplied; copying '$source' ($(echo $wp_vars))" >&2
      awk '
        /put your unique phrase here/ {
          cmd = "head -c1m /dev/urandom | sha1sum | cut -d\\  -f1"
          cmd | getline str
          close(cmd)
          gsub("put your unique phrase here", str)
        }
        { print }
      ' "$source" >wp-config.php
      if [ "$uid" = 0 ]; then
        # May fail on file systems without chown (some NFS): the file is still usable.
        chown "$user:$group" wp-config.php || true
      fi
      break
    done
  fi
fi

exec "$@"
