#include "sidecar/config/sync_settings.h"

namespace ps::sidecar {

std::string_view to_string(MissingRole mode) {
  return mode == MissingRole::create ? "create" : "report";
}

std::optional<MissingRole> missing_role_from(std::string_view text) {
  if (text == "report") return MissingRole::report;
  if (text == "create") return MissingRole::create;
  return std::nullopt;
}

std::string_view to_string(DriftMode mode) {
  switch (mode) {
    case DriftMode::ignore: return "ignore";
    case DriftMode::detect: return "detect";
    case DriftMode::correct: return "correct";
  }
  return "detect";
}

std::optional<DriftMode> drift_mode_from(std::string_view text) {
  if (text == "ignore") return DriftMode::ignore;
  if (text == "detect") return DriftMode::detect;
  if (text == "correct") return DriftMode::correct;
  return std::nullopt;
}

}  // namespace ps::sidecar
