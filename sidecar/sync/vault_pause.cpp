#include "sidecar/sync/vault_pause.h"

namespace ps::sidecar {

bool VaultPause::may_push(Clock::SteadyTime now, const void* worker, bool* probe) {
  ps::MutexLock lock(mu_);
  *probe = false;
  if (failures_ == 0) return true;
  if (until_ && now < *until_) return false;
  if (prober_ != nullptr && prober_ != worker) return false;
  prober_ = worker;
  *probe = true;
  return true;
}

void VaultPause::release_probe(const void* worker) {
  ps::MutexLock lock(mu_);
  if (prober_ == worker) prober_ = nullptr;
}

std::optional<std::int64_t> VaultPause::fail(Clock::SteadyTime now, const void* worker) {
  ps::MutexLock lock(mu_);
  const bool probing = prober_ == worker;
  prober_ = nullptr;
  if (!probing && failures_ > 0 && until_ && now < *until_) return std::nullopt;
  return ++failures_;
}

void VaultPause::pause_for(Clock::SteadyTime until, std::string error) {
  ps::MutexLock lock(mu_);
  until_ = until;
  last_error_ = std::move(error);
}

bool VaultPause::succeed() {
  ps::MutexLock lock(mu_);
  prober_ = nullptr;
  if (failures_ == 0) return false;
  failures_ = 0;
  until_.reset();
  last_error_.reset();
  return true;
}

VaultPause::Snapshot VaultPause::snapshot() const {
  ps::MutexLock lock(mu_);
  return {failures_, until_, last_error_};
}

}  // namespace ps::sidecar
