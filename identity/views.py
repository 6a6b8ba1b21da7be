from django.contrib.auth import logout
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST


def sign_in(request):  # replaced by the sign-in work
    return HttpResponse("sign in")


def activate(request):  # replaced by the sign-in work
    return HttpResponse("activate")


@require_POST
def sign_out(request):
    logout(request)
    return redirect("portal:home")
