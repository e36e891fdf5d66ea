#!/usr/bin/env bash
# The Debian package, built by CPack from a Release build and checked as a user would get it:
#   build      (cmake, cpack) a Release build without tests in a build directory kept between
#                             runs (<build>/package-release, or $PS_PACKAGE_BUILD_DIR), only the
#                             targets the package needs; then cpack -G DEB into a temp directory
#   contents   (dpkg-deb -c)  the binary, the unit, the conffile, the man page, copyright and
#                             changelog; no emulator, no dev PKI tool, nothing in /usr/local
#   metadata   (dpkg-deb -I)  Depends from the shared libraries (libssl3, libsqlite3-0, ...)
#                             and adduser, Maintainer, Description
#   scripts    (dpkg-deb -e)  conffiles; the postinst run twice against stubs (user and group
#                             created once, configuration owner and mode set, statoverride kept);
#                             the postrm on remove and purge
#   lintian                   no error tags; overrides are ignored for this check
#   the unit                  runs the packaged binary, `check --offline` as ExecStartPre=,
#                             RestartPreventExitStatus= the binary's usage and config exit codes
#   the binary (dpkg-deb -x)  --version; `check --offline` on a configuration written here:
#                             passes without a Vault, fails naming a bad secret file, exits 78
#                             on a configuration typo and 64 on a usage error
# Usage: package_test.sh <build dir> <source dir> <version> [<compiler launcher>]
set -euo pipefail
build=${1:?usage: package_test.sh <build dir> <source dir> <version> [<compiler launcher>]}
src=${2:?}
version=${3:?}
launcher=${4:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in cmake cpack dpkg-deb dpkg-shlibdeps lintian help2man sqlite3 systemd-analyze man; do
  command -v "$tool" >/dev/null || fail "$tool not found (tests/support/ensure_deps.sh installs it)"
done

# ---- Build ---------------------------------------------------------------------------------
# Release, tests off, warnings as errors: the package as packaging/README.md builds it. The
# build directory is reused, so only the first run compiles everything.
release=${PS_PACKAGE_BUILD_DIR:-$build/package-release}
configure=(cmake -S "$src" -B "$release" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DPS_WERROR=ON)
[ -z "$launcher" ] || configure+=("-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher")
"${configure[@]}" >"$work/configure.log" 2>&1 || { cat "$work/configure.log" >&2; fail "configuring $release failed"; }
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$release/CMakeCache.txt" || fail "$release is not a Release build"
if ! cmake --build "$release" -j"$(nproc)" --target policy-sidecar ps_man_page ps_deb_changelog \
    >"$work/build.log" 2>&1; then
  tail -n 50 "$work/build.log" >&2
  fail "building the Release targets in $release failed"
fi
! grep -q 'warning:' "$work/build.log" || fail "the Release build warns: $(grep 'warning:' "$work/build.log")"
if ! cpack -G DEB --config "$release/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log" >&2
  fail "cpack -G DEB failed"
fi
debs=("$work"/out/*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "expected one .deb, got: ${debs[*]}"
deb=${debs[0]}
arch=$(dpkg --print-architecture)
[ "$(basename "$deb")" = "policy-sidecar_${version}-1_${arch}.deb" ] ||
  fail "unexpected file name $(basename "$deb")"
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes; installed size $(dpkg-deb -f "$deb" Installed-Size) KiB)"

# ---- cmake --install with another prefix --------------------------------------------------
# The unit and the configuration follow the prefix installed to, not the one configured.
DESTDIR="$work/opt-install" cmake --install "$release" --prefix /opt/ps >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "cmake --install --prefix /opt/ps failed"; }
opt_unit=$work/opt-install/opt/ps/lib/systemd/system/policy-sidecar.service
[ -x "$work/opt-install/opt/ps/bin/policy-sidecar" ] || fail "cmake --install put no binary in /opt/ps/bin"
grep -qxF 'ExecStart=/opt/ps/bin/policy-sidecar serve --config /etc/opt/ps/policy-sidecar/config.json' "$opt_unit" ||
  fail "the unit installed with --prefix /opt/ps: $(grep ExecStart "$opt_unit" || echo none)"
[ -f "$work/opt-install/etc/opt/ps/policy-sidecar/config.json" ] || fail "no /etc/opt/ps/policy-sidecar/config.json"
! find "$work/opt-install" -name 'vault-emulator' -o -name 'ps-dev-pki' | grep -q . ||
  fail "cmake --install installed a development tool"

# ---- Contents ------------------------------------------------------------------------------
dpkg-deb -c "$deb" >"$work/contents"
paths=$(awk '{print $6}' "$work/contents" | sed 's|^\./|/|; s|/$||')
has() { grep -qxF "$1" <<<"$paths" || fail "the package has no $1"; }
has /usr/bin/policy-sidecar
has /lib/systemd/system/policy-sidecar.service
has /etc/policy-sidecar/config.json
has /usr/share/man/man1/policy-sidecar.1.gz  # (built only where help2man is installed)
has /usr/share/doc/policy-sidecar/copyright
has /usr/share/doc/policy-sidecar/changelog.Debian.gz
has /usr/share/doc/policy-sidecar/README.md
has /usr/share/doc/policy-sidecar/examples/serve-config.json
for dev_tool in vault-emulator ps-dev-pki ps-gen-ledger; do
  ! grep -q "$dev_tool" <<<"$paths" || fail "the package contains the development tool $dev_tool"
done
! grep -qE '^/(usr/local|opt|home|root|tmp|work)(/|$)' <<<"$paths" ||
  fail "the package installs outside the Debian paths: $(grep -E '^/(usr/local|opt|home|root|tmp|work)' <<<"$paths")"
! awk '$2 != "root/root"' "$work/contents" | grep -q . || fail "files not owned by root/root"
grep -E ' \./usr/bin/policy-sidecar$' "$work/contents" | grep -q '^-rwxr-xr-x' ||
  fail "/usr/bin/policy-sidecar is not 0755"

# ---- Metadata ------------------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = policy-sidecar ] || fail "Package: $(field Package)"
[ "$(field Version)" = "${version}-1" ] || fail "Version: $(field Version)"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
depends_names=$(tr ',|' '\n\n' <<<"$depends" | sed 's/^ *//; s/[ (].*//')
for dep in libc6 libssl3 libsqlite3-0 libstdc++6 libcpp-httplib0.11 adduser; do
  grep -qxF "$dep" <<<"$depends_names" || fail "Depends lacks $dep: $depends"
done
grep -qE '^[^<>]+ <[^@<> ]+@[^@<> ]+>$' <<<"$(field Maintainer)" ||
  fail "Maintainer is not 'Name <address>': $(field Maintainer)"
description=$(field Description)
[ "$(wc -l <<<"$description")" -ge 3 ] || fail "Description has no extended part: $description"
echo "Depends: $depends"

# ---- Maintainer scripts --------------------------------------------------------------------
dpkg-deb -e "$deb" "$work/control"
[ "$(cat "$work/control/conffiles")" = /etc/policy-sidecar/config.json ] ||
  fail "conffiles: $(cat "$work/control/conffiles")"
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || fail "no executable $script"
  sh -n "$work/control/$script" || fail "$script: syntax error"
done

# The postinst against stubs that log their arguments: getent knows the user and group only
# once addgroup and adduser have made them; dpkg-statoverride knows the paths listed in
# $work/overrides; deb-systemd-helper knows no earlier installation and no enabled unit (as on
# a fresh machine). DPKG_ROOT points it at the extracted package: nothing on this machine
# changes.
dpkg-deb -x "$deb" "$work/root"
mkdir -p "$work/stubs"
log=$work/calls
for cmd in chown chmod deb-systemd-invoke systemctl deluser delgroup userdel groupdel; do
  printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$cmd" "$log" >"$work/stubs/$cmd"
done
printf '#!/bin/sh\necho "addgroup $*" >>"%s"\ntouch "%s/group-made"\n' "$log" "$work" >"$work/stubs/addgroup"
printf '#!/bin/sh\necho "adduser $*" >>"%s"\ntouch "%s/user-made"\n' "$log" "$work" >"$work/stubs/adduser"
cat >"$work/stubs/getent" <<EOF
#!/bin/sh
case "\$1" in
  group) [ -e "$work/group-made" ] ;;
  passwd) [ -e "$work/user-made" ] ;;
  *) exit 2 ;;
