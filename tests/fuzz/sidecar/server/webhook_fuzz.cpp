// Fuzzes what the approval webhook does with unauthenticated bytes: the signing-secret parser,
// Standard Webhooks verification (headers as received) and the body checks behind the 400s.
// Input: line 1 a secret ("whsec_..."), line 2 webhook-id, line 3 webhook-timestamp, line 4
// webhook-signature ("sign" = a correct signature for this input), the rest the body.
// Properties: a message signed with the secret verifies (when its timestamp is in tolerance);
// a successful body parse gives a tier in 1..4 and non-empty agent and approver.
#include <cstdint>
#include <optional>
#include <string>

#include "sidecar/config/secret_files.h"
#include "sidecar/server/webhook.h"
#include "sidecar/server/webhook_signature.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ps::sidecar;
using namespace ps::sidecar::server;

namespace {
constexpr std::int64_t kNow = 1'796'000'000;  // fixed "now": the run is deterministic
constexpr std::int64_t kTolerance = 300;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = ps::fuzz::split_lines(data, size, 4);
  std::vector<WebhookSecret> secrets;
  if (auto s = WebhookSecret::parse(in.fields[0]); s.ok()) secrets.push_back(*s);

  std::string signature(in.fields[3]);
  if (signature == "sign" && !secrets.empty()) {
    signature = sign_webhook(secrets[0], in.fields[1], in.fields[2], in.rest);
  }
  SignedMessage message{in.fields[1], in.fields[2], signature, in.rest};
  const auto verdict = verify_webhook(message, secrets, kNow, kTolerance);
  (void)verdict_reason(verdict);
  if (in.fields[3] == "sign" && !secrets.empty() && !in.fields[1].empty() &&
      in.fields[2] == std::to_string(kNow)) {
    ps::fuzz::check(verdict == SignatureVerdict::ok);
  }

  std::string type, agent_id, approver;
  std::int64_t tier = 0;
  std::optional<std::string> rationale, review_id;
  if (parse_approval_body(in.rest, type, agent_id, tier, approver, rationale, review_id).empty()) {
    ps::fuzz::check(tier >= 1 && tier <= 4 && !agent_id.empty() && !approver.empty());
  }
  return 0;
}
