"""Factories for the domain; personas live in conftest.py."""

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from candidates.models import Candidate
from exams.models import (
    Academy,
    Component,
    Directorate,
    ExamCentre,
    ExamSession,
    School,
    SessionWindow,
    Subject,
    Track,
    TrackSubject,
)
from identity.models import Role, User


class AcademyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Academy
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"A{n:02d}")
    name_fr = factory.Sequence(lambda n: f"Académie {n}")
    name_ar = factory.Sequence(lambda n: f"أكاديمية {n}")


class DirectorateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Directorate

    academy = factory.SubFactory(AcademyFactory)
    code = factory.Sequence(lambda n: f"D{n:03d}")
    name_fr = factory.Sequence(lambda n: f"Direction {n}")
    name_ar = factory.Sequence(lambda n: f"مديرية {n}")


class SchoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = School

    directorate = factory.SubFactory(DirectorateFactory)
    code = factory.Sequence(lambda n: f"S{n:05d}")
    name_fr = factory.Sequence(lambda n: f"Lycée {n}")
    name_ar = factory.Sequence(lambda n: f"ثانوية {n}")


class ExamCentreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExamCentre

    directorate = factory.SubFactory(DirectorateFactory)
    code = factory.Sequence(lambda n: f"C{n:05d}")
    name_fr = factory.Sequence(lambda n: f"Centre {n}")
    name_ar = factory.Sequence(lambda n: f"مركز {n}")


class SubjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subject
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SUB{n}")
    name_fr = factory.Sequence(lambda n: f"Matière {n}")
    name_ar = factory.Sequence(lambda n: f"مادة {n}")


class TrackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Track
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"T{n}")
    name_fr = factory.Sequence(lambda n: f"Filière {n}")
    name_ar = factory.Sequence(lambda n: f"مسلك {n}")

    @factory.post_generation
    def with_subjects(self, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        math = SubjectFactory(code="MATH", name_fr="Mathématiques", name_ar="الرياضيات")
        fr = SubjectFactory(code="FR", name_fr="Français", name_ar="الفرنسية")
        TrackSubject.objects.get_or_create(
            track=self,
            subject=math,
            component=Component.NATIONAL,
            defaults={"coefficient": Decimal("7")},
        )
        TrackSubject.objects.get_or_create(
            track=self,
            subject=fr,
            component=Component.REGIONAL,
            defaults={"coefficient": Decimal("4")},
        )


class ExamSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExamSession
        django_get_or_create = ("code",)

    code = "2026-N"
    name = "Session normale 2026"
    year = 2026
    is_current = True


class SessionWindowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionWindow

    session = factory.SubFactory(ExamSessionFactory)
    kind = "verification"
    opens_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    closes_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=10))


class CandidateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Candidate

    session = factory.SubFactory(ExamSessionFactory)
    massar_code = factory.Sequence(lambda n: f"R{130000000 + n:09d}")
    cnie_number = factory.Sequence(lambda n: f"BE{100000 + n}")
    last_name_latin = "El Amrani"
    first_name_latin = "Mohammed"
    last_name_ar = "العمراني"
    first_name_ar = "محمد"
    birth_date = datetime.date(2008, 3, 14)
    birth_place_latin = "Rabat"
    birth_place_ar = "الرباط"
    sex = "M"
    nationality = "MAR"
    school = factory.SubFactory(SchoolFactory)
    track = factory.SubFactory(TrackFactory)
    candidate_type = "school"
    phone = "+212612345678"
    email = factory.Sequence(lambda n: f"candidate{n}@example.org")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.Sequence(lambda n: f"user{n}@example.org")
    role = Role.CANDIDATE
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()
