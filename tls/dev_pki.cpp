#include "tls/dev_pki.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls/ossl.h"

namespace ps::tls::devpki {
namespace {

using detail::BioPtr;
using detail::PKeyPtr;
using detail::X509Ptr;
using BnPtr = std::unique_ptr<BIGNUM, detail::Freer<BN_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, detail::Freer<GENERAL_NAMES_free>>;

// Inside this file a failed step throws Failed; the public functions return its status.
struct Failed {
  Status status;
};

[[noreturn]] void fail(const std::string& step) {
  throw Failed{Status(Code::internal, "dev PKI: " + step + ": " + detail::openssl_errors("failed"))};
}

[[noreturn]] void fail_io(int err, const std::string& what) {
  throw Failed{detail::io_error(err, "dev PKI: " + what)};
}

void check(bool ok, const std::string& step) {
  if (!ok) fail(step);
}

PKeyPtr new_p256_key() {
  PKeyPtr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "generating a P-256 key");
  return key;
}

std::string to_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "writing a certificate as PEM");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string to_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "writing a private key as PEM");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<std::size_t>(len));
  OPENSSL_cleanse(data, static_cast<std::size_t>(len));
  return out;
}

X509Ptr cert_from_pem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  check(cert != nullptr, "reading the CA certificate");
  return cert;
}

PKeyPtr key_from_pem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PKeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  check(key != nullptr, "reading the CA key");
  return key;
}

void set_time(ASN1_TIME* t, std::chrono::seconds offset) {
  long days = static_cast<long>(offset.count() / 86400);
  long secs = static_cast<long>(offset.count() % 86400);
  check(X509_time_adj_ex(t, static_cast<int>(days), secs, nullptr) != nullptr, "setting validity");
}

// Fields common to CA and leaf: version 3, a random positive 159-bit serial (RFC 5280 allows
// 20 octets), subject CN, validity window and public key.
X509Ptr new_cert(const std::string& common_name, EVP_PKEY* key, std::chrono::seconds not_before,
                 std::chrono::seconds not_after) {
  X509Ptr cert(X509_new());
  check(cert != nullptr, "allocating a certificate");
  check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "setting the version");
  BnPtr serial(BN_new());
  check(serial && BN_rand(serial.get(), 159, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1,
        "drawing a serial number");
  check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr,
        "setting the serial number");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>("policy-sidecar dev"),
                                   -1, -1, 0) == 1 &&
            X509_NAME_add_entry_by_txt(
                name, "CN", MBSTRING_UTF8,
                reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) == 1,
        "setting the subject");
  set_time(X509_getm_notBefore(cert.get()), not_before);
  set_time(X509_getm_notAfter(cert.get()), not_after);
  check(X509_set_pubkey(cert.get(), key) == 1, "setting the public key");
  return cert;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, std::string("making extension ") + OBJ_nid2sn(nid));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok == 1, std::string("adding extension ") + OBJ_nid2sn(nid));
}

void add_subject_alt_names(X509* cert, const LeafSpec& spec) {
  if (spec.dns_names.empty() && spec.ip_addresses.empty()) return;
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  check(names != nullptr, "allocating subjectAltName");
  auto push = [&](int type, ASN1_STRING* value, const std::string& what) {
    GENERAL_NAME* gen = GENERAL_NAME_new();
    if (gen == nullptr || value == nullptr) {
      GENERAL_NAME_free(gen);
      ASN1_STRING_free(value);
      fail("subjectAltName entry " + what);
    }
    GENERAL_NAME_set0_value(gen, type, value);
    if (sk_GENERAL_NAME_push(names.get(), gen) == 0) {
      GENERAL_NAME_free(gen);
      fail("subjectAltName entry " + what);
    }
  };
  for (const std::string& dns : spec.dns_names) {
    ASN1_IA5STRING* value = ASN1_IA5STRING_new();
    if (value != nullptr && ASN1_STRING_set(value, dns.data(), static_cast<int>(dns.size())) != 1) {
      ASN1_IA5STRING_free(value);
      value = nullptr;
    }
    push(GEN_DNS, value, dns);
  }
  for (const std::string& ip : spec.ip_addresses) {
    push(GEN_IPADD, a2i_IPADDRESS(ip.c_str()), ip);
  }
  check(X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1,
        "adding subjectAltName");
}

