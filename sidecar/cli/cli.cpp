#include "sidecar/cli/cli.h"

#include <algorithm>
#include <vector>

namespace ps::sidecar {
namespace {


struct OptionSpec {
  std::string_view name;  // with the leading "--"
  bool takes_value;
};

struct CommandSpec {
  std::string_view name;
  std::vector<OptionSpec> options;
  int positionals;  // 0 or 1 (AGENT_ID)
  std::string_view usage;
  std::string_view help;
};

const std::vector<OptionSpec> kGlobalOptions = {
    {"--db", true}, {"--config", true}, {"--now", true}};

const std::vector<CommandSpec>& commands() {
  static const std::vector<CommandSpec> kCommands = [] {
    std::vector<CommandSpec> c = {
      {"evaluate", {{"--json", false}}, 1, "evaluate AGENT_ID [--json]",
       "Evaluate an agent for promotion to the next tier."},
      {"promote",
       {{"--approved-by", true}, {"--rationale", true}, {"--from-tier", true}},
       1,
       "promote AGENT_ID --approved-by WHO [--rationale TEXT] [--from-tier N]",
       "Promote an eligible agent by one tier (one ledger transaction). --from-tier: only if\n"
       "the agent is still at tier N (default: the tier read when the command starts)."},
      {"eligible", {{"--json", false}}, 0, "eligible [--json]",
       "List agents eligible for promotion (ELIGIBLE or PENDING_REVIEW)."},
      {"history",
       {{"--agent-id", true}, {"--limit", true}, {"--json", false}},
       0,
       "history [--agent-id AGENT_ID] [--limit N] [--json]",
       "Show promotion history, newest first (default limit 20; negative: all)."},
      {"requirements", {{"--tier", true}}, 0, "requirements [--tier N]",
       "Show the promotion requirements in effect (defaults merged with --config rules)."},
      {"migrate", {}, 0, "migrate",
       "Apply the sidecar's pending ledger migrations (indexes); safe to repeat."},
      {"serve", {}, 0, "serve",
       "Run the daemon (needs --config FILE): approval webhook, operator API, health,\n"
       "metrics, sync worker and reconciler. SIGHUP reloads, SIGTERM stops (README\n"
       "\"Daemon (serve)\")."},
    };
    for (const SyncCommandSpec& spec : sync_command_specs()) {
      std::vector<OptionSpec> options;
      for (const auto& [name, takes_value] : spec.options) options.push_back({name, takes_value});
      c.push_back({spec.name, std::move(options), spec.positionals, spec.usage, spec.help});
    }
    return c;
  }();
  return kCommands;
}

std::string command_names() {
  std::string names;
  for (const CommandSpec& c : commands()) names += (names.empty() ? "" : ", ") + std::string(c.name);
  return names;
}

Status usage(const std::string& message) { return {Code::invalid_argument, message}; }

bool looks_like_negative_number(std::string_view s) {
  return s.size() > 1 && s[0] == '-' &&
         std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<std::int64_t> parse_int(std::string_view option, std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  const auto bad = usage("argument " + std::string(option) + ": invalid int value: '" +
                         std::string(text) + "'");
  if (s.empty() || s.size() > 18) return bad;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return bad;
    v = v * 10 + (c - '0');
  }
  return negative ? -v : v;
}

std::string command_help(const CommandSpec& c) {
  return "usage: policy-sidecar [--db PATH] [--config FILE] [--now ISO] " +
         std::string(c.usage) + "\n\n" + std::string(c.help) + "\n";
}

// Resolves a long option (without "=value") against the candidates: exact match, else a
// unique prefix (argparse's allow_abbrev).
Result<const OptionSpec*> resolve(std::string_view name,
                                          const std::vector<const OptionSpec*>& candidates) {
  std::vector<const OptionSpec*> prefixed;
  for (const OptionSpec* o : candidates) {
    if (o->name == name) return o;
    if (o->name.substr(0, name.size()) == name) prefixed.push_back(o);
  }
  if (prefixed.size() == 1) return prefixed[0];
  if (prefixed.empty()) return usage("unrecognized option '" + std::string(name) + "'");
  std::string names;
  for (const OptionSpec* o : prefixed) names += (names.empty() ? "" : ", ") + std::string(o->name);
  return usage("ambiguous option '" + std::string(name) + "' could match " + names);
}

}  // namespace

std::string main_help() {
  std::string text =
      "usage: policy-sidecar [--db PATH] [--config FILE] [--now ISO] COMMAND [ARGS]\n"
      "\n"
      "Evaluates AI agents' promotion to the next trust tier from the governance ledger.\n"
      "\n"
      "commands:\n";
  for (const CommandSpec& c : commands()) text += "  " + std::string(c.usage) + "\n";
  text +=
      "\n"
      "options:\n"
      "  --db PATH      ledger file (default: $POLICY_SIDECAR_DB, the config's ledger.path,\n"
      "                 or /opt/agent-governance/ledger/governance.db)\n"
      "  --config FILE  JSON configuration (ledger, rules)\n"
      "  --now ISO      evaluate at this ISO-8601 time instead of the clock\n"
      "  -h, --help     show this help (COMMAND --help: the command's help)\n"
      "\n"
      "exit status: 0 ok; 1 failed (ledger unusable, promotion refused, invalid agent data);\n"
      "2 usage or configuration error of evaluate/promote/eligible/history/requirements;\n"
      "3 eligible listed, but some agents were skipped because of invalid ledger data (named\n"
      "on stderr). The sidecar's own commands: 64 usage error, 78 configuration error;\n"
      "reconcile --detailed-exitcode: 0 in sync, 2 differences, 1 errors.\n";
  return text;
}

Result<Invocation> parse_command_line(std::span<const std::string_view> args) {
  Invocation inv;
  const CommandSpec* command = nullptr;
  std::vector<std::string> positionals;
  std::vector<std::pair<const OptionSpec*, std::string>> given;  // in order; last wins
  bool only_positionals = false;

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view tok = args[i];
    const bool is_option = !only_positionals && tok.size() > 1 && tok[0] == '-' &&
                           !looks_like_negative_number(tok);
    if (!only_positionals && tok == "--") {
      only_positionals = true;
      continue;
    }
    if (is_option && (tok == "-h" || tok == "--help")) {
      return Invocation{inv.global, HelpCommand{command ? command_help(*command) : main_help()}};
    }
    if (is_option) {
      if (tok.substr(0, 2) != "--") return usage("unrecognized option '" + std::string(tok) + "'");
      const auto eq = tok.find('=');
      const std::string_view name = tok.substr(0, eq);
      std::vector<const OptionSpec*> candidates;
      for (const OptionSpec& o : kGlobalOptions) candidates.push_back(&o);
      if (command) {
        for (const OptionSpec& o : command->options) candidates.push_back(&o);
      }
      auto spec = resolve(name, candidates);
      if (!spec.ok()) return spec.status();
      const OptionSpec* o = *spec;
      std::string value;
      if (!o->takes_value) {
        if (eq != std::string_view::npos) {
          return usage("argument " + std::string(o->name) + ": ignored explicit argument '" +
                       std::string(tok.substr(eq + 1)) + "'");
        }
      } else if (eq != std::string_view::npos) {
        value = std::string(tok.substr(eq + 1));
      } else {
        const bool has_next = i + 1 < args.size() &&
                              (args[i + 1].empty() || args[i + 1][0] != '-' ||
                               args[i + 1] == "-" || looks_like_negative_number(args[i + 1]));
        if (!has_next) return usage("argument " + std::string(o->name) + ": expected one argument");
        value = std::string(args[++i]);
      }
      given.emplace_back(o, std::move(value));
      continue;
    }
    if (!command) {
      for (const CommandSpec& c : commands()) {
        if (c.name == tok) command = &c;
      }
      if (!command) {
        return usage("unknown command '" + std::string(tok) + "' (choose from " +
                     command_names() + ")");
      }
      continue;
    }
    positionals.emplace_back(tok);
  }

