"""Real-client check: Debian's python3-hvac (a Vault client nobody here wrote) drives the
vault-emulator executable over TLS, verifying against the dev CA, and it must just work.

Run by CTest with /usr/bin/python3 (PS_SYSTEM_PYTHON) and PS_BUILD_DIR set. Exit 0 on success.
"""
import json
import os
import select
import signal
import subprocess
import sys
import tempfile

import hvac

ROOT = "hvac-check-root-token"


def start_emulator(build, pki):
    proc = subprocess.Popen(
        [os.path.join(build, "vault", "emulator", "vault-emulator"),
         "--listen", "127.0.0.1:0",
         "--tls-cert", os.path.join(pki, "server.pem"),
         "--tls-key", os.path.join(pki, "server-key.pem"),
         "--dev", "--dev-root-token", ROOT],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline().strip() if ready else ""
    if not line.startswith("VAULT_ADDR="):
        proc.kill()
        raise SystemExit("vault-emulator did not start: %r" % line)
    return proc, line[len("VAULT_ADDR="):]


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    build = os.environ["PS_BUILD_DIR"]
    with tempfile.TemporaryDirectory() as tmp:
        pki = os.path.join(tmp, "pki")
        subprocess.run([os.path.join(build, "tls", "ps-dev-pki"), pki], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc, addr = start_emulator(build, pki)
        try:
            ca = os.path.join(pki, "ca.pem")
            admin = hvac.Client(url=addr, token=ROOT, verify=ca)
            check(admin.is_authenticated(), "root token accepted")
            check(admin.sys.is_initialized() and not admin.sys.is_sealed(), "initialised and unsealed")

            # Role write / read / list (hvac's list sends the LIST verb).
            admin.auth.approle.create_or_update_approle(
                "Agent-42", token_policies=["tier-1", "Base"], token_ttl="1h")
            role = admin.auth.approle.read_role("agent-42")["data"]
            check(role["token_policies"] == ["tier-1", "Base"], "token_policies stored as given")
            check(role["token_ttl"] == 3600, "token_ttl in seconds")
            keys = admin.auth.approle.list_roles()["data"]["keys"]
            check(keys == ["agent-42"], "list_roles returns the lowercase name: %r" % keys)

            # The per-field endpoint through the generic adapter (hvac has no method for it).
            resp = admin.write("auth/approle/role/agent-42/policies", token_policies="tier-2,base")
            check(resp is None or resp.status_code == 204, "per-field write answers 204")
            pol = admin.read("auth/approle/role/agent-42/policies")["data"]
            check(pol == {"token_policies": ["base", "tier-2"]}, "per-field read: %r" % pol)
            check(admin.auth.approle.read_role("agent-42")["data"]["token_ttl"] == 3600,
                  "per-field write keeps the other fields")

            # Secret ID generate / list, role-id read, login, lookup-self.
            role_id = admin.auth.approle.read_role_id("agent-42")["data"]["role_id"]
            secret = admin.auth.approle.generate_secret_id(
                "agent-42", metadata={"team": "ops"})["data"]
            accessors = admin.auth.approle.list_secret_id_accessors("agent-42")["data"]["keys"]
            check(accessors == [secret["secret_id_accessor"]], "secret-id list shows the accessor")

            agent = hvac.Client(url=addr, verify=ca)
            login = agent.auth.approle.login(role_id=role_id, secret_id=secret["secret_id"])
            auth = login["auth"]
            check(auth["client_token"].startswith("hvs."), "hvs. token")
            check(auth["policies"] == ["base", "default", "tier-2"], "policies: %r" % auth["policies"])
            check(auth["metadata"] == {"role_name": "agent-42", "team": "ops"}, "metadata")
            check(auth["lease_duration"] == 3600 and auth["renewable"], "lease")
            check(agent.is_authenticated(), "the login token is accepted")
            me = agent.lookup_token()["data"]
            check(me["meta"]["role_name"] == "agent-42", "lookup-self meta")
            check(me["policies"] == ["base", "default", "tier-2"], "lookup-self policies")
            renewed = agent.renew_token()["auth"]
            check(renewed["lease_duration"] == 3600, "renew-self")

            # Errors come back as hvac's exception classes.
            try:
                agent.auth.approle.read_role("agent-42")
                check(False, "a token without the policy must be refused")
            except hvac.exceptions.Forbidden:
                pass
            check(admin.read("auth/approle/role/nope") is None, "missing role reads as None")
            print(json.dumps({"ok": True, "addr": addr}))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            if proc.returncode != 0:
                raise SystemExit("vault-emulator exited with %d" % proc.returncode)


if __name__ == "__main__":
    main()
