#include "sidecar/cli/cli_sync.h"

#include <cmath>

namespace ps::sidecar {
namespace {


Status usage(const std::string& message) { return {Code::invalid_argument, message}; }

Result<std::int64_t> parse_int(std::string_view option, const std::string& text) {
  const auto bad = usage("argument " + std::string(option) + ": invalid int value: '" + text + "'");
  if (text.empty() || text.size() > 18) return bad;
  std::size_t i = text[0] == '-' || text[0] == '+' ? 1 : 0;
  if (i == text.size()) return bad;
  std::int64_t v = 0;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return bad;
    v = v * 10 + (text[i] - '0');
  }
  return text[0] == '-' ? -v : v;
}

}  // namespace

const std::vector<SyncCommandSpec>& sync_command_specs() {
  static const std::vector<SyncCommandSpec> kSpecs = {
      {"sync", {{"--wait", true}}, 0, "sync [--wait SECONDS]",
       "Push the outbox's pending changes to Vault once and exit (for cron). --wait: while\n"
       "Vault is unavailable, keep retrying on the backoff schedule for up to SECONDS.\n"
       "Exit 0 when every agent is synced; 1 when any push is left pending or failed."},
      {"reconcile", {{"--dry-run", false}, {"--detailed-exitcode", false}}, 0,
       "reconcile [--dry-run] [--detailed-exitcode]",
       "Compare every agent's role in Vault with its tier in the ledger (reconcile.drift_mode:\n"
       "ignore, detect, correct; correct queues repairs for the next sync) and retry parked\n"
       "pushes. --dry-run changes nothing and prints the plan. With --detailed-exitcode:\n"
       "0 in sync, 2 differences found, 1 error."},
      {"status", {{"--agent", true}, {"--json", false}}, 0, "status [--agent AGENT_ID] [--json]",
       "Show the sync outbox: counts by state, the oldest pending change, parked pushes with\n"
       "their reasons; --agent: one agent's sync state, history and drift."},
      {"demote",
       {{"--to-tier", true}, {"--reason", true}, {"--by", true}, {"--from-tier", true}},
       1,
       "demote AGENT_ID --to-tier N --reason TEXT [--by WHO] [--from-tier N]",
       "Demote an agent to a lower tier (one ledger transaction, recorded in\n"
       "sidecar_demotions; Vault follows through the outbox, demotions first, and the\n"
       "revocation steps of revocation.vault run after the policy change)."},
      {"revoke-scan", {{"--from-id", true}}, 0, "revoke-scan [--from-id N]",
       "Apply the revocation rules to the violations recorded since the last scan (the mark\n"
       "in sidecar_revocation_mark), each exactly once, and exit (for cron; `sync` pushes).\n"
       "--from-id N replays violations with id >= N on purpose. Exit 0; 1 on ledger errors."},
      {"freeze", {{"--all", false}, {"--reason", true}, {"--by", true}}, 0,
       "freeze --all --reason TEXT [--by WHO]",
       "The kill switch: every agent to tier 0 in one transaction (top-priority pushes and the\n"
       "revocation steps); promotions are refused until `unfreeze`. Persists across restarts."},
      {"check", {{"--offline", false}, {"--json", false}, {"--policy", false}}, 0,
       "check [--offline] [--json] [--policy]",
       "Preflight: the configuration (serve parts included), secret files, TLS files, the\n"
       "ledger, and (unless --offline) Vault: reachable and unsealed, the sidecar's token, its\n"
       "capabilities on every path this configuration uses, the tier policies. Exit 0 when\n"
       "nothing failed, 1 otherwise. --policy prints the least-privilege Vault policy (HCL)."},
      {"unfreeze", {{"--by", true}}, 0, "unfreeze [--by WHO]",
       "Lift the freeze: promotions are possible again (cooldowns keep running; agents\n"
       "re-earn tiers through the normal rules)."},
  };
  return kSpecs;
}

std::optional<Result<SyncCliCommand>> parse_sync_command(
    std::string_view name, const std::vector<std::string>& positionals, const OptionFinder& find) {
  using R = Result<SyncCliCommand>;
  if (name == "sync") {
    SyncCommand c;
    if (const auto* w = find("--wait")) {
      char* end = nullptr;
      const double v = std::strtod(w->c_str(), &end);
      if (w->empty() || end != w->c_str() + w->size() || !std::isfinite(v) || v < 0 || v > 1e6) {
        return R(usage("argument --wait: must be a number of seconds from 0 to 1000000"));
      }
      c.wait_s = v;
    }
    return R(SyncCliCommand{c});
  }
  if (name == "reconcile") {
    return R(SyncCliCommand{
        ReconcileCommand{find("--dry-run") != nullptr, find("--detailed-exitcode") != nullptr}});
  }
  if (name == "status") {
    StatusCommand c;
    if (const auto* a = find("--agent")) c.agent_id = *a;
    c.json = find("--json") != nullptr;
    return R(SyncCliCommand{std::move(c)});
  }
  if (name == "demote") {
    DemoteCommand c;
    c.agent_id = positionals.at(0);
    const auto* to = find("--to-tier");
    const auto* reason = find("--reason");
    if (!to || !reason) {
      return R(usage("demote: the following arguments are required: --to-tier, --reason"));
    }
    auto tier = parse_int("--to-tier", *to);
    if (!tier.ok()) return R(tier.status());
    c.to_tier = *tier;
    if (reason->empty()) return R(usage("demote: --reason must not be empty"));
    c.reason = *reason;
    if (const auto* by = find("--by")) {
      if (by->empty()) return R(usage("demote: --by must not be empty"));
      c.by = *by;
    }
    if (const auto* from = find("--from-tier")) {
      auto f = parse_int("--from-tier", *from);
      if (!f.ok()) return R(f.status());
      c.from_tier = *f;
    }
    return R(SyncCliCommand{std::move(c)});
  }
  if (name == "revoke-scan") {
    RevokeScanCommand c;
    if (const auto* from = find("--from-id")) {
      auto f = parse_int("--from-id", *from);
      if (!f.ok()) return R(f.status());
      if (*f < 1) return R(usage("revoke-scan: --from-id must be at least 1"));
      c.from_id = *f;
    }
    return R(SyncCliCommand{c});
  }
  if (name == "freeze") {
    const auto* reason = find("--reason");
    if (!find("--all") || !reason) {
      return R(usage("freeze: the following arguments are required: --all, --reason"));
    }
    if (reason->empty()) return R(usage("freeze: --reason must not be empty"));
    FreezeCommand c{*reason, std::nullopt};
    if (const auto* by = find("--by")) {
      if (by->empty()) return R(usage("freeze: --by must not be empty"));
      c.by = *by;
    }
    return R(SyncCliCommand{std::move(c)});
  }
  if (name == "check") {
    return R(SyncCliCommand{CheckCommand{find("--offline") != nullptr, find("--json") != nullptr,
                                         find("--policy") != nullptr}});
  }
  if (name == "unfreeze") {
    UnfreezeCommand c;
    if (const auto* by = find("--by")) {
      if (by->empty()) return R(usage("unfreeze: --by must not be empty"));
      c.by = *by;
    }
    return R(SyncCliCommand{std::move(c)});
  }
  return std::nullopt;
}

}  // namespace ps::sidecar