  if (!command) {
    return usage("missing command (choose from " + command_names() + ")");
  }
  const auto expected = static_cast<std::size_t>(command->positionals);
  if (positionals.size() < expected) {
    return usage(std::string(command->name) + ": missing argument AGENT_ID");
  }
  if (positionals.size() > expected) {
    return usage("unrecognized arguments: " + positionals[expected]);
  }

  auto find = [&](std::string_view name) -> const std::string* {
    const std::string* last = nullptr;
    for (const auto& [o, v] : given) {
      if (o->name == name) last = &v;
    }
    return last;
  };
  auto has = [&](std::string_view name) { return find(name) != nullptr; };
  if (const auto* v = find("--db")) inv.global.db = *v;
  if (const auto* v = find("--config")) inv.global.config = *v;
  if (const auto* v = find("--now")) inv.global.now = *v;

  const std::string_view name = command->name;
  if (name == "evaluate") {
    inv.command = EvaluateCommand{positionals[0], has("--json")};
  } else if (name == "promote") {
    PromoteCommand c;
    c.agent_id = positionals[0];
    const auto* by = find("--approved-by");
    if (!by) return usage("promote: the following arguments are required: --approved-by");
    if (by->empty()) return usage("promote: --approved-by must not be empty");
    c.approved_by = *by;
    if (const auto* r = find("--rationale")) c.rationale = *r;
    if (const auto* t = find("--from-tier")) {
      auto tier = parse_int("--from-tier", *t);
      if (!tier.ok()) return tier.status();
      c.from_tier = *tier;
    }
    inv.command = std::move(c);
  } else if (name == "eligible") {
    inv.command = EligibleCommand{has("--json")};
  } else if (name == "history") {
    HistoryCommand c;
    if (const auto* a = find("--agent-id")) c.agent_id = *a;
    if (const auto* l = find("--limit")) {
      auto limit = parse_int("--limit", *l);
      if (!limit.ok()) return limit.status();
      c.limit = *limit;
    }
    c.json = has("--json");
    inv.command = std::move(c);
  } else if (name == "requirements") {
    RequirementsCommand c;
    if (const auto* t = find("--tier")) {
      auto tier = parse_int("--tier", *t);
      if (!tier.ok()) return tier.status();
      c.tier = *tier;
    }
    inv.command = c;
  } else if (name == "serve") {
    inv.command = ServeCommand{};
  } else if (auto sync = parse_sync_command(name, positionals, find)) {
    if (!sync->ok()) return sync->status();
    std::visit([&](auto&& c) { inv.command = std::move(c); }, std::move(*sync).value());
  } else {
    inv.command = MigrateCommand{};
  }
  return inv;
}

}  // namespace ps::sidecar
