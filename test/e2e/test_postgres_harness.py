"""The PostgreSQL harness the replica tests stand on (issue #15): conftest's `postgres` fixture over
test/harness/postgres.sh. A cluster on loopback only, trust authentication, fsync on; databases
made per test; stopped and started again on the same port with committed data kept (the "stop
PostgreSQL for 20 s" tests); `postgres.sh run` hands a cluster to a command and removes it
afterwards. certfleetd is not needed. Skipped only when PostgreSQL 15 is not installed.
"""

import os
import subprocess

import pytest

from conftest import PG_HARNESS, PG_TIMEOUT_S, _pg_env, require_postgres


def test_cluster_settings(postgres):
    assert postgres.url == f"postgres://postgres@127.0.0.1:{postgres.port}/postgres"
    rows = postgres.psql("SELECT name, setting FROM pg_settings WHERE name IN "
                         "('fsync', 'listen_addresses', 'server_encoding', 'lc_collate', "
                         "'synchronous_commit', 'port') ORDER BY name").splitlines()
    assert dict(r.split("|") for r in rows) == {
        "fsync": "on", "lc_collate": "C", "listen_addresses": "127.0.0.1",
        "port": str(postgres.port), "server_encoding": "UTF8", "synchronous_commit": "on"}
    # The socket is in the cluster's own directory, and only loopback may connect.
    assert os.path.exists(os.path.join(postgres.dir, f".s.PGSQL.{postgres.port}"))
    hba = postgres.psql("SELECT type, address FROM pg_hba_file_rules WHERE type = 'host'")
    assert set(hba.split()) == {"host|127.0.0.1"}, hba


def test_databases_are_separate(postgres):
    a = postgres.create_database()
    b = postgres.create_database()
    assert a != b and a.startswith(f"postgres://postgres@127.0.0.1:{postgres.port}/")
    db_a, db_b = a.rsplit("/", 1)[1], b.rsplit("/", 1)[1]
    postgres.psql("CREATE TABLE t (v text); INSERT INTO t VALUES ('a')", db=db_a)
    assert postgres.psql("SELECT v FROM t", db=db_a).strip() == "a"
    assert postgres.psql("SELECT count(*) FROM pg_tables WHERE tablename = 't'",
                         db=db_b).strip() == "0"
    with pytest.raises(ValueError):
        postgres.create_database('x"; DROP DATABASE postgres; --')


def test_stop_and_start_keep_port_and_committed_data(postgres):
    url = postgres.create_database()
    db = url.rsplit("/", 1)[1]
    postgres.psql("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)", db=db)
    port = postgres.port
    try:
        postgres.stop()
        assert not postgres.is_running()
        postgres.stop()  # idempotent
    finally:
        postgres.start()
    assert postgres.is_running()
    assert postgres.port == port and postgres.database_url(db) == url
    assert postgres.psql("SELECT v FROM kept", db=db).strip() == "42"
    postgres.start()  # already running: nothing changes
    assert postgres.port == port


def test_run_hands_a_cluster_to_a_command_and_removes_it():
    require_postgres()
    script = ('psql -X -At -d "$CERTFLEET_TEST_PG_URL" '
              '-c "SELECT current_setting(\'data_directory\')" && exit 7')
    proc = subprocess.run([PG_HARNESS, "run", "--", "sh", "-c", script],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=PG_TIMEOUT_S, env=_pg_env())
    assert proc.returncode == 7, (proc.returncode, proc.stdout, proc.stderr)  # the command's
    data_dir = proc.stdout.strip()
    assert data_dir.endswith("/data"), proc.stdout
    assert not os.path.exists(os.path.dirname(data_dir)), "the cluster's directory is left"
