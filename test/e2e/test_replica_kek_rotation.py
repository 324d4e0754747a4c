"""Rotating the key-encryption key (KEK) of certfleetd replicas on one PostgreSQL database
(issue #15, docs/high-availability.md "Rotating the KEK"): real certfleetd and certfleet
binaries, a real PostgreSQL, a real SoftHSM2 token.

- With every replica stopped, `certfleetd --rotate-kek` on one data directory retires the old
  kek.key into kek.d/ and re-wraps every sealed record in the shared database under a new KEK.
  A replica whose data directory still holds only the old kek.key then refuses to start (the
  CA's key no longer opens with it) and seals nothing; once the new kek.key and kek.d/ are
  copied to every data directory (0600), every replica starts, exports the certificate, reads
  the secret and verifies the audit chain, and every sealed record names the new KEK.
- A replica left running through the rotation keeps the old KEK: it fails to open re-wrapped
  records and seals new ones under the old KEK, which the others open only through kek.d/.
- Moving stopped replicas to one shared PKCS#11 token: `--rotate-kek` with the PKCS#11 flags on
  one replica, then every replica with the same flags; nothing is copied.
"""

import hashlib
import os
import re
import stat
import subprocess

import pytest

from conftest import (CLI_TIMEOUT_S, Cli, _clean_env, _free_port, create_account,
                      create_principal, run_tool, unique_name, write_passphrase)

SOFTHSM_HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness",
                               "softhsm.sh")
# A refused start ends as soon as the CA's key fails to open: well inside this bound.
REFUSED_START_TIMEOUT_S = 60.0


def kek_id_of(path):
    """The id certfleetd gives the file KEK at `path` (secrets/kek.cc FileKek::FromKey)."""
    with open(path, "rb") as f:
        key = f.read()
    assert len(key) == 32, f"{path}: {len(key)} bytes, not a 32-byte key"
    return "file-" + hashlib.sha256(b"certfleet kek id\0" + key).hexdigest()[:16]


