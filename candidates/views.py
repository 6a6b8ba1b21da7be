from django.http import HttpResponse

from identity.access import staff_required


@staff_required
def candidate_list(request):  # replaced by the back-office work
    return HttpResponse("list")


@staff_required
def import_upload(request):  # replaced by the import work
    return HttpResponse("import")
