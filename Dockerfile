# LeadHub's image: the same one runs the web app (gunicorn), the Celery worker and Celery beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=leadhub.settings

WORKDIR /app

RUN groupadd --system --gid 10001 leadhub \
    && useradd --system --uid 10001 --gid leadhub --home-dir /app --shell /usr/sbin/nologin leadhub

# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .

# Hashed, compressed static files served by WhiteNoise. The settings need a SECRET_KEY to load; this
# throwaway one exists only for this build step and is not kept in the image's environment.
RUN SECRET_KEY=collectstatic-build-step-only DEBUG=0 python manage.py collectstatic --noinput \
    && rm -rf var \
    && chown -R leadhub:leadhub /app/staticfiles

USER leadhub

EXPOSE 8000

CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "leadhub.wsgi:application"]