void sign(X509* cert, EVP_PKEY* key) {
  check(X509_sign(cert, key, EVP_sha256()) > 0, "signing the certificate");
}

std::string join(const std::string& dir, const char* name) { return dir + "/" + name; }

// Written to a temporary name and renamed, so a reader never sees half a file and a
// rewritten file gets a new inode.
void write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail_io(errno, "creating " + tmp);
  bool ok = ::fchmod(fd, mode) == 0;
  std::size_t done = 0;
  while (ok && done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  int saved = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    fail_io(saved, "writing " + path);
  }
}

void write_pair(const std::string& dir, const char* cert_name, const char* key_name,
                const Pem& pem) {
  write_file(join(dir, cert_name), pem.cert, 0644);
  write_file(join(dir, key_name), pem.key, 0600);
}

Pem new_ca(const std::string& common_name) {
  PKeyPtr key = new_p256_key();
  X509Ptr cert = new_cert(common_name, key.get(), std::chrono::seconds{-3600},
                          std::chrono::hours{24 * 365 * 10});
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) == 1,
        "setting the issuer");
  add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), cert.get(), NID_authority_key_identifier, "keyid:always");
  sign(cert.get(), key.get());
  return Pem{to_pem(cert.get()), to_pem(key.get())};
}

Pem new_leaf(const Pem& ca, const LeafSpec& spec) {
  X509Ptr ca_cert = cert_from_pem(ca.cert);
  PKeyPtr ca_key = key_from_pem(ca.key);
  PKeyPtr key = new_p256_key();
  X509Ptr cert = new_cert(spec.common_name, key.get(), spec.not_before, spec.not_after);
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) == 1,
        "setting the issuer");
  add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature");
  std::string eku;
  if (spec.server_auth) eku = "serverAuth";
  if (spec.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  if (!eku.empty()) add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, eku.c_str());
  add_subject_alt_names(cert.get(), spec);
  add_ext(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  sign(cert.get(), ca_key.get());
  return Pem{to_pem(cert.get()), to_pem(key.get())};
}

void write_set(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail_io(errno, "creating " + dir);
  const Pem ca = new_ca("policy-sidecar dev CA");
  const Pem other_ca = new_ca("policy-sidecar other CA");

  LeafSpec server;
  server.common_name = "localhost";
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1", "::1"};
  server.client_auth = false;

  LeafSpec client;
  client.common_name = "policy-sidecar dev client";
  client.server_auth = false;

  LeafSpec expired = server;
  expired.common_name = "localhost (expired)";
  expired.ip_addresses = {"127.0.0.1"};
  expired.not_before = std::chrono::hours{-48};
  expired.not_after = std::chrono::hours{-24};

  LeafSpec wrong_host = server;
  wrong_host.common_name = "wrong.example.invalid";
  wrong_host.dns_names = {"wrong.example.invalid"};
  wrong_host.ip_addresses = {};

  LeafSpec other_server = server;
  other_server.common_name = "localhost (other CA)";
  LeafSpec other_client = client;
  other_client.common_name = "policy-sidecar other client";

  write_pair(dir, "ca.pem", "ca-key.pem", ca);
  write_pair(dir, "server.pem", "server-key.pem", new_leaf(ca, server));
  write_pair(dir, "client.pem", "client-key.pem", new_leaf(ca, client));
  write_pair(dir, "expired.pem", "expired-key.pem", new_leaf(ca, expired));
  write_pair(dir, "wrong-host.pem", "wrong-host-key.pem", new_leaf(ca, wrong_host));
  write_pair(dir, "other-ca.pem", "other-ca-key.pem", other_ca);
  write_pair(dir, "other-server.pem", "other-server-key.pem", new_leaf(other_ca, other_server));
  write_pair(dir, "other-client.pem", "other-client-key.pem", new_leaf(other_ca, other_client));
}

}  // namespace

Result<Pem> make_ca(const std::string& common_name) {
  try {
    return new_ca(common_name);
  } catch (const Failed& f) {
    return f.status;
  }
}

Result<Pem> make_leaf(const Pem& ca, const LeafSpec& spec) {
  try {
    return new_leaf(ca, spec);
  } catch (const Failed& f) {
    return f.status;
  }
}

Status write_dev_set(const std::string& dir) {
  try {
    write_set(dir);
  } catch (const Failed& f) {
    return f.status;
  }
  return Status::success();
}

}  // namespace ps::tls::devpki
