// The dev PKI: what it writes must be a real CA hierarchy with the names, usages and validity
// asked for, checked here with OpenSSL's own verifier and parsers.
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tests/tls/tls_test_support.h"
#include "tls/dev_pki.h"

namespace ps::tls {
namespace {

using detail::PKeyPtr;
using detail::X509Ptr;
using testing::DevSet;

X509Ptr parse_cert(const std::string& pem) {
  detail::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

PKeyPtr parse_key(const std::string& pem) {
  detail::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return PKeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// X509_verify_cert against exactly `ca`, at the current time. Returns the X509_V_ code.
int verify(X509* leaf, X509* ca, const char* host = nullptr) {
  detail::StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  std::unique_ptr<X509_STORE_CTX, detail::Freer<X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  if (host) X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx.get()), host, 0);
  X509_verify_cert(ctx.get());
  return X509_STORE_CTX_get_error(ctx.get());
}

bool is_p256(EVP_PKEY* key) {
  char curve[64] = {};
  size_t len = 0;
  return EVP_PKEY_is_a(key, "EC") &&
         EVP_PKEY_get_group_name(key, curve, sizeof curve, &len) == 1 &&
         std::string(curve) == "prime256v1";
}

mode_t file_mode(const std::string& path) {
  struct stat st {};
  BOOST_REQUIRE_EQUAL(::stat(path.c_str(), &st), 0);
  return st.st_mode & 0777;
}

BOOST_AUTO_TEST_SUITE(dev_pki)

BOOST_AUTO_TEST_CASE(ca_is_a_p256_certificate_authority_that_signs_certificates) {
  devpki::Pem ca = devpki::make_ca("test CA").value();
  X509Ptr cert = parse_cert(ca.cert);
  PKeyPtr key = parse_key(ca.key);
  BOOST_REQUIRE(cert && key);
  BOOST_TEST(is_p256(key.get()));
  BOOST_TEST(X509_check_private_key(cert.get(), key.get()) == 1);
  BOOST_TEST(X509_check_ca(cert.get()) == 1);  // basicConstraints CA:TRUE
  BOOST_TEST((X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN) != 0u);
  BOOST_TEST(X509_get_version(cert.get()) == X509_VERSION_3);
  BOOST_TEST(verify(cert.get(), cert.get()) == X509_V_OK);
  BOOST_TEST(testing::common_name(cert.get()) == "test CA");
}

BOOST_AUTO_TEST_CASE(leaf_has_requested_names_usages_and_is_signed_by_the_ca) {
  devpki::Pem ca = devpki::make_ca("test CA").value();
  devpki::LeafSpec spec;
  spec.common_name = "svc";
  spec.dns_names = {"svc.example.test", "localhost"};
  spec.ip_addresses = {"127.0.0.1", "::1"};
  spec.client_auth = false;
  devpki::Pem leaf = devpki::make_leaf(ca, spec).value();
  X509Ptr cert = parse_cert(leaf.cert);
  X509Ptr ca_cert = parse_cert(ca.cert);
  PKeyPtr key = parse_key(leaf.key);
  BOOST_REQUIRE(cert && ca_cert && key);
  BOOST_TEST(is_p256(key.get()));
  BOOST_TEST(X509_check_private_key(cert.get(), key.get()) == 1);
  BOOST_TEST(X509_check_ca(cert.get()) == 0);
  BOOST_TEST(verify(cert.get(), ca_cert.get()) == X509_V_OK);
  BOOST_TEST(X509_check_host(cert.get(), "svc.example.test", 0, 0, nullptr) == 1);
  BOOST_TEST(X509_check_host(cert.get(), "localhost", 0, 0, nullptr) == 1);
  BOOST_TEST(X509_check_host(cert.get(), "other.example.test", 0, 0, nullptr) == 0);
  BOOST_TEST(X509_check_ip_asc(cert.get(), "127.0.0.1", 0) == 1);
  BOOST_TEST(X509_check_ip_asc(cert.get(), "::1", 0) == 1);
  BOOST_TEST(X509_check_ip_asc(cert.get(), "127.0.0.2", 0) == 0);
  uint32_t eku = X509_get_extended_key_usage(cert.get());
  BOOST_TEST((eku & XKU_SSL_SERVER) != 0u);
  BOOST_TEST((eku & XKU_SSL_CLIENT) == 0u);
  BOOST_TEST(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 1);
  BOOST_TEST(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0) == 0);
}

BOOST_AUTO_TEST_CASE(leaf_from_another_ca_does_not_verify) {
  devpki::Pem ca = devpki::make_ca("test CA").value();
  devpki::Pem other = devpki::make_ca("test CA").value();  // same name, different key
  devpki::LeafSpec spec;
  spec.common_name = "svc";
  X509Ptr leaf = parse_cert(devpki::make_leaf(other, spec).value().cert);
  X509Ptr ca_cert = parse_cert(ca.cert);
  BOOST_TEST(verify(leaf.get(), ca_cert.get()) != X509_V_OK);
}

BOOST_AUTO_TEST_CASE(serial_numbers_are_random_and_positive) {
  devpki::Pem ca = devpki::make_ca("test CA").value();
  devpki::LeafSpec spec;
  spec.common_name = "svc";
  X509Ptr a = parse_cert(devpki::make_leaf(ca, spec).value().cert);
  X509Ptr b = parse_cert(devpki::make_leaf(ca, spec).value().cert);
  BOOST_TEST(testing::serial_hex(a.get()) != testing::serial_hex(b.get()));
  BOOST_TEST(ASN1_INTEGER_get_int64(nullptr, X509_get0_serialNumber(a.get())) == 0);  // > 63 bits
  BOOST_TEST(testing::serial_hex(a.get()).front() != '-');
}

BOOST_AUTO_TEST_CASE(validity_follows_the_leaf_spec_and_past_not_after_is_expired) {
  devpki::Pem ca = devpki::make_ca("test CA").value();
  X509Ptr ca_cert = parse_cert(ca.cert);
  devpki::LeafSpec spec;
  spec.common_name = "old";
  spec.not_before = std::chrono::hours{-48};
  spec.not_after = std::chrono::hours{-24};
  X509Ptr expired = parse_cert(devpki::make_leaf(ca, spec).value().cert);
  BOOST_TEST(X509_cmp_current_time(X509_get0_notAfter(expired.get())) < 0);
  BOOST_TEST(verify(expired.get(), ca_cert.get()) == X509_V_ERR_CERT_HAS_EXPIRED);

  spec.not_before = std::chrono::hours{1};
  spec.not_after = std::chrono::hours{2};
  X509Ptr future = parse_cert(devpki::make_leaf(ca, spec).value().cert);
  BOOST_TEST(verify(future.get(), ca_cert.get()) == X509_V_ERR_CERT_NOT_YET_VALID);
}

BOOST_AUTO_TEST_CASE(make_leaf_with_a_broken_ca_fails) {
  devpki::Pem broken{"not a certificate", "not a key"};
  devpki::LeafSpec spec;
  spec.common_name = "x";
  auto leaf = devpki::make_leaf(broken, spec);
  BOOST_REQUIRE(!leaf.ok());
  BOOST_TEST(leaf.status().message().starts_with("dev PKI: reading the CA certificate"),
             leaf.status().message());
}

BOOST_AUTO_TEST_CASE(dev_set_has_every_file_keys_private_and_the_promised_relations) {
  DevSet set;
  for (const char* stem : {"ca", "server", "client", "expired", "wrong-host", "other-ca",
                           "other-server", "other-client"}) {
    BOOST_TEST_CONTEXT(stem) {
      BOOST_TEST(file_mode(set(std::string(stem) + "-key.pem")) == 0600u);
      BOOST_TEST(file_mode(set(std::string(stem) + ".pem")) == 0644u);
    }
  }
  auto cert = [&](const char* name) { return parse_cert(testing::read_text_file(set(name))); };
  X509Ptr ca = cert("ca.pem");
  X509Ptr other_ca = cert("other-ca.pem");
  BOOST_TEST(verify(cert("server.pem").get(), ca.get(), "localhost") == X509_V_OK);
  BOOST_TEST(X509_check_ip_asc(cert("server.pem").get(), "127.0.0.1", 0) == 1);
  BOOST_TEST(X509_check_ip_asc(cert("server.pem").get(), "::1", 0) == 1);
  BOOST_TEST(X509_check_purpose(cert("client.pem").get(), X509_PURPOSE_SSL_CLIENT, 0) == 1);
  BOOST_TEST(verify(cert("client.pem").get(), ca.get()) == X509_V_OK);
  BOOST_TEST(verify(cert("expired.pem").get(), ca.get()) == X509_V_ERR_CERT_HAS_EXPIRED);
  BOOST_TEST(verify(cert("wrong-host.pem").get(), ca.get(), "wrong.example.invalid") == X509_V_OK);
  BOOST_TEST(verify(cert("wrong-host.pem").get(), ca.get(), "localhost") ==
             X509_V_ERR_HOSTNAME_MISMATCH);
  BOOST_TEST(X509_check_ip_asc(cert("wrong-host.pem").get(), "127.0.0.1", 0) == 0);
  BOOST_TEST(verify(cert("other-server.pem").get(), other_ca.get(), "localhost") == X509_V_OK);
  BOOST_TEST(verify(cert("other-server.pem").get(), ca.get()) != X509_V_OK);
  BOOST_TEST(verify(cert("other-client.pem").get(), other_ca.get()) == X509_V_OK);
  BOOST_TEST(verify(cert("other-client.pem").get(), ca.get()) != X509_V_OK);
}

BOOST_AUTO_TEST_CASE(write_dev_set_into_an_impossible_place_fails) {
  testing::TempDir dir;
  testing::replace_file(dir.file("file"), "x");
  Status written = devpki::write_dev_set(dir.file("file") + "/sub");
  BOOST_REQUIRE(!written.ok());
  BOOST_TEST(written.message().starts_with("dev PKI: creating " + dir.file("file") + "/sub: "),
             written.message());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace ps::tls
