#include "vault/emulator/latency.h"

#include <utility>

namespace ps::vault::emulator {

nlohmann::json latency_to_json(const LatencySettings& s) {
  return {{"read_ms", s.read.count()},   {"read_jitter_ms", s.read_jitter.count()},
          {"write_ms", s.write.count()}, {"write_jitter_ms", s.write_jitter.count()},
          {"serialize_writes", s.serialize_writes}};
}

Result<LatencySettings> latency_from_json(const nlohmann::json& j) {
  LatencySettings s;
  const std::pair<const char*, std::chrono::milliseconds*> figures[] = {
      {"read_ms", &s.read}, {"read_jitter_ms", &s.read_jitter},
      {"write_ms", &s.write}, {"write_jitter_ms", &s.write_jitter}};
  for (const auto& [key, value] : j.items()) {
    if (key == "serialize_writes") {
      if (!value.is_boolean()) return Status(Code::invalid_argument, "serialize_writes must be a boolean");
      s.serialize_writes = value.get<bool>();
      continue;
    }
    std::chrono::milliseconds* target = nullptr;
    for (const auto& [name, field] : figures) {
      if (key == name) target = field;
    }
    if (!target) return Status(Code::invalid_argument, "unknown key " + key);
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
        value.get<std::int64_t>() > LatencySettings::kMaxMs) {
      return Status(Code::invalid_argument,
                    key + " must be an integer from 0 to " + std::to_string(LatencySettings::kMaxMs));
    }
    *target = std::chrono::milliseconds{value.get<std::int64_t>()};
  }
  return s;
}


std::chrono::milliseconds latency_for(const LatencySettings& s, bool write,
                                      const std::function<std::int64_t(std::int64_t n)>& draw) {
  const auto fixed = write ? s.write : s.read;
  const auto jitter = write ? s.write_jitter : s.read_jitter;
  if (jitter.count() <= 0) return fixed;
  return fixed + std::chrono::milliseconds{draw(jitter.count())};
}

std::uint64_t CommitPipeline::commit(std::chrono::milliseconds duration) {
  ps::MutexLock lock(mu_);
  const std::uint64_t mine = forming_;
  while (done_ < mine) {
    if (!committing_) {
      // Lead the forming batch: writes arriving from now on form the next one.
      committing_ = true;
      const std::uint64_t batch = forming_++;
      lock.unlock();
      sleep_(duration);
      lock.lock();
      done_ = batch;
      committing_ = false;
      done_cv_.notify_all();
      continue;
    }
    ++queued_;
    done_cv_.wait(lock);
    --queued_;
  }
  return mine;
}

std::size_t CommitPipeline::queued() const {
  ps::MutexLock lock(mu_);
  return queued_;
}

std::uint64_t CommitPipeline::batches() const {
  ps::MutexLock lock(mu_);
  return done_;
}


Result<LatencySettings> latency_from_spec(std::string_view spec) {
  nlohmann::json j = nlohmann::json::object();
  std::size_t pos = 0;
  while (pos <= spec.size() && !spec.empty()) {
    const std::size_t comma = std::min(spec.find(',', pos), spec.size());
    const std::string_view item = spec.substr(pos, comma - pos);
    const std::size_t eq = item.find('=');
    const std::string key(item.substr(0, eq));
    if (eq == std::string_view::npos) {
      j[key] = true;  // a bare flag: serialize_writes
    } else {
      const std::string value(item.substr(eq + 1));
      const bool digits = !value.empty() && value.size() <= 9 &&
                          value.find_first_not_of("0123456789") == std::string::npos;
      if (!digits) return Status(Code::invalid_argument, key + " must be a whole number of milliseconds");
      j[key] = std::stoll(value);
    }
    pos = comma + 1;
  }
  return latency_from_json(j);
}

}  // namespace ps::vault::emulator
