// VaultClientFactory: checks a VaultConfig once (address, mount, namespace, timeouts, TLS
// material) and makes VaultClients that share it.
#include "vault/client.h"

namespace ps::vault {

Result<std::shared_ptr<VaultClientFactory>> VaultClientFactory::create(const VaultConfig& config,
                                                                       Clock& clock, LogFn log,
                                                                       RequestObserver observer) {
  auto endpoint = parse_address(config.address, config.allow_plaintext_loopback);
  if (!endpoint) return endpoint.error();
  std::shared_ptr<tls::ClientTls> tls;
  if (endpoint->tls) {
    auto unusable = [](const std::string& why) {
      return Error::make(ErrorCode::tls_config, Action::give_up,
                         "vault TLS settings are unusable: " + why);
    };
    try {
      auto created = tls::ClientTls::create(config.tls, log);
      if (!created.ok()) return unusable(created.status().message());
      tls = std::move(created).value();
    } catch (const std::exception& e) {
      return unusable(e.what());
    }
  }
  return create(config, std::move(tls), clock, std::move(log), std::move(observer));
}

Result<std::shared_ptr<VaultClientFactory>> VaultClientFactory::create(
    const VaultConfig& config, std::shared_ptr<tls::ClientTls> tls, Clock& clock, LogFn log,
    RequestObserver observer) {
  auto endpoint = parse_address(config.address, config.allow_plaintext_loopback);
  if (!endpoint) return endpoint.error();
  auto mount = MountPath::parse(config.mount);
  if (!mount) return mount.error();
  auto login_mount = MountPath::parse(config.auth.mount);
  if (!login_mount) return login_mount.error();
  if (!is_valid_namespace(config.vault_namespace)) {
    return Error::make(ErrorCode::invalid_argument, Action::give_up,
                       "vault namespace \"" + preview(config.vault_namespace) +
                           "\" is not a namespace path");
  }
  if (config.connect_timeout.count() <= 0 || config.request_timeout.count() <= 0) {
    return Error::make(ErrorCode::invalid_argument, Action::give_up,
                       "vault timeouts must be greater than zero");
  }
  if (config.max_reply_bytes < kMinMaxReplyBytes || config.max_reply_bytes > kMaxMaxReplyBytes) {
    return Error::make(ErrorCode::invalid_argument, Action::give_up,
                       "vault max_reply_bytes must be between " +
                           std::to_string(kMinMaxReplyBytes) + " and " +
                           std::to_string(kMaxMaxReplyBytes));
  }
  if (endpoint->tls && !tls) {
    return Error::make(ErrorCode::tls_config, Action::give_up,
                       "https address but no TLS client material");
  }
  if (!endpoint->tls && log) {
    log(LogLevel::warn, "vault: talking plain HTTP to a loopback address "
                        "(allow_plaintext_loopback is set)");
  }
  ClientOptions options{std::move(endpoint).value(), std::move(mount).value(),
                        std::move(login_mount).value(), config.vault_namespace,
                        config.connect_timeout, config.request_timeout,
                        config.max_reply_bytes};
  return std::shared_ptr<VaultClientFactory>(new VaultClientFactory(
      std::move(options), std::move(tls), clock, std::move(log), std::move(observer)));
}

std::unique_ptr<VaultClient> VaultClientFactory::make_client(
    std::shared_ptr<TokenSource> tokens) const {
  return std::make_unique<VaultClient>(options_, tls_, std::move(tokens), clock_, log_,
                                       observer_);
}

}  // namespace ps::vault
