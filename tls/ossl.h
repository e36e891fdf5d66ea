// Internal to tls/: owning handles for OpenSSL objects and the loading of PEM material from
// files. Every function reports a failure as a Status whose message names the file and the
// OpenSSL reason; no message ever contains file contents or key material. Codes: not_found (a
// file does not exist), permission_denied (it may not be read), unavailable (another I/O
// error), invalid_argument (unusable material or settings), internal (out of memory, OpenSSL).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "engine/base/status.h"
#include "tls/tls.h"

namespace ps::tls::detail {

template <auto Fn>
struct Freer {
  template <class T>
  void operator()(T* p) const {
    Fn(p);
  }
};

void free_x509_stack(STACK_OF(X509) * stack);
void free_name_stack(STACK_OF(X509_NAME) * stack);

using X509Ptr = std::unique_ptr<X509, Freer<X509_free>>;
using PKeyPtr = std::unique_ptr<EVP_PKEY, Freer<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Freer<BIO_free_all>>;
using StorePtr = std::unique_ptr<X509_STORE, Freer<X509_STORE_free>>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Freer<free_x509_stack>>;
using NameStackPtr = std::unique_ptr<STACK_OF(X509_NAME), Freer<free_name_stack>>;

// Drains this thread's OpenSSL error queue into one line ("reason; reason"), or `fallback`
// when the queue is empty.
std::string openssl_errors(std::string_view fallback = "unknown OpenSSL error");

// A failed file operation: `message` + ": " + strerror(err), coded not_found (ENOENT),
// permission_denied (EACCES, EPERM) or unavailable (anything else).
Status io_error(int err, std::string message);

// What identifies one version of a file: a replaced file (rename) has a new inode, an edited
// one a new mtime or size. A missing file has exists == false.
struct FileStamp {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stamp_file(const std::string& path);

// A set of watched files and the stamps they had when last read.
class FileWatch {
 public:
  void add(const std::string& path) { entries_.push_back({path, stamp_file(path)}); }
  bool changed() const;

 private:
  struct Entry {
    std::string path;
    FileStamp stamp;
  };
  std::vector<Entry> entries_;
};

// Reads a whole file (at most 4 MiB: certificates and keys are small, and a huge file is a
// mistake, not material). A failed read wipes what it had read.
Result<std::string> read_file(const std::string& path);

// Every certificate in a PEM file, in file order. Fails when the file holds none.
Result<X509StackPtr> load_certs(const std::string& path);

// Certificate (leaf first, then its chain) and the matching private key.
struct CertAndKey {
  X509Ptr cert;
  X509StackPtr chain;  // never null; may be empty
  PKeyPtr key;
};
Result<CertAndKey> load_cert_and_key(const std::string& cert_file,
                                     const std::string& key_file);

// The trust anchors in a CA directory: every certificate in every regular file (symlinks
// followed) directly inside it, duplicates (c_rehash's hash links) removed. Files without a
// certificate are skipped; a file that looks like PEM certificates but does not parse is an
// error, as is a directory without any certificate. `watch` gets the directory and each file.
Result<X509StackPtr> load_ca_dir(const std::string& dir, FileWatch* watch, const LogFn& log);

// An X509_STORE holding exactly `certs` (nothing from the system).
Result<StorePtr> make_store(const STACK_OF(X509) * certs);

// Logs through `log` when set.
void log_to(const LogFn& log, LogLevel level, std::string_view message);

// Keeps `owner` alive as long as `ctx`: stored in the SSL_CTX's ex_data and released when the
// SSL_CTX is freed. At most once per SSL_CTX. Returns false on allocation failure.
bool keep_alive_with(SSL_CTX* ctx, std::shared_ptr<const void> owner);

}  // namespace ps::tls::detail