esac
EOF
cat >"$work/stubs/deb-systemd-helper" <<EOF
#!/bin/sh
echo "deb-systemd-helper \$*" >>"$log"
case "\$*" in "debian-installed "*|"--quiet was-enabled "*) exit 1 ;; esac
EOF
cat >"$work/stubs/dpkg-statoverride" <<EOF
#!/bin/sh
[ "\$1" = --list ] && grep -qxF "\$2" "$work/overrides" 2>/dev/null
EOF
chmod +x "$work"/stubs/*
run_postinst() { : >"$log"; PATH="$work/stubs:$PATH" DPKG_ROOT="$work/root" sh -e "$work/control/postinst" "$@"; }
conf=$work/root/etc/policy-sidecar

run_postinst configure                    # first installation
grep -qx 'addgroup --system --quiet policy-sidecar' "$log" || fail "postinst made no system group: $(cat "$log")"
grep -q '^adduser --system .*--ingroup policy-sidecar .*policy-sidecar$' "$log" ||
  fail "postinst made no system user: $(cat "$log")"
for expected in "chown root:policy-sidecar $conf" "chmod 0750 $conf" \
                "chown root:policy-sidecar $conf/config.json" "chmod 0640 $conf/config.json"; do
  grep -qxF "$expected" "$log" || fail "postinst did not run '$expected': $(cat "$log")"
done
! grep -qE '^deb-systemd-helper enable|^deb-systemd-invoke (start|restart)' "$log" ||
  fail "postinst enables or starts the service on a first installation: $(cat "$log")"

echo /etc/policy-sidecar/config.json >"$work/overrides"
run_postinst configure "$version-1"       # an upgrade: user and group exist; a statoverride
! grep -qE '^(addgroup|adduser) ' "$log" || fail "postinst re-created the user or group: $(cat "$log")"
! grep -q "$conf/config.json" "$log" || fail "postinst overrode a dpkg-statoverride: $(cat "$log")"
grep -qxF "chmod 0750 $conf" "$log" || fail "postinst (upgrade) left the directory alone: $(cat "$log")"

# The postrm: on remove nothing of the user, the group or the unit's enablement is touched; on
# purge the unit's enablement symlinks and state go (deb-systemd-helper purge) and the user and
# group stay (packaging/README.md says why).
run_script() { : >"$log"; PATH="$work/stubs:$PATH" DPKG_ROOT="$work/root" sh -e "$work/control/$1" "${@:2}"; }
run_script postrm remove
! grep -qE '^(deluser|delgroup|userdel|groupdel|deb-systemd-helper purge)' "$log" ||
  fail "postrm remove did more than it should: $(cat "$log")"
run_script postrm purge
grep -qxF 'deb-systemd-helper purge policy-sidecar.service' "$log" ||
  fail "postrm purge did not purge the unit's state: $(cat "$log")"
! grep -qE '^(deluser|delgroup|userdel|groupdel) ' "$log" || fail "postrm purge removed the user: $(cat "$log")"

# ---- lintian -------------------------------------------------------------------------------
# Overrides are ignored here, so an override can never hide an error tag; and every override
# the package ships comes after a comment giving its reason.
overrides=$work/root/usr/share/lintian/overrides/policy-sidecar
if [ -e "$overrides" ]; then
  awk '/^#/ {reason = 1; next} /^[[:space:]]*$/ {reason = 0; next}
       !reason {print "override without a reason: " $0; bad = 1} END {exit bad}' "$overrides" ||
    fail "lintian overrides need a comment with the reason"
fi
if ! lintian --no-override --fail-on error --display-info "$deb" >"$work/lintian" 2>&1; then
  cat "$work/lintian" >&2
  fail "lintian reports errors"
fi
echo "lintian: $(grep -cE '^[EWIPXO]: ' "$work/lintian" || true) tag(s)"
cat "$work/lintian"

# ---- The packaged files --------------------------------------------------------------------
unit=$work/root/lib/systemd/system/policy-sidecar.service
grep -qxF 'ExecStart=/usr/bin/policy-sidecar serve --config /etc/policy-sidecar/config.json' "$unit" ||
  fail "the unit does not run /usr/bin/policy-sidecar: $(grep ExecStart "$unit")"
grep -qxF 'ExecStartPre=/usr/bin/policy-sidecar check --offline --config /etc/policy-sidecar/config.json' "$unit" ||
  fail "the unit does not run check --offline before starting: $(grep '^ExecStartPre' "$unit" || echo none)"
grep -qxF 'RestartPreventExitStatus=64 78' "$unit" ||
  fail "the unit restarts on usage/config errors: $(grep '^RestartPrevent' "$unit" || echo none)"
grep -qE '^StartLimitBurst=[0-9]+$' "$unit" || fail "a failing ExecStartPre= would restart without bound"
! grep -qE '@[A-Z_]+@' "$unit" || fail "unconfigured placeholders in the unit: $(grep -E '@[A-Z_]+@' "$unit")"
# The unit as systemd parses it (unknown keys, bad values, commands that are not executable,
# the man page in Documentation=): a copy naming the extracted binary, as the host has none.
mkdir "$work/verify"
sed "s|/usr/bin/policy-sidecar|$work/root/usr/bin/policy-sidecar|g" "$unit" \
  >"$work/verify/policy-sidecar.service"
if ! MANPATH="$work/root/usr/share/man" systemd-analyze verify \
    "$work/verify/policy-sidecar.service" >"$work/verify.log" 2>&1; then
  cat "$work/verify.log" >&2
  fail "systemd-analyze verify rejects the unit"
fi
! grep -q 'policy-sidecar' "$work/verify.log" ||
  fail "systemd-analyze verify warns about the unit: $(cat "$work/verify.log")"
cmp -s "$work/root/etc/policy-sidecar/config.json" "$src/examples/serve-config.json" ||
  fail "/etc/policy-sidecar/config.json is not examples/serve-config.json"
zcat "$work/root/usr/share/man/man1/policy-sidecar.1.gz" | grep -q "policy-sidecar $version" ||
  fail "the man page does not name version $version"

bin=$work/root/usr/bin/policy-sidecar
! readelf -S --wide "$bin" | grep -qE ' \.(symtab|debug_[a-z]+) ' || fail "/usr/bin/policy-sidecar is not stripped"
out=$("$bin" --version) || fail "policy-sidecar --version failed"
[ "$out" = "policy-sidecar $version" ] || fail "--version printed '$out'"
"$bin" --help | grep -qF "policy-sidecar $version: " || fail "--help does not show the version"

# `check --offline` as the unit's ExecStartPre= runs it, on a configuration written here: a
# ledger made from the upstream schema, secret files 0600, plain HTTP on loopback, and a Vault
# address nothing listens on (offline: never contacted).
etc=$work/etc
mkdir -m 0700 "$etc"
sqlite3 "$work/governance.db" <"$src/tests/support/reference/upstream-schema.sql"
(umask 0077
 echo whsec_cGFja2FnZS10ZXN0LXdlYmhvb2stc2VjcmV0LTAxMjM= >"$etc/webhook-secrets"  # base64 of 32 bytes
 echo package-test-api-token-0123456789 >"$etc/api-token"
 echo hvs.package-test-token >"$etc/vault-token")
cat >"$etc/config.json" <<EOF
{
  // As a shipped configuration may: comments.
  "ledger": { "path": "$work/governance.db" },
  "vault": { "address": "https://127.0.0.1:9", "mount": "approle-agents",
             "auth": { "method": "token_file", "token_file": "$etc/vault-token" } },
  "roles": { "tier_policies": { "0": ["t0"], "1": ["t1"], "2": ["t2"], "3": ["t3"], "4": ["t4"] } },
  "listener": { "address": "127.0.0.1:0", "tls_disable": true },
  "webhook": { "secrets_file": "$etc/webhook-secrets", "reviewers": ["alice@example.com"] },
  "api": { "token_file": "$etc/api-token" }
}
EOF
run_bin() {
  set +e
  # (timeout: a serve that wrongly starts would otherwise run until CTest kills it)
  env -u VAULT_TOKEN -u VAULT_ADDR timeout 60 "$bin" "$@" >"$work/bin.out" 2>"$work/bin.err"
  rc=$?
  set -e
}
run_bin check --offline --config "$etc/config.json"
cat "$work/bin.out" "$work/bin.err"
[ "$rc" -eq 0 ] || fail "check --offline failed on a good configuration (exit $rc)"
grep -qE '^check: [0-9]+ ok, [0-9]+ warnings, 0 failed \(offline' "$work/bin.out" ||
  fail "check --offline did not report its summary"
for name in serve-config secret-files listener-tls roles vault-config ledger; do
  grep -qE "^\[(ok|warn)\] +$name: " "$work/bin.out" || fail "check --offline did not check $name"
done
! grep -qE '^\[(ok|warn|FAIL)\] +(vault|token|capabilities|tier-policies):' "$work/bin.out" ||
  fail "check --offline contacted Vault"

chmod 0644 "$etc/api-token"                            # a secret readable by everyone
run_bin check --offline --config "$etc/config.json"
[ "$rc" -eq 1 ] || fail "check --offline passed with a world-readable API token (exit $rc)"
grep -qE '^\[FAIL\] +secret-files: .*api-token' "$work/bin.out" ||
  fail "check --offline did not name the bad secret file: $(cat "$work/bin.out")"
run_bin serve --config "$etc/config.json"              # refused before it listens: EX_CONFIG
[ "$rc" -eq 78 ] || fail "serve with a world-readable API token exited $rc, not 78: $(cat "$work/bin.err")"
grep -q 'api-token' "$work/bin.err" || fail "serve did not name the bad secret file: $(cat "$work/bin.err")"
chmod 0600 "$etc/api-token"

# The exit codes the unit's RestartPreventExitStatus= names: a configuration typo is 78
# (EX_CONFIG) and a usage error 64 (EX_USAGE), for check (ExecStartPre=) and serve (ExecStart=).
sed 's/"listener"/"listner"/' "$etc/config.json" >"$etc/typo.json"
for cmd in "check --offline" serve; do
  run_bin $cmd --config "$etc/typo.json"
  [ "$rc" -eq 78 ] || fail "$cmd on a configuration with a typo exited $rc, not 78: $(cat "$work/bin.err")"
  grep -q 'listner' "$work/bin.err" || fail "$cmd did not name the unknown key: $(cat "$work/bin.err")"
  run_bin $cmd --no-such-option --config "$etc/config.json"
  [ "$rc" -eq 64 ] || fail "$cmd with an unknown option exited $rc, not 64: $(cat "$work/bin.err")"
done
echo ok
