// The Emulator facade over Emulator::Core (snapshot, restore, tidy, stats, the front end's
// request numbering) and the Core's construction: the built-in default policy, the cluster
// identity and the `--dev` bootstrap (initialised, unsealed, root token, approle mount).
#include <stdexcept>

#include "engine/base/mutex.h"

#include "vault/emulator/core.h"

namespace ps::vault::emulator {

void ensure_default_policy(State& s) {
  if (s.policies.count("default")) return;
  auto p = parse_policy("default", default_policy_text());
  if (!p.ok()) {
    throw std::logic_error("built-in default policy does not parse: " + p.status().message());
  }
  s.policies.emplace("default", std::move(*p));
}

Emulator::Core::Core(Options opts, Clock& clk) : options(std::move(opts)), clock(clk) {
  latency = options.latency;
  ensure_default_policy(state);
  state.cluster_name = "vault-cluster-" + random_base62(8);
  state.cluster_id = random_uuid();
  if (options.dev) init_dev();
}

void Emulator::Core::init_dev() {
  // A restored dev state keeps its seal state; a fresh one starts unsealed.
  if (!state.initialized) {
    state.initialized = true;
    state.sealed = false;
  }
  if (!state.mounts.count("approle")) {
    Mount m;
    m.path = "approle";
    m.accessor = "auth_approle_" + random_base62(8);
    state.mounts.emplace("approle", std::move(m));
  }
  if (!state.tokens.count(options.root_token)) {
    Token root;
    root.id = options.root_token;
    root.accessor = random_base62(24);
    root.policies = {"root"};
    root.path = "auth/token/root";
    root.display_name = "root";
    root.creation_time = now();
    root.renewable = false;
    store_token(std::move(root));
  }
}

// ----------------------------------------------------------------------------------------
// Emulator facade

Emulator::Emulator(Options options, Clock& clock)
    : core_(std::make_unique<Core>(std::move(options), clock)) {}

Emulator::~Emulator() = default;

// Nothing a client sends may escape as an exception: the core answers 500 like Vault would
// for an internal error.
Outcome Emulator::dispatch(const HttpRequest& request) {
  try {
    return core_->dispatch(request);
  } catch (const std::exception&) {
    Outcome out;
    out.response = error_response(500, {multierror("internal error")});
    return out;
  }
}

HttpResponse Emulator::handle(const HttpRequest& request) {
  try {
    return core_->handle(request);
  } catch (const std::exception&) {
    return error_response(500, {multierror("internal error")});
  }
}

std::string Emulator::snapshot() const {
  json j;
  {
    ps::ReaderLock lock(core_->mu);
    j = state_to_json(core_->state);
  }
  return safe_dump(j);
}

Status Emulator::restore(const std::string& text) {
  auto parsed = state_from_text(text);
  if (!parsed.ok()) return parsed.status();
  ps::WriterLock lock(core_->mu);
  core_->state = std::move(*parsed);
  ensure_default_policy(core_->state);
  if (core_->options.dev) core_->init_dev();
  core_->policies_changed();
  core_->changes.fetch_add(1);
  return Status::success();
}

std::uint64_t Emulator::change_count() const { return core_->changes.load(); }

void Emulator::tidy() {
  ps::WriterLock lock(core_->mu);
  core_->tidy_secret_ids();
  std::vector<std::string> expired;
  for (const auto& [id, t] : core_->state.tokens) {
    if (!core_->token_valid(t)) expired.push_back(id);
  }
  for (const auto& id : expired) core_->revoke_token_tree(id);
  core_->changes.fetch_add(1);
}

Stats Emulator::Core::stats_now() const {
  Stats s = stats;
  s.settled = unsettled.empty() ? s.received : *unsettled.begin() - 1;
  return s;
}

Stats Emulator::stats() const {
  ps::MutexLock lock(core_->admin_mu);
  return core_->stats_now();
}

std::uint64_t Emulator::request_received() {
  ps::MutexLock lock(core_->admin_mu);
  const std::uint64_t number = ++core_->stats.received;
  core_->unsettled.insert(number);
  return number;
}

void Emulator::request_settled(std::uint64_t number) {
  ps::MutexLock lock(core_->admin_mu);
  core_->unsettled.erase(number);
}

const Options& Emulator::options() const { return core_->options; }

}  // namespace ps::vault::emulator
