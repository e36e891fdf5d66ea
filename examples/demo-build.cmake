# Read by examples/demo.sh's build only (-DCMAKE_PROJECT_policy_sidecar_INCLUDE=this file), which
# compiles the four programs the demo runs as a unity build (CMAKE_UNITY_BUILD: several .cpp
# files per compiler run, so nlohmann/json, httplib and OpenSSL headers are parsed once per batch
# instead of once per file). Helpers in anonymous namespaces that two files of one library both
# define (the same small function, or one name) would collide in a batch, so those files are
# compiled on their own. The regular build (tests/support/build.sh, tests/run.sh) is untouched.
# Should a new collision appear, demo.sh retries without the unity build (slower, still works).
set(PS_DEMO_UNITY_SKIP
  vault/config.cpp                 # invalid(), also in names.cpp
  vault/response.cpp               # any_contains(), also in error.cpp
  vault/emulator/approle_fields.cpp     # qt(), also in approle.cpp
  vault/emulator/approle_secret_id.cpp  # qt()
  vault/emulator/login.cpp              # qt()
  vault/emulator/sys.cpp                # qt()
  vault/emulator/token_store.cpp        # qt()
  vault/emulator/fields.cpp             # iequals(), go_json_type(), also in core.cpp
  sidecar/config/config.cpp        # invalid(), also config_read::invalid (config_sync.cpp's using)
  sidecar/config/config_serve.cpp  # invalid(), as config.cpp
  sidecar/server/operator_api.cpp  # dump(), also in webhook.cpp
  sidecar/cli/cli_sync.cpp         # usage(), also in cli.cpp
)

# Runs once every directory has been added (source file properties are set per directory).
function(ps_demo_skip_unity)
  foreach(file IN LISTS PS_DEMO_UNITY_SKIP)
    get_filename_component(dir "${file}" DIRECTORY)
    set_source_files_properties("${PROJECT_SOURCE_DIR}/${file}"
      DIRECTORY "${PROJECT_SOURCE_DIR}/${dir}"
      PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY "${PROJECT_SOURCE_DIR}" CALL ps_demo_skip_unity)
