#include "sidecar/config/secret_files.h"

#include <cstring>

#include "engine/base/private_file.h"

#include "tls/digest.h"

namespace ps::sidecar {


namespace {

constexpr std::size_t kMaxSecretFileBytes = 64 * 1024;
constexpr std::string_view kSecretPrefix = "whsec_";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::string> read_private_file(const std::string& path, const std::string& key) {
  auto text = ps::read_private_file(
      path, PrivateFileRules{FileSecrecy::secret, kMaxSecretFileBytes, std::nullopt});
  if (!text.ok()) return Status(Code::invalid_argument, key + ": " + text.status().message());
  return text;
}

Result<std::string> load_api_token(const std::string& path) {
  auto text = read_private_file(path, "api.token_file");
  if (!text.ok()) return text.status();
  std::string_view t = *text;
  while (!t.empty() && std::strchr(" \t\r\n", t.front())) t.remove_prefix(1);
  while (!t.empty() && std::strchr(" \t\r\n", t.back())) t.remove_suffix(1);
  if (t.size() < 16 || t.size() > 1024) {
    return Status(Code::invalid_argument,
                  "api.token_file: " + path + ": the token must be 16 to 1024 characters");
  }
  for (char c : t) {
    if (c < 0x21 || c > 0x7e) {
      return Status(Code::invalid_argument,
                    "api.token_file: " + path + ": the token must be visible ASCII characters");
    }
  }
  return std::string(t);
}

Result<WebhookSecret> WebhookSecret::parse(std::string_view text) {
  if (text.substr(0, kSecretPrefix.size()) != kSecretPrefix) {
    return Status(Code::invalid_argument, "a webhook secret must start with whsec_");
  }
  auto key = tls::base64_decode(text.substr(kSecretPrefix.size()));
  if (!key || key->empty()) {
    return Status(Code::invalid_argument, "a webhook secret must be whsec_ followed by base64");
  }
  return WebhookSecret(std::move(*key));
}

Result<std::vector<WebhookSecret>> load_webhook_secrets(const std::string& path) {
  auto text = read_private_file(path, "webhook.secrets_file");
  if (!text.ok()) return text.status();
  std::vector<WebhookSecret> secrets;
  std::size_t line_no = 0;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    std::string_view line = trim(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    auto secret = WebhookSecret::parse(line);
    if (!secret.ok()) {
      return Status(Code::invalid_argument, "webhook.secrets_file " + path + " line " +
                                                std::to_string(line_no) + ": " +
                                                secret.status().message());
    }
    secrets.push_back(std::move(secret).value());
  }
  if (secrets.empty()) {
    return Status(Code::invalid_argument, "webhook.secrets_file " + path + " holds no secret");
  }
  return secrets;
}

}  // namespace ps::sidecar
