#include "tls/ossl.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "engine/base/private_file.h"

namespace ps::tls::detail {
namespace {

constexpr off_t kMaxFileBytes = 4 * 1024 * 1024;

// Without a password callback OpenSSL would prompt on the terminal for an encrypted key; a
// daemon must fail instead.
int no_password(char*, int, int, void*) { return -1; }

// Key file contents are wiped from memory once parsed.
struct Wiped {
  std::string text;
  ~Wiped() {
    if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
  }
};

BioPtr memory_bio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

Status out_of_memory(const std::string& what) {
  return Status(Code::internal, "out of memory reading " + what);
}

Result<X509StackPtr> parse_certs(const std::string& text, const std::string& path) {
  X509StackPtr certs(sk_X509_new_null());
  BioPtr bio = memory_bio(text);
  if (!certs || !bio) return out_of_memory(path);
  ERR_clear_error();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr)) {
    if (sk_X509_push(certs.get(), cert) == 0) {
      X509_free(cert);
      return out_of_memory(path);
    }
  }
  // The loop ends with "no start line" at the end of the input; anything else is a broken
  // certificate.
  unsigned long err = ERR_peek_last_error();
  if (err != 0 && !(ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
    return Status(Code::invalid_argument, "bad certificate in " + path + ": " + openssl_errors());
  }
  ERR_clear_error();
  if (sk_X509_num(certs.get()) == 0) {
    return Status(Code::invalid_argument, "no PEM certificate in " + path);
  }
  return certs;
}

Result<PKeyPtr> read_key(const std::string& path) {
  // The one secret-file reader: no symlink, no FIFO wait, owned by us or root, not writable
  // by group, nothing for others.
  auto read = read_private_file(
      path, PrivateFileRules{FileSecrecy::private_key, static_cast<std::size_t>(kMaxFileBytes),
                             std::nullopt});
  if (!read.ok()) {
    return Status(read.status().code(), "private key " + read.status().message());
  }
  Wiped text{std::move(*read)};
  BioPtr bio = memory_bio(text.text);
  if (!bio) return out_of_memory(path);
  ERR_clear_error();
  PKeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (!key) {
    return Status(Code::invalid_argument,
                  "no usable PEM private key in " + path +
                      " (encrypted keys are not supported): " + openssl_errors("no key found"));
  }
  return key;
}

// Closes the descriptor when it goes out of scope.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads up to `size` bytes (less when the file shrank meanwhile); wipes them on failure.
Result<std::string> read_fd(int fd, std::size_t size, const std::string& path) {
  std::string out(size, '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      OPENSSL_cleanse(out.data(), out.size());
      return io_error(saved, "cannot read " + path);
    }
    if (n == 0) break;  // shrank while reading; parse what is there
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

int ex_index() {
  static int index = [] {
    return SSL_CTX_get_ex_new_index(
        0, nullptr, nullptr, nullptr,
        [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
          delete static_cast<std::shared_ptr<const void>*>(ptr);
        });
  }();
  return index;
}

}  // namespace

void free_x509_stack(STACK_OF(X509) * stack) { sk_X509_pop_free(stack, X509_free); }
void free_name_stack(STACK_OF(X509_NAME) * stack) { sk_X509_NAME_pop_free(stack, X509_NAME_free); }

Status io_error(int err, std::string message) {
  Code code = err == ENOENT                   ? Code::not_found
              : err == EACCES || err == EPERM ? Code::permission_denied
                                              : Code::unavailable;
  return Status(code, std::move(message) + ": " + std::strerror(err));
}

std::string openssl_errors(std::string_view fallback) {
  std::string out;
  while (unsigned long err = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(err);
    std::string text = reason ? reason : ("error " + std::to_string(err));
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? std::string(fallback) : out;
}

FileStamp stamp_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  FileStamp s;
  s.exists = true;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return s;
}

bool FileWatch::changed() const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [](const Entry& e) { return stamp_file(e.path) != e.stamp; });
}

