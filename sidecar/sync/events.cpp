#include "sidecar/sync/events.h"

namespace ps::sidecar {

std::string_view to_string(ChangeSource source) {
  switch (source) {
    case ChangeSource::cli: return "cli";
    case ChangeSource::webhook: return "webhook";
    case ChangeSource::auto_promotion: return "auto";
    case ChangeSource::violation: return "violation";
    case ChangeSource::freeze: return "freeze";
    case ChangeSource::api: return "api";
  }
  return "unknown";
}

bool is_refusal(Code code) {
  switch (code) {
    case Code::aborted:
    case Code::failed_precondition:
    case Code::invalid_data:
    case Code::invalid_argument:
    case Code::permission_denied:
      return true;
    default:
      return false;
  }
}

}  // namespace ps::sidecar
