#include "sidecar/config/settings.h"

#include "sidecar/config/config.h"
#include "sidecar/config/secret_files.h"

namespace ps::sidecar {

Result<std::shared_ptr<const ServeSettings>> load_serve_settings(const Config& config) {
  auto s = std::make_shared<ServeSettings>();
  s->rules = std::make_shared<const engine::Rules>(config.rules);
  s->tolerance_s = config.webhook.tolerance_s;
  s->reviewers = config.webhook.reviewers;
  s->admins = config.webhook.admins;
  s->revocation = config.revocation;
  if (!config.webhook.secrets_file.empty()) {
    auto secrets = load_webhook_secrets(config.webhook.secrets_file);
    if (!secrets.ok()) return secrets.status();
    s->webhook_secrets = std::move(secrets).value();
  }
  if (!config.api.token_file.empty()) {
    auto token = load_api_token(config.api.token_file);
    if (!token.ok()) return token.status();
    s->api_token = std::move(token).value();
  }
  return std::shared_ptr<const ServeSettings>(std::move(s));
}

}  // namespace ps::sidecar
