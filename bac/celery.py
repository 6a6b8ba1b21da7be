import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bac.settings")

# ResilientTask: a task published while the broker is down waits in the outbox (ops.celery).
app = Celery("bac", task_cls="ops.celery:ResilientTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
