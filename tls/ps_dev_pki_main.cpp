// ps-dev-pki DIR: writes the standard development PKI (see tls/dev_pki.h) into DIR.
#include <cstdio>

#include "tls/dev_pki.h"

int main(int argc, char** argv) {
  if (argc != 2 || argv[1][0] == '-') {
    std::fprintf(stderr,
                 "usage: ps-dev-pki DIR\n"
                 "Writes a development CA, server/client certificates and test certificates\n"
                 "(expired, wrong host, another CA) into DIR. For tests and demos only.\n");
    return 2;
  }
  if (ps::Status written = ps::tls::devpki::write_dev_set(argv[1]); !written.ok()) {
    std::fprintf(stderr, "ps-dev-pki: %s\n", written.message().c_str());
    return 1;
  }
  std::printf("dev PKI written to %s\n", argv[1]);
  return 0;
}
