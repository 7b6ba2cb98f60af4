from django.http import Http404


def _todo(*args, **kwargs):
    raise Http404


signup = login = logout = account = password_change = session_revoke = _todo
