"""harness: launchers of real services, for tests, benchmarks and the demo.

Layout: ``procs`` (start a child process and wait until it is ready: our
servers on port 0 until they log ``listening on HOST:PORT``, other binaries
until their port accepts; stop it on exit; a missing binary names its Debian
package), ``services`` (private MariaDB, driven with clients/mysql,
redis-server and rabbitmq-server instances in their own directories on free
ports, or the one a ``SYSLAB_*_URL`` names),
``replication`` (a MariaDB primary and a GTID replica, with lag on demand),
``redis_cluster`` (a real Redis Cluster of primaries and replicas).

It sits between ``servers`` and ``clients``: a launcher may speak to the
service it started through the project's own clients.
"""
