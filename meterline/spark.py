"""Spark for ``METERLINE_ENGINE=spark``: one Spark per process, shared by dbt and Python.

dbt runs in a child process (dagster-dbt) while the publish step and the
tests query Spark from this one. Two local Spark JVMs cannot share the
embedded Hive metastore, so this process hosts the only one and serves it to
its children through Spark Connect: ``spark_session()`` starts a local Spark
(with the Connect plugin on a free loopback port) and sets ``SPARK_REMOTE``;
dbt-spark's ``method: session`` then talks to that Spark instead of starting
its own. When ``SPARK_REMOTE`` is already set (a Spark Connect endpoint of a
cluster), nothing is started and everything uses that endpoint.

Only the static settings of a local Spark live here (where tables and the
metastore are). The SQL settings every dbt model relies on (UTC, timestamps
without zone, exact decimals, ANSI) are set by the dbt macro
``spark_session_settings`` before each model, on whatever Spark runs it.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading

from meterline.settings import Settings

_lock = threading.Lock()
_local: dict[str, object] = {}


def local_conf(settings: Settings, port: int, token: str) -> dict[str, str]:
    """Static settings of the local Spark: its warehouse folder, metastore and Connect port
    (loopback only, and only for clients that hold the token: this process and its children)."""
    warehouse = settings.spark_warehouse
    return {
        "spark.master": settings.spark_master,
        "spark.app.name": "meterline",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={warehouse / 'metastore_db'};create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse}",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "8",
        "spark.ui.enabled": "false",
        "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.authenticate.token": token,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_local(settings: Settings):
    from pyspark.sql import SparkSession

    warehouse = settings.spark_warehouse
    warehouse.mkdir(parents=True, exist_ok=True)
    port, token = _free_port(), secrets.token_hex(16)
    builder = SparkSession.builder
    for key, value in local_conf(settings, port, token).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    # Spark Connect clients send this token; a token is sent in clear only to "localhost".
    os.environ["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = token
    return session, f"sc://localhost:{port}"


def spark_session(settings: Settings):
    """A new session on this process's Spark, started on first use; afterwards child
    processes (dbt) reach the same Spark through ``SPARK_REMOTE``.

    Each call gets a new session: a session caches the files of the tables it
    read, and dbt replaces tables from its own sessions."""
    return _root_session(settings).newSession()


def _root_session(settings: Settings):
    with _lock:
        remote = os.environ.get("SPARK_REMOTE")
        if "session" in _local:
            if _local["warehouse"] != settings.spark_warehouse:
                raise RuntimeError(
                    f"this process already runs a local Spark on {_local['warehouse']}; "
                    f"METERLINE_SPARK_WAREHOUSE={settings.spark_warehouse} needs a new process"
                )
            return _local["session"]
        if remote:
            from pyspark.sql import SparkSession

            session = SparkSession.builder.remote(remote).getOrCreate()
        else:
            session, remote = _start_local(settings)
            os.environ["SPARK_REMOTE"] = remote
            # dbt's session connection asks a Connect session for static settings it already
            # has; pyspark warns about each. Keep the children's logs readable.
            os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning,ignore::FutureWarning")
        _local.update(session=session, warehouse=settings.spark_warehouse, remote=remote)
        return session
