# Runs at install time (install(SCRIPT) in packaging/CMakeLists.txt), for `cmake --install`
# and for cpack alike: the systemd unit and the configuration file go to paths that depend on
# the prefix actually installed to (CMAKE_INSTALL_PREFIX here is --prefix, or /usr for the
# Debian package), not the prefix the build tree was configured with.
#
#   prefix /usr:       unit in /lib/systemd/system, configuration in /etc/policy-sidecar
#   prefix /opt/X:     unit in /opt/X/lib/systemd/system, configuration in /etc/opt/X/policy-sidecar
#   any other prefix:  unit in PREFIX/lib/systemd/system, configuration in PREFIX/etc/policy-sidecar
#
# (GNUInstallDirs' rules for SYSCONFDIR; an absolute CMAKE_INSTALL_BINDIR/SYSCONFDIR/DOCDIR or
# PS_SYSTEMD_UNIT_DIR given at configure time is used as it is.)
# Set by the install(CODE) before this script: PS_UNIT_TEMPLATE, PS_CONFIG_SOURCE,
# PS_LINTIAN_OVERRIDES, PS_STAGING_DIR, PS_BINDIR, PS_SYSCONFDIR, PS_DOCDIR, PS_SYSTEMD_UNIT_DIR.

set(prefix "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "(.)/+$" "\\1" prefix "${prefix}")

function(ps_under_prefix out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  elseif(prefix STREQUAL "/")
    set(${out} "/${dir}" PARENT_SCOPE)
  else()
    set(${out} "${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

ps_under_prefix(PS_BINARY_DIR "${PS_BINDIR}")
set(PS_BINARY "${PS_BINARY_DIR}/policy-sidecar")
ps_under_prefix(PS_DOC_DIR "${PS_DOCDIR}")

if(IS_ABSOLUTE "${PS_SYSCONFDIR}")
  set(sysconf "${PS_SYSCONFDIR}")
elseif(prefix STREQUAL "/" OR prefix STREQUAL "/usr")
  set(sysconf "/etc")
elseif(prefix MATCHES "^/opt/")
  set(sysconf "/etc${prefix}")
else()
  set(sysconf "${prefix}/${PS_SYSCONFDIR}")
endif()
set(PS_CONFIG_DIR "${sysconf}/policy-sidecar")

if(PS_SYSTEMD_UNIT_DIR)
  set(PS_UNIT_DIR "${PS_SYSTEMD_UNIT_DIR}")
elseif(prefix STREQUAL "/" OR prefix STREQUAL "/usr")
  set(PS_UNIT_DIR "/lib/systemd/system")
else()
  set(PS_UNIT_DIR "${prefix}/lib/systemd/system")
endif()

# Staged under a name that depends only on its content, so that two installs running at once
# never write different contents to the same file.
string(SHA1 key "${PS_BINARY}|${PS_CONFIG_DIR}|${PS_DOC_DIR}|${PS_UNIT_DIR}")
set(staged "${PS_STAGING_DIR}/${key}")
configure_file("${PS_UNIT_TEMPLATE}" "${staged}/policy-sidecar.service" @ONLY)

file(INSTALL DESTINATION "${PS_UNIT_DIR}" TYPE FILE FILES "${staged}/policy-sidecar.service")

# The configuration is an administrator's file: installed when absent, never overwritten by a
# later `cmake --install` (the Debian package marks it as a conffile instead: dpkg asks).
if(EXISTS "$ENV{DESTDIR}${PS_CONFIG_DIR}/config.json")
  message(STATUS "Keeping: $ENV{DESTDIR}${PS_CONFIG_DIR}/config.json")
else()
  file(INSTALL DESTINATION "${PS_CONFIG_DIR}" TYPE FILE RENAME config.json
       FILES "${PS_CONFIG_SOURCE}")
endif()

# lintian's overrides matter only where lintian looks: the Debian package (prefix /usr).
if(prefix STREQUAL "/usr")
  file(INSTALL DESTINATION "/usr/share/lintian/overrides" TYPE FILE RENAME policy-sidecar
       FILES "${PS_LINTIAN_OVERRIDES}")
endif()