Result<std::string> read_file(const std::string& path) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) {
    int saved = errno;
    return io_error(saved, "cannot open " + path);
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status(Code::invalid_argument, path + " is not a regular file");
  }
  if (st.st_size > kMaxFileBytes) {
    return Status(Code::invalid_argument, path + " is too large for a certificate or key file");
  }
  return read_fd(file.fd, static_cast<std::size_t>(st.st_size), path);
}

Result<X509StackPtr> load_certs(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  return parse_certs(*text, path);
}

Result<CertAndKey> load_cert_and_key(const std::string& cert_file,
                                     const std::string& key_file) {
  auto certs = load_certs(cert_file);
  if (!certs.ok()) return certs.status();
  auto key = read_key(key_file);
  if (!key.ok()) return key.status();
  X509Ptr leaf(sk_X509_shift(certs->get()));
  ERR_clear_error();
  if (X509_check_private_key(leaf.get(), key->get()) != 1) {
    ERR_clear_error();
    return Status(Code::invalid_argument, "the private key in " + key_file +
                                              " does not match the certificate in " + cert_file);
  }
  return CertAndKey{std::move(leaf), std::move(*certs), std::move(*key)};
}

namespace {

// The names directly inside `dir` (hidden ones excluded), sorted.
Result<std::vector<std::string>> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    int saved = errno;
    return io_error(saved, "cannot open CA directory " + dir);
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Moves every certificate of `from` into `into`, skipping ones already there.
void add_unique(STACK_OF(X509) * into, STACK_OF(X509) * from) {
  while (X509* cert = sk_X509_shift(from)) {
    bool duplicate = false;
    for (int i = 0; i < sk_X509_num(into); ++i) {
      if (X509_cmp(sk_X509_value(into, i), cert) == 0) duplicate = true;
    }
    if (duplicate || sk_X509_push(into, cert) == 0) X509_free(cert);
  }
}

}  // namespace

Result<X509StackPtr> load_ca_dir(const std::string& dir, FileWatch* watch, const LogFn& log) {
  auto names = list_dir(dir);
  if (!names.ok()) return names.status();
  watch->add(dir);
  X509StackPtr all(sk_X509_new_null());
  if (!all) return out_of_memory(dir);
  for (const std::string& name : *names) {
    std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    watch->add(path);
    auto text = read_file(path);
    if (!text.ok()) return text.status();
    if (text->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      log_to(log, LogLevel::debug, "CA directory: skipping " + path + " (no certificate)");
      continue;
    }
    auto certs = parse_certs(*text, path);
    if (!certs.ok()) return certs.status();
    add_unique(all.get(), certs->get());
  }
  if (sk_X509_num(all.get()) == 0) {
    return Status(Code::invalid_argument, "no CA certificate in directory " + dir);
  }
  return all;
}

Result<StorePtr> make_store(const STACK_OF(X509) * certs) {
  StorePtr store(X509_STORE_new());
  if (!store) return Status(Code::internal, "out of memory");
  for (int i = 0; i < sk_X509_num(certs); ++i) {
    if (X509_STORE_add_cert(store.get(), sk_X509_value(certs, i)) != 1) {
      unsigned long err = ERR_peek_last_error();
      // The same CA twice in a bundle is harmless.
      if (ERR_GET_REASON(err) == X509_R_CERT_ALREADY_IN_HASH_TABLE) {
        ERR_clear_error();
        continue;
      }
      return Status(Code::internal, "cannot add a CA certificate: " + openssl_errors());
    }
  }
  return store;
}

void log_to(const LogFn& log, LogLevel level, std::string_view message) {
  if (log) log(level, message);
}

bool keep_alive_with(SSL_CTX* ctx, std::shared_ptr<const void> owner) {
  auto* holder = new std::shared_ptr<const void>(std::move(owner));
  if (SSL_CTX_set_ex_data(ctx, ex_index(), holder) != 1) {
    delete holder;
    return false;
  }
  return true;
}

}  // namespace ps::tls::detail
