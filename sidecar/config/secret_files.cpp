#include "sidecar/config/secret_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

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
  auto refuse = [&](const std::string& why) {
    return Status(Code::invalid_argument, key + ": " + path + ": " + why);
  };
  // fstat on the opened descriptor: the mode checked is the mode of the file read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return refuse(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return refuse(std::string("cannot stat: ") + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return refuse("not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return refuse(std::string("permissions ") + mode +
                  " are too open: a secret file must not be accessible by group or others "
                  "(chmod 600)");
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxSecretFileBytes) {
    ::close(fd);
    return refuse("larger than 64 KiB");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return refuse(std::string("cannot read: ") + std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxSecretFileBytes) {
      ::close(fd);
      return refuse("larger than 64 KiB");
    }
  }
  ::close(fd);
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
