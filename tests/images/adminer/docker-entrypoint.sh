#!/bin/sh
# Entrypoint of the test stand-in for the official "adminer" image.
#   ADMINER_PLUGINS="a b"  enable plugins/a.php and plugins/b.php (plugins that take no arguments)
#   ADMINER_DESIGN=name    use designs/name/adminer.css
# Files go to /tmp when the image's directories are not writable by the current user.
set -e

if [ -n "${ADMINER_DESIGN:-}" ]; then
  css=$(ls /var/www/html/designs/"$ADMINER_DESIGN"/adminer*.css 2>/dev/null | head -n 1)
  if [ -z "$css" ]; then
    echo "error: unknown ADMINER_DESIGN '$ADMINER_DESIGN' (see /var/www/html/designs/)" >&2
    exit 1
  fi
  ln -sf "$css" /var/www/html/adminer.css 2>/dev/null || {
    echo "warning: cannot link $css as adminer.css (read-only /var/www/html?)" >&2
  }
fi

for plugin in ${ADMINER_PLUGINS:-}; do
  file=/var/www/html/plugins/$plugin.php
  if [ ! -f "$file" ]; then
    echo "error: unknown plugin '$plugin' (see /var/www/html/plugins/)" >&2
    exit 1
  fi
  # Class name: "tables-filter" -> AdminerTablesFilter.
  class=Adminer$(echo "$plugin" | awk -F- '{ for (i = 1; i <= NF; i++) printf "%s", toupper(substr($i, 1, 1)) substr($i, 2) }')
  printf '<?php\nrequire_once __DIR__ . "/../plugins/%s.php";\nreturn new %s();\n' "$plugin" "$class" \
    >"/var/www/html/plugins-enabled/$plugin.php"
done

exec "$@"
