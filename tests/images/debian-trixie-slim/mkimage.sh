#!/usr/bin/env bash
# Build a local "debian:trixie-slim" from the Debian mirror, for hosts that cannot pull images.
#
# usage: mkimage.sh TAG [docker-import --change instruction]...
#
# debootstrap --variant=minbase, then the same trimming the official slim image applies
# (no docs, man pages or translations; apt cleans up after itself; services never start
# during `apt-get install`), then `docker import`. About 25 s, most of it debootstrap.
set -euo pipefail

tag=${1:?usage: mkimage.sh TAG [--change INSTRUCTION]...}
shift

suite=trixie
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/devstack-debootstrap.XXXXXX")

# debootstrap mounts /proc and /sys (and on some hosts bind-mounts /dev) inside the target;
# unmount whatever is still there and never let rm cross into another filesystem.
cleanup() {
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v root="$rootfs" 'index($2, root "/") == 1 { print $2 }' /proc/mounts | sort -r)
  rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT

debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -n 30 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  exit 1
}
rm -f "$rootfs.log"

# --- apt: the three suites the official image uses, deb822 format, keyring from the image ---
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# --- the container tweaks of the official images (debuerreotype) ---
# Services must not start while a package installs inside `docker build`.
cat >"$rootfs/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
# no service starts inside an image build
exit 101
EOF
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"

cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
// Keep downloaded packages and binary caches out of image layers.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests" <<'EOF'
Apt::AutoRemove::SuggestsImportant "false";
EOF

# "slim": documentation, manual pages and translations are never installed.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{man,info,groff,linda,lintian}/*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +

# Host leftovers and caches: the engine provides hostname, resolv.conf and /dev at run time.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/var/log/* "$rootfs"/tmp/*
# Only if it is the device nodes debootstrap created, never the host's /dev bind-mounted there.
if ! mountpoint -q "$rootfs/dev"; then
  rm -rf --one-file-system "$rootfs"/dev/*
fi
: >"$rootfs/etc/hostname"
: >"$rootfs/etc/resolv.conf"
rm -f "$rootfs/etc/machine-id"

tar --numeric-owner --one-file-system -C "$rootfs" -c . \
  | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    "$@" - "$tag" >/dev/null
