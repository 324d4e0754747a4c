"""Key-encryption keys end to end (issue #3): file KEK rotation re-wraps every sealed record and
old records keep reading; a PKCS#11 KEK in a real SoftHSM2 token (created by the harness) seals
everything, including a migration from the file KEK."""
import os
import sqlite3
import subprocess

import pytest

from conftest import Cli, Server, Workspace

HARNESS = os.path.join(os.path.dirname(__file__), "..", "harness", "softhsm.sh")


def kek_ids(server):
    db = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT DISTINCT kek_id FROM sealed_blobs")}
    finally:
        db.close()


def request_and_export(cli, name, workdir, passphrase="rotation test passphrase"):
    cert = cli.json("cert", "request", "--name", name, "--domain", f"{name}.example.test",
                    "--exportable")
    pf = workdir.sub(f"{name}.pass")
    with open(os.open(pf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(passphrase)
    out = workdir.sub(f"{name}-out")
    cli("cert", "export", cert["id"], "--out", out, "--passphrase-file", pf)
    subprocess.run(["openssl", "pkey", "-in", os.path.join(out, "key.pem"), "-passin",
                    f"file:{pf}", "-noout"], check=True, capture_output=True)
    return cert["id"]


def export_again(cli, cert_id, workdir, tag):
    out = workdir.sub(f"again-{tag}")
    cli("cert", "export", cert_id, "--out", out)  # generated passphrase: opens the sealed key
    assert os.path.exists(os.path.join(out, "key.pem"))


def run_daemon_once(server, *args):
    return subprocess.run([server.binary, "--data-dir", server.data_dir, *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def fresh(certfleetd_bin, certfleet_bin):
    ws = Workspace("certfleet-e2e-kek-")
    srv = Server(certfleetd_bin, ws.sub("data"))
    os.mkdir(srv.data_dir, 0o700)
    yield srv, Cli(certfleet_bin, srv)
    try:
        if srv.proc is not None:
            srv.stop()
    finally:
        ws.cleanup()


def test_file_kek_rotation_rewraps_everything(fresh, workdir):
    srv, cli = fresh
    srv.start()
    first = request_and_export(cli, "before", workdir)
    old_ids = kek_ids(srv)
    assert len(old_ids) == 1 and next(iter(old_ids)).startswith("file-")
    with open(os.path.join(srv.data_dir, "kek.key"), "rb") as f:
        old_key = f.read()
    srv.stop()

    rotated = run_daemon_once(srv, "--rotate-kek")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-wrapped" in rotated.stdout
    retired = os.listdir(os.path.join(srv.data_dir, "kek.d"))
    assert retired == [next(iter(old_ids)) + ".key"]
    assert os.stat(os.path.join(srv.data_dir, "kek.d", retired[0])).st_mode & 0o777 == 0o600
    with open(os.path.join(srv.data_dir, "kek.key"), "rb") as f:
        assert f.read() != old_key
    new_ids = kek_ids(srv)
    assert len(new_ids) == 1 and new_ids.isdisjoint(old_ids)

    # Every record moved, so the retired key can go and everything still opens.
    os.unlink(os.path.join(srv.data_dir, "kek.d", retired[0]))
    srv.start()
    export_again(cli, first, workdir, "after-rotation")
    request_and_export(cli, "after", workdir)
    assert kek_ids(srv) == new_ids


def test_retired_key_still_reads_before_rewrap(fresh, workdir):
    srv, cli = fresh
    srv.start()
    first = request_and_export(cli, "old", workdir)
    srv.stop()
    # Simulate a crash between retiring the key and re-wrapping: retire by hand.
    (old_id,) = kek_ids(srv)
    os.makedirs(os.path.join(srv.data_dir, "kek.d"), mode=0o700)
    os.rename(os.path.join(srv.data_dir, "kek.key"),
              os.path.join(srv.data_dir, "kek.d", old_id + ".key"))
    srv.start()  # creates a fresh kek.key; the old one is retired but loaded
    export_again(cli, first, workdir, "retired")
    assert len(kek_ids(srv)) == 2


@pytest.fixture
def softhsm(workdir, monkeypatch):
    if not os.path.exists("/usr/lib/softhsm/libsofthsm2.so"):
        pytest.skip("SoftHSM2 is not installed (Debian package softhsm2)")
    d = workdir.sub("softhsm")
    conf = subprocess.run([HARNESS, d], check=True, capture_output=True,
                          text=True).stdout.strip()
    monkeypatch.setenv("SOFTHSM2_CONF", conf)
    return ["--kek-provider", "pkcs11", "--pkcs11-token-label", "certfleet-test",
            "--pkcs11-pin-file", os.path.join(d, "pin")]


def test_pkcs11_kek_seals_everything(fresh, workdir, softhsm):
    srv, cli = fresh
    srv.extra_args = softhsm
    srv.start()
    cert = request_and_export(cli, "hsm", workdir)
    ids = kek_ids(srv)
    assert len(ids) == 1 and next(iter(ids)).startswith("pkcs11-")
    assert not os.path.exists(os.path.join(srv.data_dir, "kek.key"))
    srv.stop()
    srv.start()  # the key lives in the token: a restart reads everything back
    export_again(cli, cert, workdir, "hsm-restart")
    # The PIN is read from its file: never on the command line or in the environment.
    with open(os.path.join(workdir.sub("softhsm"), "pin")) as f:
        pin = f.read().strip().encode()
    with open(f"/proc/{srv.pid}/cmdline", "rb") as f:
        assert pin not in f.read()
    with open(f"/proc/{srv.pid}/environ", "rb") as f:
        assert pin not in f.read()


def test_migrate_from_file_kek_to_pkcs11(fresh, workdir, softhsm):
    srv, cli = fresh
    srv.start()
    cert = request_and_export(cli, "migrate", workdir)
    srv.stop()
    moved = run_daemon_once(srv, "--rotate-kek", *softhsm)
    assert moved.returncode == 0, moved.stderr
    ids = kek_ids(srv)
    assert len(ids) == 1 and next(iter(ids)).startswith("pkcs11-")
    os.unlink(os.path.join(srv.data_dir, "kek.key"))
    srv.extra_args = softhsm
    srv.start()
    export_again(cli, cert, workdir, "migrated")
