from django.http import Http404


def _todo(*args, **kwargs):
    raise Http404


my_tokens = token_reveal = token_revoke = _todo
