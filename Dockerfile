# TrustLine: the bot in a container (docs/DEPLOY.md). Built from this repository:
#   docker build -t trustline .
# The image runs `trustline` as an unprivileged user; the container command is its
# arguments, e.g. (image built as `trustline`):
#   docker run ... trustline run --webhook https://bot.example.org/telegram/webhook --host 0.0.0.0
# python:3.11-slim on Debian 13 (trixie), named so: its postgresql-client is 17, the same
# major version as the postgres:17 service in compose.yaml (pg_dump refuses a newer server,
# and a newer pg_dump's dump may not load into an older one).
FROM python:3.11-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# pg_dump and pg_restore for `trustline backup` and restores (docs/DEPLOY.md, "Backups").
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# The README's install step, without the test extra: the package and its dependencies.
WORKDIR /opt/trustline
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY qr_posters ./qr_posters
COPY migrations ./migrations
COPY locales ./locales
COPY fake_telegram ./fake_telegram
COPY demo ./demo
RUN python -m pip install . && rm -rf /opt/trustline/build

# The bot's own state (the audit key and checkpoint file, an SQLite file if used) lives in
# /var/lib/trustline/state, a volume (a new named volume takes this folder's owner); the
# master key is mounted read-only as a secret.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/trustline \
        --create-home --shell /usr/sbin/nologin trustline \
    && install -d -m 0700 -o trustline -g trustline /var/lib/trustline/state \
    && chmod 0700 /var/lib/trustline
USER trustline
# The working directory is on the state volume too: the outbox sender's crash notes
# (trustline-sent-*.log, bot/delivery/sentlog.py) left by a replica that died are applied
# by the next one that starts there.
WORKDIR /var/lib/trustline/state
ENV HOME=/var/lib/trustline \
    MPLCONFIGDIR=/var/lib/trustline/.matplotlib \
    TRUSTLINE_HTTP_PORT=8080

EXPOSE 8080

# /readyz answers 200 when the database is reachable, its migrations are current and
# Telegram answered within the last minute, else 503 (issue 16); served on
# TRUSTLINE_HTTP_PORT (the webhook's own server in webhook mode).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TRUSTLINE_HTTP_PORT', '8080') + '/readyz', timeout=4)"]

ENTRYPOINT ["trustline"]
CMD ["run"]