def blobs_by_kek(rs):
    """{kek_id: number of sealed records} in the replicas' database."""
    rows = rs.psql("SELECT kek_id, count(*) FROM sealed_blobs GROUP BY kek_id ORDER BY kek_id")
    return {k: int(n) for k, n in (line.split("|") for line in rows.splitlines() if line)}


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def copy_private(src, dst, file_mode):
    """install -m MODE src dst: the copy is created private, never wider than `file_mode`."""
    fd = os.open(dst + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
    with os.fdopen(fd, "wb") as out:
        out.write(read_bytes(src))
        out.flush()
        os.fsync(out.fileno())
    os.chmod(dst + ".tmp", file_mode)
    os.replace(dst + ".tmp", dst)


def copy_kek_files(src_dir, dst_dir):
    """What the procedure copies to every other data directory: kek.key and kek.d/ (0700, with
    each retired key 0600)."""
    copy_private(os.path.join(src_dir, "kek.key"), os.path.join(dst_dir, "kek.key"), 0o600)
    dst_ring = os.path.join(dst_dir, "kek.d")
    os.makedirs(dst_ring, 0o700, exist_ok=True)
    os.chmod(dst_ring, 0o700)
    for name in os.listdir(os.path.join(src_dir, "kek.d")):
        copy_private(os.path.join(src_dir, "kek.d", name), os.path.join(dst_ring, name), 0o600)


def run_certfleetd(srv, *args, timeout=CLI_TIMEOUT_S):
    """certfleetd once, in the foreground, on `srv`'s data dir; the CompletedProcess."""
    return subprocess.run([srv.binary, "--data-dir", srv.data_dir, *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=_clean_env())


def start_refused(srv):
    """Starts `srv` as it normally starts (its flags, its --store, a free port) and expects it to
    exit on its own; the CompletedProcess. Fails the test if it starts serving instead."""
    argv = ["--listen", f"127.0.0.1:{_free_port()}", *srv._config_args(), *srv.extra_args]
    try:
        return run_certfleetd(srv, *argv, timeout=REFUSED_START_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{srv.name} with the old kek.key was still running after "
                    f"{REFUSED_START_TIMEOUT_S}s instead of refusing to start; stderr:\n"
                    f"{e.stderr}", pytrace=False)


def export_and_open(cli, cert_id, workdir, tag, passphrase_file):
    """`certfleet cert export` with a known passphrase; the exported key must open with it."""
    out = workdir.sub(f"export-{tag}")
    cli.json("cert", "export", cert_id, "--out", out, "--passphrase-file", passphrase_file)
    key = os.path.join(out, "key.pem")
    run_tool("openssl", "pkey", "-in", key, "-passin", f"file:{passphrase_file}", "-noout")
    return out


def test_rotate_the_kek_of_stopped_replicas(replicas, certfleet_bin, workdir):
    """The procedure of docs/high-availability.md, "Rotating the KEK", step by step."""
    rs = replicas(3, extra_args=["--pkcs8-iterations", "10000"])
    r1, r2, r3 = rs
    cli = Cli(certfleet_bin, r1)
    account = create_account(cli)["id"]
    admin = create_principal(cli, workdir, account, "admin")

    # Sealed data from more than one replica: the certificate's key (requested on r1) and the
    # passphrase secret of an export made through r2, besides the CA's keys and the audit key.
    name = unique_name("kek")
    cert = admin.cli.json("cert", "request", "--name", name, "--domain", f"{name}.example.test",
                          "--exportable")
    assert cert["status"] == "issued", cert
    on_r2 = Cli(certfleet_bin, r2, admin.token_path)
    exported = on_r2.json("cert", "export", cert["id"], "--out", workdir.sub("export-before"))
    secret_id = exported["passphrase_secret_id"]
    secret_value = admin.cli.json("secret", "show", secret_id, "--value")["value"]
    assert secret_value, exported

    old_key = read_bytes(os.path.join(r1.data_dir, "kek.key"))
    old_id = kek_id_of(os.path.join(r1.data_dir, "kek.key"))
    before = blobs_by_kek(rs)
    assert list(before) == [old_id], before
    sealed = before[old_id]
    for srv in (r2, r3):  # the replicas were started with copies of r1's key
        assert read_bytes(os.path.join(srv.data_dir, "kek.key")) == old_key

    # 1. Stop every replica.
    for srv in rs:
        assert srv.stop() == 0, srv.log_tail()

    # 2. Rotate on one of them, with the same --store.
    rotated = run_certfleetd(r1, "--store", rs.url, "--rotate-kek")
    assert rotated.returncode == 0, rotated.stderr
    m = re.search(r"re-wrapped (\d+) sealed records under (file-[0-9a-f]{16})", rotated.stdout)
    assert m, rotated.stdout
    new_id = m.group(2)
    assert int(m.group(1)) == sealed, (rotated.stdout, before)
    assert new_id != old_id
    assert kek_id_of(os.path.join(r1.data_dir, "kek.key")) == new_id
    assert mode(os.path.join(r1.data_dir, "kek.key")) == 0o600
    assert os.listdir(os.path.join(r1.data_dir, "kek.d")) == [f"{old_id}.key"]
    retired = os.path.join(r1.data_dir, "kek.d", f"{old_id}.key")
    assert read_bytes(retired) == old_key and mode(retired) == 0o600
    # Every sealed record in the shared database moved to the new KEK, none lost.
    assert blobs_by_kek(rs) == {new_id: sealed}

    # 3. A replica that still has only the old kek.key cannot open the CA's key: it exits,
    # naming the KEK the records need, and leaves the database and its key file as they were.
    refused = start_refused(r2)
    print(f"r2 with the old kek.key: exit {refused.returncode}: "
          f"{refused.stderr.strip().splitlines()[-1]}")
    assert refused.returncode != 0, refused.stdout
    assert "certfleetd is running" not in refused.stdout, refused.stdout
    m = re.search(r"sealed record (blb_\w+) is wrapped by unknown key-encryption key "
                  + re.escape(new_id), refused.stderr)
    assert m, refused.stderr
    purpose = rs.psql(f"SELECT purpose FROM sealed_blobs WHERE id = '{m.group(1)}'").strip()
    assert purpose == "ca-key", purpose
    assert "certfleetd failed to start" in refused.stderr, refused.stderr
    assert blobs_by_kek(rs) == {new_id: sealed}
    assert read_bytes(os.path.join(r2.data_dir, "kek.key")) == old_key
    assert not os.path.exists(os.path.join(r2.data_dir, "kek.d"))

    # 4. Copy kek.key and kek.d/ to every other data directory, private as in r1's.
    for srv in (r2, r3):
        copy_kek_files(r1.data_dir, srv.data_dir)
        assert read_bytes(os.path.join(srv.data_dir, "kek.key")) == \
            read_bytes(os.path.join(r1.data_dir, "kek.key"))
        assert mode(os.path.join(srv.data_dir, "kek.key")) == 0o600
        assert mode(os.path.join(srv.data_dir, "kek.d")) == 0o700
        assert os.listdir(os.path.join(srv.data_dir, "kek.d")) == [f"{old_id}.key"]
        assert mode(os.path.join(srv.data_dir, "kek.d", f"{old_id}.key")) == 0o600

    # 5. Start them all; each one opens everything sealed before the rotation.
    for srv in rs:
        srv.start()
        assert f'"kek_id":"{new_id}"'.encode() in srv.log_bytes(), srv.log_tail()
    passphrase = write_passphrase(workdir, "kek rotation across replicas")
    for srv in rs:
        on = Cli(certfleet_bin, srv, admin.token_path)
        export_and_open(on, cert["id"], workdir, srv.name, passphrase)
        got = on.json("secret", "show", secret_id, "--value")["value"]
        assert got == secret_value, f"{srv.name} read another value of {secret_id}"
        verified = Cli(certfleet_bin, srv).run("audit", "verify")
        assert verified.stdout.startswith("audit chain ok"), (srv.name, verified.stdout)
        # A new export through each replica seals a new passphrase secret, under the new KEK.
        again = on.json("cert", "export", cert["id"], "--out", workdir.sub(f"again-{srv.name}"))
        assert again["passphrase_secret_id"] != secret_id, again
    after = blobs_by_kek(rs)
    assert list(after) == [new_id], after
    assert after[new_id] >= sealed + len(rs.servers), (before, after)


def test_a_replica_left_running_keeps_the_old_kek(replicas, certfleet_bin, workdir):
    """Why every replica must be stopped: one that runs through the rotation keeps the old KEK
    in memory. It cannot open what was re-wrapped (an export fails, naming the new KEK), and what
    it seals afterwards names the old KEK, which the other replicas open only through kek.d/.
    Stopping it and copying the new kek.key and kek.d/ to it makes everything readable
    everywhere; the retired key in kek.d/ must stay until no record names it."""
    rs = replicas(2, extra_args=["--pkcs8-iterations", "10000"])
    r1, r2 = rs
    cli = Cli(certfleet_bin, r1)
    account = create_account(cli)["id"]
    admin = create_principal(cli, workdir, account, "admin")
    on_r2 = Cli(certfleet_bin, r2, admin.token_path)

    def request(cli):
        name = unique_name("kek")
        c = cli.json("cert", "request", "--name", name, "--domain", f"{name}.example.test",
                     "--exportable")
        assert c["status"] == "issued", c
        return c["id"]

    before = request(admin.cli)
    old_id = kek_id_of(os.path.join(r1.data_dir, "kek.key"))
    sealed = blobs_by_kek(rs)[old_id]

    assert r1.stop() == 0, r1.log_tail()
    rotated = run_certfleetd(r1, "--store", rs.url, "--rotate-kek")
    assert rotated.returncode == 0, rotated.stderr
    new_id = kek_id_of(os.path.join(r1.data_dir, "kek.key"))
    assert blobs_by_kek(rs) == {new_id: sealed}

    # r2 still runs on the old KEK: the certificate's key, re-wrapped, no longer opens there.
    failed = on_r2.run("cert", "export", before, "--out", workdir.sub("r2-before"),
                       check=False)
    print(f"export through r2 after the rotation: exit {failed.returncode}: "
          f"{failed.stderr.strip()}")
    assert failed.returncode != 0, failed.stdout
    # The server's own key problem: 500 for the client, the words (and the remedy) in the log.
    assert "(HTTP 500)" in failed.stderr, failed.stderr
    assert f"unknown key-encryption key {new_id}".encode() in r2.log_bytes()
    assert b"Rotating the KEK" in r2.log_bytes()
    # It still issues (the CA's key is in its memory) and seals the new key under the old KEK.
    during = request(on_r2)
    assert blobs_by_kek(rs) == {new_id: sealed, old_id: 1}

    # The remedy: stop it, copy the new kek.key and kek.d/, start it. r1 (started with the new
    # key and the retired one in kek.d/) and r2 both open records under either KEK.
    assert r2.stop() == 0, r2.log_tail()
    copy_kek_files(r1.data_dir, r2.data_dir)
    passphrase = write_passphrase(workdir, "left running")
    for srv in rs:
        srv.start()
        on = Cli(certfleet_bin, srv, admin.token_path)
        for cert_id in (before, during):
            export_and_open(on, cert_id, workdir, f"{srv.name}-{cert_id}", passphrase)
        verified = Cli(certfleet_bin, srv).run("audit", "verify")
        assert verified.stdout.startswith("audit chain ok"), (srv.name, verified.stdout)
    # The record r2 sealed during the rotation still names the old KEK: kek.d/ must stay.
    assert blobs_by_kek(rs).get(old_id) == 1, blobs_by_kek(rs)


@pytest.fixture
def shared_token(workdir, monkeypatch):
    """A SoftHSM2 token (test/harness/softhsm.sh) that every replica opens: on one host, the
    stand-in for a network HSM reachable from every replica. certfleetd's flags for it."""
    if not os.path.exists("/usr/lib/softhsm/libsofthsm2.so"):
        pytest.skip("SoftHSM2 is not installed (Debian package softhsm2)")
    d = workdir.sub("softhsm")
    conf = subprocess.run([SOFTHSM_HARNESS, d], check=True, capture_output=True,
                          text=True).stdout.strip()
    monkeypatch.setenv("SOFTHSM2_CONF", conf)  # inherited by every certfleetd started here
    return ["--kek-provider", "pkcs11", "--pkcs11-token-label", "certfleet-test",
            "--pkcs11-pin-file", os.path.join(d, "pin")]


def test_move_stopped_replicas_to_a_shared_pkcs11_token(replicas, certfleet_bin, workdir,
                                                        shared_token):
    """The alternative to copying key files: with every replica stopped, `--rotate-kek` with the
    PKCS#11 flags on one replica re-wraps every record under the token's key; every replica then
    starts with the same flags, nothing copied between data directories, and reads everything.
    A replica started without them (the file KEK alone) refuses to start."""
    rs = replicas(2, extra_args=["--pkcs8-iterations", "10000"])
    r1, r2 = rs
    cli = Cli(certfleet_bin, r1)
    account = create_account(cli)["id"]
    admin = create_principal(cli, workdir, account, "admin")
    name = unique_name("hsm")
    cert = admin.cli.json("cert", "request", "--name", name, "--domain", f"{name}.example.test",
                          "--exportable")
    exported = Cli(certfleet_bin, r2, admin.token_path).json(
        "cert", "export", cert["id"], "--out", workdir.sub("export-before"))
    secret_id = exported["passphrase_secret_id"]
    secret_value = admin.cli.json("secret", "show", secret_id, "--value")["value"]
    file_id = kek_id_of(os.path.join(r1.data_dir, "kek.key"))
    sealed = blobs_by_kek(rs)[file_id]

    for srv in rs:
        assert srv.stop() == 0, srv.log_tail()
    moved = run_certfleetd(r1, "--store", rs.url, "--rotate-kek", *shared_token)
    assert moved.returncode == 0, moved.stderr
    m = re.search(r"re-wrapped (\d+) sealed records under (pkcs11-[0-9a-f]{16})", moved.stdout)
    assert m and int(m.group(1)) == sealed, moved.stdout
    token_id = m.group(2)
    assert blobs_by_kek(rs) == {token_id: sealed}

    # Without the token's flags, a replica has only its file KEK: it cannot open the CA's key.
    refused = start_refused(r2)
    assert refused.returncode != 0, refused.stdout
    assert f"wrapped by unknown key-encryption key {token_id}" in refused.stderr, refused.stderr

    passphrase = write_passphrase(workdir, "shared token")
    for srv in rs:
        srv.extra_args += shared_token
        srv.start()
    for srv in rs:
        on = Cli(certfleet_bin, srv, admin.token_path)
        export_and_open(on, cert["id"], workdir, srv.name, passphrase)
        assert on.json("secret", "show", secret_id, "--value")["value"] == secret_value
        verified = Cli(certfleet_bin, srv).run("audit", "verify")
        assert verified.stdout.startswith("audit chain ok"), (srv.name, verified.stdout)
        on.json("cert", "export", cert["id"], "--out", workdir.sub(f"again-{srv.name}"))
    after = blobs_by_kek(rs)
    assert list(after) == [token_id], after
