// A small development PKI made with the OpenSSL API (no shelling out), for tests and the demo.
// Failures are returned as ps::Status (code internal for an OpenSSL step, the errno-derived
// code for a file), the message naming the failing step: "dev PKI: <step>: <reason>".
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "engine/base/status.h"

namespace ps::tls::devpki {

struct Pem {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key (unencrypted)
};

struct LeafSpec {
  std::string common_name;
  std::vector<std::string> dns_names;   // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries
  std::chrono::seconds not_before{-3600};  // relative to now
  std::chrono::seconds not_after{std::chrono::hours{24 * 365}};  // relative to now
  bool server_auth = true;  // extendedKeyUsage serverAuth
  bool client_auth = true;  // extendedKeyUsage clientAuth
};

// A self-signed CA certificate (EC P-256).
Result<Pem> make_ca(const std::string& common_name);
// A leaf certificate signed by `ca` (fails when `ca` does not parse).
Result<Pem> make_leaf(const Pem& ca, const LeafSpec& spec);

// Writes the standard development set into `dir` (created if missing), keys mode 0600:
//   ca.pem ca-key.pem                      the dev CA
//   server.pem server-key.pem              127.0.0.1, ::1, localhost; signed by the dev CA
//   client.pem client-key.pem              client certificate from the dev CA (mTLS)
//   expired.pem expired-key.pem            127.0.0.1/localhost, expired yesterday
//   wrong-host.pem wrong-host-key.pem      valid, but only for wrong.example.invalid
//   other-ca.pem other-ca-key.pem          an unrelated CA
//   other-server.pem other-server-key.pem  127.0.0.1/localhost, signed by the other CA
//   other-client.pem other-client-key.pem  client certificate from the other CA
Status write_dev_set(const std::string& dir);

}  // namespace ps::tls::devpki
