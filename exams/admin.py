from django.contrib import admin

from . import models

for model in (
    models.Academy,
    models.Directorate,
    models.School,
    models.ExamCentre,
    models.Track,
    models.Subject,
    models.TrackSubject,
    models.ExamSession,
    models.SessionWindow,
):
    admin.site.register(model)
