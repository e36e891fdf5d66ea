#include "engine/base/status.h"

namespace ps {

const char* code_name(Code code) {
  switch (code) {
    case Code::ok: return "ok";
    case Code::invalid_argument: return "invalid_argument";
    case Code::not_found: return "not_found";
    case Code::not_a_ledger: return "not_a_ledger";
    case Code::invalid_data: return "invalid_data";
    case Code::failed_precondition: return "failed_precondition";
    case Code::aborted: return "aborted";
    case Code::unavailable: return "unavailable";
    case Code::permission_denied: return "permission_denied";
    case Code::internal: return "internal";
  }
  return "unknown";
}

}  // namespace ps
