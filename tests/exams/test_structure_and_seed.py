from django.core.management import call_command

from candidates.models import Candidate, IdentitySource
from exams.models import Academy, Directorate, ExamSession, Track, TrackSubject


def test_load_structure_loads_the_twelve_academies_and_is_idempotent(db):
    call_command("load_structure")
    call_command("load_structure")
    assert Academy.objects.count() == 12
    rsk = Academy.objects.get(code="RSK")
    assert rsk.name_ar == "الرباط سلا القنيطرة"
    assert Directorate.objects.filter(academy=rsk, name_fr="Salé").exists()
    sp = Track.objects.get(code="SP")
    national = {
        ts.subject.code: int(ts.coefficient) for ts in sp.subjects.filter(component="national")
    }
    assert national == {"MATH": 7, "PC": 7, "SVT": 5, "ANG": 2, "PHILO": 2}
    assert TrackSubject.objects.filter(track=sp, component="regional").count() == 4


def test_seed_builds_a_session_across_the_academies_with_planted_discrepancies(db):
    call_command("seed", candidates=1500)
    session = ExamSession.current()
    assert session is not None and session.windows.count() == 9
    assert Candidate.objects.filter(session=session).count() == 1500
    academies = set(
        Candidate.objects.values_list("school__directorate__academy__code", flat=True).distinct()
    )
    assert len(academies) == 12
    free = Candidate.objects.filter(candidate_type="free").count()
    assert 200 < free < 550
    sources = IdentitySource.objects.filter(kind="cnie_card").select_related("candidate")
    differing = sum(
        1
        for s in sources
        if any(
            str(s.data[k]) != str(getattr(s.candidate, k))
            for k in ("last_name_latin", "first_name_latin", "first_name_ar", "cnie_number")
        )
        or s.data["birth_date"] != s.candidate.birth_date.isoformat()
    )
    assert 0.01 * 1500 < differing < 0.08 * 1500
    # Seeding again to the same size adds nothing.
    call_command("seed", candidates=1500)
    assert Candidate.objects.count() == 1500


def test_seed_with_demo_data_prepares_every_service_and_can_run_again(db, settings):
    settings.DEBUG = True  # synthetic marks are for demos only
    from results.models import Grade
    from verification.models import FileCheck

    call_command("seed", candidates=300, demo_data=True)
    call_command("seed", candidates=300, demo_data=True)
    assert not Candidate.objects.filter(exam_centre__isnull=True).exists()
    grades = Grade.objects.count()
    assert grades > 300 * 5
    assert FileCheck.objects.count() == 300
    call_command("seed", candidates=300, demo_data=True)
    assert Grade.objects.count() == grades
    # The services after the exams can be tried at once, and nothing is done twice.
    from complaints.models import Complaint
    from diplomas.models import Diploma
    from results.models import Publication
    from scholarships.models import Programme

    full = Publication.objects.filter(kind=Publication.Kind.FULL, status=Publication.Status.READY)
    assert full.count() == 1
    assert Diploma.objects.exists() and Complaint.objects.exists()
    assert Programme.objects.count() == 1
