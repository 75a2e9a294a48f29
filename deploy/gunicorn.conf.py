"""gunicorn settings for the `web` service (docker-compose.yml). Every value can be overridden from the
environment, so one image fits a laptop and a larger host."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(min(multiprocessing.cpu_count() * 2 + 1, 9))))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak never becomes an outage; jitter avoids all restarting at once.
max_requests = 2000
max_requests_jitter = 200
# The TLS-terminating proxy in front sets X-Forwarded-Proto (settings.SECURE_PROXY_SSL_HEADER); gunicorn
# itself is reachable only on the compose network, so it may trust the proxy's headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Workers write their heartbeat to memory, not to the container's (possibly slow) overlay filesystem.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - only the heartbeat file lives there
